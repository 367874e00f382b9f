//! The one parameter type of the statements both backends run (the schema has only text and
//! integer columns), shared by the ingest plans and the authorization checks, and the one
//! conversion of byte counts to SQL integers.

/// A statement parameter: the schema has only text and integer columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Text(String),
    Int(i64),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::Text(s.clone())
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

/// A byte count or offset as SQL's `BIGINT`, saturating instead of wrapping (the flags and
/// the upload size are bounded to `i64::MAX` by the configuration's checks).
pub(crate) fn sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
