//! The treasurer's dashboard: key figures and the coverage ratio, charts drawn by the server
//! (contributions called vs received, allowances issued vs spent, spending per shop, the bank
//! balance month by month), the monthly operations, the trial balance, and the contribution
//! simulator.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use serde_json::{json, Value};

use super::call::{self, s, typed_amount};
use super::charts::{self, Series};
use super::i18n::{parse_cents, M};
use super::layout::{csrf_field, notice, page, problem_text, respond};
use super::session::{Form, Web};
use crate::api::extract::AdminTreasurer;
use crate::api::{allowances, contributions, ledger, settings, AppState};
use crate::domain::Role;
use crate::store::dashboard;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tresorerie", get(dashboard_page))
        .route("/tresorerie/appel", post(call_contributions))
        .route("/tresorerie/allocations", post(issue_allowances))
        .route("/tresorerie/simulation", post(simulate))
}

const ROLES: &[Role] = &[Role::Treasurer, Role::Admin];

/// The simulator form's values: minimum and three brackets (up to, amount).
struct ScaleForm {
    minimum: String,
    brackets: Vec<(String, String)>,
}

impl ScaleForm {
    /// The fund's current scale when it is by brackets, else a Gironde-like example.
    fn from_settings(settings: &Value) -> ScaleForm {
        let scale = &settings["contribution_scale"];
        let mut brackets: Vec<(String, String)> = scale["brackets"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|b| {
                        (
                            b["up_to"].as_str().unwrap_or_default().to_string(),
                            s(b, "amount").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if brackets.is_empty() {
            brackets = vec![
                ("800.00".into(), "10.00".into()),
                ("1500.00".into(), "40.00".into()),
                (String::new(), "120.00".into()),
            ];
        }
        brackets.resize(4, (String::new(), String::new()));
        ScaleForm {
            minimum: scale["minimum"].as_str().unwrap_or("1.00").to_string(),
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

    fn to_json(&self) -> Value {
        let brackets: Vec<Value> = self
            .brackets
            .iter()
            .filter(|(_, amount)| !amount.is_empty())
            .map(|(up_to, amount)| {
                json!({
                    "up_to": if up_to.is_empty() { Value::Null } else { json!(typed_amount(up_to)) },
                    "amount": typed_amount(amount),
                })
            })
            .collect();
        json!({"kind": "brackets", "minimum": typed_amount(&self.minimum), "brackets": brackets})
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

fn account_balance(tb: &Value, code: &str) -> i64 {
    tb["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|l| s(l, "account") == code))
        .map_or(0, |l| parse_cents(s(l, "balance")).unwrap_or(0))
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
    let months = match dashboard::months(&state.db, &caller.fund_id).await {
        Ok(m) => m,
        Err(e) => return super::layout::internal_error(web, e),
    };
    let shops = match dashboard::spending_per_shop(&state.db, &caller.fund_id).await {
        Ok(s) => s,
        Err(e) => return super::layout::internal_error(web, e),
    };
    let l = web.lang;
    // Totals over the whole history.
    let called: i64 = months.iter().map(|m| m.called).sum();
    let received: i64 = months.iter().map(|m| m.received).sum();
    let issued: i64 = months.iter().map(|m| m.issued).sum();
    let spent: i64 = months.iter().map(|m| m.spent).sum();
    let bank = account_balance(&tb, "512");
    let outstanding = -account_balance(&tb, "467");
    let owed = -account_balance(&tb, "401");
    let coverage = (issued > 0).then(|| percent(l, called as f64 / issued as f64));
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
    let period = chrono::Utc::now().format("%Y-%m").to_string();
    let body = html! {
        @if let Some(f) = flash { (f) }
        section aria-labelledby="sum-h" {
            h2 id="sum-h" { (web.t(M::Summary)) }
            dl.figures id="summary" {
                dt { (web.t(M::ContributionsCalled)) } dd { (l.money(called)) }
                dt { (web.t(M::ContributionsReceived)) } dd { (l.money(received)) }
                dt { (web.t(M::AllowancesIssued)) } dd { (l.money(issued)) }
                dt { (web.t(M::AllowancesSpent)) } dd { (l.money(spent)) }
                dt { (web.t(M::OutstandingAllowances)) } dd { (l.money(outstanding)) }
                dt { (web.t(M::OwedToShops)) } dd { (l.money(owed)) }
                dt { (web.t(M::BankBalance)) } dd { (l.money(bank)) }
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
            p.muted { (l.f(M::MissingFeature, &[web.t(M::MissingIssue7)])) }
        }
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
        page(web, web.t(M::TreasurerTitle), &[], body),
    )
}

async fn call_contributions(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(ROLES) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let answer = async {
        let auth = call::authorized::<AdminTreasurer>(&caller)?;
        let body = call::body(json!({"period": form.text("period")}))?;
        call::json(contributions::call_contributions(State(state.clone()), auth, body).await).await
    }
    .await;
    let flash = match answer {
        Ok(v) => notice(
            true,
            &web.lang.f(
                M::CallResult,
                &[
                    &v["members_called"].to_string(),
                    &web.lang.money_str(s(&v, "total")),
                ],
            ),
        ),
        Err(e) => notice(false, &problem_text(web, &e)),
    };
    render(&state, web, Some(flash), None).await
}

async fn issue_allowances(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(ROLES) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let answer = async {
        let auth = call::authorized::<AdminTreasurer>(&caller)?;
        let body = call::body(json!({"period": form.text("period")}))?;
        call::json(allowances::issue(State(state.clone()), auth, body).await).await
    }
    .await;
    let flash = match answer {
        Ok(v) => notice(
            true,
            &web.lang.f(
                M::IssueResult,
                &[
                    &v["members_credited"].to_string(),
                    &web.lang.money_str(s(&v, "total")),
                ],
            ),
        ),
        Err(e) => notice(false, &problem_text(web, &e)),
    };
    render(&state, web, Some(flash), None).await
}

async fn simulate(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(ROLES) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let scale = ScaleForm::from_form(&form);
    let answer = async {
        let auth = call::authorized::<AdminTreasurer>(&caller)?;
        let body = call::body(json!({"contribution_scale": scale.to_json()}))?;
        call::json(contributions::simulate(State(state.clone()), auth, body).await).await
    }
    .await;
    let l = web.lang;
    let flash = match answer {
        Ok(v) => {
            let ratio = v["coverage_ratio"]
                .as_str()
                .and_then(|r| r.parse::<f64>().ok())
                .map_or_else(|| "—".to_string(), |r| percent(l, r));
            html! {
                p.notice.good role="status" id="simulation" {
                    (l.f(M::SimResult, &[
                        &v["members"].to_string(),
                        &l.money_str(s(&v, "total_contributions")),
                        &l.money_str(s(&v, "total_allowances")),
                        &ratio,
                        &l.money_str(s(&v, "subsidy_needed")),
                    ]))
                }
            }
        }
        Err(e) => notice(false, &problem_text(web, &e)),
    };
    render(&state, web, Some(flash), Some(scale)).await
}
