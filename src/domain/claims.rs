//! Which statements are current, and the effective consent of a work.
//!
//! For each artist, the current statement about a work is their valid
//! statement with the latest `issued_at` (ties broken by acceptance order);
//! every other statement of theirs is superseded. A statement is valid unless
//! its key was revoked at or before the statement's receipt. The work is
//! disputed when more than one artist has a current statement, and its
//! effective consent combines the current statements with
//! [`ConsentSet::combine`] (any disallowed wins).

use super::{ConsentSet, Timestamp};

/// What the resolution needs to know of one statement.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    pub artist_id: &'a str,
    pub issued_at: Timestamp,
    pub seq: i64,
    pub received_at: Timestamp,
    pub key_revoked_at: Option<Timestamp>,
    pub consent: ConsentSet,
}

impl Claim<'_> {
    /// A statement stays valid if its key was revoked only after it was received.
    #[must_use]
    pub fn valid(&self) -> bool {
        super::acceptance::counts(self.key_revoked_at, self.received_at)
    }
}

/// The outcome for one work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Indexes (into the input) of the current statements, one per artist, in input order.
    pub current: Vec<usize>,
    pub effective: ConsentSet,
    pub disputed: bool,
}

/// Resolves the statements about one work.
#[must_use]
pub fn resolve(claims: &[Claim<'_>]) -> Resolution {
    let mut best: Vec<(&str, usize)> = Vec::new();
    for (i, c) in claims.iter().enumerate() {
        if !c.valid() {
            continue;
        }
        match best.iter_mut().find(|(a, _)| *a == c.artist_id) {
            Some(slot) => {
                let cur = &claims[slot.1];
                if (c.issued_at, c.seq) > (cur.issued_at, cur.seq) {
                    slot.1 = i;
                }
            }
            None => best.push((c.artist_id, i)),
        }
    }
    let mut current: Vec<usize> = best.iter().map(|(_, i)| *i).collect();
    current.sort_unstable();
    let effective = ConsentSet::combine(current.iter().map(|&i| &claims[i].consent));
    Resolution {
        disputed: current.len() > 1,
        current,
        effective,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::consent::{ConsentDeclaration, Shorthand};
    use crate::domain::{Category, Preference};

    fn claim(artist: &str, issued: i64, seq: i64, out: bool) -> Claim<'_> {
        let decl = ConsentDeclaration::Shorthand(if out {
            Shorthand::OptOut
        } else {
            Shorthand::OptIn
        });
        Claim {
            artist_id: artist,
            issued_at: Timestamp::from_unix_nanos(issued),
            seq,
            received_at: Timestamp::from_unix_nanos(seq),
            key_revoked_at: None,
            consent: ConsentSet::from_declaration(&decl).expect("valid"),
        }
    }

    #[test]
    fn later_statement_supersedes_and_disputes_combine() {
        let claims = [claim("a", 1, 0, true), claim("a", 2, 1, false)];
        let r = resolve(&claims);
        assert_eq!(r.current, vec![1]);
        assert_eq!(
            r.effective.get(Category::TrainAi),
            Some(Preference::Allowed)
        );
        let claims = [claim("a", 1, 0, false), claim("b", 1, 1, true)];
        let r = resolve(&claims);
        assert!(r.disputed);
        assert_eq!(
            r.effective.get(Category::Search),
            Some(Preference::Disallowed)
        );
    }

    #[test]
    fn revoked_key_statements_after_revocation_do_not_count() {
        let mut late = claim("a", 2, 5, false);
        late.key_revoked_at = Some(Timestamp::from_unix_nanos(3));
        let claims = [claim("a", 1, 0, true), late];
        let r = resolve(&claims);
        assert_eq!(r.current, vec![0]);
    }
}
