//! The command line: `serve`, `demo`, `migrate`, `admin create`, `ledger verify`, `bench`.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::app::AppState;
use crate::config::Config;
use crate::domain::{FundId, Role};
use crate::store::{funds, idempotency, ledger, Db};

#[derive(Parser, Debug)]
#[command(
    name = "caisse",
    version,
    about = "Caisse citoyenne de l'alimentation — citizen food fund"
)]
pub struct Cli {
    /// TOML configuration file (see deploy/caisse.toml); also CAISSE_CONFIG.
    #[arg(long, global = true, env = "CAISSE_CONFIG")]
    config: Option<PathBuf>,
    /// sqlite://PATH or postgres://...; also DATABASE_URL. Default sqlite://data/caisse.db.
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the API and the web interface.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080; also CAISSE_BIND).
        #[arg(long)]
        bind: Option<SocketAddr>,
    },
    /// Fill an empty database with a demo fund, print the logins, then serve.
    Demo {
        #[arg(long)]
        bind: Option<SocketAddr>,
    },
    /// Apply the database migrations and exit.
    Migrate,
    /// Administration.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Monthly allowances.
    Allowances {
        #[command(subcommand)]
        command: AllowancesCommand,
    },
    /// The journal.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Writes a consistent copy of the database to FILE (created 0600, never overwritten)
    /// while the server runs, then runs `ledger verify` on the copy: exit code 1 if it fails.
    /// SQLite: VACUUM INTO; PostgreSQL: pg_dump -Fc, verified by a restore into a scratch
    /// database.
    Backup { file: PathBuf },
    /// Benchmarks (not tests): print throughput figures.
    Bench {
        #[command(subcommand)]
        command: crate::bench::BenchCommand,
    },
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        /// Read the password from standard input (required: never on the command line).
        #[arg(long, required = true)]
        password_stdin: bool,
        /// admin, treasurer or committee.
        #[arg(long, default_value = "admin")]
        role: String,
    },
}

#[derive(Subcommand, Debug)]
enum AllowancesCommand {
    /// Credit the month's allowance to every active member (what
    /// POST /api/v1/allowances/issuances does); running a period twice credits nothing new.
    Issue {
        /// The month, YYYY-MM.
        #[arg(long)]
        period: crate::domain::member::Period,
    },
}

#[derive(Subcommand, Debug)]
enum LedgerCommand {
    /// Recompute the hash chain and every cached balance from the postings.
    Verify,
}

pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("caisse=info,tower_http=warn,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn config(cli: &Cli) -> anyhow::Result<Config> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(url) = &cli.database_url {
        config.database_url = url.clone();
    }
    crate::domain::set_timezone(config.zone()?);
    Ok(config)
}

/// Connects, applies migrations, and makes sure the fund exists.
pub async fn open(config: &Config) -> anyhow::Result<(Db, String)> {
    let db = Db::connect(&config.database_url, config.database_max_connections)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {}",
                crate::config::redact_url(&config.database_url)
            )
        })?;
    db.migrate().await.context("migrations failed")?;
    let fund = funds::ensure_default(&db).await?;
    Ok((db, fund))
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut config = config(&cli)?;
    match cli.command {
        Command::Serve { bind } => {
            if let Some(b) = bind {
                config.bind = b;
            }
            let (db, fund) = open(&config).await?;
            serve(db, fund, config).await?;
        }
        Command::Demo { bind } => {
            if let Some(b) = bind {
                config.bind = b;
            }
            let (db, fund) = open(&config).await?;
            let key_path = config.card_key_path();
            let card_key = crate::card_key::CardKey::load_or_create(&key_path)
                .with_context(|| format!("card key {}", key_path.display()))?;
            crate::service::demo::fill(&db, &fund, config.bind, &card_key).await?;
            serve(db, fund, config).await?;
        }
        Command::Migrate => {
            open(&config).await?;
            println!("migrations applied");
        }
        Command::Admin {
            command: AdminCommand::Create { email, role, .. },
        } => create_admin(&config, &email, &role).await?,
        Command::Allowances {
            command: AllowancesCommand::Issue { period },
        } => issue_allowances(&config, period).await?,
        Command::Ledger {
            command: LedgerCommand::Verify,
        } => return verify_ledger(&config).await,
        Command::Backup { file } => return crate::backup::run(&config, &file).await,
        Command::Bench { command } => {
            crate::bench::run(command, &config).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `caisse admin create`: a first login, its password read from standard input.
async fn create_admin(config: &Config, email: &str, role: &str) -> anyhow::Result<()> {
    let role: Role = role
        .parse()
        .ok()
        .filter(|r| matches!(r, Role::Admin | Role::Treasurer | Role::Committee))
        .context("--role must be admin, treasurer or committee")?;
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("reading the password from standard input")?;
    let password = password.trim_end_matches(['\n', '\r']);
    let (db, fund) = open(config).await?;
    let user = crate::service::users::create(&db, &FundId::new(fund), email, password, role, None)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e))?;
    println!("created {} {} ({})", user.role, user.email, user.id);
    Ok(())
}

/// `caisse allowances issue PERIOD`, with a progress bar.
async fn issue_allowances(
    config: &Config,
    period: crate::domain::member::Period,
) -> anyhow::Result<()> {
    let (db, fund) = open(config).await?;
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:40}] {pos}/{len} members ({per_sec}, {eta} left)",
        )
        .expect("valid progress template")
        .progress_chars("=> "),
    );
    bar.set_message(format!("Allocations {period}"));
    let report = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let figures = crate::service::allowances::issue(
        &db,
        &crate::domain::FundId::new(fund.as_str()),
        period,
        Some(&report),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e))?;
    bar.finish_and_clear();
    println!(
        "{period}: {} members credited, {} € in all, {} € back to the pot by the balance cap",
        figures.members_credited,
        crate::domain::money::format_signed_cents(figures.total),
        crate::domain::money::format_signed_cents(figures.returned_by_cap)
    );
    Ok(())
}

/// `caisse ledger verify`: exit status 1 when anything is wrong.
async fn verify_ledger(config: &Config) -> anyhow::Result<ExitCode> {
    let (db, fund) = open(config).await?;
    let report = ledger::verify(&db, &fund).await?;
    println!(
        "{} entries, {} postings, {} accounts checked",
        report.entries, report.postings, report.accounts
    );
    if report.is_clean() {
        println!("ledger OK: hash chain intact, every cached balance matches its postings");
        return Ok(ExitCode::SUCCESS);
    }
    for p in &report.problems {
        println!("PROBLEM: {p}");
    }
    Ok(ExitCode::FAILURE)
}

/// Serves until Ctrl-C or SIGTERM, purging old idempotency keys every hour.
pub async fn serve(db: Db, fund: String, config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let purge_db = db.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            tick.tick().await;
            if let Err(e) = idempotency::purge(&purge_db).await {
                tracing::warn!(error = %e, "purging idempotency keys failed");
            }
        }
    });
    tracing::info!(
        bind = %config.bind,
        backend = db.backend().name(),
        "caisse is serving on http://{}",
        config.bind
    );
    let card_key_path = config.card_key_path();
    let cards = crate::card_key::CardKey::load_or_create(&card_key_path)
        .with_context(|| format!("card key {}", card_key_path.display()))?;
    let state = AppState::new(db.clone(), config, fund, Arc::new(cards));
    // The peer's address feeds the login limiter (see `client_address_header` behind a proxy).
    let app = crate::app::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    db.close().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
