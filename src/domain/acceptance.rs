//! When a statement is accepted and when it counts (`spec/statement.md`
//! §9.1, §9.2, §10 item 1), beyond its envelope and payload: the clock-skew
//! bound, the signing key's standing, the stale rule, and validity after a
//! revocation. The registry decides with these functions when it accepts,
//! the auditor when it replays the log, and the consent index and the
//! work view when they resolve a work's statements.

use super::keys::{active_at, KeySpan};
use super::Timestamp;

/// How far in the future an `issued_at` may be, for clock skew.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// §9.1 step 3, §9.2 step 2: `issued_at` is at most
/// [`MAX_CLOCK_SKEW_SECS`] ahead of `now`. There is no lower bound.
///
/// # Errors
/// The refusal's message (`issued-in-future`).
pub fn not_in_future(issued_at: Timestamp, now: Timestamp) -> Result<(), String> {
    if issued_at > now.plus_secs(MAX_CLOCK_SKEW_SECS) {
        return Err(format!(
            "issued_at {issued_at} is more than {MAX_CLOCK_SKEW_SECS} s ahead of the registry's clock"
        ));
    }
    Ok(())
}

/// Why a statement's signing key may not sign it (§9.1 step 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerRefusal {
    /// Not registered to any artist (`unknown-key`).
    Unknown,
    /// Registered to another artist than the caller (`forbidden`).
    OtherArtist,
    /// Not active at the instant asked (`revoked-key`).
    Revoked,
}

/// §9.1 step 2: whether the key whose holder and span are `holder` may sign
/// a statement of `caller` at `at` (the registry asks at `now` and at the
/// statement's receipt time; the auditor at the receipt time, with no
/// caller to compare).
///
/// # Errors
/// Which part of the rule the key breaks.
pub fn statement_signer(
    holder: Option<(&str, KeySpan)>,
    caller: Option<&str>,
    at: Timestamp,
) -> Result<(), SignerRefusal> {
    let Some((artist, span)) = holder else {
        return Err(SignerRefusal::Unknown);
    };
    if caller.is_some_and(|c| c != artist) {
        return Err(SignerRefusal::OtherArtist);
    }
    if !span.active_at(at) {
        return Err(SignerRefusal::Revoked);
    }
    Ok(())
}

/// §10 item 1: a stored statement counts unless its key has a revocation
/// time at or before the statement's receipt time.
#[must_use]
pub fn counts(key_revoked_at: Option<Timestamp>, received_at: Timestamp) -> bool {
    active_at(key_revoked_at, received_at)
}

/// §9.1 step 4: a statement issued at `issued_at` is stale when the
/// artist's latest counting statement about one of its works (`latest`) was
/// issued at or after it. A replacement must be issued strictly later.
#[must_use]
pub fn is_stale(issued_at: Timestamp, latest: Option<Timestamp>) -> bool {
    latest.is_some_and(|l| l >= issued_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_unix_nanos(s * 1_000_000_000)
    }

    #[test]
    fn the_rules_at_their_edges() {
        assert!(not_in_future(t(400), t(100)).is_ok());
        assert!(not_in_future(t(401), t(100)).is_err());
        assert!(counts(Some(t(11)), t(10)));
        assert!(!counts(Some(t(10)), t(10)));
        assert!(is_stale(t(10), Some(t(10))));
        assert!(!is_stale(t(11), Some(t(10))));
        let span = KeySpan {
            added_at: t(1),
            revoked_at: Some(t(10)),
        };
        assert_eq!(statement_signer(Some(("a", span)), Some("a"), t(9)), Ok(()));
        assert_eq!(
            statement_signer(Some(("a", span)), Some("a"), t(10)),
            Err(SignerRefusal::Revoked)
        );
        assert_eq!(
            statement_signer(Some(("a", span)), Some("b"), t(9)),
            Err(SignerRefusal::OtherArtist)
        );
        assert_eq!(
            statement_signer(None, None, t(9)),
            Err(SignerRefusal::Unknown)
        );
    }
}
