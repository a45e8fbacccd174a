//! The registry and the auditor agree on the key and acceptance rules
//! (`spec/statement.md` §9, `spec/log.md` §7): both call `domain::keys` and
//! `domain::acceptance`, and this test holds them to it.
//!
//! Many random but reproducible sequences (a seeded xorshift; keys derived
//! from it) of registrations, key events and statements for one or two
//! artists go through the real router: adds and rotations signed right and
//! wrong, revocations with no, past, exact, too early, scheduled and
//! repeated effective times, statements signed by active, revoked, foreign
//! and unknown keys, keys reused across artists. After every request the
//! auditor replays what the log gained:
//!
//! - every document the registry accepted must replay (and be logged
//!   byte for byte as this test would build its entry);
//! - every document it refused under the key or acceptance rules, appended
//!   as the registry would have logged it (receipt time just after the
//!   request) to a copy of the auditor's state, must make the auditor fail
//!   at that entry, for the same reason (for key events, the registry's
//!   own refusal text).
//!
//! After each sequence the whole log is replayed against the latest
//! checkpoint. Refusals the log cannot express are not re-checked, only
//! counted: a statement signed with another artist's key (`forbidden`: a
//! statement's entry does not name the artist who submitted it, so in the
//! log it reads as the key holder's own statement) and an `add` of the
//! registry's admin key (`key-in-use`: the admin key and builders' keys are
//! not in the log). Not generated at all, since the entry format has no
//! room for them or the auditor does not re-decide them: malformed
//! envelopes, bad base64, invalid keys and signatures that do not verify,
//! a token or URL naming another artist than the event's `artist`,
//! `issued-in-future` and `stale-statement` (every statement names a work
//! of its own).
//!
//! The operations drawn are fixed by the seed; which keys a scheduled
//! revocation has reached when an operation runs depends on the clock.

use std::collections::BTreeMap;
use std::time::Instant;

use consentry::audit::{AuditState, Auditor};
use consentry::crypto::{Envelope, PublicKey, SecretKey};
use consentry::domain::{ContentHash, Timestamp};
use consentry::log::entry::{self, EntryKind, EntrySignature};
use serde_json::json;

use crate::helpers::*;

crate::both_backends!(registry_and_auditor_agree);

const SEED: u64 = 0xC0_5E47_A6EE;
const SEQUENCES: u64 = 60;
const MS: u64 = 1_000_000;
const SEC: u64 = 1_000 * MS;

/// Refusals the auditor must also make, by entry kind and problem type,
/// each with the fragments of the auditor's reason that mean the same rule.
fn auditor_reasons(kind: EntryKind, slug: &str) -> Option<&'static [&'static str]> {
    Some(match (kind, slug) {
        (EntryKind::KeyEvent, "forbidden" | "revoked-key") => {
            &["is not an active key of this artist"]
        }
        (EntryKind::KeyEvent, "bad-signature") => &[
            "the new key must sign the event",
            "an existing active key must sign the event",
            "the replaced key must sign a rotation",
        ],
        (EntryKind::KeyEvent, "key-in-use") => &["is already registered"],
        (EntryKind::KeyEvent, "unknown-key") => &["is not a key of this artist"],
        (EntryKind::KeyEvent, "already-revoked") => &["is already revoked from"],
        (EntryKind::KeyEvent, "invalid-payload") => &["precedes the key's registration"],
        (EntryKind::Statement, "unknown-key") => &["statement signed by unregistered key"],
        (EntryKind::Statement, "revoked-key") => &["after its revocation"],
        (EntryKind::Artist, "key-in-use") => &["was registered before"],
        _ => return None,
    })
}

/// What must have been re-checked at least once, so the test cannot
/// silently test nothing: (entry kind, problem type, auditor's reason).
const REQUIRED: &[(&str, &str, &str)] = &[
    (
        "key-event",
        "forbidden",
        "is not an active key of this artist",
    ),
    (
        "key-event",
        "bad-signature",
        "the new key must sign the event",
    ),
    (
        "key-event",
        "bad-signature",
        "an existing active key must sign the event",
    ),
    (
        "key-event",
        "bad-signature",
        "the replaced key must sign a rotation",
    ),
    ("key-event", "key-in-use", "is already registered"),
    ("key-event", "unknown-key", "is not a key of this artist"),
    (
        "key-event",
        "revoked-key",
        "is not an active key of this artist",
    ),
    ("key-event", "already-revoked", "is already revoked from"),
    (
        "key-event",
        "invalid-payload",
        "precedes the key's registration",
    ),
    (
        "statement",
        "unknown-key",
        "statement signed by unregistered key",
    ),
    ("statement", "revoked-key", "after its revocation"),
    ("artist", "key-in-use", "was registered before"),
];

/// Accepted operations that must have occurred at least once.
const REQUIRED_ACCEPTED: &[&str] = &[
    "registration",
    "add",
    "rotate",
    "revoke",
    "revoke, past effective_at",
    "revoke, effective_at = added time",
    "revoke, scheduled",
    "revoke, brought forward",
    "statement",
];

async fn registry_and_auditor_agree(app: TestApp) {
    let started = Instant::now();
    let backend = app.store().backend().to_owned();
    let mut run = Run::new(&app);
    for n in 0..SEQUENCES {
        run.sequence(n).await;
        run.check_whole_log().await;
    }
    let t = &run.tally;
    println!(
        "agreement ({backend}): {SEQUENCES} sequences, {} documents submitted, {} log entries, in {:.1} s",
        t.submitted,
        run.auditor.size(),
        started.elapsed().as_secs_f64()
    );
    println!("  accepted and replayed: {:?}", t.accepted);
    println!("  refused: {:?}", t.refused);
    println!("  refusals the auditor re-decided alike: {:?}", t.rechecked);
    println!("  refusals the log cannot express: {:?}", t.not_in_log);
    println!(
        "  refusals not re-decided by the auditor: {:?}",
        t.not_rechecked
    );
    println!(
        "  refusals skipped as a scheduled revocation fell within the request: {}; sequences ended early with every artist locked out: {}; steps without a usable token: {}",
        t.timing, t.locked_out, t.no_token
    );
    assert!(
        t.disagreements.is_empty(),
        "the registry and the auditor disagree:\n{}",
        t.disagreements.join("\n")
    );
    assert!(
        t.not_rechecked.is_empty(),
        "refusals outside the rules this test re-checks: {:?}",
        t.not_rechecked
    );
    for &(kind, slug, reason) in REQUIRED {
        assert!(
            t.rechecked
                .get(&(kind, slug.to_owned(), reason))
                .is_some_and(|n| *n > 0),
            "no {kind} refused as {slug} ({reason}) was re-checked"
        );
    }
    for class in REQUIRED_ACCEPTED {
        assert!(
            t.accepted.get(*class).is_some_and(|n| *n > 0),
            "no `{class}` was accepted"
        );
    }
}

/// A small xorshift64* generator: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so nearby seeds start far apart; never 0.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn pick<T: Clone>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            return None;
        }
        Some(items[self.below(items.len() as u64) as usize].clone())
    }

    fn key(&mut self) -> SecretKey {
        let mut seed = [0u8; 32];
        for chunk in seed.chunks_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        SecretKey::from_seed(&seed)
    }
}

fn now_nanos() -> u64 {
    u64::try_from(Timestamp::now().unix_nanos()).expect("after 1970")
}

fn instant(nanos: u64) -> Timestamp {
    Timestamp::from_unix_nanos(i64::try_from(nanos).expect("before 2262"))
}

/// The log entry the registry writes for `env` received at `received_at`
/// (what `Document::log_entry` encodes: the payload and signatures as sent).
fn entry_of(kind: EntryKind, env: &Envelope, received_at: u64) -> Vec<u8> {
    let payload = B64.decode(&env.payload).expect("payload base64");
    let signatures: Vec<EntrySignature> = env
        .signatures
        .iter()
        .map(|s| {
            let key: PublicKey = s.keyid.parse().expect("keyid");
            let sig: [u8; 64] = B64
                .decode(&s.sig)
                .expect("signature base64")
                .try_into()
                .expect("64-byte signature");
            EntrySignature {
                key: key.to_bytes(),
                sig,
            }
        })
        .collect();
    entry::encode(kind, received_at, &env.payload_type, &signatures, &payload).expect("entry")
}

/// An artist of the sequence: the keys it has held, and a token.
struct Actor {
    id: String,
    keys: Vec<SecretKey>,
    /// A token and the key that obtained it.
    token: Option<(String, String)>,
}

/// One document to submit.
struct Planned {
    /// What the generator meant (`add`, `revoke, scheduled`, ...).
    class: String,
    kind: EntryKind,
    /// Who submits it (none for a registration).
    actor: Option<usize>,
    env: Envelope,
    /// A refusal of this problem type that the log cannot express, and why.
    not_in_log: Option<(&'static str, &'static str)>,
    /// The key an `add` or `rotate` gives the artist.
    new_key: Option<SecretKey>,
}

#[derive(Default)]
struct Tally {
    submitted: u64,
    accepted: BTreeMap<String, u64>,
    refused: BTreeMap<(&'static str, String), u64>,
    rechecked: BTreeMap<(&'static str, String, &'static str), u64>,
    not_in_log: BTreeMap<(&'static str, String), u64>,
    not_rechecked: BTreeMap<(&'static str, String), u64>,
    timing: u64,
    no_token: u64,
    locked_out: u64,
    disagreements: Vec<String>,
}

struct Run<'a> {
    app: &'a TestApp,
    /// Has replayed every entry of the log so far.
    auditor: Auditor,
    /// `auditor`'s state after the last entry: the keys as the log defines
    /// them, and the point a counterfactual replay resumes from.
    state: AuditState,
    /// Keys registered in earlier sequences, for reuse (`key-in-use`).
    earlier: Vec<SecretKey>,
    tally: Tally,
}

impl<'a> Run<'a> {
    fn new(app: &'a TestApp) -> Self {
        let log = app.state.registry.log();
        let auditor = Auditor::new(log.origin(), log.verifier().clone());
        let state = auditor.state("");
        Self {
            app,
            auditor,
            state,
            earlier: Vec::new(),
            tally: Tally::default(),
        }
    }

    /// When `key` was added and revoked, as the log defines it.
    fn span(&self, key: &SecretKey) -> Option<(u64, Option<u64>)> {
        self.state
            .keys
            .get(&key.public_key().to_string())
            .map(|k| (k.added_at, k.revoked_at))
    }

    fn active(&self, key: &SecretKey, at: u64) -> bool {
        self.span(key)
            .is_some_and(|(_, r)| r.is_none_or(|r| at < r))
    }

    async fn sequence(&mut self, n: u64) {
        let mut rng = Rng::new(SEED ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        // A new artist with a key an earlier artist holds: `key-in-use`.
        if let Some(key) = rng.pick(&self.earlier).filter(|_| rng.below(3) == 0) {
            let p = Planned {
                class: "registration, reused key".into(),
                kind: EntryKind::Artist,
                actor: None,
                env: artist_envelope(&key, "Reuse"),
                not_in_log: None,
                new_key: None,
            };
            self.submit(&mut [], &p, &format!("sequence {n}, registration"))
                .await;
        }
        let mut actors = Vec::new();
        for i in 0..=rng.below(2) {
            let key = rng.key();
            let p = Planned {
                class: "registration".into(),
                kind: EntryKind::Artist,
                actor: None,
                env: artist_envelope(&key, &format!("Artist {n}.{i}")),
                not_in_log: None,
                new_key: None,
            };
            let resp = self
                .submit(&mut [], &p, &format!("sequence {n}, artist {i}"))
                .await
                .expect("registration answered");
            resp.assert_status(201);
            actors.push(Actor {
                id: resp.body["artist_id"]
                    .as_str()
                    .expect("artist_id")
                    .to_owned(),
                keys: vec![key],
                token: None,
            });
        }
        let outsider = rng.key();
        let steps = 15 + rng.below(20);
        for step in 0..steps {
            // The artist drawn, or the other when it can no longer sign in.
            let first = rng.below(actors.len() as u64) as usize;
            let Some(a) = (0..actors.len())
                .map(|i| (first + i) % actors.len())
                .find(|&i| self.can_sign_in(&actors[i]))
            else {
                self.tally.locked_out += 1;
                break;
            };
            let p = self.plan(&mut rng, &actors, a, &outsider, n, step);
            let at = format!("sequence {n}, step {step} ({}, artist {a})", p.class);
            self.submit(&mut actors, &p, &at).await;
        }
        self.earlier
            .extend(actors.into_iter().flat_map(|a| a.keys.into_iter()));
    }

    /// Draws the next document for artist `a`.
    fn plan(
        &self,
        rng: &mut Rng,
        actors: &[Actor],
        a: usize,
        outsider: &SecretKey,
        n: u64,
        step: u64,
    ) -> Planned {
        let now = now_nanos();
        let me = &actors[a];
        let active: Vec<SecretKey> = me
            .keys
            .iter()
            .filter(|k| self.active(k, now))
            .cloned()
            .collect();
        let inactive: Vec<SecretKey> = me
            .keys
            .iter()
            .filter(|k| !self.active(k, now))
            .cloned()
            .collect();
        let scheduled: Vec<SecretKey> = me
            .keys
            .iter()
            .filter(|k| self.span(k).is_some_and(|(_, r)| r.is_some()))
            .cloned()
            .collect();
        let mut foreign: Vec<SecretKey> = actors
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != a)
            .flat_map(|(_, o)| o.keys.iter().cloned())
            .collect();
        foreign.extend(rng.pick(&self.earlier));
        let own = |rng: &mut Rng, list: &[SecretKey]| {
            rng.pick(list)
                .or_else(|| rng.pick(&me.keys))
                .expect("an artist has a key")
        };
        let foreign_key = |rng: &mut Rng| rng.pick(&foreign).unwrap_or_else(|| outsider.clone());
        let event = |action: &str, key: &SecretKey, extra, signers: &[SecretKey]| {
            let mut unique: Vec<&SecretKey> = Vec::new();
            for s in signers {
                if !unique.iter().any(|u| u.public_key() == s.public_key()) {
                    unique.push(s);
                }
            }
            key_event(
                &me.id,
                action,
                &key.public_key().to_string(),
                extra,
                &unique,
            )
        };
        let planned = |class: &str, kind, env| Planned {
            class: class.to_owned(),
            kind,
            actor: Some(a),
            env,
            not_in_log: None,
            new_key: None,
        };

        // Keep artists alive: with one active key left, often add a second.
        let roll = if active.len() <= 1 && rng.below(2) == 0 {
            0
        } else {
            rng.below(100)
        };
        match roll {
            // add
            0..=19 => {
                let (new, admin) = match rng.below(20) {
                    0 => (self.app.admin.clone(), true),
                    1..=4 => (own(rng, &foreign), false),
                    5 => (own(rng, &me.keys), false),
                    _ => (rng.key(), false),
                };
                let signers = match rng.below(20) {
                    0..=10 => vec![new.clone(), own(rng, &active)],
                    11 | 12 => vec![new.clone()],
                    13 | 14 => vec![own(rng, &active)],
                    15 | 16 => vec![new.clone(), own(rng, &inactive)],
                    17 | 18 => vec![new.clone(), foreign_key(rng)],
                    _ => vec![new.clone(), outsider.clone()],
                };
                let mut p = planned(
                    "add",
                    EntryKind::KeyEvent,
                    event("add", &new, json!({}), &signers),
                );
                p.new_key = Some(new);
                if admin {
                    p.class = "add, admin key".into();
                    p.not_in_log = Some(("key-in-use", "the admin key is not in the log"));
                }
                p
            }
            // rotate
            20..=39 => {
                let replaced = match rng.below(20) {
                    0..=10 => own(rng, &active),
                    11..=14 => own(rng, &inactive),
                    15..=17 => foreign_key(rng),
                    _ => outsider.clone(),
                };
                let mut new = match rng.below(20) {
                    0..=3 => own(rng, &foreign),
                    4 => own(rng, &me.keys),
                    _ => rng.key(),
                };
                if new.public_key() == replaced.public_key() {
                    new = rng.key();
                }
                let others: Vec<SecretKey> = active
                    .iter()
                    .filter(|k| k.public_key() != replaced.public_key())
                    .cloned()
                    .collect();
                let replaced_inactive = !self.active(&replaced, now);
                let signers = match rng.below(20) {
                    r if replaced_inactive && r < 12 => vec![new.clone(), own(rng, &others)],
                    0..=10 => vec![new.clone(), replaced.clone()],
                    11..=14 => vec![new.clone(), own(rng, &others)],
                    15 | 16 => vec![new.clone()],
                    17 => vec![replaced.clone()],
                    _ => vec![new.clone(), own(rng, &inactive)],
                };
                let extra = json!({ "replaces": replaced.public_key().to_string() });
                let mut p = planned(
                    "rotate",
                    EntryKind::KeyEvent,
                    event("rotate", &new, extra, &signers),
                );
                p.new_key = Some(new);
                p
            }
            // revoke
            40..=74 => {
                let target = match rng.below(20) {
                    0..=9 => own(rng, &active),
                    10..=11 => own(rng, &inactive),
                    12..=14 => own(rng, &scheduled),
                    15..=17 => foreign_key(rng),
                    _ => outsider.clone(),
                };
                let (added, revoked) = self.span(&target).unwrap_or((now - 60 * SEC, None));
                // A key with a revocation time: often move it.
                let roll = if revoked.is_some() && rng.below(3) == 0 {
                    18
                } else {
                    rng.below(20)
                };
                let (class, effective) = match roll {
                    0..=5 => ("revoke", None),
                    6..=7 => (
                        "revoke, past effective_at",
                        Some(added + rng.below(now.saturating_sub(added).max(1))),
                    ),
                    8..=10 => ("revoke, effective_at = added time", Some(added)),
                    11 | 12 => (
                        "revoke, effective_at before added time",
                        Some(added - [1, MS, SEC][rng.below(3) as usize]),
                    ),
                    13..=15 => ("revoke, scheduled", Some(now + 5 * MS + rng.below(40 * MS))),
                    16 | 17 => (
                        "revoke, scheduled",
                        Some(now + 3600 * SEC + rng.below(86_400 * SEC)),
                    ),
                    _ => match revoked {
                        Some(r) => match rng.below(4) {
                            0 => ("revoke, brought forward", Some(r - 1)),
                            1 => (
                                "revoke, brought forward",
                                Some(r - 1 - rng.below(r.saturating_sub(added).max(1))),
                            ),
                            2 => ("revoke, same time again", Some(r)),
                            _ => ("revoke, pushed back", Some(r + 1 + rng.below(SEC))),
                        },
                        None => ("revoke", None),
                    },
                };
                let extra = match effective {
                    Some(e) => json!({ "effective_at": instant(e) }),
                    None => json!({}),
                };
                let signers = match rng.below(20) {
                    0..=8 => vec![own(rng, &active)],
                    9..=11 => vec![target.clone()],
                    12..=14 => vec![own(rng, &active), own(rng, &active)],
                    15 | 16 => vec![own(rng, &inactive)],
                    17 => vec![foreign_key(rng)],
                    18 => vec![outsider.clone()],
                    _ => vec![target.clone(), own(rng, &active)],
                };
                planned(
                    class,
                    EntryKind::KeyEvent,
                    event("revoke", &target, extra, &signers),
                )
            }
            // statement
            _ => {
                let (signer, class) = match rng.below(20) {
                    0..=9 => (own(rng, &active), "statement"),
                    10..=13 => (own(rng, &inactive), "statement"),
                    14..=16 => (foreign_key(rng), "statement, foreign key"),
                    _ => (outsider.clone(), "statement"),
                };
                let work = ContentHash::of(format!("agreement {n} {step}").as_bytes());
                let mut p = planned(
                    class,
                    EntryKind::Statement,
                    statement(&signer, &[work], json!("opt-out"), ago(1)),
                );
                p.not_in_log = Some((
                    "forbidden",
                    "a statement's entry does not name who submitted it",
                ));
                p
            }
        }
    }

    /// Whether `key` stays active for a while (long enough to sign in and
    /// make a request).
    fn lasting(&self, key: &str) -> bool {
        let soon = now_nanos() + SEC;
        self.state
            .keys
            .get(key)
            .is_some_and(|k| k.revoked_at.is_none_or(|r| r > soon))
    }

    fn can_sign_in(&self, actor: &Actor) -> bool {
        actor
            .keys
            .iter()
            .any(|k| self.lasting(&k.public_key().to_string()))
    }

    /// A token for `actor`, from a key that stays active for a while.
    async fn token(&self, actor: &mut Actor) -> Option<String> {
        if let Some((token, key)) = &actor.token {
            if self.lasting(key) {
                return Some(token.clone());
            }
        }
        let key = actor
            .keys
            .iter()
            .find(|k| self.lasting(&k.public_key().to_string()))?
            .clone();
        let token = self.app.login(&key).await;
        actor.token = Some((token.clone(), key.public_key().to_string()));
        Some(token)
    }

    /// Submits `p`, replays what the log gained, and holds the registry's
    /// verdict against the auditor's. `None` when the artist cannot sign in.
    async fn submit(&mut self, actors: &mut [Actor], p: &Planned, at: &str) -> Option<Resp> {
        let mut retried = false;
        loop {
            let token = match p.actor {
                Some(i) => match self.token(&mut actors[i]).await {
                    Some(t) => Some(t),
                    None => {
                        self.tally.no_token += 1;
                        return None;
                    }
                },
                None => None,
            };
            let t0 = now_nanos();
            let resp = match (p.kind, p.actor) {
                (EntryKind::Artist, _) => self.app.post("/v1/artists", &json!(p.env), None).await,
                (EntryKind::KeyEvent, Some(i)) => {
                    self.app
                        .post(
                            &format!("/v1/artists/{}/keys", actors[i].id),
                            &json!(p.env),
                            token.as_deref(),
                        )
                        .await
                }
                (EntryKind::Statement, Some(_)) => {
                    let token = token.as_deref().expect("token");
                    self.app.submit(token, std::slice::from_ref(&p.env)).await
                }
                other => unreachable!("not generated: {other:?}"),
            };
            let t1 = now_nanos();
            if resp.status.as_u16() == 401 && !retried {
                // The token's key was revoked meanwhile: sign in again.
                if let Some(i) = p.actor {
                    actors[i].token = None;
                }
                retried = true;
                continue;
            }
            self.tally.submitted += 1;
            self.judge(p, &resp, t0, t1, at).await;
            if let (201, Some(i), Some(key)) = (resp.status.as_u16(), p.actor, &p.new_key) {
                actors[i].keys.push(key.clone());
            }
            return Some(resp);
        }
    }

    async fn judge(&mut self, p: &Planned, resp: &Resp, t0: u64, t1: u64, at: &str) {
        let kind = p.kind.as_str();
        let before = self.state.clone();
        let docs = self
            .app
            .store()
            .documents_from(before.size, u32::MAX)
            .await
            .expect("documents");
        let entries: Vec<Vec<u8>> = docs
            .iter()
            .map(|d| d.doc.log_entry().expect("entry"))
            .collect();
        if !entries.is_empty() {
            if let Err(f) = self.auditor.replay(before.size, &entries) {
                panic!(
                    "{}",
                    report(at, p, resp, &format!("refuses the logged entry: {f}"))
                );
            }
            self.state = self.auditor.state("");
        }
        match resp.status.as_u16() {
            201 => {
                assert_eq!(entries.len(), 1, "{at}: one document, one entry");
                let logged = entry::decode(&entries[0]).expect("entry decodes");
                assert_eq!(
                    entry_of(p.kind, &p.env, logged.received_at),
                    entries[0],
                    "{at}: the entry is not the document as sent"
                );
                *self.tally.accepted.entry(p.class.clone()).or_default() += 1;
            }
            status => {
                assert!(
                    entries.is_empty(),
                    "{at}: refused ({status}) but the log grew"
                );
                let slug = resp.body["type"]
                    .as_str()
                    .and_then(|t| t.strip_prefix("urn:consentry:problem:"))
                    .unwrap_or("?")
                    .to_owned();
                *self.tally.refused.entry((kind, slug.clone())).or_default() += 1;
                self.recheck(p, resp, &slug, t0, t1, at);
            }
        }
    }

    /// The auditor must refuse what the registry refused: the entry the
    /// registry would have written, after the real log.
    fn recheck(&mut self, p: &Planned, resp: &Resp, slug: &str, t0: u64, t1: u64, at: &str) {
        let kind = p.kind.as_str();
        if p.not_in_log.is_some_and(|(s, _)| s == slug) {
            *self
                .tally
                .not_in_log
                .entry((kind, format!("{slug} ({})", p.class)))
                .or_default() += 1;
            return;
        }
        let Some(reasons) = auditor_reasons(p.kind, slug) else {
            *self
                .tally
                .not_rechecked
                .entry((kind, slug.to_owned()))
                .or_default() += 1;
            return;
        };
        // The registry decided at an instant within [t0, t1]; the entry is
        // given t1. They decide alike unless a revocation time lies between.
        if self
            .state
            .keys
            .values()
            .any(|k| k.revoked_at.is_some_and(|r| (t0..=t1).contains(&r)))
        {
            self.tally.timing += 1;
            return;
        }
        let size = self.state.size;
        let received_at = t1.max(self.state.last_received_at + 1);
        let candidate = entry_of(p.kind, &p.env, received_at);
        let mut probe = Auditor::resume(&self.state).expect("the auditor resumes its own state");
        let detail = resp.body["detail"].as_str().unwrap_or_default();
        match probe.replay(size, &[candidate]) {
            Ok(()) => self
                .tally
                .disagreements
                .push(report(at, p, resp, "accepts it")),
            Err(f) => {
                let reason = reasons.iter().find(|r| f.reason.contains(**r));
                // A key event's refusal is the domain's own text, in both.
                let same_text = p.kind != EntryKind::KeyEvent || f.reason.contains(detail);
                match reason {
                    Some(reason) if f.entry == Some(size) && same_text => {
                        *self
                            .tally
                            .rechecked
                            .entry((kind, slug.to_owned(), reason))
                            .or_default() += 1;
                    }
                    _ => self.tally.disagreements.push(report(
                        at,
                        p,
                        resp,
                        &format!("refuses it for another reason: {f}"),
                    )),
                }
            }
        }
    }

    /// The whole log, replayed against the latest signed checkpoint: by
    /// the running auditor, and from scratch by `assert_log_verifies`.
    async fn check_whole_log(&mut self) {
        let store = self.app.store();
        let cp = self
            .app
            .state
            .registry
            .log()
            .reader(store.as_ref())
            .latest()
            .await
            .expect("checkpoint");
        let opened = self
            .auditor
            .open_checkpoint(&cp.note)
            .expect("checkpoint verifies");
        self.auditor.finish(&opened).expect("root matches");
        self.app.assert_log_verifies().await;
    }
}

/// One disagreement: where, the document, and both verdicts.
fn report(at: &str, p: &Planned, resp: &Resp, auditor: &str) -> String {
    let payload = B64
        .decode(&p.env.payload)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let signers: Vec<&str> = p.env.signatures.iter().map(|s| s.keyid.as_str()).collect();
    let verdict = if resp.status.as_u16() == 201 {
        "accepted".to_owned()
    } else {
        format!(
            "{} {}: {}",
            resp.status.as_u16(),
            resp.body["type"].as_str().unwrap_or_default(),
            resp.body["detail"].as_str().unwrap_or_default()
        )
    };
    format!(
        "{at}: {} {payload}\n  signed by {signers:?}\n  registry: {verdict}\n  auditor: {auditor}",
        p.env.payload_type
    )
}
