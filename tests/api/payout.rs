//! The payout computation (`spec/payouts.md`): properties over random runs
//! (quickcheck) and the worked examples of the spec's vectors.

use consentry::domain::payout::{compute, ClaimantTerms, RunInput, UsedWork, WorkStatus};
use consentry::domain::{ContentHash, Money, Term};
use quickcheck::{Arbitrary, Gen, QuickCheck};

const ARTISTS: [&str; 5] = ["a1", "b2", "c3", "d4", "e5"];

fn money(g: &mut Gen, max: u64) -> Money {
    Money {
        amount_minor: 1 + u64::arbitrary(g) % max,
        currency: (*g.choose(&["EUR", "EUR", "EUR", "USD"]).unwrap_or(&"EUR")).to_owned(),
    }
}

fn terms(g: &mut Gen) -> Vec<Term> {
    let mut t = Vec::new();
    if bool::arbitrary(g) {
        t.push(Term::RevenueShare {
            minimum: bool::arbitrary(g).then(|| money(g, 5_000)),
        });
    }
    if u8::arbitrary(g) % 4 == 0 {
        t.push(Term::FlatFee {
            amount: money(g, 10_000),
        });
    }
    if u8::arbitrary(g) % 3 == 0 {
        t.push(Term::Attribution {
            credit: format!("credit {}", u8::arbitrary(g) % 3),
        });
    }
    t
}

/// A random run: up to 40 works, 1-3 claimants each, mixed statuses and terms.
#[derive(Debug, Clone)]
struct Run(RunInput);

impl Arbitrary for Run {
    fn arbitrary(g: &mut Gen) -> Self {
        let n = usize::arbitrary(g) % 40;
        let mut works = Vec::new();
        for i in 0..n {
            let status = *g
                .choose(&[
                    WorkStatus::Allowed,
                    WorkStatus::Allowed,
                    WorkStatus::Disallowed,
                    WorkStatus::Unknown,
                ])
                .unwrap_or(&WorkStatus::Allowed);
            let k = 1 + usize::arbitrary(g) % if u8::arbitrary(g) % 5 == 0 { 3 } else { 1 };
            let mut claimants: Vec<ClaimantTerms> = Vec::new();
            for j in 0..k {
                let artist = ARTISTS[(usize::arbitrary(g) % ARTISTS.len() + j) % ARTISTS.len()];
                if claimants.iter().any(|c| c.artist_id == artist) {
                    continue;
                }
                claimants.push(ClaimantTerms {
                    artist_id: artist.to_owned(),
                    allows: j == 0 || bool::arbitrary(g),
                    terms: terms(g),
                });
            }
            works.push(UsedWork {
                hash: ContentHash::of(format!("work {i} {}", u32::arbitrary(g)).as_bytes()),
                status,
                claimants,
            });
        }
        let pool = Money {
            amount_minor: u64::arbitrary(g)
                % *g.choose(&[1u64, 100, 10_000, 1_000_000_000_000_000])
                    .unwrap_or(&100),
            currency: "EUR".into(),
        };
        Run(RunInput { pool, works })
    }
}

fn shuffled(run: &RunInput, seed: u64) -> RunInput {
    let mut r = run.clone();
    let mut x = seed | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in (1..r.works.len()).rev() {
        let j = usize::try_from(next() % (i as u64 + 1)).unwrap_or(0);
        r.works.swap(i, j);
    }
    for w in &mut r.works {
        w.claimants.reverse();
    }
    r
}

fn sums_hold(run: Run) -> bool {
    let Ok(p) = compute(&run.0) else { return false };
    let shares: u64 = p.artists.iter().map(|a| a.revenue_share).sum::<u64>()
        + p.held.iter().map(|h| h.revenue_share).sum::<u64>();
    let shortfall: u64 = p.artists.iter().map(|a| a.shortfall).sum::<u64>()
        + p.held.iter().map(|h| h.shortfall).sum::<u64>();
    // The pool is allocated exactly, or nothing asked for a share.
    shares == p.totals.pool_allocated
        && p.totals.pool_allocated + p.totals.pool_unallocated == run.0.pool.amount_minor
        && (p.totals.pool_unallocated == 0 || p.totals.pool_allocated == 0)
        && shortfall == p.totals.shortfall
        // A shortfall only when the pool is exhausted.
        && (p.totals.shortfall == 0 || p.totals.pool_unallocated == 0)
        // Every used work is in exactly one place.
        && p.artists.iter().map(|a| a.works.len()).sum::<usize>() + p.held.len() + p.excluded.len()
            == run.0.works.len()
        && p.excluded.iter().all(|e| e.status != WorkStatus::Allowed)
}

fn order_does_not_matter(run: Run, seed: u64) -> bool {
    compute(&run.0) == compute(&shuffled(&run.0, seed))
}

fn recomputation_is_identical(run: Run) -> bool {
    let a = compute(&run.0);
    let b = compute(&run.0);
    let round_trip = a.as_ref().ok().map(|p| {
        let text = serde_json::to_string(p).unwrap_or_default();
        serde_json::from_str::<consentry::domain::payout::Payout>(&text).ok() == Some(p.clone())
    });
    a == b && round_trip != Some(false)
}

#[test]
fn revenue_share_allocations_sum_to_the_pool_or_report_a_shortfall() {
    QuickCheck::new()
        .tests(2000)
        .quickcheck(sums_hold as fn(Run) -> bool);
}

#[test]
fn results_do_not_depend_on_input_order() {
    QuickCheck::new()
        .tests(1000)
        .quickcheck(order_does_not_matter as fn(Run, u64) -> bool);
}

#[test]
fn recomputation_gives_identical_statements() {
    QuickCheck::new()
        .tests(500)
        .quickcheck(recomputation_is_identical as fn(Run) -> bool);
}

#[test]
fn spec_payout_examples_match_the_implementation() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/spec/vectors/payouts.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("payouts.json")).expect("json");
    assert_eq!(
        doc,
        consentry::cli::payout_vectors::payout_vectors().expect("generator"),
        "spec/vectors/payouts.json is stale: run `cargo run --release -- vectors`"
    );
    let examples = doc["examples"].as_array().expect("examples");
    // Every example recomputes from its input to its payout.
    for e in examples {
        let input: RunInput = serde_json::from_value(e["input"].clone()).expect("input");
        let payout = compute(&input).expect("computes");
        assert_eq!(serde_json::to_value(&payout).expect("json"), e["payout"]);
    }
    // The worked numbers of spec/payouts.md, by hand.
    let line = |ex: usize, artist: char| {
        let id: String = std::iter::repeat_n(artist, 64).collect();
        examples[ex]["payout"]["artists"]
            .as_array()
            .expect("artists")
            .iter()
            .find(|a| a["artist_id"] == id.as_str())
            .cloned()
            .expect("artist line")
    };
    assert_eq!(line(0, 'a')["revenue_share"], 66_667); // 33,334 + 33,333
    assert_eq!(line(0, 'b')["revenue_share"], 33_333);
    assert_eq!(line(0, 'c')["revenue_share"], 0);
    assert_eq!(
        examples[0]["payout"]["excluded"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(
        examples[0]["payout"]["credits"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(line(1, 'a')["revenue_share"], 5_000);
    assert_eq!(line(1, 'b')["revenue_share"], 2_500);
    assert_eq!(line(1, 'c')["revenue_share"], 2_500);
    assert_eq!(
        (
            line(2, 'a')["revenue_share"].clone(),
            line(2, 'a')["shortfall"].clone()
        ),
        (5_000.into(), 1_000.into())
    );
    assert_eq!(line(2, 'c')["flat_fees"]["USD"], 2_500);
    assert_eq!(examples[2]["payout"]["totals"]["shortfall"], 2_000);
    assert_eq!(examples[3]["payout"]["held"][0]["revenue_share"], 3_000);
    assert_eq!(examples[3]["payout"]["held"][0]["flat_fees"]["EUR"], 500);
    assert_eq!(line(3, 'a')["revenue_share"], 3_000);
    assert_eq!(
        examples[4]["payout"]["minimums_ignored"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(line(4, 'a')["revenue_share"], 500);
    assert_eq!(examples[5]["payout"]["totals"]["pool_unallocated"], 50_000);
    assert_eq!(line(5, 'a')["flat_fees"]["EUR"], 3_000);
}
