//! The treasurer's dashboard: key figures and the coverage ratio (from
//! `service::reports::summary`), charts drawn by the server (contributions called vs received,
//! allowances issued vs spent, spending per shop, the bank balance month by month), the monthly
//! operations, the month end (settlement, SEPA file, bank statement import, reconciliation),
//! the accounting exports (FEC, journal CSV), the trial balance, and the contribution simulator.
//!
//! The dashboard, the month end and the exports call `service::{ledger, reports, settlements,
//! exports}` with typed values and render their typed results, as the API's handlers do.
//! Downloads (`/tresorerie/reglements/{id}/sepa.xml`, `/tresorerie/fec`,
//! `/tresorerie/journal.csv`) are GETs that change nothing, so no CSRF token is needed for them;
//! the FEC and the journal are streamed from the service as they are read.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;

use super::charts::{self, Series};
use super::i18n::M;
use super::layout::{csrf_field, notice, page, respond};
use super::problem::refused;
use super::session::{typed_amount, Form, Web};
use crate::app::AppState;
use crate::domain::member::Period;
use crate::domain::settings::{Bracket, ContributionScale, FundSettings};
use crate::domain::{Cents, ErrorCode, FundId, Instant, Role, UserId};
use crate::service;
use crate::service::contributions::{Coverage, ScaleTrial};
use crate::service::error::ServiceError;
use crate::service::exports;
use crate::service::idempotent::IdempotencyKey;
use crate::service::ledger::TrialBalance;
use crate::service::reports;
use crate::service::settlements::{
    self as settle, LineStatus, ManualMatch, SettleRequest, SettlementLine, StatementFormat,
};

/// A statement's text posted by the form: the API's 16 MiB, urlencoded (up to 3 bytes a byte).
const STATEMENT_FORM_LIMIT: usize = 3 * 16 * 1024 * 1024 + 64 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tresorerie", get(dashboard_page))
        .route("/tresorerie/appel", post(call_contributions))
        .route("/tresorerie/allocations", post(issue_allowances))
        .route("/tresorerie/simulation", post(simulate))
        .route("/tresorerie/reglements", post(settle))
        .route("/tresorerie/rapprochement", post(match_line))
        .route("/tresorerie/reglements/{id}/sepa.xml", get(sepa_download))
        .route(
            "/tresorerie/releves",
            post(import_statement).layer(DefaultBodyLimit::max(STATEMENT_FORM_LIMIT)),
        )
        .route("/tresorerie/fec", get(fec_download))
        .route("/tresorerie/journal.csv", get(journal_download))
}

const ROLES: &[Role] = &[Role::Treasurer, Role::Admin];

/// The simulator form's values: minimum and three brackets (up to, amount).
struct ScaleForm {
    minimum: String,
    brackets: Vec<(String, String)>,
}

impl ScaleForm {
    /// The form for `scale`: its brackets when it has some, else a Gironde-like example.
    fn from_scale(scale: Option<&ContributionScale>) -> ScaleForm {
        let (minimum, mut brackets) = match scale {
            Some(ContributionScale::Brackets { minimum, brackets }) => (
                Some(*minimum),
                brackets
                    .iter()
                    .map(|b| {
                        let up_to = b.up_to.map(|c| c.to_string()).unwrap_or_default();
                        (up_to, b.amount.to_string())
                    })
                    .collect(),
            ),
            Some(
                ContributionScale::Linear { minimum, .. } | ContributionScale::Free { minimum },
            ) => (Some(*minimum), Vec::new()),
            None => (None, Vec::new()),
        };
        if brackets.is_empty() {
            brackets = vec![
                ("800.00".into(), "10.00".into()),
                ("1500.00".into(), "40.00".into()),
                (String::new(), "120.00".into()),
            ];
        }
        brackets.resize(4, (String::new(), String::new()));
        ScaleForm {
            minimum: minimum.map_or_else(|| "1.00".to_string(), |m| m.to_string()),
            brackets,
        }
    }

    fn from_form(form: &Form) -> ScaleForm {
        ScaleForm {
            minimum: form.text("minimum"),
            brackets: (1..=4)
                .map(|i| {
                    (
                        form.text(&format!("up_to_{i}")),
                        form.text(&format!("amount_{i}")),
                    )
                })
                .collect(),
        }
    }

    /// The scale typed: brackets without an amount are left out; a bracket without an upper
    /// bound is the open-ended last one. A refusal names the field as the API would
    /// (`contribution_scale.brackets[1].up_to`), for the same words.
    fn to_scale(&self) -> Result<ContributionScale, ServiceError> {
        let amount = |field: String, typed: &str| {
            typed_amount(typed)
                .parse::<Cents>()
                .map_err(|e| ServiceError::field(ErrorCode::AmountInvalid, &field, e.to_string()))
        };
        let minimum = amount("contribution_scale.minimum".into(), &self.minimum)?;
        let mut brackets = Vec::new();
        for (up_to, typed) in self.brackets.iter().filter(|(_, a)| !a.is_empty()) {
            let at = format!("contribution_scale.brackets[{}]", brackets.len());
            let up_to = if up_to.is_empty() {
                None
            } else {
                Some(amount(format!("{at}.up_to"), up_to)?)
            };
            let amount = amount(format!("{at}.amount"), typed)?;
            brackets.push(Bracket { up_to, amount });
        }
        Ok(ContributionScale::Brackets { minimum, brackets })
    }
}

/// `0.3125` → `31,3 %` (French) or `31.3%` (English). For display only.
fn percent(lang: super::i18n::Lang, ratio: f64) -> String {
    let text = format!("{:.1}", ratio * 100.0);
    match lang {
        super::i18n::Lang::Fr => format!("{}\u{a0}%", text.replace('.', ",")),
        super::i18n::Lang::En => format!("{text}%"),
    }
}

async fn dashboard_page(State(state): State<AppState>, web: Web) -> Response {
    render(&state, &web, None, None).await
}

/// What the dashboard shows, read from the services.
struct Dashboard {
    trial_balance: TrialBalance,
    settings: Option<FundSettings>,
    charts: reports::Charts,
    summary: reports::Summary,
    month_end: MonthEnd,
}

async fn dashboard(state: &AppState, fund: &FundId) -> Result<Dashboard, ServiceError> {
    Ok(Dashboard {
        trial_balance: service::ledger::trial_balance(&state.db, fund).await?,
        settings: service::settings::get(&state.db, fund).await.ok(),
        charts: reports::charts(&state.db, fund).await?,
        // The figures of `GET /reports/summary` over the whole history, balances as of today.
        summary: reports::summary(&state.db, fund, None, None).await?,
        month_end: month_end(state, fund).await?,
    })
}

async fn render(
    state: &AppState,
    web: &Web,
    flash: Option<Markup>,
    scale: Option<ScaleForm>,
) -> Response {
    let caller = match web.require(ROLES) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let d = match dashboard(state, caller.fund()).await {
        Ok(d) => d,
        Err(e) => return super::layout::internal_error(web, e),
    };
    let l = web.lang;
    // The simulator's form starts from the fund's scale.
    let scale = scale.unwrap_or_else(|| {
        ScaleForm::from_scale(d.settings.as_ref().map(|s| &s.contribution_scale))
    });
    let today = crate::domain::today();
    let period = crate::domain::member::Period::of(today).to_string();
    let body = html! {
        @if let Some(f) = flash { (f) }
        p { a href="/admin/import" { (web.t(M::ImportLink)) } }
        (summary_section(web, &d.summary))
        (charts_section(web, &d.charts))
        section.card aria-labelledby="ops-h" {
            h2 id="ops-h" { (web.t(M::Actions)) }
            form method="post" action="/tresorerie/appel" {
                (csrf_field(web))
                label for="call-period" { (web.t(M::Period)) }
                input id="call-period" name="period" type="text" value=(period) pattern="[0-9]{4}-[0-9]{2}" required;
                button type="submit" { (web.t(M::CallContributions)) }
            }
            form method="post" action="/tresorerie/allocations" {
                (csrf_field(web))
                label for="issue-period" { (web.t(M::Period)) }
                input id="issue-period" name="period" type="text" value=(period) pattern="[0-9]{4}-[0-9]{2}" required;
                button type="submit" { (web.t(M::IssueAllowances)) }
            }
        }
        (month_end_sections(web, &d.month_end, &today.format("%Y").to_string()))
        section.card aria-labelledby="sim-h" {
            h2 id="sim-h" { (web.t(M::Simulator)) }
            p { (web.t(M::SimulatorHelp)) }
            form method="post" action="/tresorerie/simulation" {
                (csrf_field(web))
                label for="minimum" { (web.t(M::Minimum)) }
                input id="minimum" name="minimum" type="text" inputmode="decimal" value=(scale.minimum) required;
                @for (i, (up_to, amount)) in scale.brackets.iter().enumerate() {
                    @let n = (i + 1).to_string();
                    label for=(format!("up_to_{n}")) { (l.f(M::BracketUpTo, &[&n])) }
                    input id=(format!("up_to_{n}")) name=(format!("up_to_{n}")) type="text" inputmode="decimal" value=(up_to);
                    label for=(format!("amount_{n}")) { (l.f(M::BracketAmount, &[&n])) }
                    input id=(format!("amount_{n}")) name=(format!("amount_{n}")) type="text" inputmode="decimal" value=(amount);
                }
                button type="submit" { (web.t(M::Simulate)) }
            }
        }
        (trial_balance_section(web, &d.trial_balance))
    };
    respond(
        StatusCode::OK,
        page(web, web.t(M::TreasurerTitle), &["statement.js"], body),
    )
}

/// The key figures over the whole history, with the coverage ratio.
fn summary_section(web: &Web, summary: &reports::Summary) -> Markup {
    let l = web.lang;
    let f = &summary.flows;
    let b = &summary.balances;
    let coverage = summary
        .coverage_ratio
        .and_then(|r| r.0.to_f64())
        .map(|r| percent(l, r));
    html! {
        section aria-labelledby="sum-h" {
            h2 id="sum-h" { (web.t(M::Summary)) }
            p.muted { (web.t(M::SummaryNote)) }
            dl.figures id="summary" {
                dt { (web.t(M::ContributionsCalled)) } dd { (l.money(f.contributions_called.cents())) }
                dt { (web.t(M::ContributionsReceived)) } dd { (l.money(f.contributions_received.cents())) }
                dt { (web.t(M::AllowancesIssued)) } dd { (l.money(f.allowances_issued.cents())) }
                dt { (web.t(M::AllowancesSpent)) } dd { (l.money(f.spent().cents())) }
                dt { (web.t(M::OutstandingAllowances)) } dd id="outstanding" { (l.money(b.outstanding_allowance_balances.cents())) }
                dt { (web.t(M::OwedToShops)) } dd id="owed" { (l.money(b.owed_to_shops.cents())) }
                dt { (web.t(M::PaidToShops)) } dd id="paid" { (l.money(f.paid_to_shops.cents())) }
                dt { (web.t(M::BankBalance)) } dd { (l.money(b.bank.cents())) }
                dt { (web.t(M::CoverageRatio)) } dd id="coverage" { (coverage.unwrap_or_else(|| "—".into())) }
            }
        }
    }
}

/// The charts: the last twelve months with a movement, and spending per shop.
fn charts_section(web: &Web, c: &reports::Charts) -> Markup {
    let l = web.lang;
    let months = &c.months;
    let recent = &months[months.len().saturating_sub(12)..];
    let skipped: i64 = months[..months.len() - recent.len()]
        .iter()
        .map(|m| m.bank)
        .sum();
    let labels: Vec<String> = recent.iter().map(|m| m.month.clone()).collect();
    let mut running = skipped;
    let bank_series: Vec<i64> = recent
        .iter()
        .map(|m| {
            running += m.bank;
            running
        })
        .collect();
    html! {
        section.charts aria-label=(web.t(M::Summary)) {
            (charts::grouped_bars(l, "c-contrib", web.t(M::ChartContributions), &labels, &[
                Series { name: web.t(M::Called), color: charts::BLUE, values: recent.iter().map(|m| m.called).collect() },
                Series { name: web.t(M::Received), color: charts::ORANGE, values: recent.iter().map(|m| m.received).collect() },
            ]))
            (charts::grouped_bars(l, "c-allow", web.t(M::ChartAllowances), &labels, &[
                Series { name: web.t(M::Issued), color: charts::BLUE, values: recent.iter().map(|m| m.issued).collect() },
                Series { name: web.t(M::Spent), color: charts::ORANGE, values: recent.iter().map(|m| m.spent).collect() },
            ]))
            (charts::horizontal_bars(l, "c-shops", web.t(M::ChartShops), web.t(M::NoData), &c.shops))
            (charts::grouped_bars(l, "c-bank", web.t(M::ChartBank), &labels, &[
                Series { name: web.t(M::BankBalance), color: charts::GREEN, values: bank_series },
            ]))
        }
    }
}

fn trial_balance_section(web: &Web, tb: &TrialBalance) -> Markup {
    let l = web.lang;
    html! {
        section aria-labelledby="tb-h" {
            h2 id="tb-h" { (web.t(M::TrialBalance)) }
            div.scroll {
                table {
                    thead { tr {
                        th scope="col" { (web.t(M::Account)) }
                        th scope="col" { (web.t(M::Label)) }
                        th scope="col" class="num" { (web.t(M::Debit)) }
                        th scope="col" class="num" { (web.t(M::Credit)) }
                    } }
                    tbody {
                        @for a in &tb.accounts {
                            tr {
                                td { (a.account) }
                                td { (a.label) }
                                td class="num" { (l.money(a.debit.cents())) }
                                td class="num" { (l.money(a.credit.cents())) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The month typed in a period field (`2026-11`).
fn period_of(form: &Form) -> Result<Period, ServiceError> {
    form.text("period")
        .parse::<Period>()
        .map_err(|m| ServiceError::field(ErrorCode::InvalidField, "period", m))
}

async fn call_contributions(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(ROLES) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let answer = match period_of(&form) {
        Ok(period) => {
            service::contributions::call_contributions(&state.db, caller.fund(), period).await
        }
        Err(e) => Err(e),
    };
    let flash = match answer {
        Ok(v) => notice(
            true,
            &web.lang.f(
                M::CallResult,
                &[
                    &v.members_called.to_string(),
                    &web.lang.money(v.total.cents()),
                ],
            ),
        ),
        Err(e) => notice(false, &refused(web, &e)),
    };
    render(&state, web, Some(flash), None).await
}

async fn issue_allowances(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(ROLES) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let answer = match period_of(&form) {
        Ok(period) => service::allowances::issue_allowances(&state.db, caller.fund(), period).await,
        Err(e) => Err(e),
    };
    let flash = match answer {
        Ok(v) => notice(
            true,
            &web.lang.f(
                M::IssueResult,
                &[
                    &v.members_credited.to_string(),
                    &web.lang.money(v.total.cents()),
                ],
            ),
        ),
        Err(e) => notice(false, &refused(web, &e)),
    };
    render(&state, web, Some(flash), None).await
}

/// Tries the scale typed on the fund's active members with its allowance settings.
async fn simulate(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(ROLES) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let scale = ScaleForm::from_form(&form);
    let answer = match scale.to_scale() {
        Ok(contribution_scale) => {
            let trial = ScaleTrial {
                contribution_scale,
                members: None,
                allowance: None,
            };
            service::contributions::try_scale(&state.db, caller.fund(), trial).await
        }
        Err(e) => Err(e),
    };
    let flash = match answer {
        Ok(coverage) => simulation_notice(web, &coverage),
        Err(e) => notice(false, &refused(web, &e)),
    };
    render(&state, web, Some(flash), Some(scale)).await
}

fn simulation_notice(web: &Web, v: &Coverage) -> Markup {
    let l = web.lang;
    let ratio = v
        .coverage_ratio
        .and_then(|r| format!("{r:.4}").parse::<f64>().ok())
        .map_or_else(|| "—".to_string(), |r| percent(l, r));
    html! {
        p.notice.good role="status" id="simulation" {
            (l.f(M::SimResult, &[
                &v.members.to_string(),
                &l.money(v.total_contributions.cents()),
                &l.money(v.total_allowances.cents()),
                &ratio,
                &l.money(v.subsidy_needed.cents()),
            ]))
        }
    }
}

// ---- Month end and exports -------------------------------------------------------------------

/// What the month-end sections show: the latest settlements and what is left to reconcile.
struct MonthEnd {
    settlements: Vec<settle::SettlementSummary>,
    reconciliation: settle::Reconciliation,
}

async fn month_end(state: &AppState, fund: &FundId) -> Result<MonthEnd, ServiceError> {
    Ok(MonthEnd {
        settlements: settle::list(&state.db, fund, 12, None).await?.items,
        reconciliation: settle::reconciliation(&state.db, fund).await?,
    })
}

fn line_status(web: &Web, status: LineStatus) -> &'static str {
    match status {
        LineStatus::Paid => web.t(M::LinePaid),
        LineStatus::Unpaid => web.t(M::LineUnpaid),
    }
}

/// A settlement's transfers: shop, amount, EndToEndId, paid or not.
fn settlement_lines(web: &Web, id: &str, caption: &str, lines: &[SettlementLine]) -> Markup {
    let l = web.lang;
    html! {
        div.scroll {
            table id=(format!("lines-{id}")) {
                caption { (caption) }
                thead { tr {
                    th scope="col" { (web.t(M::Shop)) }
                    th scope="col" class="num" { (web.t(M::Amount)) }
                    th scope="col" { (web.t(M::EndToEndId)) }
                    th scope="col" { (web.t(M::Status)) }
                } }
                tbody {
                    @for line in lines {
                        tr {
                            td { (line.shop_name) }
                            td class="num" { (l.money(line.amount.cents())) }
                            td { code { (line.end_to_end_id) } }
                            td { (line_status(web, line.status)) }
                        }
                    }
                }
            }
        }
    }
}

fn sepa_href(id: &str) -> String {
    format!("/tresorerie/reglements/{id}/sepa.xml")
}

/// An instant as a person reads it: `2026-12-01 00:00` in the fund's time zone.
fn instant(i: Instant) -> String {
    chrono::DateTime::from_timestamp_micros(i.micros())
        .unwrap_or_default()
        .with_timezone(&crate::domain::timezone())
        .format("%Y-%m-%d %H:%M")
        .to_string()
}

/// The form matching one bank line by hand: a debit to an unpaid transfer of the same amount,
/// a credit to a member (number or payment reference).
fn match_form(web: &Web, line: &settle::BankLine, unpaid: &[settle::UnpaidLine]) -> Markup {
    let id = &line.id;
    let field = format!("match-{id}");
    let same: Vec<&SettlementLine> = unpaid
        .iter()
        .map(|u| &u.line)
        .filter(|u| u.amount.cents() == -line.amount.cents())
        .collect();
    html! {
        form.inline method="post" action="/tresorerie/rapprochement" {
            (csrf_field(web))
            input type="hidden" name="ligne" value=(id);
            @if line.amount.is_negative() {
                @if same.is_empty() {
                    span { (web.t(M::NoTransferOfThisAmount)) }
                } @else {
                    label for=(field) { (web.t(M::MatchTransfer)) }
                    select id=(field) name="e2e" {
                        @for u in same {
                            option value=(u.end_to_end_id) {
                                (u.shop_name) " — " (u.end_to_end_id)
                            }
                        }
                    }
                    button type="submit" { (web.t(M::MatchLine)) }
                }
            } @else {
                label for=(field) { (web.t(M::MatchMember)) }
                input id=(field) name="adherent" type="text" required autocomplete="off" size="14";
                button type="submit" { (web.t(M::MatchLine)) }
            }
        }
    }
}

fn month_end_sections(web: &Web, m: &MonthEnd, year: &str) -> Markup {
    html! {
        (settlements_section(web, &m.settlements))
        (statement_section(web))
        (reconciliation_section(web, &m.reconciliation))
        section.card aria-labelledby="exp-h" {
            h2 id="exp-h" { (web.t(M::Exports)) }
            form method="get" action="/tresorerie/fec" {
                label for="fec-year" { (web.t(M::Year)) }
                input id="fec-year" name="annee" type="text" inputmode="numeric" value=(year) pattern="[0-9]{4}" required;
                button type="submit" { (web.t(M::DownloadFec)) }
            }
            p { a id="journal-link" href="/tresorerie/journal.csv" download { (web.t(M::DownloadJournal)) } }
        }
    }
}

/// The settlement form and the latest settlements, each with its SEPA file.
fn settlements_section(web: &Web, settlements: &[settle::SettlementSummary]) -> Markup {
    let l = web.lang;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    html! {
        section.card aria-labelledby="settle-h" {
            h2 id="settle-h" { (web.t(M::Settlements)) }
            p { (web.t(M::SettlementHelp)) }
            form method="post" action="/tresorerie/reglements" {
                (csrf_field(web))
                label for="cutoff" { (web.t(M::Cutoff)) }
                input id="cutoff" name="cutoff" type="text" value=(now) autocomplete="off";
                // The form's own Idempotency-Key: sent twice (a double click, a reload), it
                // shows the same settlement again rather than "nothing to settle".
                input type="hidden" name="cle" value=(crate::domain::new_id("form"));
                button type="submit" { (web.t(M::Settle)) }
            }
            h3 id="past-h" { (web.t(M::PastSettlements)) }
            @if settlements.is_empty() {
                p { (web.t(M::NoSettlements)) }
            } @else {
                div.scroll {
                    table id="settlements" aria-labelledby="past-h" {
                        thead { tr {
                            th scope="col" { (web.t(M::CreatedAt)) }
                            th scope="col" { (web.t(M::CutoffCol)) }
                            th scope="col" class="num" { (web.t(M::Total)) }
                            th scope="col" { (web.t(M::SepaFile)) }
                        } }
                        tbody {
                            @for st in settlements {
                                tr {
                                    td { (instant(st.created_at)) }
                                    td { (instant(st.cutoff)) }
                                    td class="num" { (l.money(st.total.cents())) }
                                    td { a href=(sepa_href(&st.id)) download aria-label=(l.f(M::SepaOfSettlement, &[&instant(st.cutoff)])) { (web.t(M::SepaLink)) } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn statement_section(web: &Web) -> Markup {
    html! {
        section.card aria-labelledby="stmt-h" {
            h2 id="stmt-h" { (web.t(M::Statement)) }
            p { (web.t(M::StatementHelp)) }
            form method="post" action="/tresorerie/releves" {
                (csrf_field(web))
                label for="statement-file" { (web.t(M::StatementFile)) }
                // No name: the file is read into the text area below by statement.js, and
                // posted as text with the form (no multipart parser in the server).
                input id="statement-file" type="file" accept=".xml,.csv,.txt,application/xml,text/xml,text/csv";
                label for="statement" { (web.t(M::StatementText)) }
                textarea id="statement" name="statement" rows="6" spellcheck="false" {}
                button type="submit" { (web.t(M::ImportStatement)) }
            }
        }
    }
}

/// Bank lines matched to nothing (each with its form), and transfers not yet paid.
fn reconciliation_section(web: &Web, rec: &settle::Reconciliation) -> Markup {
    html! {
        section aria-labelledby="rec-h" {
            h2 id="rec-h" { (web.t(M::Reconciliation)) }
            h3 id="unmatched-h" { (web.t(M::UnmatchedBankLines)) }
            @if rec.unmatched_bank_lines.is_empty() {
                p id="unmatched-none" { (web.t(M::NothingLeft)) }
            } @else {
                (unmatched_table(web, rec))
            }
            h3 id="unpaid-h" { (web.t(M::UnpaidLines)) }
            @if rec.unpaid_settlement_lines.is_empty() {
                p id="unpaid-none" { (web.t(M::NothingLeft)) }
            } @else {
                (unpaid_table(web, rec))
            }
        }
    }
}

fn unmatched_table(web: &Web, rec: &settle::Reconciliation) -> Markup {
    let l = web.lang;
    html! {
        div.scroll {
            table id="unmatched" aria-labelledby="unmatched-h" {
                thead { tr {
                    th scope="col" { (web.t(M::Date)) }
                    th scope="col" class="num" { (web.t(M::Amount)) }
                    th scope="col" { (web.t(M::Reference)) }
                    th scope="col" { (web.t(M::Counterparty)) }
                    th scope="col" { (web.t(M::MatchByHand)) }
                } }
                tbody {
                    @for b in &rec.unmatched_bank_lines {
                        tr {
                            td { (b.booked_on) }
                            td class="num" { (l.money(b.amount.cents())) }
                            td { (b.reference) }
                            td { (b.counterparty.as_deref().unwrap_or_default()) }
                            td { (match_form(web, b, &rec.unpaid_settlement_lines)) }
                        }
                    }
                }
                tfoot { tr {
                    th scope="row" { (web.t(M::Total)) }
                    td class="num" { (l.money(rec.unmatched_total.cents())) }
                    td {} td {} td {}
                } }
            }
        }
    }
}

fn unpaid_table(web: &Web, rec: &settle::Reconciliation) -> Markup {
    let l = web.lang;
    html! {
        div.scroll {
            table id="unpaid" aria-labelledby="unpaid-h" {
                thead { tr {
                    th scope="col" { (web.t(M::Shop)) }
                    th scope="col" class="num" { (web.t(M::Amount)) }
                    th scope="col" { (web.t(M::EndToEndId)) }
                    th scope="col" { (web.t(M::SepaFile)) }
                } }
                tbody {
                    @for u in &rec.unpaid_settlement_lines {
                        tr {
                            td { (u.line.shop_name) }
                            td class="num" { (l.money(u.line.amount.cents())) }
                            td { code { (u.line.end_to_end_id) } }
                            td { a href=(sepa_href(&u.settlement_id)) download aria-label=(l.f(M::SepaOfLine, &[&u.line.end_to_end_id])) { (web.t(M::SepaLink)) } }
                        }
                    }
                }
                tfoot { tr {
                    th scope="row" { (web.t(M::Total)) }
                    td class="num" { (l.money(rec.unpaid_total.cents())) }
                    td {} td {}
                } }
            }
        }
    }
}

/// The cutoff typed in the settlement form (empty: now); `invalid_field` on `cutoff` unless it
/// is an RFC 3339 instant.
fn typed_cutoff(form: &Form) -> Result<Instant, ServiceError> {
    let Some(text) = form.get("cutoff") else {
        return Ok(Instant::now());
    };
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| Instant::from_micros(t.timestamp_micros()))
        .map_err(|_| {
            ServiceError::field(
                ErrorCode::InvalidField,
                "cutoff",
                "must be an RFC 3339 instant",
            )
        })
}

/// Settles the shops up to the cutoff typed (empty: now), and shows the transfers made.
async fn settle(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(ROLES) {
        Ok(c) => c,
        Err(r) => return r,
    };
    // The form's key, kept apart from any key of the API.
    let key = form
        .get("cle")
        .filter(|k| k.len() <= 200)
        .map(|k| IdempotencyKey::from_form(Some(&format!("web-settlement-{k}"))));
    let answer = match typed_cutoff(&form) {
        Ok(cutoff) => settle::create(&state.db, &caller, key.as_ref(), SettleRequest { cutoff })
            .await
            .map_err(ServiceError::from),
        Err(e) => Err(e),
    };
    let flash = match answer {
        Ok(recorded) => settlement_made(web, &recorded.value, recorded.replayed),
        Err(e) => notice(false, &refused(web, &e)),
    };
    render(&state, web, Some(flash), None).await
}

/// A settlement just made, with its transfers; or, for the same form sent again, the
/// settlement made then, said to be no new one.
fn settlement_made(web: &Web, s: &settle::Settlement, replayed: bool) -> Markup {
    let l = web.lang;
    let sepa = html! {
        p { a href=(sepa_href(&s.id)) download { (web.t(M::SepaFile)) " — " (web.t(M::SepaLink)) } }
    };
    if replayed {
        return html! {
            div id="settlement" {
                p.notice.replayed role="alert" id="settlement-replayed" {
                    (l.f(M::SettlementAlreadyDone, &[&s.created_at.local_clock()]))
                }
                (sepa)
            }
        };
    }
    html! {
        div id="settlement" {
            (notice(true, &l.f(M::SettlementDone, &[
                &s.lines.len().to_string(),
                &l.money(s.total.cents()),
            ])))
            (settlement_lines(web, &s.id, &l.f(M::SettlementLines, &[&instant(s.cutoff)]), &s.lines))
            (sepa)
        }
    }
}

/// Matches a bank line by hand: to the transfer chosen, or to the member named by number or
/// payment reference.
async fn match_line(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(ROLES) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let line = form.text("ligne");
    let target = match (form.get("e2e"), form.get("adherent")) {
        (Some(e2e), _) => Some(ManualMatch::Payout(e2e.to_string())),
        (None, Some(who)) => Some(ManualMatch::NamedMember(who.to_string())),
        (None, None) => None,
    };
    let flash = match target {
        None => notice(false, web.t(M::NoSuchMember)),
        Some(target) => match settle::match_line(&state.db, caller.fund(), &line, target).await {
            Ok(_) => notice(true, web.t(M::LineMatched)),
            // Said as the form asks: by number or payment reference.
            Err(e) if e.code() == ErrorCode::MemberNotFound => {
                notice(false, web.t(M::NoSuchMember))
            }
            Err(e) => notice(false, &refused(web, &e)),
        },
    };
    render(&state, web, Some(flash), None).await
}

/// The statement's text, posted by the form; XML when it starts with `<`, else CSV.
async fn import_statement(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(ROLES) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let text = form
        .fields
        .get("statement")
        .map(|t| t.trim_start_matches('\u{feff}').trim().to_string())
        .unwrap_or_default();
    let l = web.lang;
    if text.is_empty() {
        let flash = notice(false, web.t(M::StatementEmpty));
        return render(&state, web, Some(flash), None).await;
    }
    let format = if text.starts_with('<') {
        StatementFormat::Camt053
    } else {
        StatementFormat::Csv
    };
    // The form's text area sends CRLF line ends; the statement is read as the bank wrote it.
    let text = text.replace("\r\n", "\n");
    let by = UserId::new(caller.actor());
    let answer = settle::import_file(&state.db, caller.fund(), &by, format, text.as_bytes()).await;
    let flash = match answer {
        Ok(o) => html! {
            p.notice.good role="status" id="import-result" {
                (l.f(M::ImportResult, &[
                    &o.imported.to_string(),
                    &o.duplicates.to_string(),
                    &o.matched.to_string(),
                    &o.unmatched.to_string(),
                ]))
            }
        },
        Err(e) => html! {
            div.notice.bad role="alert" id="import-error" {
                p { (refused(web, &e)) }
            }
        },
    };
    render(&state, web, Some(flash), None).await
}

/// The status of a download's refusal page.
fn refusal_status(e: &ServiceError) -> StatusCode {
    match e.code() {
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// A file to download, never cached; a refusal is a page in plain words.
fn download(web: &Web, file: Result<(&'static str, String, Body), ServiceError>) -> Response {
    let (content_type, name, body) = match file {
        Ok(f) => f,
        Err(e) => return super::layout::error_page(web, refusal_status(&e), &refused(web, &e)),
    };
    let Ok(disposition) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) else {
        return super::layout::internal_error(web, format!("file name {name:?}"));
    };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_DISPOSITION, disposition);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn sepa_download(
    State(state): State<AppState>,
    web: Web,
    Path(id): Path<String>,
) -> Response {
    let caller = match web.require(ROLES) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let file = settle::sepa_file(&state.db, caller.fund(), &id)
        .await
        .map(|f| {
            (
                "application/xml; charset=utf-8",
                f.file_name,
                Body::from(f.xml),
            )
        });
    download(&web, file)
}

#[derive(Deserialize)]
struct YearQuery {
    #[serde(default)]
    annee: String,
}

async fn fec_download(
    State(state): State<AppState>,
    web: Web,
    Query(q): Query<YearQuery>,
) -> Response {
    let caller = match web.require(ROLES) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let file = async {
        let year = exports::parse_year("year", &q.annee)?;
        let (name, chunks) = exports::fec(&state.db, caller.fund(), year).await?;
        Ok(("text/plain; charset=utf-8", name, Body::from_stream(chunks)))
    }
    .await;
    download(&web, file)
}

async fn journal_download(State(state): State<AppState>, web: Web) -> Response {
    let caller = match web.require(ROLES) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let file = exports::journal_csv(&state.db, caller.fund(), None, None)
        .await
        .map(|chunks| {
            (
                "text/csv; charset=utf-8; header=present",
                "journal.csv".to_string(),
                Body::from_stream(chunks),
            )
        });
    download(&web, file)
}
