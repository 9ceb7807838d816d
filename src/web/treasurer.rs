//! The treasurer's dashboard: key figures and the coverage ratio (from
//! `service::reports::summary`), charts drawn by the server (contributions called vs received,
//! allowances issued vs spent, spending per shop, the bank balance month by month), the monthly
//! operations, the month end (settlement, SEPA file, bank statement import, reconciliation),
//! the accounting exports (FEC, journal CSV), the trial balance, and the contribution simulator.
//!
//! Downloads (`/tresorerie/reglements/{id}/sepa.xml`, `/tresorerie/fec`,
//! `/tresorerie/journal.csv`) are GETs that change nothing: they pass the API handler's answer
//! through as it is (headers and streamed body), so no CSRF token is needed for them.

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};

use super::call::{self, s};
use super::charts::{self, Series};
use super::i18n::M;
use super::layout::{csrf_field, notice, page, respond};
use super::problem::{problem_text, refused};
use super::session::{typed_amount, Form, Web};
use crate::api::error::ApiError;
use crate::api::extract::{AdminTreasurer, IdempotencyKey, MaybeIdempotencyKey};
use crate::api::page::QueryParams;
use crate::api::{exports, ledger, settings, settlements};
use crate::app::AppState;
use crate::domain::member::Period;
use crate::domain::settings::{Bracket, ContributionScale};
use crate::domain::{Cents, ErrorCode, Role};
use crate::service::contributions::{Coverage, ScaleTrial};
use crate::service::error::ServiceError;
use crate::service::{self, reports};
use crate::store::dashboard;

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
    /// The fund's current scale when it is by brackets, else a Gironde-like example (read
    /// from the settings' JSON until the dashboard reads the typed settings: then
    /// [`ScaleForm::from_scale`] directly).
    fn from_settings(settings: &Value) -> ScaleForm {
        let scale =
            serde_json::from_value::<ContributionScale>(settings["contribution_scale"].clone())
                .ok();
        ScaleForm::from_scale(scale.as_ref())
    }

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
    let auth = match call::authorized::<AdminTreasurer>(&caller) {
        Ok(a) => a,
        Err(e) => return super::layout::internal_error(web, e.detail),
    };
    let tb = match call::json(ledger::trial_balance(State(state.clone()), auth).await).await {
        Ok(v) => v,
        Err(e) => return super::layout::internal_error(web, e.detail),
    };
    let fund_settings = match call::authorized::<AdminTreasurer>(&caller) {
        Ok(a) => call::json(settings::get_settings(State(state.clone()), a).await)
            .await
            .unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let months = match dashboard::months(&state.db, caller.fund()).await {
        Ok(m) => m,
        Err(e) => return super::layout::internal_error(web, e),
    };
    let shops = match dashboard::spending_per_shop(&state.db, caller.fund()).await {
        Ok(s) => s,
        Err(e) => return super::layout::internal_error(web, e),
    };
    let today = crate::domain::today();
    let summary = match reports::summary(&state.db, caller.fund(), None, today).await {
        Ok(s) => s,
        Err(e) => return super::layout::internal_error(web, e),
    };
    let month_end = match month_end(state, &caller).await {
        Ok(v) => v,
        Err(e) => return super::layout::internal_error(web, e.detail),
    };
    let l = web.lang;
    // The figures of `GET /reports/summary` over the whole history, balances as of today.
    let f = &summary.flows;
    let coverage = f
        .coverage_ratio()
        .and_then(|r| r.to_string().parse::<f64>().ok())
        .map(|r| percent(l, r));
    // Charts: the last twelve months with a movement.
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
    let scale = scale.unwrap_or_else(|| ScaleForm::from_settings(&fund_settings));
    let period = crate::domain::member::Period::of(crate::domain::today()).to_string();
    let body = html! {
        @if let Some(f) = flash { (f) }
        section aria-labelledby="sum-h" {
            h2 id="sum-h" { (web.t(M::Summary)) }
            p.muted { (web.t(M::SummaryNote)) }
            dl.figures id="summary" {
                dt { (web.t(M::ContributionsCalled)) } dd { (l.money(f.contributions_called)) }
                dt { (web.t(M::ContributionsReceived)) } dd { (l.money(f.contributions_received)) }
                dt { (web.t(M::AllowancesIssued)) } dd { (l.money(f.allowances_issued)) }
                dt { (web.t(M::AllowancesSpent)) } dd { (l.money(f.redeemed - f.refunded)) }
                dt { (web.t(M::OutstandingAllowances)) } dd id="outstanding" { (l.money(summary.balances.outstanding_allowance_balances)) }
                dt { (web.t(M::OwedToShops)) } dd id="owed" { (l.money(summary.balances.owed_to_shops)) }
                dt { (web.t(M::PaidToShops)) } dd id="paid" { (l.money(f.paid_to_shops)) }
                dt { (web.t(M::BankBalance)) } dd { (l.money(summary.balances.bank)) }
                dt { (web.t(M::CoverageRatio)) } dd id="coverage" { (coverage.unwrap_or_else(|| "—".into())) }
            }
        }
        section.charts aria-label=(web.t(M::Summary)) {
            (charts::grouped_bars(l, "c-contrib", web.t(M::ChartContributions), &labels, &[
                Series { name: web.t(M::Called), color: charts::BLUE, values: recent.iter().map(|m| m.called).collect() },
                Series { name: web.t(M::Received), color: charts::ORANGE, values: recent.iter().map(|m| m.received).collect() },
            ]))
            (charts::grouped_bars(l, "c-allow", web.t(M::ChartAllowances), &labels, &[
                Series { name: web.t(M::Issued), color: charts::BLUE, values: recent.iter().map(|m| m.issued).collect() },
                Series { name: web.t(M::Spent), color: charts::ORANGE, values: recent.iter().map(|m| m.spent).collect() },
            ]))
            (charts::horizontal_bars(l, "c-shops", web.t(M::ChartShops), web.t(M::NoData), &shops))
            (charts::grouped_bars(l, "c-bank", web.t(M::ChartBank), &labels, &[
                Series { name: web.t(M::BankBalance), color: charts::GREEN, values: bank_series },
            ]))
        }
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
        (month_end_sections(web, &month_end, &today.format("%Y").to_string()))
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
                        @for a in tb["accounts"].as_array().cloned().unwrap_or_default() {
                            tr {
                                td { (s(&a, "account")) }
                                td { (s(&a, "label")) }
                                td class="num" { (l.money_str(s(&a, "debit"))) }
                                td class="num" { (l.money_str(s(&a, "credit"))) }
                            }
                        }
                    }
                }
            }
        }
    };
    respond(
        StatusCode::OK,
        page(web, web.t(M::TreasurerTitle), &["statement.js"], body),
    )
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

/// What the month-end sections show: the latest settlements and what is left to reconcile,
/// both read through the API's handlers.
struct MonthEnd {
    settlements: Vec<Value>,
    reconciliation: Value,
}

async fn month_end(
    state: &AppState,
    caller: &crate::api::extract::Caller,
) -> Result<MonthEnd, ApiError> {
    let auth = call::authorized::<AdminTreasurer>(caller)?;
    let list = call::json(
        settlements::list_settlements(
            State(state.clone()),
            auth,
            QueryParams::from_pairs([("limit", "12")]),
        )
        .await,
    )
    .await?;
    let auth = call::authorized::<AdminTreasurer>(caller)?;
    let reconciliation =
        call::json(settlements::reconciliation(State(state.clone()), auth).await).await?;
    Ok(MonthEnd {
        settlements: list["items"].as_array().cloned().unwrap_or_default(),
        reconciliation,
    })
}

fn line_status(web: &Web, status: &str) -> &'static str {
    if status == "paid" {
        web.t(M::LinePaid)
    } else {
        web.t(M::LineUnpaid)
    }
}

/// A settlement's transfers: shop, amount, EndToEndId, paid or not.
fn settlement_lines(web: &Web, id: &str, caption: &str, lines: &[Value]) -> Markup {
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
                            td { (s(line, "shop_name")) }
                            td class="num" { (l.money_str(s(line, "amount"))) }
                            td { code { (s(line, "end_to_end_id")) } }
                            td { (line_status(web, s(line, "status"))) }
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

/// `2026-11-30T23:00:00.000000Z` → `2026-12-01 00:00` (the fund's time zone), for reading.
fn instant(s: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(s) {
        Ok(d) => d
            .with_timezone(&crate::domain::timezone())
            .format("%Y-%m-%d %H:%M")
            .to_string(),
        Err(_) => s.to_string(),
    }
}

/// The form matching one bank line by hand: a debit to an unpaid transfer of the same amount,
/// a credit to a member (number or payment reference).
fn match_form(web: &Web, line: &Value, unpaid: &[Value]) -> Markup {
    let id = s(line, "id");
    let amount = s(line, "amount");
    let field = format!("match-{id}");
    html! {
        form.inline method="post" action="/tresorerie/rapprochement" {
            (csrf_field(web))
            input type="hidden" name="ligne" value=(id);
            @if let Some(paid) = amount.strip_prefix('-') {
                @let same: Vec<&Value> = unpaid.iter().filter(|u| s(u, "amount") == paid).collect();
                @if same.is_empty() {
                    span { (web.t(M::NoTransferOfThisAmount)) }
                } @else {
                    label for=(field) { (web.t(M::MatchTransfer)) }
                    select id=(field) name="e2e" {
                        @for u in same {
                            option value=(s(u, "end_to_end_id")) {
                                (s(u, "shop_name")) " — " (s(u, "end_to_end_id"))
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
    let l = web.lang;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let rec = &m.reconciliation;
    let bank_lines = rec["unmatched_bank_lines"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let unpaid = rec["unpaid_settlement_lines"]
        .as_array()
        .cloned()
        .unwrap_or_default();
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
            @if m.settlements.is_empty() {
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
                            @for st in &m.settlements {
                                @let id = s(st, "id");
                                tr {
                                    td { (instant(s(st, "created_at"))) }
                                    td { (instant(s(st, "cutoff"))) }
                                    td class="num" { (l.money_str(s(st, "total"))) }
                                    td { a href=(sepa_href(id)) download aria-label=(l.f(M::SepaOfSettlement, &[&instant(s(st, "cutoff"))])) { (web.t(M::SepaLink)) } }
                                }
                            }
                        }
                    }
                }
            }
        }
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
        section aria-labelledby="rec-h" {
            h2 id="rec-h" { (web.t(M::Reconciliation)) }
            h3 id="unmatched-h" { (web.t(M::UnmatchedBankLines)) }
            @if bank_lines.is_empty() {
                p id="unmatched-none" { (web.t(M::NothingLeft)) }
            } @else {
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
                            @for b in &bank_lines {
                                tr {
                                    td { (s(b, "booked_on")) }
                                    td class="num" { (l.money_str(s(b, "amount"))) }
                                    td { (s(b, "reference")) }
                                    td { (s(b, "counterparty")) }
                                    td { (match_form(web, b, &unpaid)) }
                                }
                            }
                        }
                        tfoot { tr {
                            th scope="row" { (web.t(M::Total)) }
                            td class="num" { (l.money_str(s(rec, "unmatched_total"))) }
                            td {} td {} td {}
                        } }
                    }
                }
            }
            h3 id="unpaid-h" { (web.t(M::UnpaidLines)) }
            @if unpaid.is_empty() {
                p id="unpaid-none" { (web.t(M::NothingLeft)) }
            } @else {
                div.scroll {
                    table id="unpaid" aria-labelledby="unpaid-h" {
                        thead { tr {
                            th scope="col" { (web.t(M::Shop)) }
                            th scope="col" class="num" { (web.t(M::Amount)) }
                            th scope="col" { (web.t(M::EndToEndId)) }
                            th scope="col" { (web.t(M::SepaFile)) }
                        } }
                        tbody {
                            @for u in &unpaid {
                                @let sid = s(u, "settlement_id");
                                tr {
                                    td { (s(u, "shop_name")) }
                                    td class="num" { (l.money_str(s(u, "amount"))) }
                                    td { code { (s(u, "end_to_end_id")) } }
                                    td { a href=(sepa_href(sid)) download aria-label=(l.f(M::SepaOfLine, &[s(u, "end_to_end_id")])) { (web.t(M::SepaLink)) } }
                                }
                            }
                        }
                        tfoot { tr {
                            th scope="row" { (web.t(M::Total)) }
                            td class="num" { (l.money_str(s(rec, "unpaid_total"))) }
                            td {} td {}
                        } }
                    }
                }
            }
        }
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

/// Settles the shops up to the cutoff typed (empty: now), and shows the transfers made.
async fn settle(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(ROLES) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let cutoff = form.get("cutoff").map_or_else(
        || chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        str::to_string,
    );
    let answer = async {
        let auth = call::authorized::<AdminTreasurer>(&caller)?;
        let body = call::body(json!({"cutoff": cutoff}))?;
        let key = MaybeIdempotencyKey(
            form.get("cle")
                .filter(|k| k.len() <= 200)
                .map(|k| IdempotencyKey::from_form(Some(&format!("web-settlement-{k}")))),
        );
        call::json_replayed(
            settlements::create_settlement(State(state.clone()), auth, key, body).await,
        )
        .await
    }
    .await;
    let l = web.lang;
    let flash = match answer {
        // The same form sent again: the settlement made then, said to be no new one.
        Ok((v, true)) => html! {
            div id="settlement" {
                p.notice.replayed role="alert" id="settlement-replayed" {
                    (l.f(M::SettlementAlreadyDone, &[
                        &crate::domain::local_clock(s(&v, "created_at")).unwrap_or_default(),
                    ]))
                }
                p { a href=(sepa_href(s(&v, "id"))) download { (web.t(M::SepaFile)) " — " (web.t(M::SepaLink)) } }
            }
        },
        Ok((v, false)) => {
            let lines = v["lines"].as_array().cloned().unwrap_or_default();
            let id = s(&v, "id");
            html! {
                div id="settlement" {
                    (notice(true, &l.f(M::SettlementDone, &[
                        &lines.len().to_string(),
                        &l.money_str(s(&v, "total")),
                    ])))
                    (settlement_lines(web, id, &l.f(M::SettlementLines, &[&instant(s(&v, "cutoff"))]), &lines))
                    p { a href=(sepa_href(id)) download { (web.t(M::SepaFile)) " — " (web.t(M::SepaLink)) } }
                }
            }
        }
        Err(e) => notice(false, &problem_text(web, &e)),
    };
    render(&state, web, Some(flash), None).await
}

/// Matches a bank line by hand: to the transfer chosen, or to the member named by number or
/// payment reference.
async fn match_line(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(ROLES) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let field = |k: &str| {
        form.get(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let line = field("ligne").unwrap_or_default();
    let body = match (field("e2e"), field("adherent")) {
        (Some(e2e), _) => Ok(json!({"end_to_end_id": e2e})),
        (None, Some(who)) => {
            match crate::store::members::id_by_number_or_reference(&state.db, caller.fund(), &who)
                .await
            {
                Ok(Some(member)) => Ok(json!({"member_id": member})),
                Ok(None) => Err(notice(false, web.t(M::NoSuchMember))),
                Err(e) => Err(notice(false, &problem_text(web, &ApiError::from(e)))),
            }
        }
        (None, None) => Err(notice(false, web.t(M::NoSuchMember))),
    };
    let flash = match body {
        Err(flash) => flash,
        Ok(body) => {
            let answer = async {
                let auth = call::authorized::<AdminTreasurer>(&caller)?;
                let body = call::body(body)?;
                call::json(
                    settlements::match_bank_line(State(state.clone()), auth, Path(line), body)
                        .await,
                )
                .await
            }
            .await;
            match answer {
                Ok(_) => notice(true, web.t(M::LineMatched)),
                Err(e) => notice(false, &problem_text(web, &e)),
            }
        }
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
    let content_type = if text.starts_with('<') {
        "application/xml"
    } else {
        "text/csv"
    };
    let answer = async {
        let auth = call::authorized::<AdminTreasurer>(&caller)?;
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        // The form's text area sends CRLF line ends; the statement is read as the bank wrote it.
        let body = axum::body::Body::from(text.replace("\r\n", "\n"));
        call::json(settlements::import_statement(State(state.clone()), auth, headers, body).await)
            .await
    }
    .await;
    let flash = match answer {
        Ok(v) => html! {
            p.notice.good role="status" id="import-result" {
                (l.f(M::ImportResult, &[
                    &v["imported"].to_string(),
                    &v["duplicates"].to_string(),
                    &v["matched"].to_string(),
                    &v["unmatched"].to_string(),
                ]))
            }
        },
        Err(e) => {
            html! {
                div.notice.bad role="alert" id="import-error" {
                    p { (problem_text(web, &e)) }
                }
            }
        }
    };
    render(&state, web, Some(flash), None).await
}

/// A download answered by an API handler, passed through (headers and streamed body); a
/// refusal is a page in plain words.
fn download(web: &Web, answer: Result<Response, ApiError>) -> Response {
    match answer {
        Ok(mut r) => {
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => super::layout::error_page(web, e.status, &problem_text(web, &e)),
    }
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
    let answer = async {
        let auth = call::authorized::<AdminTreasurer>(&caller)?;
        settlements::sepa_file(State(state.clone()), auth, Path(id)).await
    }
    .await;
    download(&web, answer)
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
    let answer = async {
        let auth = call::authorized::<AdminTreasurer>(&caller)?;
        let year = q.annee.trim();
        exports::fec(
            State(state.clone()),
            auth,
            QueryParams::from_pairs([("year", year)]),
        )
        .await
    }
    .await;
    download(&web, answer)
}

async fn journal_download(State(state): State<AppState>, web: Web) -> Response {
    let caller = match web.require(ROLES) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let answer = async {
        let auth = call::authorized::<AdminTreasurer>(&caller)?;
        exports::journal_csv(
            State(state.clone()),
            auth,
            QueryParams::from_pairs(std::iter::empty()),
        )
        .await
    }
    .await;
    download(&web, answer)
}
