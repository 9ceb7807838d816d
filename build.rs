//! Rebuilds the crate when a migration changes, and marks the tests that a machine chose to skip as `ignored`, so that `cargo test` reports them
//! as skipped, never as passed: `CAISSE_TEST_SKIP_POSTGRES=1` (no PostgreSQL on this laptop) and
//! `CAISSE_TEST_SKIP_BROWSER=1` (no chromium). Both are refused in CI (`CI` set), where every
//! test runs.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(caisse_skip_postgres)");
    println!("cargo::rustc-check-cfg=cfg(caisse_skip_browser)");
    for var in [
        "CAISSE_TEST_SKIP_POSTGRES",
        "CAISSE_TEST_SKIP_BROWSER",
        "CI",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    println!("cargo::rerun-if-changed=build.rs");
    // sqlx::migrate! embeds the migrations at compile time but cannot tell cargo so: a new
    // migration must rebuild the crate (sqlx's own advice).
    println!("cargo::rerun-if-changed=migrations");
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false");
    let set = |var: &str| std::env::var(var).is_ok_and(|v| v == "1");
    if set("CAISSE_TEST_SKIP_POSTGRES") {
        if ci {
            panic!("CAISSE_TEST_SKIP_POSTGRES=1 is refused in CI: PostgreSQL tests always run");
        }
        println!("cargo::rustc-cfg=caisse_skip_postgres");
    }
    if set("CAISSE_TEST_SKIP_BROWSER") {
        if ci {
            panic!("CAISSE_TEST_SKIP_BROWSER=1 is refused in CI: browser tests always run");
        }
        println!("cargo::rustc-cfg=caisse_skip_browser");
    }
}
