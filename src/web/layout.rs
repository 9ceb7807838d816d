//! The page shell (header, menu, language switch, sign-out) and the error pages.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::i18n::M;
use super::session::Web;
use crate::domain::Role;

/// A hidden CSRF field for a form of this page.
pub fn csrf_field(web: &Web) -> Markup {
    html! { input type="hidden" name="csrf" value=(web.csrf().unwrap_or_default()); }
}

fn nav_links(web: &Web) -> Vec<(&'static str, M)> {
    match web.role() {
        Some(Role::Member) => vec![
            ("/membre", M::NavMember),
            ("/membre/commerces", M::NavShops),
            ("/membre/carte", M::NavCard),
        ],
        Some(Role::Terminal) => vec![("/caisse", M::NavTill)],
        Some(Role::Committee) => vec![("/comite", M::NavCommittee)],
        Some(Role::Treasurer) => vec![("/tresorerie", M::NavTreasurer)],
        Some(Role::Admin) => vec![
            ("/admin", M::NavAdmin),
            ("/admin/personnes", M::NavPeople),
            ("/tresorerie", M::NavTreasurer),
            ("/comite", M::NavCommittee),
        ],
        None => vec![],
    }
}

/// A whole page. `scripts` are names under /static/.
pub fn page(web: &Web, title: &str, scripts: &[&str], body: Markup) -> Markup {
    let other = match web.lang {
        super::i18n::Lang::Fr => "en",
        super::i18n::Lang::En => "fr",
    };
    html! {
        (DOCTYPE)
        html lang=(web.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — " (web.t(M::AppName)) }
                link rel="stylesheet" href="/static/style.css";
                @for s in scripts {
                    script src=(format!("/static/{s}")) defer {}
                }
            }
            body {
                a.skip href="#main" { (web.t(M::SkipToContent)) }
                header.top {
                    a.brand href="/" { (web.t(M::AppName)) }
                    nav aria-label=(web.t(M::MainMenu)) {
                        ul {
                            @for (href, label) in nav_links(web) {
                                li {
                                    @if web.path == href {
                                        a href=(href) aria-current="page" { (web.t(label)) }
                                    } @else {
                                        a href=(href) { (web.t(label)) }
                                    }
                                }
                            }
                        }
                    }
                    div.tools {
                        a lang=(other) href=(format!("/langue?l={other}&retour={}", web.path)) {
                            (web.t(M::OtherLanguage))
                        }
                        @if web.session.is_some() {
                            form method="post" action="/deconnexion" {
                                (csrf_field(web))
                                button.link type="submit" { (web.t(M::Logout)) }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// An HTML answer that is never cached (pages show personal data).
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        markup.into_string(),
    )
        .into_response()
}

pub fn error_page(web: &Web, status: StatusCode, message: &str) -> Response {
    let title = match status {
        StatusCode::FORBIDDEN => web.t(M::ForbiddenTitle),
        _ => web.t(M::ErrorTitle),
    };
    respond(
        status,
        page(
            web,
            title,
            &[],
            html! { p.notice.bad role="alert" { (message) } p { a href="/" { (web.t(M::AppName)) } } },
        ),
    )
}

pub fn internal_error(web: &Web, cause: impl std::fmt::Display) -> Response {
    tracing::error!(error = %cause, "web page failed");
    error_page(
        web,
        StatusCode::INTERNAL_SERVER_ERROR,
        web.t(M::InternalError),
    )
}

/// A notice box: good news or a problem.
pub fn notice(ok: bool, text: &str) -> Markup {
    if ok {
        html! { p.notice.good role="status" { (text) } }
    } else {
        html! { p.notice.bad role="alert" { (text) } }
    }
}

/// The SVG of a QR code, placed inline (it is our own markup, made by `qrcode`).
pub fn inline_svg(svg: &str) -> Markup {
    // Drop the XML declaration: inside HTML it is not allowed.
    let start = svg.find("<svg").unwrap_or(0);
    PreEscaped(svg[start..].to_string())
}
