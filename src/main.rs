use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = caisse::cli::Cli::parse();
    caisse::cli::init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(caisse::cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("caisse: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
