//! Query strings read into a typed struct, strictly: a parameter given twice, one the route
//! does not know, or a value of the wrong form is 422 `validation_failed` naming each of them,
//! all at once. The struct says what a route takes (`#[serde(deny_unknown_fields)]`), so no
//! handler keeps a list of parameters by hand.
//!
//! ```text
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Filter { status: Option<String>, limit: Option<Limit>, cursor: Option<String> }
//! async fn list(Query(f): Query<Filter>) -> ... { let page = Page::new(f.limit, f.cursor); }
//! ```

use std::collections::BTreeMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use super::error::ApiError;
use super::page::{Page, DEFAULT_LIMIT, MAX_LIMIT};
#[cfg(test)]
use crate::domain::ErrorCode;
use crate::domain::FieldError;

/// A query string read into `T` (see the module's text).
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parse(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

/// How many times a bad value is taken out and the rest read again, to name every bad
/// parameter at once: more than any route takes.
const MAX_ROUNDS: usize = 32;

/// Reads `T` from a raw query string (without the `?`).
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let mut errors = Vec::new();
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if params.contains_key(k.as_ref()) {
            if !errors.iter().any(|e: &FieldError| e.field == k) {
                errors.push(FieldError::new(k.as_ref(), "given more than once"));
            }
        } else {
            params.insert(k.into_owned(), v.into_owned());
        }
    }
    for _ in 0..MAX_ROUNDS {
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(encoded.as_bytes()));
        match serde_path_to_error::deserialize::<_, T>(de) {
            Ok(value) if errors.is_empty() => return Ok(value),
            Ok(_) => break,
            Err(e) => {
                let message = e.inner().to_string();
                let path = e.path().to_string();
                let (field, message) = if let Some(name) = quoted_after(&message, "unknown field `")
                {
                    (name, "unknown query parameter".to_string())
                } else if let Some(name) = quoted_after(&message, "missing field `") {
                    // A required parameter whose bad value was taken out just above: it is
                    // named once, and the rest cannot be read without it.
                    if errors.iter().any(|e| e.field == name) {
                        break;
                    }
                    (name, "is required".to_string())
                } else {
                    (path, message)
                };
                let known = params.remove(&field).is_some();
                errors.push(FieldError::new(field, message));
                if !known {
                    // Nothing left to take out: another read would fail the same way.
                    break;
                }
            }
        }
    }
    Err(ApiError::invalid(errors))
}

fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    Some(rest.split('`').next()?.to_string())
}

/// `limit`: how many rows a page holds, 1 to 200.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit(pub i64);

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Limit, D::Error> {
        let text = String::deserialize(d)?;
        match text.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(Limit(n)),
            _ => Err(serde::de::Error::custom(format!(
                "must be a whole number from 1 to {MAX_LIMIT}"
            ))),
        }
    }
}

impl Page {
    /// A page from its two parameters: `limit` (default 50) and `cursor` (empty is none).
    pub fn new(limit: Option<Limit>, cursor: Option<String>) -> Page {
        Page {
            limit: limit.map_or(DEFAULT_LIMIT, |l| l.0),
            after: cursor.filter(|c| !c.is_empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Filter {
        status: Option<String>,
        limit: Option<Limit>,
        cursor: Option<String>,
    }

    fn fields(e: ApiError) -> Vec<String> {
        e.errors.into_iter().map(|f| f.field).collect()
    }

    #[test]
    fn a_good_query_reads_into_its_struct() {
        let f: Filter = parse("status=active&limit=20").unwrap();
        assert_eq!(f.status.as_deref(), Some("active"));
        assert_eq!(Page::new(f.limit, f.cursor).limit, 20);
        let empty: Filter = parse("").unwrap();
        assert_eq!(Page::new(empty.limit, empty.cursor), Page::new(None, None));
    }

    #[test]
    fn every_bad_parameter_is_named_at_once() {
        let e = parse::<Filter>("limit=0&colour=red&status=a&status=b").unwrap_err();
        assert_eq!(e.code, ErrorCode::ValidationFailed);
        let mut named = fields(e);
        named.sort();
        assert_eq!(named, ["colour", "limit", "status"]);
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Required {
        year: Limit,
    }

    #[test]
    fn a_required_parameter_of_the_wrong_form_is_named_once() {
        let e = parse::<Required>("year=soon").unwrap_err();
        assert_eq!(fields(e), ["year"]);
        let e = parse::<Required>("").unwrap_err();
        assert_eq!(fields(e), ["year"]);
    }

    #[test]
    fn a_value_of_the_wrong_form_names_its_parameter() {
        let e = parse::<Filter>("limit=lots").unwrap_err();
        assert_eq!(fields(e), ["limit"]);
    }
}
