//! `consentry vectors --payouts-out`: writes `spec/vectors/payouts.json`,
//! the worked examples of `spec/payouts.md` (inputs and computed payouts).
//! Deterministic.

use std::path::Path;

use serde_json::{json, Value};

use crate::domain::payout::{compute, ClaimantTerms, RunInput, UsedWork, WorkStatus};
use crate::domain::{ContentHash, Money, Term};

/// Artist ids of the examples: Ana, Ben, Chloé (64 hex digits each).
fn artist(c: char) -> String {
    std::iter::repeat_n(c, 64).collect()
}

fn work(n: u32) -> ContentHash {
    ContentHash::of(format!("payout work {n}").as_bytes())
}

fn money(amount_minor: u64, currency: &str) -> Money {
    Money {
        amount_minor,
        currency: currency.to_owned(),
    }
}

fn by(c: char, terms: Vec<Term>) -> Vec<ClaimantTerms> {
    vec![ClaimantTerms {
        artist_id: artist(c),
        allows: true,
        terms,
    }]
}

fn allowed(n: u32, claimants: Vec<ClaimantTerms>) -> UsedWork {
    UsedWork {
        hash: work(n),
        status: WorkStatus::Allowed,
        claimants,
    }
}

fn share(minimum: Option<Money>) -> Term {
    Term::RevenueShare { minimum }
}

/// The examples: (description, input).
fn examples() -> Vec<(&'static str, RunInput)> {
    let credit = |s: &str| Term::Attribution {
        credit: s.to_owned(),
    };
    vec![
        (
            "1. Pro rata with rounding: EUR 1,000.00 over three revenue-share works (Ana two, Ben one) is 33,333.33 cents each; the one cent left goes to the first share in (artist id, work hash) order. A free work with a credit line is counted and credited; a disallowed and an unknown work are excluded and flagged.",
            RunInput {
                pool: money(100_000, "EUR"),
                works: vec![
                    allowed(1, by('a', vec![share(None)])),
                    allowed(2, by('a', vec![share(None)])),
                    allowed(3, by('b', vec![share(None), credit("Ben Example")])),
                    allowed(4, by('c', vec![Term::Free {}, credit("Chloé Example")])),
                    UsedWork { hash: work(5), status: WorkStatus::Disallowed, claimants: by('c', vec![]) },
                    UsedWork { hash: work(6), status: WorkStatus::Unknown, claimants: vec![] },
                ],
            },
        ),
        (
            "2. Minimums honoured first: EUR 100.00 over Ana (minimum 50.00), Ben (no minimum) and Chloé (minimum 10.00): Ana's minimum is above an equal third, so she gets 50.00 and the other 50.00 is split equally (Chloé's 25.00 covers her minimum).",
            RunInput {
                pool: money(10_000, "EUR"),
                works: vec![
                    allowed(1, by('a', vec![share(Some(money(5_000, "EUR")))])),
                    allowed(2, by('b', vec![share(None)])),
                    allowed(3, by('c', vec![share(Some(money(1_000, "EUR")))])),
                ],
            },
        ),
        (
            "3. A pool that cannot cover the minimums: EUR 100.00 against minimums of 60.00 (Ana) and 60.00 (Ben): the pool is split pro rata to the minimums (50.00 each) and a shortfall of 10.00 each is reported; Chloé (no minimum) gets no share. Her flat fee is in USD and is owed in USD, never mixed with the EUR pool.",
            RunInput {
                pool: money(10_000, "EUR"),
                works: vec![
                    allowed(1, by('a', vec![share(Some(money(6_000, "EUR")))])),
                    allowed(2, by('b', vec![share(Some(money(6_000, "EUR")))])),
                    allowed(3, by('c', vec![share(None), Term::FlatFee { amount: money(2_500, "USD") }])),
                ],
            },
        ),
        (
            "4. A disputed work is held: Ana and Ben both claim work 2 (both allow training, Ben asks a 20.00 minimum and a 5.00 flat fee). It takes one share of the pool, with the larger minimum, and its share and fee are held, assigned to no artist. EUR 90.00 over three shares: 30.00 each.",
            RunInput {
                pool: money(9_000, "EUR"),
                works: vec![
                    allowed(1, by('a', vec![share(None)])),
                    allowed(
                        2,
                        vec![
                            ClaimantTerms { artist_id: artist('a'), allows: true, terms: vec![share(None)] },
                            ClaimantTerms {
                                artist_id: artist('b'),
                                allows: true,
                                terms: vec![share(Some(money(2_000, "EUR"))), Term::FlatFee { amount: money(500, "EUR") }],
                            },
                        ],
                    ),
                    allowed(3, by('b', vec![share(None)])),
                ],
            },
        ),
        (
            "5. A minimum in another currency than the pool's is not applied (currencies are never mixed) and is listed: EUR 10.00 over Ana (minimum USD 9.00, ignored) and Ben: 5.00 each.",
            RunInput {
                pool: money(1_000, "EUR"),
                works: vec![
                    allowed(1, by('a', vec![share(Some(money(900, "USD")))])),
                    allowed(2, by('b', vec![share(None)])),
                ],
            },
        ),
        (
            "6. No work asks for a revenue share: the pool stays unallocated (reported), flat fees are owed per work used.",
            RunInput {
                pool: money(50_000, "EUR"),
                works: vec![
                    allowed(1, by('a', vec![Term::FlatFee { amount: money(1_500, "EUR") }])),
                    allowed(2, by('a', vec![Term::FlatFee { amount: money(1_500, "EUR") }])),
                ],
            },
        ),
    ]
}

/// Builds the vector document.
///
/// # Errors
/// Never for the fixed inputs; an error means the payout code is broken.
pub fn payout_vectors() -> anyhow::Result<Value> {
    let mut out = Vec::new();
    for (description, input) in examples() {
        let payout = compute(&input)?;
        out.push(json!({ "description": description, "input": input, "payout": payout }));
    }
    Ok(json!({
        "description": "Worked payout examples (spec/payouts.md): a run's pool and used works with their status and claimants' terms as of the check date, and the computed payout.",
        "generated_by": "cargo run --release -- vectors",
        "examples": out,
    }))
}

/// Writes the vector file.
///
/// # Errors
/// When the file cannot be written.
pub fn write(out: &Path) -> anyhow::Result<()> {
    let doc = payout_vectors()?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(
        out,
        serde_json::to_string_pretty(&crate::domain::canonical::sorted(doc.clone()))? + "\n",
    )?;
    println!(
        "wrote {} payout examples to {}",
        doc["examples"].as_array().map_or(0, Vec::len),
        out.display()
    );
    Ok(())
}
