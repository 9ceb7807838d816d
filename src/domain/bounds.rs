//! Bounds on outside input, checked before any parser builds a tree of it.
//!
//! A parser that recurses (or a tree dropped recursively) dies of a stack overflow on a few KB
//! of `<a><a><a>…` or `[[[[…`: the process aborts, which no `catch_unwind` stops. So the depth
//! is counted first by a scan that keeps nothing but a counter, in one pass over the bytes. A DTD
//! (and with it every entity declaration: "billion laughs") has no place in a bank statement and
//! is refused by the same scan. PostgreSQL refuses the NUL character in text, so it is refused
//! at the door too ([`find_nul`]).

/// Deepest nesting of a JSON body. The deepest body of the API (a simulation's
/// `members[].household`) is 3 levels; serde_json itself stops at 128.
pub const MAX_JSON_DEPTH: usize = 32;

/// Deepest nesting of an XML document. A camt.053.001.08 entry's deepest element
/// (`…/TxDtls/RltdPties/Cdtr/Pty/PstlAdr/AdrLine`) is 12 levels down.
pub const MAX_XML_DEPTH: usize = 64;

/// Whether a JSON text nests arrays and objects deeper than `max`. Brackets inside strings do
/// not count; the text need not be valid (the parser says what else is wrong).
pub fn json_too_deep(bytes: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Why an XML document is refused before it is parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XmlRefusal {
    /// Elements nested deeper than the bound.
    TooDeep { max: usize },
    /// A `<!DOCTYPE …>` (or any other `<!…>` declaration): DTDs and entities are not read.
    Declaration,
}

/// Scans an XML document's markup: element depth at most `max_depth`, no declaration
/// (`<!DOCTYPE`, `<!ENTITY`…). Comments, CDATA sections and processing instructions are
/// skipped; quoted attribute values may hold `>`. Malformed markup is left to the parser.
pub fn xml_scan(text: &str, max_depth: usize) -> Result<(), XmlRefusal> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0usize;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'<') {
        let start = i + offset;
        let rest = &text[start..];
        i = if rest.starts_with("<!--") {
            skip_past(text, start + 4, "-->")
        } else if rest.starts_with("<![CDATA[") {
            skip_past(text, start + 9, "]]>")
        } else if rest.starts_with("<!") {
            return Err(XmlRefusal::Declaration);
        } else if rest.starts_with("<?") {
            skip_past(text, start + 2, "?>")
        } else if rest.starts_with("</") {
            depth = depth.saturating_sub(1);
            skip_past(text, start + 2, ">")
        } else {
            let (end, empty) = tag_end(bytes, start + 1);
            if !empty {
                depth += 1;
                if depth > max_depth {
                    return Err(XmlRefusal::TooDeep { max: max_depth });
                }
            }
            end
        };
    }
    Ok(())
}

/// The index just past the next `pattern` from `from`, or the end of the text.
fn skip_past(text: &str, from: usize, pattern: &str) -> usize {
    match text.get(from..).and_then(|t| t.find(pattern)) {
        Some(at) => from + at + pattern.len(),
        None => text.len(),
    }
}

/// The index just past a start tag's `>` and whether it was `/>`, quotes respected.
fn tag_end(bytes: &[u8], from: usize) -> (usize, bool) {
    let mut quote = None;
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'>' => return (i + 1, i > from && bytes[i - 1] == b'/'),
            None => {}
        }
        i += 1;
    }
    (bytes.len(), false)
}

/// The path of the first string (or object key) of a JSON value holding a NUL character, in
/// the notation of the API's field errors (`household.adults`, `members[2].name`).
pub fn find_nul(value: &serde_json::Value) -> Option<String> {
    fn walk(value: &serde_json::Value, path: &mut String) -> bool {
        match value {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(items) => items.iter().enumerate().any(|(i, v)| {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let found = walk(v, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            serde_json::Value::Object(map) => map.iter().any(|(k, v)| {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&k.replace('\0', "\\u0000"));
                let found = k.contains('\0') || walk(v, path);
                if !found {
                    path.truncate(len);
                }
                found
            }),
            _ => false,
        }
    }
    let mut path = String::new();
    walk(value, &mut path).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_depth_counts_brackets_outside_strings() {
        assert!(!json_too_deep(br#"{"a":[{"b":[1]}]}"#, 4));
        assert!(json_too_deep(br#"{"a":[{"b":[[1]]}]}"#, 4));
        assert!(!json_too_deep(br#"{"a":"[[[[[[[[\"[[[["}"#, 1));
        assert!(json_too_deep(
            "[".repeat(100_000).as_bytes(),
            MAX_JSON_DEPTH
        ));
        // Siblings do not add up.
        assert!(!json_too_deep("[[],[],[],[],[]]".as_bytes(), 2));
    }

    #[test]
    fn xml_scan_bounds_depth_and_refuses_declarations() {
        let ok = r#"<?xml version="1.0"?><!-- <a><a><a> --><D a="x>y"><B/><C><![CDATA[<x><y>]]></C></D>"#;
        assert_eq!(xml_scan(ok, 2), Ok(()));
        assert_eq!(
            xml_scan("<a><b><c/></b></a>", 1),
            Err(XmlRefusal::TooDeep { max: 1 })
        );
        let deep = format!("{}{}", "<a>".repeat(5_000), "</a>".repeat(5_000));
        assert_eq!(
            xml_scan(&deep, MAX_XML_DEPTH),
            Err(XmlRefusal::TooDeep { max: MAX_XML_DEPTH })
        );
        assert_eq!(
            xml_scan(
                "<!DOCTYPE lolz [<!ENTITY lol \"lol\">]><lolz>&lol;</lolz>",
                64
            ),
            Err(XmlRefusal::Declaration)
        );
        // Siblings do not add up.
        assert_eq!(xml_scan(&"<a></a>".repeat(1_000), 1), Ok(()));
    }

    #[test]
    fn nul_is_found_with_its_path() {
        let v = serde_json::json!({"a": 1, "household": {"name": "x\u{0}y"}});
        assert_eq!(find_nul(&v).as_deref(), Some("household.name"));
        let v = serde_json::json!({"members": [{"n": "ok"}, {"n": "\u{0}"}]});
        assert_eq!(find_nul(&v).as_deref(), Some("members[1].n"));
        let v = serde_json::json!({"criteria": {"k\u{0}": "v"}});
        assert_eq!(find_nul(&v).as_deref(), Some("criteria.k\\u0000"));
        assert_eq!(find_nul(&serde_json::json!({"a": ["b"]})), None);
    }
}
