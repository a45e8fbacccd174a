//! Canonical JSON: the one spelling a signed payload may have
//! (`spec/statement.md` §5.9). Every signed document the registry accepts is
//! parsed by [`parse_canonical`], so two payloads that mean the same are the
//! same bytes' meaning, never two different meanings.

use serde::{Deserialize, Serialize};

use super::documents::MAX_PAYLOAD_BYTES;
use super::{InvalidPayload, Timestamp};

/// Parses a payload strictly: the typed parse refuses unknown and duplicate
/// fields; then the payload must be in canonical form, i.e. equal (as a JSON
/// tree, key order aside) to what the typed value serialises back to. That
/// leaves one spelling per meaning: objects for records (not arrays), strings
/// for enum values, optional fields omitted rather than `null` or empty,
/// hashes in their canonical text (timestamps are compared as instants, so a
/// zero-padded fraction such as `.500Z` is accepted).
///
/// # Errors
/// When the payload is too large, does not parse as `T`, or is not in
/// canonical form (the message names the first place that differs).
pub fn parse_canonical<'a, T: Deserialize<'a> + Serialize>(
    payload: &'a [u8],
) -> Result<T, InvalidPayload> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(InvalidPayload::new(format!(
            "a payload is at most {MAX_PAYLOAD_BYTES} bytes, got {}",
            payload.len()
        )));
    }
    let typed: T = serde_json::from_slice(payload)
        .map_err(|e| InvalidPayload::new(format!("payload: {e}")))?;
    // Fast path: the payload is byte for byte the compact serialisation of
    // its value (what this crate's clients produce), hence canonical.
    if serde_json::to_vec(&typed).is_ok_and(|compact| compact == payload) {
        return Ok(typed);
    }
    let tree: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|e| InvalidPayload::new(format!("payload: {e}")))?;
    let canonical =
        serde_json::to_value(&typed).map_err(|e| InvalidPayload::new(format!("payload: {e}")))?;
    if let Some(path) = first_difference(&tree, &canonical, String::new()) {
        return Err(InvalidPayload::new(format!(
            "payload is not in canonical form at `{path}` (objects for records, strings for enum values, \
             optional fields omitted rather than null or empty, canonical timestamps and hashes)"
        )));
    }
    Ok(typed)
}

/// `value` with every object's members in key order, whatever order the
/// JSON map keeps (a dependency that enables `serde_json`'s
/// `preserve_order` makes maps keep insertion order for the whole build):
/// for outputs whose bytes are compared or published, such as the spec's
/// vector files.
#[must_use]
pub fn sorted(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut members: Vec<(String, Value)> = map.into_iter().collect();
            members.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(members.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The path of the first place where two JSON trees differ.
fn first_difference(
    given: &serde_json::Value,
    canonical: &serde_json::Value,
    path: String,
) -> Option<String> {
    use serde_json::Value;
    match (given, canonical) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys()) {
                let sub = format!("{path}/{key}");
                match (a.get(key), b.get(key)) {
                    (Some(x), Some(y)) => {
                        if let Some(p) = first_difference(x, y, sub) {
                            return Some(p);
                        }
                    }
                    _ => return Some(sub),
                }
            }
            None
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, format!("{path}/{i}"))),
        _ if given == canonical => None,
        // Timestamps may pad their fraction with zeros (`.500Z` is `.5Z`).
        (Value::String(a), Value::String(b))
            if a.parse::<Timestamp>().is_ok()
                && a.parse::<Timestamp>() == b.parse::<Timestamp>() =>
        {
            None
        }
        _ => Some(if path.is_empty() {
            "/".to_owned()
        } else {
            path
        }),
    }
}
