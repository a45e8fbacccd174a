//! Calibration of near-duplicate matching (`docs/matching.md`): recall per
//! kind of copy, false matches among distractors, near-lookup throughput
//! against exact-hash lookups, and fingerprinting throughput.
//!
//! ```text
//! benches/matching/setup.sh                       # Pillow, scikit-image, iscc-sdk
//! python3 benches/matching/make_set.py /tmp/matchset
//! MATCH_SET=/tmp/matchset cargo bench --bench matching --features simd-jpeg
//! ```
//!
//! (`simd-jpeg` needs nasm; without it JPEGs decode to the same pixels
//! through libjpeg-turbo's plain C code, about half as fast.)
//!
//! The set: `originals/` (registered works), one folder per kind of copy
//! (same base names as the originals), `distractors/` (images that are not
//! registered, look-alikes included), and `speed/` (`make_speed_set.py`:
//! 10,000 JPEGs of 512 px for the fingerprinting throughput). Environment: `MATCH_SET`,
//! `BENCH_PARTS` (recall,lookup,fingerprint), `BENCH_CODES` (codes in the
//! lookup index, 10,000,000), `BENCH_PAD` (registered codes the false-match
//! test searches, 100,000).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use consentry::check::MATCHING;
use consentry::domain::fingerprint::distance;
use consentry::fingerprint::{self, ViewKind};
use consentry::index::near::NearIndex;
use rayon::prelude::*;

fn env_str(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn images(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// xorshift64*: deterministic padding codes without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// C(n, k) as f64.
fn choose(n: u32, k: u32) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * f64::from(n - i) / f64::from(i + 1))
}

fn recall(set: &Path) {
    let t = MATCHING.max_distance;
    let originals = images(&set.join("originals"));
    assert!(
        !originals.is_empty(),
        "no originals in {}",
        set.join("originals").display()
    );
    let started = Instant::now();
    // Registered codes: every view `consentry register` signs.
    let registered: Vec<(String, Vec<u64>)> = originals
        .par_iter()
        .filter_map(|p| {
            let bytes = std::fs::read(p).ok()?;
            let codes = fingerprint::registered_codes(&bytes).ok()?;
            Some((
                stem(p),
                codes
                    .iter()
                    .filter(|c| !c.is_featureless())
                    .map(|c| c.prefix())
                    .collect(),
            ))
        })
        .collect();
    let whole_only: Vec<(String, Vec<u64>)> = originals
        .par_iter()
        .filter_map(|p| {
            let bytes = std::fs::read(p).ok()?;
            let img = fingerprint::decode(&bytes).ok()?;
            let c = fingerprint::view_code(&img, ViewKind::Whole).ok()?;
            Some((stem(p), vec![c.prefix()]))
        })
        .collect();
    println!(
        "{} originals, {} registered codes ({} views each at most), computed in {:.1} s; threshold {} of {} bits",
        registered.len(),
        registered.iter().map(|(_, c)| c.len()).sum::<usize>(),
        ViewKind::REGISTERED.len(),
        started.elapsed().as_secs_f64(),
        t,
        MATCHING.bits
    );
    let mut kinds: Vec<PathBuf> = std::fs::read_dir(set)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    kinds.retain(|k| {
        let n = k
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        n != "originals" && n != "distractors" && n != "speed" && !n.starts_with('.')
    });
    kinds.sort();
    let by_name: HashMap<&str, &Vec<u64>> =
        registered.iter().map(|(n, c)| (n.as_str(), c)).collect();
    let whole_by_name: HashMap<&str, &Vec<u64>> =
        whole_only.iter().map(|(n, c)| (n.as_str(), c)).collect();
    let all: Vec<(usize, u64)> = registered
        .iter()
        .enumerate()
        .flat_map(|(i, (_, cs))| cs.iter().map(move |&c| (i, c)))
        .collect();
    let names: Vec<&str> = registered.iter().map(|(n, _)| n.as_str()).collect();
    println!(
        "\n{:<22} {:>6} {:>9} {:>11} {:>9} {:>7}   distances to own work (views / whole only)",
        "copy", "n", "recall", "whole only", "wrong", "median"
    );
    let (mut total, mut hit) = (0usize, 0usize);
    let mut worst_kind = 1.0f64;
    for kind in &kinds {
        let files = images(kind);
        let rows: Vec<(u32, u32, bool)> = files
            .par_iter()
            .filter_map(|p| {
                let name = stem(p);
                let own = by_name.get(name.as_str())?;
                let own_whole = whole_by_name.get(name.as_str())?;
                let code = fingerprint::image_code(&std::fs::read(p).ok()?)
                    .ok()?
                    .prefix();
                let d = own.iter().map(|&c| distance(c, code)).min().unwrap_or(64);
                let dw = own_whole
                    .iter()
                    .map(|&c| distance(c, code))
                    .min()
                    .unwrap_or(64);
                // A match with another registered work within the threshold.
                let wrong = all
                    .iter()
                    .any(|&(i, c)| names[i] != name && distance(c, code) <= t);
                if d > t && std::env::var_os("BENCH_VERBOSE").is_some() {
                    eprintln!("missed {} ({} bits)", p.display(), d);
                }
                Some((d, dw, wrong))
            })
            .collect();
        let n = rows.len();
        let ok = rows.iter().filter(|r| r.0 <= t).count();
        let ok_whole = rows.iter().filter(|r| r.1 <= t).count();
        let wrong = rows.iter().filter(|r| r.2).count();
        let mut ds: Vec<u32> = rows.iter().map(|r| r.0).collect();
        ds.sort_unstable();
        let hist: BTreeMap<u32, usize> = ds.iter().fold(BTreeMap::new(), |mut m, &d| {
            *m.entry(d.min(16)).or_default() += 1;
            m
        });
        #[allow(clippy::cast_precision_loss)]
        let r = ok as f64 / n.max(1) as f64;
        worst_kind = worst_kind.min(r);
        total += n;
        hit += ok;
        #[allow(clippy::cast_precision_loss)]
        let rw = ok_whole as f64 / n.max(1) as f64;
        println!(
            "{:<22} {:>6} {:>8.1}% {:>10.1}% {:>9} {:>7}   {:?}",
            kind.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            n,
            100.0 * r,
            100.0 * rw,
            wrong,
            ds.get(ds.len() / 2).copied().unwrap_or(0),
            hist
        );
    }
    #[allow(clippy::cast_precision_loss)]
    let overall = hit as f64 / total.max(1) as f64;
    println!(
        "{:<22} {:>6} {:>8.1}%",
        "all copies",
        total,
        100.0 * overall
    );

    // Distractors against the registered codes, padded with random codes.
    let distractors = images(&set.join("distractors"));
    let dcodes: Vec<u64> = distractors
        .par_iter()
        .filter_map(|p| fingerprint::image_code(&std::fs::read(p).ok()?).ok())
        .filter(|c| !c.is_featureless())
        .map(|c| c.prefix())
        .collect();
    let pad = env_usize("BENCH_PAD", 100_000);
    let mut index = NearIndex::new();
    for (e, &(_, c)) in all.iter().enumerate() {
        index.insert(c, u32::try_from(e).unwrap_or(u32::MAX));
    }
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for e in all.len()..pad.max(all.len()) {
        index.insert(rng.next(), u32::try_from(e).unwrap_or(u32::MAX));
    }
    let mut false_matches = 0usize;
    let mut nearest: Vec<u32> = Vec::with_capacity(dcodes.len());
    for &c in &dcodes {
        let mut any = false;
        index.search(c, t, |_, _| any = true);
        false_matches += usize::from(any);
        nearest.push(all.iter().map(|&(_, r)| distance(r, c)).min().unwrap_or(64));
    }
    nearest.sort_unstable();
    // Pairwise distances between distractors and registered codes: how
    // often an unrelated pair falls within k bits, for k above the
    // threshold, extrapolated down to it (log-linear in k over the two
    // lowest thresholds with pairs), and the chance for uniform codes.
    let pairs = dcodes.len() * all.len();
    let within = |k: u32| -> usize {
        dcodes
            .iter()
            .map(|&c| all.iter().filter(|&&(_, r)| distance(r, c) <= k).count())
            .sum()
    };
    let uniform = |k: u32| (0..=k).map(|j| choose(64, j)).sum::<f64>() / 2f64.powi(64);
    #[allow(clippy::cast_precision_loss)]
    let rates: Vec<(u32, f64)> = (t + 2..=t + 12)
        .step_by(2)
        .map(|k| (k, within(k) as f64 / pairs as f64))
        .collect();
    for (k, r) in &rates {
        println!(
            "unrelated pairs within {k} bits: {:.2e} of {pairs} (uniform codes: {:.2e})",
            r,
            uniform(*k)
        );
    }
    let nonzero: Vec<(u32, f64)> = rates
        .iter()
        .copied()
        .filter(|(_, r)| *r > 0.0)
        .take(2)
        .collect();
    let estimate = if let [(k1, r1), (k2, r2)] = nonzero[..] {
        let slope = (r2.ln() - r1.ln()) / f64::from(k2 - k1);
        Some((r1.ln() - slope * f64::from(k1 - t)).exp())
    } else {
        None
    };
    match estimate {
        Some(p) => println!(
            "per-pair false-match rate at {t} bits, extrapolated from real unrelated pairs: {p:.2e}; at 10,000,000 registered codes: {:.2e} false matches per checked image (uniform codes: {:.2e})",
            p * 1e7,
            uniform(t) * 1e7
        ),
        None => println!("too few unrelated pairs near the threshold to extrapolate"),
    }
    println!(
        "\ntargets: recall {:.1}% (≥ 95 %): {}; worst kind {:.1}% (≥ 90 %): {}; false matches {} against {} codes (0): {}",
        100.0 * overall,
        if overall >= 0.95 { "met" } else { "NOT met" },
        100.0 * worst_kind,
        if worst_kind >= 0.90 { "met" } else { "NOT met" },
        false_matches,
        index.len(),
        if false_matches == 0 && index.len() >= 100_000 { "met" } else { "NOT met" },
    );
}

fn lookup() {
    let n = env_usize("BENCH_CODES", 10_000_000);
    let t = MATCHING.max_distance;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let started = Instant::now();
    let mut index = NearIndex::new();
    // As the registry loads its log at startup: inserts, then one packing.
    index.defer_packing();
    let mut hashes: hashbrown::HashMap<[u8; 32], u32> = hashbrown::HashMap::with_capacity(n);
    let mut sample = Vec::new();
    for e in 0..n {
        let c = rng.next();
        index.insert(c, u32::try_from(e).unwrap_or(u32::MAX));
        let mut h = [0u8; 32];
        for chunk in h.chunks_mut(8) {
            chunk.copy_from_slice(&rng.next().to_le_bytes());
        }
        hashes.insert(h, u32::try_from(e).unwrap_or(u32::MAX));
        if e % 1000 == 0 {
            sample.push((c, h));
        }
    }
    let inserted = started.elapsed();
    index.pack();
    println!(
        "\nlookup index: {n} random codes and {n} hashes built in {:.1} s, codes packed in {:.1} s; near index {} MiB",
        inserted.as_secs_f64(),
        (started.elapsed() - inserted).as_secs_f64(),
        index.memory() >> 20
    );
    // Queries: half near a registered code (a few bits flipped), half random.
    let queries: Vec<(u64, [u8; 32])> = (0..400_000)
        .map(|i| {
            let (c, h) = sample[i % sample.len()];
            if i % 2 == 0 {
                (c ^ (1 << (i % 64)) ^ (1 << ((i * 7) % 64)), h)
            } else {
                let mut r = [0u8; 32];
                r[..8].copy_from_slice(&rng.next().to_le_bytes());
                (rng.next(), r)
            }
        })
        .collect();
    let threads = rayon::current_num_threads();
    type Query = (u64, [u8; 32]);
    let time = |f: &(dyn Fn(&Query) -> usize + Sync)| {
        let start = Instant::now();
        let found: usize = queries.par_iter().map(f).sum();
        #[allow(clippy::cast_precision_loss)]
        let rate = queries.len() as f64 / start.elapsed().as_secs_f64();
        (rate, found)
    };
    let (exact, found_e) = time(&|(_, h)| usize::from(hashes.contains_key(h)));
    let (near, found_n) = time(&|(c, _)| {
        let mut k = 0;
        index.search(*c, t, |_, _| k += 1);
        k
    });
    println!(
        "{threads} threads, {} queries: exact-hash lookups {:.0}/s ({found_e} found); near lookups within {t} bits {:.0}/s ({found_n} found): {:.3}x exact; target ≥ 200,000/s: {}",
        queries.len(),
        exact,
        near,
        near / exact,
        if near >= 200_000.0 { "met" } else { "NOT met" }
    );
}

fn fingerprinting(set: &Path) {
    let dir = set.join("speed");
    let files = images(&dir);
    if files.is_empty() {
        println!(
            "\nno {}: fingerprinting throughput not measured",
            dir.display()
        );
        return;
    }
    let start = Instant::now();
    let ok: usize = files
        .par_iter()
        .map(|p| {
            usize::from(
                std::fs::read(p)
                    .ok()
                    .and_then(|b| fingerprint::image_code(&b).ok())
                    .is_some(),
            )
        })
        .sum();
    #[allow(clippy::cast_precision_loss)]
    let rate = files.len() as f64 / start.elapsed().as_secs_f64();
    println!(
        "\nfingerprinting {} files of {} ({} coded) on {} threads, JPEG decoding {}: {:.0} files/s",
        files.len(),
        dir.display(),
        ok,
        rayon::current_num_threads(),
        if cfg!(feature = "simd-jpeg") {
            "with SIMD"
        } else {
            "in plain C (build with --features simd-jpeg for SIMD)"
        },
        rate
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/matching/reference_speed.py");
    let python = env_str("MATCH_PYTHON", "python3");
    match std::process::Command::new(&python)
        .arg(&script)
        .arg(&dir)
        .output()
    {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            print!("{text}");
            // Each stack prints its name line, then `files/s <rate>`.
            let mut name = "";
            for line in text.lines() {
                if let Some(v) = line.strip_prefix("files/s ") {
                    let Ok(py) = v.trim().parse::<f64>() else {
                        continue;
                    };
                    // The target is set against the ISCC reference, which
                    // computes the same code; pHash is another algorithm,
                    // reported for scale.
                    let iscc = name == "iscc-sdk";
                    println!(
                        "consentry / {name}: {:.2}x{}",
                        rate / py,
                        if !iscc {
                            String::new()
                        } else if rate / py >= 3.0 {
                            " (target ≥ 3x): met".into()
                        } else {
                            " (target ≥ 3x): NOT met".into()
                        }
                    );
                } else if let Some((n, _)) = line.split_once(' ') {
                    name = n;
                }
            }
        }
        Ok(out) => println!(
            "the Python reference failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ),
        Err(e) => println!("the Python reference did not run ({python}): {e}"),
    }
}

fn main() {
    let parts = env_str("BENCH_PARTS", "recall,lookup,fingerprint");
    let set = PathBuf::from(env_str("MATCH_SET", "/tmp/matchset"));
    println!(
        "machine: {} cores; matching rule: {} within {} of {} bits",
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        MATCHING.algorithm,
        MATCHING.max_distance,
        MATCHING.bits
    );
    for part in parts.split(',') {
        match part {
            "recall" => recall(&set),
            "lookup" => lookup(),
            "fingerprint" => fingerprinting(&set),
            other => println!("unknown part {other}"),
        }
    }
}
