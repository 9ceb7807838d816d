//! Charts drawn by the server as SVG (no script, no library): grouped bars per month and
//! horizontal bars per item. Each chart has a title for screen readers and its figures in a
//! table beside it.

use maud::{html, Markup};

use super::i18n::Lang;

/// A series of a chart: its name, its colour (at least 3:1 against white), one value a month.
pub struct Series<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub values: Vec<i64>,
}

pub const BLUE: &str = "#0b4f8a";
pub const ORANGE: &str = "#b34700";
pub const GREEN: &str = "#0a6b2d";

const W: f64 = 400.0;
const H: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 36.0;

fn euros_short(lang: Lang, cents: i64) -> String {
    let e = cents as f64 / 100.0;
    let (v, unit) = if e.abs() >= 10_000.0 {
        (e / 1000.0, "k")
    } else {
        (e, "")
    };
    let text = if unit.is_empty() {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    };
    let text = if lang == Lang::Fr {
        text.replace('.', ",")
    } else {
        text
    };
    match lang {
        Lang::Fr => format!("{text}{unit} €"),
        Lang::En => format!("€{text}{unit}"),
    }
}

/// Grouped bars, one group per label (a month), with a zero line when values go negative.
pub fn grouped_bars(
    lang: Lang,
    id: &str,
    title: &str,
    labels: &[String],
    series: &[Series],
) -> Markup {
    let all = series.iter().flat_map(|s| s.values.iter().copied());
    let max = all.clone().max().unwrap_or(0).max(0);
    let min = all.min().unwrap_or(0).min(0);
    let span = (max - min).max(1) as f64;
    let plot_h = H - TOP - BOTTOM;
    let y = |v: i64| TOP + (max - v) as f64 / span * plot_h;
    let n = labels.len().max(1) as f64;
    let group_w = (W - LEFT - RIGHT) / n;
    let bar_w = (group_w * 0.8) / series.len().max(1) as f64;
    let label_every = (labels.len() / 6).max(1);
    html! {
        figure.chart {
            figcaption id=(format!("{id}-t")) { (title) }
            svg viewBox=(format!("0 0 {W} {H}")) role="img" aria-labelledby=(format!("{id}-t"))
                xmlns="http://www.w3.org/2000/svg" font-size="12" font-family="sans-serif" {
                title { (title) }
                // Axis: the top, zero and the bottom values.
                @for v in [max, 0, min].into_iter().collect::<std::collections::BTreeSet<_>>() {
                    line x1=(LEFT) x2=(W - RIGHT) y1=(y(v)) y2=(y(v)) stroke="#8c8c8c" stroke-width="1" {}
                    text x=(LEFT - 4.0) y=(y(v) + 4.0) text-anchor="end" fill="#1a1a1a" { (euros_short(lang, v)) }
                }
                @for (i, label) in labels.iter().enumerate() {
                    @let x0 = LEFT + i as f64 * group_w + group_w * 0.1;
                    @for (k, s) in series.iter().enumerate() {
                        @let v = s.values.get(i).copied().unwrap_or(0);
                        @let (top, h) = if v >= 0 { (y(v), y(0) - y(v)) } else { (y(0), y(v) - y(0)) };
                        rect.bar x=(format!("{:.1}", x0 + k as f64 * bar_w)) y=(format!("{top:.1}"))
                            width=(format!("{:.1}", (bar_w - 1.0).max(1.0))) height=(format!("{:.1}", h.max(0.5)))
                            fill=(s.color) {
                            title { (label) " — " (s.name) " : " (lang.money(v)) }
                        }
                    }
                    @if i % label_every == 0 {
                        text x=(format!("{:.1}", x0 + group_w * 0.4)) y=(H - BOTTOM + 16.0) text-anchor="middle" fill="#1a1a1a" { (label) }
                    }
                }
            }
            (legend(series))
            (data_table(lang, title, labels, series))
        }
    }
}

/// The colours of the series, named.
fn legend(series: &[Series]) -> Markup {
    html! {
        ul.legend {
            @for s in series {
                // An SVG swatch: the page's policy allows no inline style.
                li {
                    svg.swatch viewBox="0 0 10 10" aria-hidden="true" { rect width="10" height="10" fill=(s.color) {} }
                    (s.name)
                }
            }
        }
    }
}

/// The chart's figures as a table, folded: what a screen reader or a careful reader reads.
fn data_table(lang: Lang, title: &str, labels: &[String], series: &[Series]) -> Markup {
    html! {
        details {
            summary { (title) }
            div.scroll {
                table {
                    thead { tr { th scope="col" {} @for s in series { th scope="col" class="num" { (s.name) } } } }
                    tbody {
                        @for (i, label) in labels.iter().enumerate() {
                            tr {
                                th scope="row" { (label) }
                                @for s in series { td class="num" { (lang.money(s.values.get(i).copied().unwrap_or(0))) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Horizontal bars, one per item (a shop), largest first.
pub fn horizontal_bars(
    lang: Lang,
    id: &str,
    title: &str,
    empty: &str,
    items: &[(String, i64)],
) -> Markup {
    if items.is_empty() {
        return html! { figure.chart { figcaption { (title) } p { (empty) } } };
    }
    let max = items.iter().map(|i| i.1).max().unwrap_or(0).max(1) as f64;
    let row = 26.0;
    let height = TOP + row * items.len().max(1) as f64 + 8.0;
    let label_w = 150.0;
    html! {
        figure.chart {
            figcaption id=(format!("{id}-t")) { (title) }
            svg viewBox=(format!("0 0 {W} {height}")) role="img" aria-labelledby=(format!("{id}-t"))
                xmlns="http://www.w3.org/2000/svg" font-size="12" font-family="sans-serif" {
                title { (title) }
                @for (i, (name, v)) in items.iter().enumerate() {
                    @let y0 = TOP + i as f64 * row;
                    @let w = (*v).max(0) as f64 / max * (W - label_w - 80.0);
                    @let short: String = name.chars().take(22).collect();
                    text x=(label_w - 6.0) y=(y0 + 15.0) text-anchor="end" fill="#1a1a1a" { (short) }
                    rect.bar x=(label_w) y=(y0 + 3.0) width=(format!("{:.1}", w.max(1.0))) height=(row - 8.0) fill=(BLUE) {
                        title { (name) " : " (lang.money(*v)) }
                    }
                    text x=(format!("{:.1}", label_w + w + 4.0)) y=(y0 + 15.0) fill="#1a1a1a" { (euros_short(lang, *v)) }
                }
            }
            details {
                summary { (title) }
                div.scroll {
                    table {
                        tbody {
                            @for (name, v) in items {
                                tr { th scope="row" { (name) } td class="num" { (lang.money(*v)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}
