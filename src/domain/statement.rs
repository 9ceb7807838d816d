//! Bank statements as the fund's bank sends them: ISO 20022 camt.053 (versions .001.02 and
//! .001.08, and the versions between, which differ the same ways) and the simple CSV of API.md
//! (`date,amount,reference,counterparty`, negative = money out).
//!
//! Parsing gives booked lines with a signed amount in cents; nothing here touches the database.
//! camt.053 is read with `roxmltree` (a small, read-only XML tree), by local element names, so
//! the namespace of each version does not matter once it was recognised.

use chrono::NaiveDate;
use roxmltree::Node;

use super::bounds;
use super::money::Cents;

/// A parsed statement: its balances when the format has them, and its booked lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// `camt.053.001.02`, `camt.053.001.08`, ... or `csv`.
    pub format: String,
    /// The bank's statement id(s).
    pub bank_id: Option<String>,
    pub opening: Option<i64>,
    pub closing: Option<i64>,
    pub lines: Vec<Line>,
}

/// One booked movement: negative is money out of the fund's account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub booked_on: NaiveDate,
    pub amount: i64,
    /// The free text (remittance information, structured creditor reference).
    pub reference: String,
    pub counterparty: Option<String>,
    /// The bank's own reference of the entry (camt `AcctSvcrRef`), unique per account.
    pub bank_ref: Option<String>,
    /// The EndToEndId the payer gave (our settlement lines' ids on payouts).
    pub end_to_end_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// Not XML, not UTF-8: the body cannot be read at all.
    #[error("{0}")]
    Unreadable(String),
    /// Readable but not a statement we understand (missing element, bad amount, bad date...).
    #[error("{0}")]
    Invalid(String),
    /// Elements nested deeper than any statement does (refused before parsing).
    #[error("the XML nests elements more than {max} levels deep; a statement needs about 12")]
    TooDeep { max: usize },
    /// More lines or XML nodes than one statement may hold.
    #[error("{0}")]
    TooLarge(String),
    /// Opening balance + entries ≠ closing balance.
    #[error(
        "statement {id}: opening balance {} + entries {} = {}, but the closing balance is {}",
        fmt(*opening), fmt(*entries), fmt(opening + entries), fmt(*closing)
    )]
    Unbalanced {
        id: String,
        opening: i64,
        entries: i64,
        closing: i64,
    },
}

fn fmt(cents: i64) -> String {
    super::money::format_signed_cents(cents)
}

fn invalid(msg: impl Into<String>) -> StatementError {
    StatementError::Invalid(msg.into())
}

/// Reads a camt.053 document. Each `Stmt` must balance: opening (`OPBD`, else `PRCD`) plus its
/// booked entries equals the closing balance (`CLBD`).
pub fn parse_camt053(xml: &str) -> Result<Statement, StatementError> {
    let doc = read_xml(xml)?;
    let root = doc.root_element();
    let version = camt_version(root)?;
    let report = child(root, "BkToCstmrStmt").ok_or_else(|| invalid("no BkToCstmrStmt element"))?;
    let mut statement = Statement {
        format: format!("camt.053.001.{version}"),
        bank_id: None,
        opening: None,
        closing: None,
        lines: Vec::new(),
    };
    let mut ids = Vec::new();
    let mut any = false;
    for stmt in children(report, "Stmt") {
        any = true;
        let id = text_at(stmt, &["Id"]).unwrap_or_default();
        let (opening, closing) = balances(stmt, &id)?;
        let mut entries = 0i64;
        for (n, ntry) in children(stmt, "Ntry").enumerate() {
            let what = format!("entry {} of statement {id}", n + 1);
            entries += read_entry(ntry, &what, &mut statement.lines)?;
        }
        if opening + entries != closing {
            return Err(StatementError::Unbalanced {
                id,
                opening,
                entries,
                closing,
            });
        }
        if !id.is_empty() {
            ids.push(id);
        }
        statement.opening = statement.opening.or(Some(opening));
        statement.closing = Some(closing);
    }
    if !any {
        return Err(invalid("the document holds no statement (Stmt)"));
    }
    statement.bank_id = (!ids.is_empty()).then(|| ids.join(" "));
    check_lines(&statement)?;
    Ok(statement)
}

/// The camt.053 version of the document's namespace (`02` to `08`).
fn camt_version<'a>(root: Node<'a, '_>) -> Result<&'a str, StatementError> {
    let ns = root.tag_name().namespace().unwrap_or_default();
    ns.strip_prefix("urn:iso:std:iso:20022:tech:xsd:camt.053.001.")
        .filter(|v| matches!(*v, "02" | "03" | "04" | "05" | "06" | "07" | "08"))
        .ok_or_else(|| {
            invalid(format!(
                "not a camt.053 statement (namespace {ns:?}); versions camt.053.001.02 to .08 \
                 are read"
            ))
        })
}

/// A `Stmt`'s opening (`OPBD`, else `PRCD`) and closing (`CLBD`) balances.
fn balances(stmt: Node, id: &str) -> Result<(i64, i64), StatementError> {
    let mut opening = None;
    let mut previous_closing = None;
    let mut closing = None;
    for bal in children(stmt, "Bal") {
        let code = text_at(bal, &["Tp", "CdOrPrtry", "Cd"]).unwrap_or_default();
        let amount = signed_amount(bal, &format!("balance {code} of statement {id}"))?;
        match code.as_str() {
            "OPBD" => opening = Some(amount),
            "PRCD" => previous_closing = Some(amount),
            "CLBD" => closing = Some(amount),
            _ => {}
        }
    }
    let opening = opening.or(previous_closing).ok_or_else(|| {
        invalid(format!(
            "statement {id}: no opening balance (Bal OPBD or PRCD)"
        ))
    })?;
    let closing =
        closing.ok_or_else(|| invalid(format!("statement {id}: no closing balance (Bal CLBD)")))?;
    Ok((opening, closing))
}

/// Reads one `Ntry` into `lines` and gives the amount it puts on the balance: zero for an
/// entry not booked yet (pending or information only).
fn read_entry(ntry: Node, what: &str, lines: &mut Vec<Line>) -> Result<i64, StatementError> {
    let status = text_at(ntry, &["Sts"])
        .filter(|s| !s.is_empty())
        .or_else(|| text_at(ntry, &["Sts", "Cd"]))
        .unwrap_or_else(|| "BOOK".into());
    if status != "BOOK" {
        return Ok(0);
    }
    let amount = signed_amount(ntry, what)?;
    let booked_on = date_at(ntry, "BookgDt")
        .or_else(|| date_at(ntry, "ValDt"))
        .ok_or_else(|| invalid(format!("{what}: no booking date")))?;
    let entry_ref = text_at(ntry, &["AcctSvcrRef"]).or_else(|| text_at(ntry, &["NtryRef"]));
    let txs: Vec<Node> = children(ntry, "NtryDtls")
        .flat_map(|d| children(d, "TxDtls"))
        .collect();
    // A batch-booked entry (one debit for a whole SEPA file) lists each transfer with its own
    // amount: split it so each transfer matches its settlement line.
    let tx_amounts: Option<Vec<i64>> = (txs.len() > 1)
        .then(|| {
            txs.iter()
                .map(|t| tx_amount(*t).map(|a| if amount < 0 { -a } else { a }))
                .collect::<Option<Vec<i64>>>()
        })
        .flatten()
        .filter(|a| a.iter().sum::<i64>() == amount);
    match tx_amounts {
        Some(amounts) => {
            for (i, (tx, a)) in txs.iter().zip(amounts).enumerate() {
                let mut line = line_of(*tx, ntry, booked_on, a, amount < 0);
                line.bank_ref = text_at(*tx, &["Refs", "AcctSvcrRef"])
                    .or_else(|| entry_ref.as_ref().map(|r| format!("{r}/{}", i + 1)));
                lines.push(line);
            }
        }
        None => {
            let mut line = match txs.first() {
                Some(tx) => line_of(*tx, ntry, booked_on, amount, amount < 0),
                None => line_of(ntry, ntry, booked_on, amount, amount < 0),
            };
            line.bank_ref = entry_ref;
            lines.push(line);
        }
    }
    Ok(amount)
}

/// Most lines one statement may hold (a month of a fund's account is a few thousand).
pub const MAX_LINES: usize = 100_000;
/// Most XML nodes (elements, texts, attributes' owners) of one camt.053: a real 16 MiB
/// statement has about 600,000; each costs roxmltree some 50 bytes.
pub const MAX_XML_NODES: u32 = 1_000_000;
/// Longest CSV record, in characters, and most fields of one (4 are read).
pub const MAX_CSV_RECORD_CHARS: usize = 4_096;
pub const MAX_CSV_FIELDS: usize = 16;

/// The XML tree, once the text is known to be shallow and free of any DTD: roxmltree is not
/// given a document that could exhaust the stack or expand entities, and stops at
/// [`MAX_XML_NODES`].
fn read_xml(xml: &str) -> Result<roxmltree::Document<'_>, StatementError> {
    if xml.contains('\0') {
        return Err(StatementError::Unreadable(
            "the body holds a NUL character, which XML does not allow".into(),
        ));
    }
    bounds::xml_scan(xml, bounds::MAX_XML_DEPTH).map_err(|r| match r {
        bounds::XmlRefusal::TooDeep { max } => StatementError::TooDeep { max },
        bounds::XmlRefusal::Declaration => invalid(
            "the XML declares a DTD or entities (<!DOCTYPE …>): a camt.053 statement has none, \
             and none is read",
        ),
    })?;
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_XML_NODES,
    };
    roxmltree::Document::parse_with_options(xml, options).map_err(|e| match e {
        roxmltree::Error::NodesLimitReached => StatementError::TooLarge(format!(
            "the XML has more than {MAX_XML_NODES} nodes: split the statement"
        )),
        e => StatementError::Unreadable(format!("the body is not well-formed XML: {e}")),
    })
}

/// Longest text of a line (reference, counterparty, ids): a CSV record's bound, for camt.053
/// too, where one remittance text could otherwise be the whole 16 MiB.
pub const MAX_LINE_TEXT_CHARS: usize = MAX_CSV_RECORD_CHARS;

/// Every line's texts are free of NUL (the database refuses it) and bounded, and so is the
/// number of lines.
fn check_lines(statement: &Statement) -> Result<(), StatementError> {
    if statement.lines.len() > MAX_LINES {
        return Err(StatementError::TooLarge(format!(
            "the statement has more than {MAX_LINES} lines: split it"
        )));
    }
    for (n, line) in statement.lines.iter().enumerate() {
        let texts = [
            Some(&line.reference),
            line.counterparty.as_ref(),
            line.bank_ref.as_ref(),
            line.end_to_end_id.as_ref(),
        ];
        for t in texts.into_iter().flatten() {
            if t.contains('\0') {
                return Err(invalid(format!("line {} holds a NUL character", n + 1)));
            }
            if t.chars().count() > MAX_LINE_TEXT_CHARS {
                return Err(invalid(format!(
                    "line {}: a text longer than {MAX_LINE_TEXT_CHARS} characters",
                    n + 1
                )));
            }
        }
    }
    Ok(())
}

/// The line of one transaction (`TxDtls`, or the entry itself when it has none).
fn line_of(tx: Node, ntry: Node, booked_on: NaiveDate, amount: i64, debit: bool) -> Line {
    let mut texts: Vec<String> = tx
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "RmtInf")
        .flat_map(|r| r.descendants())
        .filter(|n| n.is_element() && matches!(n.tag_name().name(), "Ustrd" | "Ref"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .filter(|t| !t.is_empty())
        .collect();
    if texts.is_empty() {
        if let Some(info) = text_at(ntry, &["AddtlNtryInf"]) {
            texts.push(info);
        }
    }
    // The other party: the creditor of our payouts, the debtor of money received. Version .02
    // names it RltdPties/Cdtr/Nm, version .08 RltdPties/Cdtr/Pty/Nm.
    let party = if debit { "Cdtr" } else { "Dbtr" };
    let counterparty = child(tx, "RltdPties")
        .and_then(|p| child(p, party))
        .and_then(|p| text_at(p, &["Nm"]).or_else(|| text_at(p, &["Pty", "Nm"])));
    Line {
        booked_on,
        amount,
        reference: texts.join(" "),
        counterparty,
        bank_ref: None,
        end_to_end_id: text_at(tx, &["Refs", "EndToEndId"]).filter(|e| e != "NOTPROVIDED"),
    }
}

/// A transaction's own amount: `AmtDtls/TxAmt/Amt` (all versions) or `Amt` (.08).
fn tx_amount(tx: Node) -> Option<i64> {
    let node = child(tx, "AmtDtls")
        .and_then(|d| child(d, "TxAmt"))
        .and_then(|t| child(t, "Amt"))
        .or_else(|| child(tx, "Amt"))?;
    cents(node.text()?.trim()).ok()
}

fn signed_amount(node: Node, what: &str) -> Result<i64, StatementError> {
    let amt = child(node, "Amt").ok_or_else(|| invalid(format!("{what}: no Amt")))?;
    if let Some(ccy) = amt.attribute("Ccy") {
        if ccy != "EUR" {
            return Err(invalid(format!(
                "{what}: currency {ccy}, only EUR is handled"
            )));
        }
    }
    let value = cents(amt.text().unwrap_or_default().trim())
        .map_err(|e| invalid(format!("{what}: amount {e}")))?;
    match text_at(node, &["CdtDbtInd"]).as_deref() {
        Some("CRDT") => Ok(value),
        Some("DBIT") => Ok(-value),
        _ => Err(invalid(format!("{what}: CdtDbtInd must be CRDT or DBIT"))),
    }
}

fn cents(s: &str) -> Result<i64, super::money::MoneyError> {
    s.parse::<Cents>().map(Cents::cents)
}

/// `BookgDt/Dt` or `BookgDt/DtTm` (the date part).
fn date_at(node: Node, name: &str) -> Option<NaiveDate> {
    let d = child(node, name)?;
    let text = text_at(d, &["Dt"]).or_else(|| text_at(d, &["DtTm"]))?;
    NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|n| n.is_element() && n.tag_name().name() == name)
}

fn children<'a, 'i: 'a>(
    node: Node<'a, 'i>,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    node.children()
        .filter(move |n| n.is_element() && n.tag_name().name() == name)
}

fn text_at(node: Node, path: &[&str]) -> Option<String> {
    let mut n = node;
    for name in path {
        n = child(n, name)?;
    }
    n.text().map(|t| t.trim().to_string())
}

/// Reads the CSV of API.md: a header `date,amount,reference,counterparty` (in that order, any
/// case), then one line per movement; fields may be quoted (`"..."`, `""` for a quote);
/// amounts like `-120.50` (a decimal comma is read too when the field is quoted).
pub fn parse_csv(text: &str) -> Result<Statement, StatementError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let records = split_csv(text)?;
    let mut records = records.into_iter();
    let header = records.next().ok_or_else(|| {
        invalid("the CSV is empty: expected the header date,amount,reference,counterparty")
    })?;
    let names: Vec<String> = header.1.iter().map(|h| h.trim().to_lowercase()).collect();
    if names != ["date", "amount", "reference", "counterparty"] {
        return Err(invalid(format!(
            "the CSV header must be date,amount,reference,counterparty (found {})",
            header.1.join(",")
        )));
    }
    let mut lines = Vec::new();
    for (row, fields) in records {
        if fields.len() == 1 && fields[0].trim().is_empty() {
            continue;
        }
        if fields.len() != 4 {
            return Err(invalid(format!(
                "CSV line {row}: {} fields, expected 4",
                fields.len()
            )));
        }
        let booked_on = NaiveDate::parse_from_str(fields[0].trim(), "%Y-%m-%d")
            .map_err(|_| invalid(format!("CSV line {row}: date must be YYYY-MM-DD")))?;
        let raw = fields[1].trim();
        let (negative, digits) = match raw.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, raw.strip_prefix('+').unwrap_or(raw)),
        };
        let digits = if digits.contains('.') {
            digits.to_string()
        } else {
            digits.replace(',', ".")
        };
        let value = cents(&digits).map_err(|e| invalid(format!("CSV line {row}: amount {e}")))?;
        if value == 0 {
            return Err(invalid(format!("CSV line {row}: amount is zero")));
        }
        let counterparty = fields[3].trim();
        lines.push(Line {
            booked_on,
            amount: if negative { -value } else { value },
            reference: fields[2].trim().to_string(),
            counterparty: (!counterparty.is_empty()).then(|| counterparty.to_string()),
            bank_ref: None,
            end_to_end_id: None,
        });
    }
    let statement = Statement {
        format: "csv".into(),
        bank_id: None,
        opening: None,
        closing: None,
        lines,
    };
    check_lines(&statement)?;
    Ok(statement)
}

/// Splits CSV text into records (with their 1-based line number) of fields, RFC 4180 quoting.
/// A record longer than [`MAX_CSV_RECORD_CHARS`] or with more than [`MAX_CSV_FIELDS`] fields
/// is refused as soon as it is seen, and so is a text of more than [`MAX_LINES`] records: what
/// is kept stays a small multiple of the statement's size.
fn split_csv(text: &str) -> Result<Vec<(usize, Vec<String>)>, StatementError> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut line = 1usize;
    let mut start_line = 1usize;
    let mut record_chars = 0usize;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        record_chars += 1;
        if record_chars > MAX_CSV_RECORD_CHARS {
            return Err(invalid(format!(
                "CSV line {start_line}: longer than {MAX_CSV_RECORD_CHARS} characters"
            )));
        }
        match c {
            '"' if in_quotes => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                }
            }
            '"' if field.trim().is_empty() => {
                field.clear();
                in_quotes = true;
            }
            ',' if !in_quotes => {
                fields.push(std::mem::take(&mut field));
                if fields.len() >= MAX_CSV_FIELDS {
                    return Err(invalid(format!(
                        "CSV line {start_line}: more than {MAX_CSV_FIELDS} fields, expected 4"
                    )));
                }
            }
            '\r' if !in_quotes => {}
            '\n' if !in_quotes => {
                fields.push(std::mem::take(&mut field));
                records.push((start_line, std::mem::take(&mut fields)));
                if records.len() > MAX_LINES + 1 {
                    return Err(StatementError::TooLarge(format!(
                        "the CSV has more than {MAX_LINES} lines: split it"
                    )));
                }
                line += 1;
                start_line = line;
                record_chars = 0;
            }
            c => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
        }
    }
    if in_quotes {
        return Err(invalid(format!(
            "CSV line {start_line}: a quote is not closed"
        )));
    }
    if !field.is_empty() || !fields.is_empty() {
        fields.push(field);
        records.push((start_line, fields));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quotes_and_signs() {
        let s = parse_csv(
            "Date,Amount,Reference,Counterparty\r\n\
             2026-11-02,40.00,Cotisation RF47M000042,Mme Awa Diallo\r\n\
             2026-11-03,-120.50,\"Paiement, novembre \"\"bio\"\"\",Boulangerie\n\
             2026-11-04,\"12,30\",don,\n",
        )
        .unwrap();
        assert_eq!(s.lines.len(), 3);
        assert_eq!(s.lines[0].amount, 4000);
        assert_eq!(s.lines[1].amount, -12050);
        assert_eq!(s.lines[1].reference, "Paiement, novembre \"bio\"");
        assert_eq!(s.lines[2].amount, 1230);
        assert_eq!(s.lines[2].counterparty, None);
    }

    #[test]
    fn csv_errors_name_the_line() {
        let e = parse_csv("date,amount,reference,counterparty\n2026-11-02,12.345,x,y\n");
        assert!(matches!(e, Err(StatementError::Invalid(m)) if m.contains("line 2")));
        assert!(parse_csv("when,amount,reference,counterparty\n").is_err());
        assert!(parse_csv("date,amount,reference,counterparty\n\"2026-11-02,1.00,x,y\n").is_err());
    }

    const CAMT02: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
 <BkToCstmrStmt>
  <GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-12-01T08:00:00</CreDtTm></GrpHdr>
  <Stmt>
   <Id>S1</Id>
   <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-30</Dt></Dt></Bal>
   <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">50.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-12-01</Dt></Dt></Bal>
   <Ntry>
    <Amt Ccy="EUR">60.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts>BOOK</Sts>
    <BookgDt><Dt>2026-12-01</Dt></BookgDt><AcctSvcrRef>B1</AcctSvcrRef>
    <NtryDtls>
     <TxDtls><Refs><EndToEndId>E1</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy="EUR">20.00</Amt></TxAmt></AmtDtls>
      <RltdPties><Cdtr><Nm>Ferme</Nm></Cdtr></RltdPties></TxDtls>
     <TxDtls><Refs><EndToEndId>E2</EndToEndId></Refs><AmtDtls><TxAmt><Amt Ccy="EUR">40.00</Amt></TxAmt></AmtDtls></TxDtls>
    </NtryDtls>
   </Ntry>
   <Ntry>
    <Amt Ccy="EUR">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
    <BookgDt><Dt>2026-12-01</Dt></BookgDt><AcctSvcrRef>B2</AcctSvcrRef>
    <NtryDtls><TxDtls><RmtInf><Ustrd>Cotisation RF47M000042</Ustrd></RmtInf>
     <RltdPties><Dbtr><Nm>Awa</Nm></Dbtr></RltdPties></TxDtls></NtryDtls>
   </Ntry>
  </Stmt>
 </BkToCstmrStmt>
</Document>"#;

    #[test]
    fn camt_batch_entries_are_split() {
        let s = parse_camt053(CAMT02).unwrap();
        assert_eq!(s.format, "camt.053.001.02");
        assert_eq!((s.opening, s.closing), (Some(10000), Some(5000)));
        let amounts: Vec<i64> = s.lines.iter().map(|l| l.amount).collect();
        assert_eq!(amounts, vec![-2000, -4000, 1000]);
        assert_eq!(s.lines[0].end_to_end_id.as_deref(), Some("E1"));
        assert_eq!(s.lines[0].bank_ref.as_deref(), Some("B1/1"));
        assert_eq!(s.lines[0].counterparty.as_deref(), Some("Ferme"));
        assert_eq!(s.lines[2].reference, "Cotisation RF47M000042");
        assert_eq!(s.lines[2].counterparty.as_deref(), Some("Awa"));
    }

    #[test]
    fn camt_texts_are_bounded() {
        let long = CAMT02.replace(
            "Cotisation RF47M000042",
            &"x".repeat(MAX_LINE_TEXT_CHARS + 1),
        );
        assert!(
            matches!(parse_camt053(&long), Err(StatementError::Invalid(m)) if m.contains("line 3"))
        );
        let nul = CAMT02.replace("Cotisation RF47M000042", "Cotisation&#0;");
        assert!(parse_camt053(&nul).is_err());
        let deep = CAMT02.replace(
            "<Id>S1</Id>",
            &format!("{}{}", "<x>".repeat(70), "</x>".repeat(70)),
        );
        assert_eq!(
            parse_camt053(&deep),
            Err(StatementError::TooDeep { max: 64 })
        );
    }

    #[test]
    fn camt_unbalanced_and_foreign() {
        let bad = CAMT02.replace(">50.00<", ">51.00<");
        assert!(matches!(
            parse_camt053(&bad),
            Err(StatementError::Unbalanced { closing: 5100, .. })
        ));
        assert!(matches!(
            parse_camt053("<a>"),
            Err(StatementError::Unreadable(_))
        ));
        assert!(matches!(
            parse_camt053(&CAMT02.replace("camt.053.001.02", "camt.052.001.02")),
            Err(StatementError::Invalid(_))
        ));
    }
}
