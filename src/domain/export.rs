//! The two accounting exports, line by line: the *fichier des écritures comptables* (FEC) of
//! article A47 A-1 of the *livre des procédures fiscales* (arrêté du 29 juillet 2013), and the
//! journal as CSV (RFC 4180). Pure formatting: the store pages the journal, the service streams.
//!
//! FEC rules followed here: the 18 columns in the order of the arrêté with exactly its header,
//! one line per posting, fields separated by a tab, dates `AAAAMMJJ`, amounts with a decimal
//! comma and no thousands separator, `EcritureNum` numbering the year's entries 1, 2, 3... in
//! the order they were validated. Member auxiliary accounts carry the member's pseudonymous
//! reference (`M000042`), never a name.

use std::fmt::Write;

use super::ledger::{General, Journal};

/// The header line of a FEC, without its line ending.
pub const FEC_HEADER: &str = "JournalCode\tJournalLib\tEcritureNum\tEcritureDate\tCompteNum\t\
CompteLib\tCompAuxNum\tCompAuxLib\tPieceRef\tPieceDate\tEcritureLib\tDebit\tCredit\t\
EcritureLet\tDateLet\tValidDate\tMontantdevise\tIdevise";

/// The header line of the journal CSV, without its line ending.
pub const CSV_HEADER: &str =
    "entry_number,entry_id,date,journal,kind,label,reference,account,debit,credit";

/// One posting of the journal with what both exports print about its entry.
#[derive(Clone, Debug)]
pub struct ExportLine<'a> {
    /// The gapless number in the fund's journal (`journal_chain.seq`).
    pub seq: i64,
    pub entry_id: i64,
    pub journal: &'a str,
    pub kind: &'a str,
    /// `YYYY-MM-DD`.
    pub entry_date: &'a str,
    pub label: &'a str,
    pub reference: Option<&'a str>,
    /// When the entry was written, `YYYY-MM-DD` (UTC).
    pub created_on: &'a str,
    /// `512` or `467.M000042`.
    pub account: &'a str,
    pub debit: i64,
    pub credit: i64,
}

/// `2026-11-05` → `20261105`.
pub fn fec_date(date: &str) -> String {
    date.chars().filter(|c| *c != '-').collect()
}

/// Cents as the FEC writes amounts: `1234,56`, `0,00`, `-3,10`; no thousands separator.
pub fn fec_amount(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{},{:02}", abs / 100, abs % 100)
}

/// Cents with a decimal point, as the API and the CSV write them: `1234.56`.
pub fn point_amount(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// A FEC field holds no tab or line break (they would shift the columns): each becomes a space.
pub fn fec_text(s: &str) -> String {
    s.chars()
        .map(|c| {
            if matches!(c, '\t' | '\r' | '\n') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

/// Writes one FEC line (with its `\n`) for a posting of the entry numbered `ecriture_num` in
/// the year. `aux_label` is the label of the auxiliary account: the shop's name for a 401
/// account; for a member's account (411, 467) it is ignored and the reference is used.
pub fn write_fec_line(
    out: &mut String,
    line: &ExportLine<'_>,
    ecriture_num: i64,
    aux_label: Option<&str>,
) {
    let (general, aux) = match line.account.split_once('.') {
        Some((g, a)) => (g, Some(a)),
        None => (line.account, None),
    };
    let g = General::from_code(general);
    let compte_lib = match (g, general) {
        (Some(g), _) => g.label_fr(),
        (None, CARRIED_FORWARD_ACCOUNT) => "Report à nouveau",
        (None, other) => other,
    };
    let journal_lib = match (Journal::from_code(line.journal), line.journal) {
        (Some(j), _) => j.label(),
        (None, OPENING_JOURNAL) => "À-nouveaux",
        (None, other) => other,
    };
    let (aux_num, aux_lib) = match aux {
        None => (String::new(), String::new()),
        Some(a) => {
            let lib = match (g, aux_label) {
                (Some(General::Shops), Some(name)) if !name.trim().is_empty() => fec_text(name),
                _ => a.to_string(),
            };
            (a.to_string(), lib)
        }
    };
    let piece_ref = match line.reference {
        Some(r) if !r.trim().is_empty() => fec_text(r),
        _ => line.entry_id.to_string(),
    };
    let date = fec_date(line.entry_date);
    // Infallible: writing to a String.
    let _ = writeln!(
        out,
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t\t\t{}\t\t",
        line.journal,
        journal_lib,
        ecriture_num,
        date,
        general,
        compte_lib,
        aux_num,
        aux_lib,
        piece_ref,
        date,
        fec_text(line.label),
        fec_amount(line.debit),
        fec_amount(line.credit),
        fec_date(line.created_on),
    );
}

/// A CSV field quoted as RFC 4180 asks (when it holds a comma, a quote or a line break).
/// Text that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) gets a leading
/// `'`, as OWASP advises for CSV exports: labels and references can be typed by users.
pub fn csv_text(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Writes one journal CSV row (with its CRLF).
pub fn write_csv_line(out: &mut String, line: &ExportLine<'_>) {
    let _ = write!(
        out,
        "{},{},{},{},{},{},{},{},{},{}\r\n",
        line.seq,
        line.entry_id,
        line.entry_date,
        csv_text(line.journal),
        csv_text(line.kind),
        csv_text(line.label),
        csv_text(line.reference.unwrap_or_default()),
        csv_text(line.account),
        point_amount(line.debit),
        point_amount(line.credit),
    );
}

/// The journal of the opening entry (*à-nouveaux*) that starts each year's FEC.
pub const OPENING_JOURNAL: &str = "AN";
/// Where the opening entry puts the result of the years before (the fund keeps no closing
/// entries: revenue and expense accounts run on, so their sum is the accumulated result).
pub const CARRIED_FORWARD_ACCOUNT: &str = "110";

/// Balance-sheet accounts (classes 1 to 5: 512, 411, 401, 467) carry their balance into the
/// next year; revenue and expense accounts (6571, 741, 756) do not.
pub fn is_balance_sheet(account: &str) -> bool {
    matches!(account.as_bytes().first(), Some(b'1'..=b'5'))
}

/// The opening entry of `year`'s FEC, numbered 1: each balance-sheet account's balance at the
/// end of the year before (`balances`: account and debit minus credit, cents), balanced on
/// 110 *Report à nouveau* by the accumulated result. Writes nothing and returns `false` when
/// there is nothing to carry.
pub fn write_opening_entry(
    out: &mut String,
    year: i32,
    balances: &[(String, i64)],
    aux_label: impl Fn(&str) -> Option<String>,
) -> bool {
    let carried: Vec<&(String, i64)> = balances
        .iter()
        .filter(|(a, net)| *net != 0 && is_balance_sheet(a))
        .collect();
    if carried.is_empty() {
        return false;
    }
    let date = format!("{year:04}-01-01");
    let label = format!("Soldes reportés de l'exercice {}", year - 1);
    let reference = format!("AN{year:04}");
    let write = |out: &mut String, account: &str, net: i64, aux: Option<&str>| {
        let line = ExportLine {
            seq: 0,
            entry_id: 0,
            journal: OPENING_JOURNAL,
            kind: "opening",
            entry_date: &date,
            label: &label,
            reference: Some(&reference),
            created_on: &date,
            account,
            debit: net.max(0),
            credit: (-net).max(0),
        };
        write_fec_line(out, &line, 1, aux);
    };
    let mut result = 0i64;
    for (account, net) in carried {
        result += net;
        write(out, account, *net, aux_label(account).as_deref());
    }
    if result != 0 {
        write(out, CARRIED_FORWARD_ACCOUNT, -result, None);
    }
    true
}

/// The FEC's file name: `<SIREN or fund id>FEC<closing date AAAAMMJJ>.txt`.
pub fn fec_file_name(siren: Option<&str>, fund_id: &str, year: i32) -> String {
    let who = siren.filter(|s| !s.is_empty()).unwrap_or(fund_id);
    format!("{who}FEC{year:04}1231.txt")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(account: &'a str, debit: i64, credit: i64) -> ExportLine<'a> {
        ExportLine {
            seq: 7,
            entry_id: 12,
            journal: "AC",
            kind: "redemption",
            entry_date: "2026-11-05",
            label: "Achat\tau marché",
            reference: None,
            created_on: "2026-11-06",
            account,
            debit,
            credit,
        }
    }

    #[test]
    fn amounts_and_dates() {
        assert_eq!(fec_amount(0), "0,00");
        assert_eq!(fec_amount(5), "0,05");
        assert_eq!(fec_amount(123_456_789), "1234567,89");
        assert_eq!(fec_amount(-310), "-3,10");
        assert_eq!(point_amount(1250), "12.50");
        assert_eq!(fec_date("2026-01-31"), "20260131");
    }

    #[test]
    fn fec_line_has_18_columns() {
        assert_eq!(FEC_HEADER.split('\t').count(), 18);
        let mut out = String::new();
        write_fec_line(&mut out, &line("467.M000042", 1250, 0), 3, None);
        write_fec_line(&mut out, &line("401.shop_x", 0, 1250), 3, Some("Épicerie"));
        write_fec_line(&mut out, &line("512", 0, 1250), 3, None);
        let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
        for r in &rows {
            assert_eq!(r.len(), 18, "{r:?}");
        }
        assert_eq!(
            rows[0],
            vec![
                "AC",
                "Achats alimentaires",
                "3",
                "20261105",
                "467",
                "Soldes d'allocation des adhérents",
                "M000042",
                "M000042",
                "12",
                "20261105",
                "Achat au marché",
                "12,50",
                "0,00",
                "",
                "",
                "20261106",
                "",
                ""
            ]
        );
        assert_eq!((rows[1][6], rows[1][7]), ("shop_x", "Épicerie"));
        assert_eq!((rows[2][6], rows[2][7]), ("", ""));
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_text("plain"), "plain");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(csv_text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_text("=1+1"), "'=1+1");
        let mut out = String::new();
        write_csv_line(&mut out, &line("512", 0, 1250));
        assert_eq!(
            out,
            "7,12,2026-11-05,AC,redemption,Achat\tau marché,,512,0.00,12.50\r\n"
        );
    }

    #[test]
    fn opening_entry_balances() {
        let balances = vec![
            ("401.shop_x".to_string(), -6_000),
            ("467.M000001".to_string(), -49_000),
            ("512".to_string(), 97_000),
            ("6571".to_string(), 60_000),
            ("756".to_string(), -10_000),
            ("411.M000002".to_string(), 0),
        ];
        let mut out = String::new();
        assert!(write_opening_entry(&mut out, 2027, &balances, |a| {
            (a == "401.shop_x").then(|| "Épicerie".to_string())
        }));
        let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
        let accounts: Vec<&str> = rows.iter().map(|r| r[4]).collect();
        assert_eq!(accounts, ["401", "467", "512", "110"]);
        // 512 debit 970.00 against 401 and 467 credits 550.00: 420.00 of accumulated result.
        assert_eq!((rows[3][11], rows[3][12]), ("0,00", "420,00"));
        assert_eq!((rows[0][6], rows[0][7]), ("shop_x", "Épicerie"));
        assert!(rows
            .iter()
            .all(|r| r[0] == "AN" && r[2] == "1" && r[3] == "20270101"));
        assert_eq!(rows[3][5], "Report à nouveau");
        let mut none = String::new();
        assert!(!write_opening_entry(
            &mut none,
            2027,
            &balances[3..],
            |_| None
        ));
        assert!(none.is_empty());
    }

    #[test]
    fn file_name() {
        assert_eq!(
            fec_file_name(Some("123456789"), "fund_x", 2026),
            "123456789FEC20261231.txt"
        );
        assert_eq!(fec_file_name(None, "fund_x", 2026), "fund_xFEC20261231.txt");
    }
}
