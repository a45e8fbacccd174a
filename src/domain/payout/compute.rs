//! Payouts for a training run (`spec/payouts.md`): from the works a run used
//! and each work's consent and terms as of the date its data was checked,
//! what each artist is owed. Pure computation: no I/O, integer minor units,
//! deterministic whatever the input order.
//!
//! The rules, in short (the spec has them in full):
//! * works disallowed or unknown for the purpose are excluded and flagged;
//! * a disputed work (several current claimants) is held: its share and
//!   fees are computed but assigned to no artist until the dispute ends;
//! * `flat-fee`: owed per work used, in its own currency;
//! * `revenue-share`: the pool is split one share per work, minimums first
//!   (water-filling); when the pool cannot cover the minimums it is split
//!   pro rata to them and the shortfall is reported; remainders of the
//!   integer division go by the largest-remainder method, ties by artist id
//!   then work hash, so the allocated total equals the pool exactly;
//! * `attribution` credit lines are collected.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::domain::{ContentHash, Money, Term};

/// One current claimant of a work, as of the check date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimantTerms {
    pub artist_id: String,
    /// Whether this claimant's statement allows the run's purpose.
    pub allows: bool,
    pub terms: Vec<Term>,
}

/// Consent of a used work for the purpose, as of the check date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkStatus {
    Allowed,
    Disallowed,
    Unknown,
}

/// A work the run used, with what the registry said about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedWork {
    pub hash: ContentHash,
    pub status: WorkStatus,
    pub claimants: Vec<ClaimantTerms>,
}

/// What the computation needs of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInput {
    pub pool: Money,
    pub works: Vec<UsedWork>,
}

/// What one artist is owed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtistLine {
    pub artist_id: String,
    /// Works counted for this artist (allowed, undisputed), ascending.
    pub works: Vec<ContentHash>,
    /// Their part of the pool, in the pool's currency.
    pub revenue_share: u64,
    /// Minimums the pool could not cover, in the pool's currency.
    pub shortfall: u64,
    /// Flat fees, per currency.
    pub flat_fees: BTreeMap<String, u64>,
}

/// A disputed work: computed, assigned to no one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldWork {
    pub hash: ContentHash,
    pub claimants: Vec<String>,
    pub revenue_share: u64,
    pub shortfall: u64,
    pub flat_fees: BTreeMap<String, u64>,
}

/// A used work that was not allowed at the check date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExcludedWork {
    pub hash: ContentHash,
    pub status: WorkStatus,
}

/// A credit line to publish with the run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Credit {
    pub artist_id: String,
    pub credit: String,
    pub works: u64,
}

/// Totals of a payout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Pool allocated to revenue-share works (artists and held); equals the
    /// pool unless no used work asks for a revenue share.
    pub pool_allocated: u64,
    /// Pool left over when no used work asks for a revenue share.
    pub pool_unallocated: u64,
    /// Sum of the shortfalls.
    pub shortfall: u64,
    /// Flat fees owed (artists and held), per currency.
    pub flat_fees: BTreeMap<String, u64>,
}

/// The computed payout of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    pub pool: Money,
    pub artists: Vec<ArtistLine>,
    pub held: Vec<HeldWork>,
    pub excluded: Vec<ExcludedWork>,
    pub credits: Vec<Credit>,
    /// Revenue-share minimums in another currency than the pool's: not
    /// applied (currencies are never mixed); `(artist id, work)`.
    pub minimums_ignored: Vec<(String, ContentHash)>,
    pub totals: Totals,
}

/// Why a run cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayoutError {
    #[error("work {0} is listed twice")]
    DuplicateWork(ContentHash),
    #[error("work {0} is allowed but no claimant allows the purpose")]
    NoPayee(ContentHash),
}

/// Who a work's money goes to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Owner {
    Artist(String),
    /// Held (disputed); the key orders held works after artists.
    Held,
}

/// One revenue share: a work, its owner, its minimum in the pool currency.
struct Share {
    owner: Owner,
    hash: ContentHash,
    minimum: u64,
}

fn revenue_share(terms: &[Term]) -> Option<Option<&Money>> {
    terms.iter().find_map(|t| match t {
        Term::RevenueShare { minimum } => Some(minimum.as_ref()),
        _ => None,
    })
}

fn flat_fee(terms: &[Term]) -> Option<&Money> {
    terms.iter().find_map(|t| match t {
        Term::FlatFee { amount } => Some(amount),
        _ => None,
    })
}

fn credit(terms: &[Term]) -> Option<&str> {
    terms.iter().find_map(|t| match t {
        Term::Attribution { credit } => Some(credit.as_str()),
        _ => None,
    })
}

/// Splits `total` over `weights` in proportion, by the largest-remainder
/// method; ties in remainder go to the earlier index (callers sort shares
/// by artist id, then work hash). The parts sum to `total` exactly (when
/// the weights are not all zero).
fn largest_remainder(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let t = u128::from(total);
    let mut parts = Vec::with_capacity(weights.len());
    let mut rems = Vec::with_capacity(weights.len());
    for (i, &w) in weights.iter().enumerate() {
        let exact = t * u128::from(w);
        parts.push(u64::try_from(exact / sum).unwrap_or(u64::MAX));
        rems.push((exact % sum, i));
    }
    let given: u128 = parts.iter().map(|&p| u128::from(p)).sum();
    let mut left = t - given;
    // Largest remainder first; equal remainders by position.
    rems.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in rems {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

/// Allocates the pool over the shares (sorted): minimums first by
/// water-filling, the rest equally; or, when the minimums exceed the pool,
/// pro rata to the minimums. Returns (allocation, shortfall) per share.
fn allocate(pool: u64, shares: &[Share]) -> Vec<(u64, u64)> {
    if shares.is_empty() {
        return Vec::new();
    }
    let minimums: u128 = shares.iter().map(|s| u128::from(s.minimum)).sum();
    if minimums >= u128::from(pool) && minimums > 0 {
        let weights: Vec<u64> = shares.iter().map(|s| s.minimum).collect();
        return largest_remainder(pool, &weights)
            .into_iter()
            .zip(shares)
            .map(|(a, s)| (a, s.minimum - a.min(s.minimum)))
            .collect();
    }
    // Water-filling: a share whose minimum is above the equal split of what
    // is left gets its minimum; repeat until every other minimum fits.
    let mut fixed = vec![false; shares.len()];
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&a, &b| shares[b].minimum.cmp(&shares[a].minimum).then(a.cmp(&b)));
    let mut left = u128::from(pool);
    let mut count = shares.len() as u128;
    for &i in &order {
        let m = u128::from(shares[i].minimum);
        // m > left / count, exactly: m * count > left.
        if count > 0 && m * count > left {
            fixed[i] = true;
            left -= m;
            count -= 1;
        } else {
            break;
        }
    }
    let free: Vec<usize> = (0..shares.len()).filter(|&i| !fixed[i]).collect();
    let equal = largest_remainder(
        u64::try_from(left).unwrap_or(u64::MAX),
        &vec![1; free.len()],
    );
    let mut out: Vec<(u64, u64)> = shares.iter().map(|s| (s.minimum, 0)).collect();
    for (k, &i) in free.iter().enumerate() {
        out[i] = (equal[k], 0);
    }
    out
}

/// Computes the payout of a run.
///
/// # Errors
/// A work listed twice, or an allowed work none of whose claimants allows
/// the purpose (inconsistent input).
pub fn compute(run: &RunInput) -> Result<Payout, PayoutError> {
    let mut works: Vec<&UsedWork> = run.works.iter().collect();
    works.sort_by_key(|w| w.hash);
    if let Some(w) = works.windows(2).find(|w| w[0].hash == w[1].hash) {
        return Err(PayoutError::DuplicateWork(w[0].hash));
    }
    let currency = run.pool.currency.as_str();
    let mut lines: BTreeMap<String, ArtistLine> = BTreeMap::new();
    let mut held: Vec<HeldWork> = Vec::new();
    let mut excluded = Vec::new();
    let mut credits: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut ignored = Vec::new();
    let mut shares: Vec<Share> = Vec::new();
    for w in works {
        if w.status != WorkStatus::Allowed {
            excluded.push(ExcludedWork {
                hash: w.hash,
                status: w.status,
            });
            continue;
        }
        let mut payees: Vec<&ClaimantTerms> = w.claimants.iter().filter(|c| c.allows).collect();
        if payees.is_empty() {
            return Err(PayoutError::NoPayee(w.hash));
        }
        payees.sort_by(|a, b| a.artist_id.cmp(&b.artist_id));
        for c in &payees {
            if let Some(text) = credit(&c.terms) {
                *credits
                    .entry((c.artist_id.clone(), text.to_owned()))
                    .or_default() += 1;
            }
        }
        let mut minimum_of = |c: &ClaimantTerms| -> Option<u64> {
            let min = revenue_share(&c.terms)?;
            Some(match min {
                Some(m) if m.currency == currency => m.amount_minor,
                Some(_) => {
                    ignored.push((c.artist_id.clone(), w.hash));
                    0
                }
                None => 0,
            })
        };
        let mut claimants: BTreeSet<&str> =
            w.claimants.iter().map(|c| c.artist_id.as_str()).collect();
        if claimants.len() > 1 {
            // Disputed: one share (the largest minimum asked) and every
            // payee's flat fee, held.
            let mut fees: BTreeMap<String, u64> = BTreeMap::new();
            let mut share: Option<u64> = None;
            for c in &payees {
                if let Some(f) = flat_fee(&c.terms) {
                    *fees.entry(f.currency.clone()).or_default() += f.amount_minor;
                }
                if let Some(m) = minimum_of(c) {
                    share = Some(share.unwrap_or(0).max(m));
                }
            }
            if let Some(minimum) = share {
                shares.push(Share {
                    owner: Owner::Held,
                    hash: w.hash,
                    minimum,
                });
            }
            held.push(HeldWork {
                hash: w.hash,
                claimants: std::mem::take(&mut claimants)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                revenue_share: 0,
                shortfall: 0,
                flat_fees: fees,
            });
            continue;
        }
        let c = payees[0];
        let line = lines
            .entry(c.artist_id.clone())
            .or_insert_with(|| ArtistLine {
                artist_id: c.artist_id.clone(),
                ..ArtistLine::default()
            });
        line.works.push(w.hash);
        if let Some(f) = flat_fee(&c.terms) {
            *line.flat_fees.entry(f.currency.clone()).or_default() += f.amount_minor;
        }
        if let Some(minimum) = minimum_of(c) {
            shares.push(Share {
                owner: Owner::Artist(c.artist_id.clone()),
                hash: w.hash,
                minimum,
            });
        }
    }
    // Ties go by artist id, then work hash; held works after artists.
    shares.sort_by(|a, b| a.owner.cmp(&b.owner).then(a.hash.cmp(&b.hash)));
    let allocation = allocate(run.pool.amount_minor, &shares);
    let mut totals = Totals::default();
    for (s, (amount, short)) in shares.iter().zip(allocation) {
        totals.pool_allocated += amount;
        totals.shortfall += short;
        match &s.owner {
            Owner::Artist(a) => {
                if let Some(line) = lines.get_mut(a) {
                    line.revenue_share += amount;
                    line.shortfall += short;
                }
            }
            Owner::Held => {
                if let Some(h) = held.iter_mut().find(|h| h.hash == s.hash) {
                    h.revenue_share += amount;
                    h.shortfall += short;
                }
            }
        }
    }
    totals.pool_unallocated = run.pool.amount_minor - totals.pool_allocated;
    for fees in lines
        .values()
        .map(|l| &l.flat_fees)
        .chain(held.iter().map(|h| &h.flat_fees))
    {
        for (cur, amount) in fees {
            *totals.flat_fees.entry(cur.clone()).or_default() += amount;
        }
    }
    ignored.sort();
    ignored.dedup();
    Ok(Payout {
        pool: run.pool.clone(),
        artists: lines.into_values().collect(),
        held,
        excluded,
        credits: credits
            .into_iter()
            .map(|((artist_id, credit), works)| Credit {
                artist_id,
                credit,
                works,
            })
            .collect(),
        minimums_ignored: ignored,
        totals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_remainder_sums_exactly_and_breaks_ties_by_position() {
        assert_eq!(largest_remainder(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(largest_remainder(100, &[1, 2]), vec![33, 67]);
        assert_eq!(largest_remainder(0, &[5, 5]), vec![0, 0]);
        assert_eq!(largest_remainder(7, &[0, 0]), vec![0, 0]);
    }

    #[test]
    fn minimums_are_water_filled_then_pro_rata_when_short() {
        let share = |m| Share {
            owner: Owner::Held,
            hash: ContentHash::of(b"x"),
            minimum: m,
        };
        // Pool 100 over 3 shares: the 50 minimum is honoured, 25 + 25 for the rest.
        assert_eq!(
            allocate(100, &[share(50), share(0), share(10)]),
            vec![(50, 0), (25, 0), (25, 0)]
        );
        // Minimums 60 + 60 exceed 100: pro rata 50 + 50, shortfall 10 each; the
        // share without a minimum gets nothing.
        assert_eq!(
            allocate(100, &[share(60), share(60), share(0)]),
            vec![(50, 10), (50, 10), (0, 0)]
        );
    }
}
