//! Write units as DynamoDB bills them: an item's size (attribute names plus values) rounded
//! up to the next KB, at least 1; a transactional write twice; an update on the larger of the
//! item before and after; a write whose condition fails is billed as if it had been made.

use serde_json::Value;

/// The billed units of writing an item whose DynamoDB JSON is `text`.
pub(super) fn units(text: &str) -> u64 {
    let item: Value = serde_json::from_str(text).unwrap_or_default();
    let size = item
        .as_object()
        .map_or(0, |m| m.iter().map(|(k, v)| k.len() + value_size(v)).sum());
    u64::try_from(size.div_ceil(1024).max(1)).unwrap_or(u64::MAX)
}

/// The size DynamoDB counts for one attribute value (DynamoDB JSON).
fn value_size(v: &Value) -> usize {
    let Some((kind, inner)) = v.as_object().and_then(|m| m.iter().next()) else {
        return 0;
    };
    let text = || inner.as_str().unwrap_or_default();
    // Binary values travel as base64: 4 characters carry 3 bytes.
    let binary = |s: &str| s.len() / 4 * 3;
    // A number: about one byte per two digits, plus one.
    let number = |s: &str| s.len().div_ceil(2) + 1;
    let each = |f: &dyn Fn(&str) -> usize| -> usize {
        inner
            .as_array()
            .map_or(0, |a| a.iter().filter_map(Value::as_str).map(f).sum())
    };
    match kind.as_str() {
        "S" => text().len(),
        "N" => number(text()),
        "B" => binary(text()),
        "SS" => each(&str::len),
        "NS" => each(&number),
        "BS" => each(&binary),
        "BOOL" | "NULL" => 1,
        "L" | "M" => 3 + inner.to_string().len(),
        _ => 0,
    }
}
