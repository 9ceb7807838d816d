//! The member import on both backends: the dry run, all or nothing, twice, and real files
//! saved by LibreOffice (tests/fixtures/import/membres.{csv,xlsx,ods}, made with
//! `libreoffice --headless --convert-to xlsx membres.csv`, and `ods`).

mod common;

use caisse::domain::import::{Column, FileError, Problem};
use caisse::domain::FundId;
use caisse::service::imports::{self, ImportError};
use common::TestApp;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/import/");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}{name}")).expect("fixture")
}

async fn member_count(app: &TestApp) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) AS n FROM members WHERE fund_id = $1")
        .bind(&app.fund_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

const GOOD: &str = "Nom;Prénom;Adultes;Enfants;Revenu;Email;Téléphone;Date d'adhésion\n\
    Diallo;Awa;2;3;\"1 234,50\";awa@example.org;06 12 34 56 78;15/09/2025\n\
    Martin;Louis;1;0;850;;;\n";

async fn dry_run_says_each_line(app: TestApp) {
    let fund = FundId::new(&app.fund_id);
    let text = format!("{GOOD}Petit;;0;40;abc;pas-un-email;;\nDiallo;Awa;1;0;;AWA@example.org;;\n");
    let report = imports::dry_run(&app.db, &fund, text.as_bytes(), "membres.csv")
        .await
        .unwrap();
    assert_eq!((report.ready(), report.refused()), (2, 2));
    let awa = report.rows[0].outcome.as_ref().unwrap();
    assert_eq!(report.rows[0].line, 2);
    assert_eq!(awa.member.full_name, "Awa Diallo");
    assert_eq!(
        (
            awa.member.household.adults(),
            awa.member.household.children()
        ),
        (2, 3)
    );
    assert_eq!(awa.member.joined_on, "2025-09-15");
    let petit = report.rows[2].outcome.as_ref().unwrap_err();
    assert_eq!(petit[0].column, Column::Income);
    assert_eq!(petit[0].problem, Problem::NotAnAmount);
    let twice = report.rows[3].outcome.as_ref().unwrap_err();
    assert_eq!(twice[0].column, Column::Email);
    assert_eq!(twice[0].problem, Problem::DuplicateOf { line: 2 });
    assert_eq!(member_count(&app).await, 0, "a dry run creates nothing");
}

async fn one_bad_line_imports_nothing(app: TestApp) {
    let fund = FundId::new(&app.fund_id);
    let text = format!("{GOOD}Petit;;1;0;;pas-un-email;;\n");
    let err = imports::import(&app.db, &fund, text.as_bytes(), "m.csv")
        .await
        .unwrap_err();
    let ImportError::Rows(report) = err else {
        panic!("{err}")
    };
    let bad = report.rows[2].outcome.as_ref().unwrap_err();
    assert_eq!(
        (bad[0].column, &bad[0].problem),
        (Column::Email, &Problem::Refused)
    );
    assert_eq!(member_count(&app).await, 0);
    let err = imports::import(&app.db, &fund, b"prenom\nAwa\n", "m.csv")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImportError::File(FileError::NoNameColumn)),
        "{err}"
    );
    assert_eq!(member_count(&app).await, 0);
}

async fn the_same_file_twice_creates_its_members_once(app: TestApp) {
    let fund = FundId::new(&app.fund_id);
    let created = imports::import(&app.db, &fund, GOOD.as_bytes(), "m.csv")
        .await
        .unwrap();
    assert_eq!(created.len(), 2);
    assert_eq!(created[0].email.as_deref(), Some("awa@example.org"));
    assert_eq!(created[1].number, created[0].number + 1);
    let report = imports::dry_run(&app.db, &fund, GOOD.as_bytes(), "m.csv")
        .await
        .unwrap();
    assert_eq!(report.ready(), 0);
    let by_email = report.rows[0].outcome.as_ref().unwrap_err();
    assert_eq!(
        by_email[0].problem,
        Problem::AlreadyMember {
            number: created[0].number
        }
    );
    let by_name = report.rows[1].outcome.as_ref().unwrap_err();
    assert_eq!(
        (by_name[0].column, &by_name[0].problem),
        (
            Column::Name,
            &Problem::AlreadyMember {
                number: created[1].number
            }
        )
    );
    let again = imports::import(&app.db, &fund, GOOD.as_bytes(), "m.csv").await;
    assert!(matches!(again, Err(ImportError::Rows(_))));
    assert_eq!(member_count(&app).await, 2);
    TestApp::assert_clean(&app.verify_problems().await);
}

async fn libreoffice_files_read_like_their_csv(app: TestApp) {
    let fund = FundId::new(&app.fund_id);
    for name in ["membres.csv", "membres.xlsx", "membres.ods"] {
        let report = imports::dry_run(&app.db, &fund, &fixture(name), name)
            .await
            .unwrap();
        assert_eq!((report.ready(), report.refused()), (3, 0), "{name}");
        let awa = &report.rows[0].outcome.as_ref().unwrap().member;
        assert_eq!(awa.full_name, "Awa Diallo", "{name}");
        assert_eq!(
            (awa.household.adults(), awa.household.children()),
            (2, 3),
            "{name}"
        );
        assert_eq!(
            awa.monthly_income,
            Some("1234.50".parse().unwrap()),
            "{name}"
        );
        assert_eq!(awa.phone.as_deref(), Some("06 12 34 56 78"), "{name}");
        assert_eq!(awa.joined_on, "2025-09-15", "{name}");
        let lan = &report.rows[2].outcome.as_ref().unwrap().member;
        assert_eq!(
            (lan.full_name.as_str(), lan.email.as_deref()),
            ("Lan Nguyen", None),
            "{name}"
        );
    }
    let created = imports::import(&app.db, &fund, &fixture("membres.ods"), "membres.ods")
        .await
        .unwrap();
    assert_eq!(created.len(), 3);
    let report = imports::dry_run(&app.db, &fund, &fixture("membres.xlsx"), "x.xlsx")
        .await
        .unwrap();
    assert_eq!(
        report.refused(),
        3,
        "the .xlsx names the members the .ods created"
    );
    // Cells at B1048576 and XFD1048576 far below the list (a rectangle of 17 billion cells): refused
    // as too many lines, without allocating that rectangle.
    let far = imports::dry_run(&app.db, &fund, &fixture("lointain.xlsx"), "lointain.xlsx")
        .await
        .unwrap_err();
    assert!(
        matches!(
            far,
            ImportError::File(FileError::TooManyRows { max: 5_000 })
        ),
        "{far}"
    );
    let err = imports::dry_run(&app.db, &fund, b"PK\x03\x04garbage", "x.xlsx")
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImportError::File(FileError::Unreadable)),
        "{err}"
    );
}

both_backends!(
    dry_run_says_each_line,
    one_bad_line_imports_nothing,
    the_same_file_twice_creates_its_members_once,
    libreoffice_files_read_like_their_csv,
);
