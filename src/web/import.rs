//! Importing a member list (admin, treasurer: those who may create members): choose a file, see
//! what each line will create or what is wrong with it, then import all of it or nothing.
//!
//! The file travels as base64 in a form field, put there by `import.js`, and the dry run's
//! page carries it again in a hidden field to the confirmation: axum's `multipart` feature
//! would bring `multer` and a second body reader for one form, while this keeps every page
//! form on the one CSRF-checked [`Form`] reader; the cost is a third more bytes on the wire.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};

use super::i18n::{Lang, M};
use super::layout::{csrf_field, notice, page, respond};
use super::problem::{field_words, refused};
use super::session::{Form, Web};
use crate::app::AppState;
use crate::domain::import::{Column, FileError, Problem, RowProblem, MAX_FILE_BYTES, MAX_ROWS};
use crate::domain::Role;
use crate::service::imports::{self, ImportError, Report, ReportRow};

/// The form with the largest file as base64 (4 bytes for 3), urlencoded (`+`, `/` and `=`
/// take 3 bytes each, about 1 character in 20), with room for the other fields.
const IMPORT_FORM_LIMIT: usize = MAX_FILE_BYTES / 3 * 4 * 3 / 2 + 64 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/import",
            get(import_page)
                .post(check)
                .layer(DefaultBodyLimit::max(IMPORT_FORM_LIMIT)),
        )
        .route(
            "/admin/import/confirmer",
            post(confirm).layer(DefaultBodyLimit::max(IMPORT_FORM_LIMIT)),
        )
}

const ROLES: &[Role] = &[Role::Admin, Role::Treasurer];

async fn import_page(web: Web) -> Response {
    if let Err(r) = web.require(ROLES) {
        return r;
    }
    show(&web, StatusCode::OK, html! { (pick_form(&web)) })
}

fn show(web: &Web, status: StatusCode, body: Markup) -> Response {
    respond(
        status,
        page(web, web.t(M::ImportTitle), &["import.js"], body),
    )
}

/// The file sent by the form: its name and its bytes.
fn sent_file(form: &Form) -> Option<(String, Vec<u8>)> {
    let content = form.text("content");
    let bytes = data_encoding::BASE64
        .decode(content.trim().as_bytes())
        .ok()?;
    (!bytes.is_empty()).then(|| (form.text("file_name"), bytes))
}

#[tracing::instrument(skip_all)]
async fn check(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(ROLES) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some((name, bytes)) = sent_file(&form) else {
        let body = html! { (notice(false, web.t(M::ImportNoFile))) (pick_form(web)) };
        return show(web, StatusCode::UNPROCESSABLE_ENTITY, body);
    };
    match imports::dry_run(&state.db, caller.fund(), &bytes, &name).await {
        Ok(report) => {
            let body = html! {
                (report_section(web, &name, &report))
                @if report.refused() == 0 && report.ready() > 0 {
                    (confirm_form(web, &name, &bytes, report.ready()))
                } @else if report.ready() == 0 && report.refused() == 0 {
                    (notice(false, web.t(M::ImportNothing)))
                } @else {
                    p { (web.t(M::ImportFixFirst)) }
                }
                (pick_form(web))
            };
            show(web, StatusCode::OK, body)
        }
        Err(e) => failed(web, &name, e),
    }
}

#[tracing::instrument(skip_all)]
async fn confirm(State(state): State<AppState>, form: Form) -> Response {
    let web = &form.web;
    let caller = match web.require(ROLES) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some((name, bytes)) = sent_file(&form) else {
        let body = html! { (notice(false, web.t(M::ImportNoFile))) (pick_form(web)) };
        return show(web, StatusCode::UNPROCESSABLE_ENTITY, body);
    };
    match imports::import(&state.db, caller.fund(), &bytes, &name).await {
        Ok(created) => {
            let text = match (created.first(), created.last()) {
                (Some(first), Some(last)) => web.lang.f(
                    M::ImportDone,
                    &[
                        &created.len().to_string(),
                        &first.number.to_string(),
                        &last.number.to_string(),
                    ],
                ),
                _ => web.t(M::ImportNothing).to_string(),
            };
            show(
                web,
                StatusCode::OK,
                html! { (notice(true, &text)) (pick_form(web)) },
            )
        }
        Err(e) => failed(web, &name, e),
    }
}

/// A refused file or import: what is wrong, and the picker to try again.
fn failed(web: &Web, name: &str, e: ImportError) -> Response {
    let (status, body) = match e {
        ImportError::File(f) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            notice(false, &file_error(web.lang, &f)),
        ),
        ImportError::Rows(report) => {
            let text = web
                .lang
                .f(M::ImportRefused, &[&report.refused().to_string()]);
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                html! { (notice(false, &text)) (report_section(web, name, &report)) },
            )
        }
        ImportError::Service(s) => {
            let status = if s.is_internal() {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            (status, notice(false, &refused(web, &s)))
        }
    };
    show(web, status, html! { (body) (pick_form(web)) })
}

fn file_error(lang: Lang, e: &FileError) -> String {
    match e {
        FileError::TooLarge { max } => {
            lang.f(M::ImportTooLarge, &[&(max / (1024 * 1024)).to_string()])
        }
        FileError::TooManyRows { max } => lang.f(M::ImportTooManyRows, &[&max.to_string()]),
        FileError::Unreadable => lang.t(M::ImportUnreadable).to_string(),
        FileError::Empty => lang.t(M::ImportEmpty).to_string(),
        FileError::NoNameColumn => lang.t(M::ImportNoNameColumn).to_string(),
        FileError::DuplicateColumn(c) => lang.f(M::ImportDuplicateColumn, &[c]),
        FileError::UnclosedQuote { line } => lang.f(M::ImportUnclosedQuote, &[&line.to_string()]),
    }
}

fn column_words(column: Column) -> M {
    match column {
        Column::Name => field_words("full_name"),
        Column::FirstName => M::FieldFirstName,
        Column::Adults => field_words("adults"),
        Column::Children => field_words("children"),
        Column::Income => field_words("monthly_income"),
        Column::ChosenContribution => field_words("chosen_contribution"),
        Column::Email => field_words("email"),
        Column::Phone => field_words("phone"),
        Column::JoinedOn => M::FieldJoinedOn,
    }
}

/// A problem of a line in the reader's words, its column named.
fn problem_text(lang: Lang, p: &RowProblem) -> String {
    let column = lang.t(column_words(p.column));
    match &p.problem {
        Problem::Missing => capitalised(&lang.f(M::ProblemMissing, &[column])),
        Problem::NotACount => capitalised(&lang.f(M::ProblemNotACount, &[column])),
        Problem::NotAnAmount => capitalised(&lang.f(M::ProblemNotAnAmount, &[column])),
        Problem::NotADate => capitalised(&lang.f(M::ProblemNotADate, &[column])),
        Problem::Refused => capitalised(&lang.f(M::ProblemRefused, &[column])),
        Problem::DuplicateOf { line } => {
            capitalised(&lang.f(M::ProblemDuplicate, &[column, &line.to_string()]))
        }
        Problem::AlreadyMember { number } => {
            capitalised(&lang.f(M::ProblemAlreadyMember, &[column, &number.to_string()]))
        }
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn pick_form(web: &Web) -> Markup {
    let accept =
        ".csv,.txt,.ods,.xlsx,.xls,text/csv,application/vnd.oasis.opendocument.spreadsheet,\
        application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,application/vnd.ms-excel";
    html! {
        section.card aria-labelledby="pick-h" {
            h2 id="pick-h" { (web.t(M::ImportTitle)) }
            p id="import-help" { (web.t(M::ImportIntro)) }
            noscript { p.notice.bad { (web.t(M::ImportNoScript)) } }
            form method="post" action="/admin/import" {
                (csrf_field(web))
                label for="import-file" { (web.t(M::ImportFile)) }
                input id="import-file" type="file" accept=(accept) aria-describedby="import-help" required;
                input id="import-content" type="hidden" name="content";
                input id="import-name" type="hidden" name="file_name";
                button type="submit" { (web.t(M::ImportCheck)) }
            }
        }
    }
}

fn confirm_form(web: &Web, name: &str, bytes: &[u8], ready: usize) -> Markup {
    html! {
        form method="post" action="/admin/import/confirmer" {
            (csrf_field(web))
            input type="hidden" name="file_name" value=(name);
            input type="hidden" name="content" value=(data_encoding::BASE64.encode(bytes));
            button.big type="submit" { (web.lang.f(M::ImportConfirm, &[&ready.to_string()])) }
        }
    }
}

fn report_section(web: &Web, name: &str, report: &Report) -> Markup {
    let summary = web.lang.f(
        M::ImportSummary,
        &[&report.ready().to_string(), &report.refused().to_string()],
    );
    html! {
        section aria-labelledby="report-h" {
            h2 id="report-h" { (web.lang.f(M::ImportReport, &[name])) }
            (notice(report.refused() == 0, &summary))
            @if !report.ignored_columns.is_empty() {
                p.muted { (web.lang.f(M::ImportIgnored, &[&report.ignored_columns.join(", ")])) }
            }
            table.stack {
                thead { tr {
                    th scope="col" { (web.t(M::ImportLine)) }
                    th scope="col" { (web.t(M::Name)) }
                    th scope="col" { (web.t(M::ImportHousehold)) }
                    th scope="col" { (web.t(M::ImportOutcome)) }
                } }
                tbody {
                    @for row in report.rows.iter().take(MAX_ROWS) { (report_row(web, row)) }
                }
            }
        }
    }
}

fn report_row(web: &Web, row: &ReportRow) -> Markup {
    let household = row.outcome.as_ref().ok().map(|p| {
        web.lang.f(
            M::ImportHouseholdIs,
            &[
                &p.member.household.adults().to_string(),
                &p.member.household.children().to_string(),
            ],
        )
    });
    html! {
        tr.bad[row.outcome.is_err()] {
            td.num data-label=(web.t(M::ImportLine)) { (row.line) }
            th scope="row" data-label=(web.t(M::Name)) { (row.name) }
            td data-label=(web.t(M::ImportHousehold)) { (household.unwrap_or_default()) }
            td data-label=(web.t(M::ImportOutcome)) {
                @match &row.outcome {
                    Ok(p) => (web.lang.f(M::ImportWillCreate, &[
                        &web.lang.money(p.contribution.cents()), &web.lang.money(p.monthly_allowance.cents())])),
                    Err(problems) => ul.problems {
                        @for p in problems { li { (problem_text(web.lang, p)) } }
                    },
                }
            }
        }
    }
}
