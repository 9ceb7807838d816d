//! SEPA credit transfers (ISO 20022 pain.001.001.03): the file the treasurer hands to the bank
//! to pay the shops of a settlement.
//!
//! The file is written by hand rather than through an XML library: its shape is fixed, and every
//! text in it is first reduced to the SEPA character set (`a-z A-Z 0-9 / - ? : ( ) . , ' +` and
//! space), which holds nothing XML would need to escape. Tests validate the output against the
//! official schema (tests/fixtures/pain.001.001.03.xsd) with `xmllint`.

use std::fmt::Write;

use chrono::{NaiveDate, NaiveDateTime};

use super::money::Cents;

/// Longest name (`Nm`) the schema allows.
pub const MAX_NAME: usize = 70;
/// Longest unstructured remittance text (`Ustrd`).
pub const MAX_REMITTANCE: usize = 140;
/// Longest identifier (`MsgId`, `PmtInfId`, `EndToEndId`).
pub const MAX_ID: usize = 35;

/// Reduces `text` to the SEPA character set: accents are transliterated (é → e, œ → oe, ß → ss),
/// other characters become a space (or are dropped when a space would not help), runs of spaces
/// are collapsed, and the result is cut to `max` characters.
pub fn sepa_text(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match transliterate(c) {
            Some(s) => out.push_str(s),
            None if c.is_ascii_alphanumeric() || "/-?:().,'+ ".contains(c) => out.push(c),
            None => out.push(' '),
        }
    }
    let collapsed = out.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed
        .chars()
        .take(max)
        .collect::<String>()
        .trim_end()
        .to_string()
}

fn transliterate(c: char) -> Option<&'static str> {
    Some(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => "a",
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => "A",
        'æ' => "ae",
        'Æ' => "AE",
        'ç' => "c",
        'Ç' => "C",
        'è' | 'é' | 'ê' | 'ë' => "e",
        'È' | 'É' | 'Ê' | 'Ë' => "E",
        'ì' | 'í' | 'î' | 'ï' => "i",
        'Ì' | 'Í' | 'Î' | 'Ï' => "I",
        'ñ' => "n",
        'Ñ' => "N",
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => "o",
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => "O",
        'œ' => "oe",
        'Œ' => "OE",
        'ù' | 'ú' | 'û' | 'ü' => "u",
        'Ù' | 'Ú' | 'Û' | 'Ü' => "U",
        'ý' | 'ÿ' => "y",
        'Ý' | 'Ÿ' => "Y",
        'ß' => "ss",
        // Typographic quotes and dashes have a plain SEPA equivalent.
        '’' | '‘' | '`' | '´' => "'",
        '–' | '—' | '‐' | '_' => "-",
        '&' => "+",
        _ => return None,
    })
}

/// An identifier for the file: SEPA letters and digits only, at most 35 characters.
pub fn sepa_id(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(MAX_ID)
        .collect()
}

/// The fund paying: the debtor of every transfer.
#[derive(Clone, Debug)]
pub struct Debtor {
    pub name: String,
    pub iban: String,
    pub bic: Option<String>,
}

/// One transfer to a shop.
#[derive(Clone, Debug)]
pub struct Transfer {
    pub end_to_end_id: String,
    pub amount: Cents,
    pub creditor_name: String,
    pub creditor_iban: String,
    pub creditor_bic: Option<String>,
    pub remittance: String,
}

/// A pain.001.001.03 customer credit transfer initiation with one payment (one debit on the
/// fund's account, batch booking) and one transaction per transfer.
#[derive(Clone, Debug)]
pub struct CreditTransfer {
    pub message_id: String,
    pub created_at: NaiveDateTime,
    pub execution_date: NaiveDate,
    pub debtor: Debtor,
    pub transfers: Vec<Transfer>,
}

impl CreditTransfer {
    /// The sum of the transfers (`CtrlSum`).
    pub fn total(&self) -> Cents {
        self.transfers
            .iter()
            .fold(Cents::ZERO, |a, t| a.checked_add(t.amount).unwrap_or(a))
    }

    pub fn to_xml(&self) -> String {
        let mut x = String::with_capacity(1_024 + self.transfers.len() * 640);
        x.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        x.push_str(
            "<Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.03\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n",
        );
        x.push_str("  <CstmrCdtTrfInitn>\n");
        self.write_group_header(&mut x);
        x.push_str("    <PmtInf>\n");
        self.write_payment(&mut x);
        for t in &self.transfers {
            t.write_xml(&mut x);
        }
        x.push_str("    </PmtInf>\n  </CstmrCdtTrfInitn>\n</Document>\n");
        x
    }

    /// `GrpHdr`: the message's id, time, count, sum and initiating party.
    fn write_group_header(&self, x: &mut String) {
        let id = sepa_id(&self.message_id);
        let name = sepa_text(&self.debtor.name, MAX_NAME);
        x.push_str("    <GrpHdr>\n");
        let _ = writeln!(x, "      <MsgId>{id}</MsgId>");
        let _ = writeln!(
            x,
            "      <CreDtTm>{}</CreDtTm>",
            self.created_at.format("%Y-%m-%dT%H:%M:%S")
        );
        let _ = writeln!(x, "      <NbOfTxs>{}</NbOfTxs>", self.transfers.len());
        let _ = writeln!(x, "      <CtrlSum>{}</CtrlSum>", self.total());
        let _ = writeln!(
            x,
            "      <InitgPty>\n        <Nm>{name}</Nm>\n      </InitgPty>"
        );
        x.push_str("    </GrpHdr>\n");
    }

    /// The `PmtInf` header: one batch-booked debit of the fund's account.
    fn write_payment(&self, x: &mut String) {
        let id = sepa_id(&self.message_id);
        let name = sepa_text(&self.debtor.name, MAX_NAME);
        let _ = writeln!(
            x,
            "      <PmtInfId>{}</PmtInfId>",
            sepa_id(&format!("{id}-1"))
        );
        x.push_str("      <PmtMtd>TRF</PmtMtd>\n      <BtchBookg>true</BtchBookg>\n");
        let _ = writeln!(x, "      <NbOfTxs>{}</NbOfTxs>", self.transfers.len());
        let _ = writeln!(x, "      <CtrlSum>{}</CtrlSum>", self.total());
        x.push_str("      <PmtTpInf>\n        <SvcLvl>\n          <Cd>SEPA</Cd>\n        </SvcLvl>\n      </PmtTpInf>\n");
        let _ = writeln!(
            x,
            "      <ReqdExctnDt>{}</ReqdExctnDt>",
            self.execution_date.format("%Y-%m-%d")
        );
        let _ = writeln!(x, "      <Dbtr>\n        <Nm>{name}</Nm>\n      </Dbtr>");
        let _ = writeln!(
            x,
            "      <DbtrAcct>\n        <Id>\n          <IBAN>{}</IBAN>\n        </Id>\n      </DbtrAcct>",
            self.debtor.iban
        );
        x.push_str("      <DbtrAgt>\n        <FinInstnId>\n");
        match &self.debtor.bic {
            Some(bic) => {
                let _ = writeln!(x, "          <BIC>{bic}</BIC>");
            }
            // SEPA lets the bank find the agent from the IBAN.
            None => x.push_str(
                "          <Othr>\n            <Id>NOTPROVIDED</Id>\n          </Othr>\n",
            ),
        }
        x.push_str("        </FinInstnId>\n      </DbtrAgt>\n      <ChrgBr>SLEV</ChrgBr>\n");
    }
}

impl Transfer {
    /// One `CdtTrfTxInf`: the transfer to one shop.
    fn write_xml(&self, x: &mut String) {
        x.push_str("      <CdtTrfTxInf>\n        <PmtId>\n");
        let _ = writeln!(
            x,
            "          <EndToEndId>{}</EndToEndId>\n        </PmtId>",
            sepa_id(&self.end_to_end_id)
        );
        let _ = writeln!(
            x,
            "        <Amt>\n          <InstdAmt Ccy=\"EUR\">{}</InstdAmt>\n        </Amt>",
            self.amount
        );
        if let Some(bic) = &self.creditor_bic {
            let _ = writeln!(
                x,
                "        <CdtrAgt>\n          <FinInstnId>\n            <BIC>{bic}</BIC>\n          </FinInstnId>\n        </CdtrAgt>"
            );
        }
        let _ = writeln!(
            x,
            "        <Cdtr>\n          <Nm>{}</Nm>\n        </Cdtr>",
            sepa_text(&self.creditor_name, MAX_NAME)
        );
        let _ = writeln!(
            x,
            "        <CdtrAcct>\n          <Id>\n            <IBAN>{}</IBAN>\n          </Id>\n        </CdtrAcct>",
            self.creditor_iban
        );
        let _ = writeln!(
            x,
            "        <RmtInf>\n          <Ustrd>{}</Ustrd>\n        </RmtInf>\n      </CdtTrfTxInf>",
            sepa_text(&self.remittance, MAX_REMITTANCE)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_reduced_to_the_sepa_set() {
        assert_eq!(
            sepa_text("Épicerie « Chez Hélène » & fils — œufs", 70),
            "Epicerie Chez Helene + fils - oeufs"
        );
        assert_eq!(sepa_text("L’Âne_Vert; 50% bio!", 70), "L'Ane-Vert 50 bio");
        let long = "é".repeat(200);
        assert_eq!(sepa_text(&long, MAX_REMITTANCE).len(), 140);
        assert_eq!(sepa_text("abc   def", 5), "abc d");
        assert_eq!(sepa_text("abcd efgh", 5), "abcd");
        assert_eq!(sepa_id("stl_01abc"), "stl01abc");
    }

    #[test]
    fn totals_and_counts() {
        let c = |s: &str| s.parse::<Cents>().unwrap();
        let file = CreditTransfer {
            message_id: "STL-1".into(),
            created_at: NaiveDate::from_ymd_opt(2026, 11, 30)
                .unwrap()
                .and_hms_opt(18, 0, 0)
                .unwrap(),
            execution_date: NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
            debtor: Debtor {
                name: "Caisse alimentaire".into(),
                iban: "FR7630006000011234567890189".into(),
                bic: None,
            },
            transfers: vec![
                Transfer {
                    end_to_end_id: "E1".into(),
                    amount: c("10.05"),
                    creditor_name: "Boulangerie Légère".into(),
                    creditor_iban: "FR7630006000011234567890189".into(),
                    creditor_bic: Some("AGRIFRPP".into()),
                    remittance: "Règlement".into(),
                },
                Transfer {
                    end_to_end_id: "E2".into(),
                    amount: c("0.95"),
                    creditor_name: "Ferme".into(),
                    creditor_iban: "FR7630006000011234567890189".into(),
                    creditor_bic: None,
                    remittance: "Règlement".into(),
                },
            ],
        };
        let xml = file.to_xml();
        assert_eq!(xml.matches("<NbOfTxs>2</NbOfTxs>").count(), 2);
        assert_eq!(xml.matches("<CtrlSum>11.00</CtrlSum>").count(), 2);
        assert!(xml.contains("<Nm>Boulangerie Legere</Nm>"));
        assert!(xml.contains("<Id>NOTPROVIDED</Id>"));
        assert!(xml.is_ascii());
    }
}
