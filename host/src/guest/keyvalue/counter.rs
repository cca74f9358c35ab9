//! What `increment` means in every backend: the value is decimal text, the
//! sum never passes `i64::MAX` (Redis's limit) and is never negative, so
//! SQLite, Redis and memory agree on what a counter is.

/// Marks a backend's message as a counter's (not the backend's) fault.
pub(super) const COUNTER: &str = "counter: ";

/// `old + delta` for `increment`, as every backend computes it: decimal
/// text, no overflow past `i64::MAX` (Redis's limit), never negative.
pub(super) fn add(key: &str, old: Option<&[u8]>, delta: i64) -> Result<u64, String> {
    let old = match old {
        None => 0,
        Some(bytes) => std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| text.parse::<i64>().ok())
            .ok_or_else(|| {
                format!(
                    "{COUNTER}the value at '{}' is not a decimal integer",
                    key.escape_debug()
                )
            })?,
    };
    let new = old.checked_add(delta).ok_or_else(|| {
        format!(
            "{COUNTER}'{}' would overflow {}",
            key.escape_debug(),
            i64::MAX
        )
    })?;
    u64::try_from(new).map_err(|_| {
        format!(
            "{COUNTER}the value at '{}' is negative ({new})",
            key.escape_debug()
        )
    })
}
