//! Hostile inputs shared by the API and web tests.

const CAMT_NS: &str = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02";

/// The statements an attacker would send, with the answer each must get.
pub fn statements() -> Vec<(&'static str, &'static str, String, u16, &'static str)> {
    let deep = format!(
        "<?xml version=\"1.0\"?><Document xmlns=\"{CAMT_NS}\">{}{}</Document>",
        "<a>".repeat(5_000),
        "</a>".repeat(5_000)
    );
    assert!(deep.len() > 34_000, "the 34 KB file of the issue");
    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">{}]>\
         <Document xmlns=\"{CAMT_NS}\">&lol9;</Document>",
        (1..10)
            .map(|i| format!(
                "<!ENTITY lol{i} \"{}\">",
                format!(
                    "&lol{};",
                    if i == 1 {
                        String::new()
                    } else {
                        (i - 1).to_string()
                    }
                )
                .repeat(10)
            ))
            .collect::<String>()
    );
    let external = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\
         <Document xmlns=\"{CAMT_NS}\">&x;</Document>"
    );
    let doctype = format!("<!DOCTYPE Document><Document xmlns=\"{CAMT_NS}\"/>");
    let wide = format!(
        "<Document xmlns=\"{CAMT_NS}\">{}</Document>",
        "<a/>".repeat(1_000_001)
    );
    let header = "date,amount,reference,counterparty\n";
    let long_line = format!("{header}2026-11-02,1.00,{},x\n", "r".repeat(10_000));
    let many_fields = format!("{header}2026-11-02,1.00{}\n", ",".repeat(100_000));
    let many_lines = format!("{header}{}", "2026-11-02,1.00,r,c\n".repeat(100_001));
    let nul_csv = format!("{header}2026-11-02,1.00,Cotisation\u{0}RF,x\n");
    let nul_xml = format!("<Document xmlns=\"{CAMT_NS}\">\u{0}</Document>");
    vec![
        (
            "5,000 nested levels",
            "application/xml",
            deep,
            422,
            "input_too_deep",
        ),
        (
            "billion laughs",
            "application/xml",
            laughs,
            422,
            "statement_invalid",
        ),
        (
            "external entity",
            "application/xml",
            external,
            422,
            "statement_invalid",
        ),
        (
            "a DOCTYPE",
            "application/xml",
            doctype,
            422,
            "statement_invalid",
        ),
        (
            "a million XML nodes",
            "application/xml",
            wide,
            413,
            "payload_too_large",
        ),
        (
            "NUL in XML",
            "application/xml",
            nul_xml,
            400,
            "statement_unreadable",
        ),
        (
            "a 10,000-character line",
            "text/csv",
            long_line,
            422,
            "statement_invalid",
        ),
        (
            "100,000 fields",
            "text/csv",
            many_fields,
            422,
            "statement_invalid",
        ),
        (
            "100,001 lines",
            "text/csv",
            many_lines,
            413,
            "payload_too_large",
        ),
        ("NUL in CSV", "text/csv", nul_csv, 422, "statement_invalid"),
    ]
}
