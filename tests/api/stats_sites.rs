//! Statistics per site (`spec/stats.md` §1a, §6, §7, §8): a generated
//! three-site upload history with planted changes at the Stable Diffusion
//! release (ArtStation's seniors drop, DeviantArt's rise, Danbooru's drop
//! while its total rises with its juniors) analysed by `consentry stats
//! --by site`, checked against scipy, pymannkendall and statsmodels values
//! (`tests/reference/stats_by_site.py` computes them from the same
//! formulas, not from our counts); the same history for one site through
//! the registry's `by=basis`; sampling; and the chart, rendered to PNG with
//! rsvg-convert and checked pixel by pixel: one panel per site, the fitted
//! segments, and no label touching another label or a line.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use consentry::domain::{ContentHash, Timestamp};
use consentry::stats::{analyze, default_events, sample, Bucket, Options, SampleRule};
use serde_json::{json, Value};
use time::{Date, Month};

use crate::bin::Bin;
use crate::helpers::*;

const SITES: [&str; 3] = ["artstation", "danbooru", "deviantart"];
const MONTHS: usize = 36;
const CUTOFF: usize = 12;
const EVENT: usize = 20;

/// Seniors and juniors uploading in month `m` (2021-01 = 0) on `site`: the
/// formulas of `tests/reference/stats_by_site.py`.
fn planted(site: &str, m: usize) -> (usize, usize) {
    let (m, e, c) = (m as i64, EVENT as i64, CUTOFF as i64);
    let (s, j) = match site {
        "artstation" => (
            if m < e {
                30 + (m * 7 % 5)
            } else {
                16 + (m * 3 % 4) - (m - e).div_euclid(4)
            },
            if m < c { 0 } else { 3 + (m - c) / 3 + m % 2 },
        ),
        "deviantart" => (
            if m < e {
                20 + (m * 5 % 3)
            } else {
                29 + m % 3 + (m - e) / 3
            },
            if m < c {
                0
            } else {
                4 + (m - c) / 2 + (m * 7 % 3)
            },
        ),
        _ => (
            if m < e {
                25 + m % 4 - m / 8
            } else {
                14 + (m * 3 % 5) - (m - e) / 5
            },
            if m < c {
                0
            } else if m < e {
                6 + 2 * (m - c) + m % 3
            } else {
                30 + 2 * (m - c) + m % 3
            },
        ),
    };
    (
        usize::try_from(s).expect("planted"),
        usize::try_from(j).expect("planted"),
    )
}

/// Per site and series: Theil–Sen slope and intercept, Mann–Kendall S,
/// Var(S) and p, then b0, b1, b2 (level change), b3, SE(b2), p(b2), p(b3)
/// at 2022-08-22 (`tests/reference/stats_by_site.py`: scipy 1.17.1,
/// pymannkendall 1.4.3, statsmodels 0.15.0).
#[rustfmt::skip]
const REFERENCE: [(&str, &str, [f64; 12]); 9] = [
    ("artstation", "all", [-0.26666666666666666, 33.43333333333334, -189.0, 5346.333333333333, 0.010135722207127218, 30.24285714285714, 0.36917293233082793, -14.207198142414857, -0.25005528527200505, 1.1877142858768905, 2.3846156063560116e-13, 0.043368608283432475]),
    ("artstation", "seniors", [-0.6, 35.1, -364.0, 5328.666666666667, 6.600694728575718e-07, 31.714285714285715, 0.030075187969925504, -14.639318885448912, -0.2536045997346321, 0.9302779434481179, 1.2811522849743898e-16, 0.010366946112707949]),
    ("artstation", "juniors", [0.3333333333333333, 3.166666666666667, 236.0, 1593.3333333333333, 3.926081015848126e-09, 3.0833333333333344, 0.3690476190476191, -0.2930672268907557, -0.026400560224090097, 0.5660536321585706, 0.6103211268583326, 0.7970750597526961]),
    ("danbooru", "all", [2.1403940886699506, 16.217980295566505, 553.0, 5375.0, 5.10702591327572e-14, 21.299999999999972, 1.047368421052634, 20.943808049535605, 0.7688080495356031, 2.070660881967259, 1.714452754530738e-11, 0.0007857275149468636]),
    ("danbooru", "seniors", [-0.4583333333333333, 28.833333333333332, -393.0, 5330.333333333333, 7.909046395582209e-08, 26.485714285714284, -0.08270676691729273, -8.647755417956652, -0.1084697036709428, 1.0145158237240537, 9.676743578103847e-10, 0.293396455575605]),
    ("danbooru", "juniors", [3.0, 12.0, 269.0, 1618.3333333333333, 2.7023494553191085e-11, 6.75000000000003, 2.0357142857142834, 23.971638655462204, -0.028361344537819924, 0.8106996616322641, 5.569042147547946e-18, 0.8470027296767382]),
    ("deviantart", "all", [1.0, 16.0, 524.0, 5358.0, 9.001688283660769e-13, 18.771428571428558, 0.5030075187969941, 9.68312693498452, 0.33669836355594795, 1.2867039179262263, 1.4358396633674218e-08, 0.013512072254862631]),
    ("deviantart", "seniors", [0.47368421052631576, 18.44736842105263, 408.0, 5260.0, 2.002424692726379e-08, 20.899999999999988, 0.010526315789474938, 8.602708978328174, 0.3277089783281728, 0.6452930951601558, 1.3047884668591059e-14, 1.602055280602323e-05]),
    ("deviantart", "juniors", [0.5, 4.75, 242.0, 1601.3333333333333, 1.7175276756375979e-09, 4.583333333333336, 0.5119047619047616, 0.12289915966386644, -0.010434173669468333, 0.850053161904002, 0.8864909127669811, 0.9460034772257254]),
];

struct Up {
    site: &'static str,
    artist: String,
    at: Timestamp,
    followers: u64,
}

fn month(m: usize) -> Date {
    let mut d = Date::from_calendar_date(2021, Month::January, 1).expect("date");
    for _ in 0..m {
        d = Bucket::Month.next(d);
    }
    d
}

fn noon(d: Date) -> Timestamp {
    Timestamp::from_unix_nanos(
        i64::try_from(d.midnight().assume_utc().unix_timestamp_nanos()).expect("range")
            + 12 * 3_600_000_000_000,
    )
}

/// The planted history: in month `m`, `s` of a site's 40 seniors and `j`
/// of its 80 juniors upload, rotating so every senior uploads before the
/// cutoff; every fifth artist uploads twice that month (the cap keeps one).
/// Danbooru's juniors carry the names of ArtStation's seniors: cohorts are
/// per site.
fn history() -> Vec<Up> {
    let mut out = Vec::new();
    for site in SITES {
        for m in 0..MONTHS {
            let (s, j) = planted(site, m);
            let pick = |i: usize, pool: usize, stride: usize| (m * stride + i) % pool;
            let people = (0..s)
                .map(|i| {
                    let a = pick(i, 40, 11);
                    let p = if site == "danbooru" { "d" } else { "s" };
                    (format!("{p}{a}"), a, 300 * (a as u64 + 1))
                })
                .chain((0..j).map(|i| {
                    let a = pick(i, 80, 13);
                    let p = if site == "danbooru" { "s" } else { "j" };
                    (format!("{p}{a}"), a, 100 * (a as u64 + 1))
                }));
            for (artist, a, followers) in people {
                let day = month(m)
                    .replace_day(u8::try_from(1 + a * 7 % 27).expect("day"))
                    .expect("day");
                let times = if a % 5 == 0 { 2 } else { 1 };
                for t in 0..times {
                    out.push(Up {
                        site,
                        artist: artist.clone(),
                        at: noon(day + time::Duration::days(t)),
                        followers,
                    });
                }
            }
        }
    }
    out
}

fn options() -> Options {
    Options {
        from: month(0),
        to: Date::from_calendar_date(2023, Month::December, 31).expect("date"),
        bucket: Bucket::Month,
        cap: 1,
        cutoff: month(CUTOFF),
        events: default_events(),
    }
}

fn close(what: &str, got: &Value, want: f64) {
    let got = got
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {got} is not a number"));
    // Absolute for values near 0, relative (1e-9; 1e-6 for tiny p) otherwise.
    let ok = (got - want).abs() <= 1e-9 * want.abs().max(1.0)
        || (want.abs() < 1e-6 && (got - want).abs() <= 1e-6 * want.abs());
    assert!(ok, "{what}: {got} differs from the reference {want}");
}

/// One group's analysis against the reference values for `site`.
fn assert_planted(site: &str, group: &Value) {
    let sd = default_events()
        .iter()
        .position(|e| e.name.starts_with("Stable Diffusion"))
        .expect("SD");
    for (s, name, r) in REFERENCE.iter().filter(|r| r.0 == site) {
        let series = group["series"]
            .as_array()
            .expect("series")
            .iter()
            .find(|x| x["name"] == *name)
            .expect("series");
        let w = |what: &str| format!("{s} {name} {what}");
        let tr = &series["trend"];
        close(&w("Theil–Sen slope"), &tr["theil_sen_slope"], r[0]);
        close(&w("Theil–Sen intercept"), &tr["theil_sen_intercept"], r[1]);
        close(&w("Mann–Kendall S"), &tr["mann_kendall"]["s"], r[2]);
        close(&w("Var(S)"), &tr["mann_kendall"]["var_s"], r[3]);
        close(&w("Mann–Kendall p"), &tr["mann_kendall"]["p"], r[4]);
        let e = &series["events"][sd];
        assert_eq!(e["first_post_bucket"], EVENT, "{}", w("first post bucket"));
        close(&w("b0"), &e["intercept"]["estimate"], r[5]);
        close(&w("pre-event slope"), &e["pre_slope"]["estimate"], r[6]);
        close(&w("level change"), &e["level_change"]["estimate"], r[7]);
        close(&w("slope change"), &e["slope_change"]["estimate"], r[8]);
        close(&w("SE(level)"), &e["level_change"]["std_error"], r[9]);
        close(&w("p(level)"), &e["level_change"]["p"], r[10]);
        close(&w("p(slope)"), &e["slope_change"]["p"], r[11]);
    }
}

fn write_csv(path: &Path, ups: &[Up]) {
    let mut csv = String::from("platform,artist,timestamp,followers,title\n");
    for u in ups {
        csv.push_str(&format!(
            "{},{},{},{},work\n",
            u.site, u.artist, u.at, u.followers
        ));
    }
    std::fs::write(path, csv).expect("write");
}

fn stats_cli(args: &[&str], input: &Path) -> (std::process::Output, Value) {
    let out = Bin::new(["stats", "--input"])
        .arg(input)
        .args(["--from", "2021-01-01", "--to", "2023-12-31"])
        .args(args)
        .run_blocking();
    ok(&out);
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, v)
}

#[test]
fn stats_by_site_find_each_sites_planted_change() {
    let dir = tempfile::tempdir().expect("tmp");
    let ups = history();
    let input = dir.path().join("history.csv");
    write_csv(&input, &ups);
    let (_, v) = stats_cli(&["--by", "site"], &input);
    assert_eq!(v["by"], "site");
    let groups = v["groups"].as_array().expect("groups");
    assert_eq!(
        groups
            .iter()
            .map(|g| g["group"].clone())
            .collect::<Vec<_>>(),
        SITES.map(Value::from).to_vec()
    );
    for (site, g) in SITES.iter().zip(groups) {
        assert_planted(site, g);
        // The group is the engine's analysis of that site's uploads.
        let events: Vec<(&str, Timestamp)> = ups
            .iter()
            .filter(|u| u.site == *site)
            .map(|u| (u.artist.as_str(), u.at))
            .collect();
        let engine =
            serde_json::to_value(analyze(&events, &options()).expect("engine")).expect("json");
        assert_eq!(g["series"], engine["series"], "{site}");
        // Cohorts per site: an artist is a senior where their first upload
        // on that site is before the cutoff.
        let cohort = |senior: bool| {
            let mut first: HashMap<&str, Timestamp> = HashMap::new();
            for (a, t) in &events {
                let f = first.entry(a).or_insert(*t);
                *f = (*f).min(*t);
            }
            first
                .values()
                .filter(|t| (**t < noon(month(CUTOFF))) == senior)
                .count()
        };
        assert_eq!(g["series"][1]["artists"], cohort(true), "{site} seniors");
        assert_eq!(g["series"][2]["artists"], cohort(false), "{site} juniors");
    }
    // The planted findings, in words.
    let level = |site: usize, series: usize| {
        groups[site]["series"][series]["events"][2]["level_change"]["estimate"]
            .as_f64()
            .expect("level")
    };
    assert!(level(0, 1) < -10.0, "ArtStation's seniors drop");
    assert!(level(2, 1) > 5.0, "DeviantArt's seniors rise");
    assert!(
        level(1, 1) < -5.0 && level(1, 0) > 15.0,
        "Danbooru's seniors drop while its total rises"
    );
    // Danbooru's juniors share names with ArtStation's seniors and are
    // still juniors there; pooled, every (site, artist) is one artist.
    let pooled = &v["pooled"];
    let people: BTreeSet<(&str, &str)> = ups.iter().map(|u| (u.site, u.artist.as_str())).collect();
    assert_eq!(pooled["series"][0]["artists"], people.len());
    let sum = |i: usize| -> u64 {
        groups
            .iter()
            .map(|g| g["series"][i]["artists"].as_u64().expect("n"))
            .sum()
    };
    assert_eq!(pooled["series"][1]["artists"], sum(1));
    assert_eq!(pooled["series"][2]["artists"], sum(2));
    assert_eq!(pooled["events_in"], ups.len());

    // CSV: every group's counts, the pooled ones with an empty group.
    let csv = dir.path().join("counts.csv");
    let svg = dir.path().join("sites.svg");
    stats_cli(
        &[
            "--by",
            "site",
            "--csv",
            csv.to_str().expect("path"),
            "--svg",
            svg.to_str().expect("path"),
            "--title",
            "Uploads per site",
        ],
        &input,
    );
    let csv = std::fs::read_to_string(&csv).expect("csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("group,series,bucket_start,count,active_artists")
    );
    let (s0, j0) = planted("artstation", 0);
    assert_eq!(lines.next(), Some("artstation,all,2021-01-01,30,30"));
    assert_eq!((s0, j0), (30, 0));
    let row = format!(
        "danbooru,seniors,2022-09-01,{},{}",
        planted("danbooru", EVENT).0,
        planted("danbooru", EVENT).0
    );
    assert!(csv.lines().any(|l| l == row), "{row}");
    assert!(csv.lines().any(|l| l.starts_with(",all,2021-01-01,")));
    assert_eq!(csv.lines().count(), 1 + 4 * 3 * MONTHS);

    // The chart: a panel per site, the fits, the level changes beside them.
    let chart = std::fs::read_to_string(&svg).expect("svg");
    for site in SITES {
        assert_eq!(
            chart.matches(&format!(">{site} — ")).count(),
            1,
            "one panel for {site}"
        );
    }
    assert_eq!(
        chart.matches(r#"class="fit""#).count(),
        3 * 3 * 3,
        "a pre-event line, the step and a post-event line per series and site"
    );
    assert!(
        chart.contains("level −14.6 (p &lt; 0.001)"),
        "ArtStation seniors' drop"
    );
    assert!(
        chart.contains("level +8.6 (p &lt; 0.001)"),
        "DeviantArt seniors' rise"
    );
    assert!(chart.contains("segmented fits at Stable Diffusion public release"));
    for (panel, g) in groups.iter().enumerate() {
        assert_fits_drawn(&chart, panel, g, 2);
    }
    check_layout(&chart, "sites");
}

#[test]
fn sampling_and_gallery_dl_sites() {
    let dir = tempfile::tempdir().expect("tmp");
    let ups = history();
    let input = dir.path().join("history.csv");
    write_csv(&input, &ups);
    let (_, v) = stats_cli(
        &[
            "--by",
            "site",
            "--min-followers",
            "2000",
            "--min-uploads",
            "12",
        ],
        &input,
    );
    for (site, g) in SITES.iter().zip(v["groups"].as_array().expect("groups")) {
        let events: Vec<((&str, &str), Timestamp, u64)> = ups
            .iter()
            .filter(|u| u.site == *site)
            .map(|u| ((u.site, u.artist.as_str()), u.at, 1))
            .collect();
        let followers: HashMap<(&str, &str), u64> = ups
            .iter()
            .map(|u| ((u.site, u.artist.as_str()), u.followers))
            .collect();
        let rule = SampleRule {
            min_uploads: Some(12),
            min_followers: Some(2000),
        };
        let (kept, report) = sample(&events, &followers, rule);
        // Fewer than all, more than none: the rule bites.
        assert!(report.artists_kept > 0 && report.artists_kept < report.artists_given);
        assert_eq!(
            g["sampling"],
            serde_json::to_value(report).expect("json"),
            "{site}"
        );
        let kept: Vec<((&str, &str), Timestamp)> = kept.iter().map(|e| (e.0, e.1)).collect();
        let engine =
            serde_json::to_value(analyze(&kept, &options()).expect("engine")).expect("json");
        assert_eq!(g["series"], engine["series"], "{site}");
        // By hand: artists with ≥ 12 uploads and ≥ 2,000 followers.
        let mut n: HashMap<&str, (u64, u64)> = HashMap::new();
        for u in ups.iter().filter(|u| u.site == *site) {
            let e = n.entry(&u.artist).or_insert((0, u.followers));
            e.0 += 1;
        }
        let by_hand = n.values().filter(|(c, f)| *c >= 12 && *f >= 2000).count();
        assert_eq!(g["sampling"]["artists_kept"], by_hand);
    }
    assert!(v["pooled"]["sampling"]["artists_kept"].as_u64() > Some(0));

    // gallery-dl metadata: the site is `category`, followers where the
    // extractor writes them; an artist without a count is left out and
    // counted.
    let g = dir.path().join("gallery");
    std::fs::create_dir_all(&g).expect("mkdir");
    let files = [
        r#"{"category":"artstation","user":{"username":"ana","followers_count":5000},"date":"2021-03-04 10:00:00"}"#,
        r#"{"category":"artstation","user":{"username":"ana","followers_count":5100},"date":"2022-05-04 10:00:00"}"#,
        r#"{"category":"artstation","user":{"username":"ben","followers_count":"150"},"date":"2022-06-04 10:00:00"}"#,
        r#"{"category":"deviantart","author":{"username":"ana"},"date":"2022-03-01 00:00:00"}"#,
        r#"{"category":"deviantart","author":{"username":"cat","followers":2500},"date":"2021-07-01 00:00:00"}"#,
    ];
    for (i, f) in files.iter().enumerate() {
        std::fs::write(g.join(format!("{i}.json")), f).expect("write");
    }
    let (_, v) = stats_cli(&["--by", "site"], &g);
    let art = &v["groups"][0];
    assert_eq!(art["group"], "artstation");
    assert_eq!(
        (
            art["series"][1]["artists"].clone(),
            art["series"][2]["artists"].clone()
        ),
        (1.into(), 1.into()),
        "ana senior, ben junior on artstation"
    );
    let dev = &v["groups"][1];
    assert_eq!(
        (
            dev["series"][1]["artists"].clone(),
            dev["series"][2]["artists"].clone()
        ),
        (1.into(), 1.into()),
        "ana is a junior on deviantart, cat a senior"
    );
    let (out, v) = stats_cli(&["--by", "site", "--min-followers", "2000"], &g);
    assert_eq!(v["groups"][0]["sampling"]["artists_kept"], 1);
    assert_eq!(v["groups"][1]["sampling"]["artists_kept"], 1);
    assert_eq!(v["groups"][1]["sampling"]["artists_without_followers"], 1);
    assert_eq!(v["pooled"]["sampling"]["artists_given"], 4);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("gives no follower counts"),
        "every site has some"
    );
    // An artist's count is the largest given: ana has 5,000 then 5,100.
    let (_, v) = stats_cli(&["--by", "site", "--min-followers", "5050"], &g);
    assert_eq!(v["groups"][0]["sampling"]["artists_kept"], 1);
    assert_eq!(v["groups"][0]["series"][1]["artists"], 1, "ana is kept");
    // Without a count is counted only for artists the upload rule kept.
    let (_, v) = stats_cli(
        &[
            "--by",
            "site",
            "--min-followers",
            "100",
            "--min-uploads",
            "2",
        ],
        &g,
    );
    assert_eq!(v["groups"][0]["sampling"]["artists_kept"], 1, "ana");
    assert_eq!(v["groups"][1]["sampling"]["artists_kept"], 0);
    assert_eq!(v["groups"][1]["sampling"]["artists_without_followers"], 0);
    // A site without any follower count is named.
    std::fs::write(
        g.join("9.json"),
        r#"{"category":"danbooru","tag_string_artist":"dee","date":"2022-03-01 00:00:00"}"#,
    )
    .expect("write");
    let (out, _) = stats_cli(&["--min-followers", "100"], &g);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("site `danbooru` gives no follower counts") && !err.contains("`artstation`"),
        "{err}"
    );

    // Errors name the problem.
    let plain = dir.path().join("plain.csv");
    std::fs::write(&plain, "artist,timestamp\nana,2021-01-01\nben,2022-06-01\n").expect("write");
    for (args, needle) in [
        (vec!["--by", "site"], "names no site"),
        (vec!["--min-followers", "10"], "gives no follower counts"),
        (
            vec!["--fit-event", "Photoshop 1.0"],
            "is not one of the event dates",
        ),
        (vec!["--by", "artist"], "invalid value 'artist'"),
    ] {
        let out = Bin::new(["stats", "--input"])
            .arg(&plain)
            .args(&args)
            .run_blocking();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    std::fs::write(
        dir.path().join("bad.csv"),
        "artist,timestamp,followers\nana,2021-01-01,many\n",
    )
    .expect("write");
    let out = Bin::new(["stats", "--input"])
        .arg(dir.path().join("bad.csv"))
        .run_blocking();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("many"), "{err}");
}

crate::both_backends!(the_registry_groups_by_basis);

/// The ArtStation history through the registry, declared as publication
/// dates: `by=basis` gives both bases, and the published one finds the
/// planted drop with the reference values.
async fn the_registry_groups_by_basis(app: TestApp) {
    let ups: Vec<Up> = history()
        .into_iter()
        .filter(|u| u.site == "artstation")
        .collect();
    let mut by_artist: HashMap<&str, Vec<&Up>> = HashMap::new();
    for u in &ups {
        by_artist.entry(&u.artist).or_default().push(u);
    }
    let mut names: Vec<&str> = by_artist.keys().copied().collect();
    names.sort_unstable();
    for name in names {
        let a = app.artist(name).await;
        let works: Vec<Value> = by_artist[name]
            .iter()
            .map(|u| {
                json!({
                    "hash": ContentHash::of(format!("{name} {} {}", u.at, random_hex(4)).as_bytes()),
                    "published_at": u.at,
                })
            })
            .collect();
        let payload = json!({
            "version": 1,
            "key": a.key.public_key().to_string(),
            "works": works,
            "consent": "opt-out",
            "issued_at": ago(600),
        });
        app.submit(&a.token, &[sign_statement(&a.key, &payload)])
            .await
            .assert_status(201);
    }
    let q = "from=2021-01-01&to=2023-12-31&cutoff=2022-01-01";
    let r = app.get(&format!("/v1/stats/uploads?by=basis&{q}")).await;
    r.assert_status(200);
    assert_eq!(r.body["by"], "basis");
    assert!(r.body.get("pooled").is_none(), "the bases are not pooled");
    let groups = r.body["groups"].as_array().expect("groups");
    assert_eq!(groups[0]["group"], "registered");
    assert_eq!(groups[1]["group"], "published");
    // Registered now, outside the range; published as planted.
    assert_eq!(groups[0]["events_in"], ups.len());
    assert_eq!(groups[0]["events_in_range"], 0);
    assert_planted("artstation", &groups[1]);
    let one = app
        .get(&format!("/v1/stats/uploads?basis=published&{q}"))
        .await;
    assert_eq!(one.body["series"], groups[1]["series"]);
    // With `basis` as well: the one group it names.
    let named = app
        .get(&format!("/v1/stats/uploads?by=basis&basis=published&{q}"))
        .await;
    named.assert_status(200);
    assert_eq!(named.body["groups"].as_array().map(Vec::len), Some(1));
    assert_eq!(named.body["groups"][0]["group"], "published");
    assert_eq!(named.body["groups"][0]["series"], groups[1]["series"]);
    // Sampling by uploads on the registry.
    let r = app
        .get(&format!(
            "/v1/stats/uploads?basis=published&min_uploads=30&{q}"
        ))
        .await;
    r.assert_status(200);
    let mut n: HashMap<&str, u64> = HashMap::new();
    for u in &ups {
        *n.entry(&u.artist).or_default() += 1;
    }
    assert_eq!(
        r.body["sampling"]["artists_kept"],
        n.values().filter(|c| **c >= 30).count()
    );
    assert_eq!(r.body["sampling"]["artists_given"], n.len());
    // CSV and the two-panel chart.
    let csv = app
        .get(&format!("/v1/stats/uploads?by=basis&format=csv&{q}"))
        .await;
    assert!(csv.text.starts_with(
        "group,series,bucket_start,count,active_artists\nregistered,all,2021-01-01,0,0\n"
    ));
    let svg = app
        .get(&format!(
            "/v1/stats/uploads.svg?by=basis&fit_event=Midjourney%20open%20beta&{q}"
        ))
        .await;
    svg.assert_status(200);
    assert!(svg.text.contains(">registered (receipt time) — "));
    assert!(svg.text.contains(">published (as declared) — "));
    assert!(svg.text.contains("segmented fits at Midjourney open beta"));
    check_layout(&svg.text, "by-basis");
    for (query, needle) in [
        ("by=site", "unknown grouping `site`"),
        ("min_uploads=some", "`min_uploads`"),
        ("fit_event=Photoshop", "not one of the event dates"),
        (
            "event=a=2022-01-01&event=b=2022-01-02&event=c=2022-01-03&event=d=2022-01-04&event=e=2022-01-05&event=f=2022-01-06&event=g=2022-01-07&event=h=2022-01-08&event=i=2022-01-09&event=j=2022-01-10&event=k=2022-01-11&event=l=2022-01-12&event=m=2022-01-13&event=n=2022-01-14&event=o=2022-01-15&event=p=2022-01-16&event=q=2022-01-17&event=r=2022-01-18&event=s=2022-01-19&event=t=2022-01-20&event=u=2022-01-21",
            "at most 20",
        ),
    ] {
        let r = app.get(&format!("/v1/stats/uploads?{query}&{q}")).await;
        r.assert_problem(400, "invalid-parameter");
        assert!(r.text.contains(needle), "{query}: {}", r.text);
    }
}

/// Where the tests leave the rendered charts (CI keeps them).
fn charts_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/stats-charts");
    std::fs::create_dir_all(&d).expect("mkdir");
    d
}

/// `svg` with a style sheet added (only the tests style the chart).
fn styled(svg: &str, css: &str) -> String {
    let end = svg.find('>').expect("svg tag") + 1;
    format!("{}<style>{css}</style>{}", &svg[..end], &svg[end..])
}

fn render(svg: &str, png: &Path) -> image::RgbaImage {
    let src = png.with_extension("svg");
    std::fs::write(&src, svg).expect("write");
    let out = std::process::Command::new("rsvg-convert")
        .arg("-o")
        .arg(png)
        .arg(&src)
        .output()
        .expect("rsvg-convert (Debian's librsvg2-bin) renders the charts: install it");
    ok(&out);
    image::open(png).expect("png").to_rgba8()
}

/// Every label's `data-box`, by label number.
fn label_boxes(svg: &str) -> Vec<[f64; 4]> {
    let mut out = Vec::new();
    for (i, chunk) in svg.split(r#"class="label" id="label-"#).skip(1).enumerate() {
        let (n, rest) = chunk.split_once('"').expect("id");
        assert_eq!(
            n.parse::<usize>().expect("label number"),
            i,
            "labels in order"
        );
        let b = rest
            .split_once(r#"data-box=""#)
            .and_then(|(_, r)| r.split_once('"'))
            .expect("data-box")
            .0;
        let v: Vec<f64> = b.split(' ').map(|x| x.parse().expect("number")).collect();
        out.push([v[0], v[1], v[2], v[3]]);
    }
    out
}

/// Pixels with ink: opaque and darker than the light grid.
fn ink(img: &image::RgbaImage) -> Vec<usize> {
    img.pixels()
        .enumerate()
        .filter(|(_, p)| p.0[3] > 128 && p.0[..3].iter().min().is_some_and(|&c| c < 200))
        .map(|(i, _)| i)
        .collect()
}

/// Renders the chart (and a grey version), then each label alone and the
/// lines alone: no label may share a pixel with another label or with any
/// line, marker or fit.
fn check_layout(svg: &str, name: &str) {
    let work = tempfile::tempdir().expect("tmp");
    let full = render(svg, &work.path().join("full.png"));
    assert_eq!(full.width(), 800, "800 px wide");
    image::DynamicImage::ImageRgba8(full.clone())
        .to_luma8()
        .save(work.path().join("grey.png"))
        .expect("grey png");
    // Kept for people to look at; renamed into place (the backends' tests
    // run at once).
    let dir = charts_dir();
    for (from, to) in [
        ("full.png", format!("{name}.png")),
        ("grey.png", format!("{name}-grey.png")),
    ] {
        let tmp = dir.join(format!(".{}-{to}", random_hex(4)));
        std::fs::copy(work.path().join(from), &tmp).expect("copy");
        std::fs::rename(&tmp, dir.join(to)).expect("rename");
    }
    let lines = render(
        &styled(svg, ".label{display:none}"),
        &work.path().join("lines.png"),
    );
    let line_ink: Vec<bool> = {
        let mut v = vec![false; (lines.width() * lines.height()) as usize];
        for i in ink(&lines) {
            v[i] = true;
        }
        v
    };
    let boxes = label_boxes(svg);
    assert!(boxes.len() > 20, "{} labels", boxes.len());
    for (i, b) in boxes.iter().enumerate() {
        assert!(
            b[0] >= 0.0 && b[2] <= 800.0 && b[1] >= 0.0 && b[3] <= f64::from(full.height()),
            "{name}: label {i} leaves the sheet: {b:?}"
        );
    }
    let text_of = |i: usize| {
        let at = svg.find(&format!(r#"id="label-{i}""#)).expect("label");
        let open = at + svg[at..].find('>').expect(">") + 1;
        let close = open + svg[open..].find("</text>").expect("</text>");
        svg[open..close].to_owned()
    };
    // Labels are rendered in batches whose boxes (grown by a margin) are
    // far apart, so every pixel of a batch belongs to one label's box.
    const MARGIN: f64 = 6.0;
    let grown: Vec<[f64; 4]> = boxes
        .iter()
        .map(|b| [b[0] - MARGIN, b[1] - MARGIN, b[2] + MARGIN, b[3] + MARGIN])
        .collect();
    let apart =
        |a: &[f64; 4], b: &[f64; 4]| a[2] < b[0] || b[2] < a[0] || a[3] < b[1] || b[3] < a[1];
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for i in 0..boxes.len() {
        match batches
            .iter_mut()
            .find(|batch| batch.iter().all(|&j| apart(&grown[i], &grown[j])))
        {
            Some(batch) => batch.push(i),
            None => batches.push(vec![i]),
        }
    }
    let width = lines.width() as usize;
    let mut owner: Vec<Option<usize>> = vec![None; line_ink.len()];
    let mut drawn = vec![false; boxes.len()];
    for (b_i, batch) in batches.iter().enumerate() {
        let shown: Vec<String> = batch.iter().map(|i| format!("#label-{i}")).collect();
        let img = render(
            &styled(
                svg,
                &format!(
                    ".data,.fit,.event,.grid,.axis,.key,.leader,.label{{display:none}} {}{{display:inline}}",
                    shown.join(",")
                ),
            ),
            &work.path().join(format!("batch-{b_i}.png")),
        );
        for p in ink(&img) {
            let (x, y) = ((p % width) as f64, (p / width) as f64);
            let Some(&i) = batch.iter().find(|&&i| {
                let g = grown[i];
                x >= g[0] && x <= g[2] && y >= g[1] && y <= g[3]
            }) else {
                panic!("{name}: ink at ({x}, {y}) outside every label's box: a label is wider than the chart expects");
            };
            drawn[i] = true;
            assert!(
                !line_ink[p],
                "{name}: label `{}` touches a line at ({x}, {y})",
                text_of(i)
            );
            if let Some(j) = owner[p] {
                panic!(
                    "{name}: labels `{}` and `{}` overlap at ({x}, {y})",
                    text_of(j),
                    text_of(i)
                );
            }
            owner[p] = Some(i);
        }
    }
    if let Some(i) = drawn.iter().position(|d| !d) {
        panic!("{name}: label `{}` draws nothing", text_of(i));
    }
}

/// A crowded sheet: thirteen sites (twelve drawn, the smallest named in a
/// footnote), weekly buckets, six event dates within four weeks, a long
/// site name, and a fit event named: still no label touches another or a
/// line.
#[test]
fn a_crowded_chart_keeps_its_labels_apart() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut csv = String::from("site,artist,timestamp\n");
    let start = Date::from_calendar_date(2021, Month::October, 4).expect("date");
    for s in 0..13usize {
        let site = if s == 7 {
            "a-very-long-platform-name.example.org".to_owned()
        } else {
            format!("site-{s:02}")
        };
        for week in 0..60i64 {
            let d = start + time::Duration::weeks(week);
            // Site s has 13 - s artists; one in three stops at week 40.
            for a in 0..(13 - s) {
                if a % 3 == 0 && week > 40 {
                    continue;
                }
                csv.push_str(&format!("{site},a{a},{}\n", noon(d)));
            }
        }
    }
    let input = dir.path().join("crowded.csv");
    std::fs::write(&input, csv).expect("write");
    let svg = dir.path().join("crowded.svg");
    let mut args = vec![
        "--by".to_owned(),
        "site".to_owned(),
        "--bucket".to_owned(),
        "week".to_owned(),
        "--fit-event".to_owned(),
        "Gamma".to_owned(),
        "--svg".to_owned(),
        svg.to_str().expect("path").to_owned(),
    ];
    for (name, day) in [
        ("Alpha release", "2022-07-04"),
        ("Beta", "2022-07-06"),
        ("Gamma", "2022-07-12"),
        ("Delta launch of a long-named model", "2022-07-14"),
        ("Epsilon", "2022-07-25"),
        ("Zeta", "2022-08-01"),
    ] {
        args.push("--event".to_owned());
        args.push(format!("{name}={day}"));
    }
    let out = Bin::new(["stats", "--input"])
        .arg(&input)
        .args(&args)
        .run_blocking();
    ok(&out);
    let chart = std::fs::read_to_string(&svg).expect("svg");
    assert_eq!(chart.matches(" artists: ").count(), 12, "twelve panels");
    assert!(chart.contains(">a-very-long-platform-name.example.org — "));
    assert!(
        !chart.contains(">site-12 — "),
        "the smallest site is not drawn"
    );
    assert!(chart.contains("1 more groups with fewer uploads are in the JSON and CSV output."));
    assert!(chart.contains("segmented fits at Gamma"));
    check_layout(&chart, "crowded");
}

/// The fit lines of `group`'s series on `panel` lie where the regression
/// at event `event` puts them: the pre-event line from bucket `trend_from`
/// to k, a step of exactly the level change at k, the post-event line to
/// the last bucket (coordinates mapped through the panel's own data line).
fn assert_fits_drawn(svg: &str, panel: usize, group: &Value, event: usize) {
    let elements = |tag: &str| -> Vec<HashMap<String, String>> {
        svg.split(&format!("<{tag} "))
            .skip(1)
            .map(|e| {
                let e = &e[..e.find("/>").expect("element end")];
                e.split("\" ")
                    .filter_map(|kv| kv.split_once("=\""))
                    .map(|(k, v)| (k.trim().to_owned(), v.trim_end_matches('"').to_owned()))
                    .collect()
            })
            .filter(|a: &HashMap<String, String>| a.get("data-panel") == Some(&panel.to_string()))
            .collect()
    };
    let series = group["series"].as_array().expect("series");
    // x and y of the panel, from the "all" line (every bucket).
    let all = elements("polyline")
        .into_iter()
        .find(|a| a["data-series"] == "all")
        .expect("all line");
    let pts: Vec<(f64, f64)> = all["points"]
        .split(' ')
        .map(|p| {
            let (x, y) = p.split_once(',').expect("point");
            (x.parse().expect("x"), y.parse().expect("y"))
        })
        .collect();
    let counts: Vec<f64> = series[0]["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| b["count"].as_f64().expect("count"))
        .collect();
    let n = counts.len();
    assert_eq!(pts.len(), n);
    let dx = (pts[n - 1].0 - pts[0].0) / (n - 1) as f64;
    let x = |i: f64| pts[0].0 + i * dx;
    let (lo, hi) = (
        (0..n)
            .min_by(|&a, &b| counts[a].total_cmp(&counts[b]))
            .expect("min"),
        (0..n)
            .max_by(|&a, &b| counts[a].total_cmp(&counts[b]))
            .expect("max"),
    );
    let per = (pts[hi].1 - pts[lo].1) / (counts[hi] - counts[lo]);
    let y = |v: f64| pts[lo].1 + (v - counts[lo]) * per;
    let fits = elements("line");
    for s in series {
        let name = s["name"].as_str().expect("name");
        let e = &s["events"][event];
        let b = |c: &str| e[c]["estimate"].as_f64().expect("coefficient");
        let (b0, b1, b2, b3) = (
            b("intercept"),
            b("pre_slope"),
            b("level_change"),
            b("slope_change"),
        );
        let from = s["trend_from"].as_u64().expect("from") as f64;
        let k = e["first_post_bucket"].as_u64().expect("k") as f64;
        let last = (n - 1) as f64;
        let pre = |t: f64| b0 + b1 * (t - from);
        let post = |t: f64| pre(t) + b2 + b3 * (t - k);
        let want = [
            (x(from), y(pre(from)), x(k), y(pre(k))),
            (x(k), y(pre(k)), x(k), y(post(k))),
            (x(k), y(post(k)), x(last), y(post(last))),
        ];
        let got: Vec<[f64; 4]> = fits
            .iter()
            .filter(|a| a.get("data-series").map(String::as_str) == Some(name))
            .map(|a| ["x1", "y1", "x2", "y2"].map(|c| a[c].parse::<f64>().expect("coordinate")))
            .collect();
        assert_eq!(got.len(), 3, "panel {panel} {name}: three fit lines");
        for (g, w) in got.iter().zip(want) {
            for (a, b) in g.iter().zip([w.0, w.1, w.2, w.3]) {
                assert!(
                    (a - b).abs() < 0.35,
                    "panel {panel} {name}: fit line {g:?}, expected {w:?}"
                );
            }
        }
    }
}

/// Charts that could break the layout: event dates at the right edge (the
/// lane search must end), hostile and very long names, a long title, counts
/// in the tens of thousands, a single bucket; and the limits.
#[test]
fn hostile_and_edge_charts_keep_their_layout() {
    let dir = tempfile::tempdir().expect("tmp");
    let write = |name: &str, rows: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, format!("site,artist,timestamp\n{rows}")).expect("write");
        p
    };
    let mut rows = String::new();
    for m in 0..36 {
        let d = month(m).replace_day(9).expect("day");
        for a in 0..(4 + m % 5) {
            rows.push_str(&format!("deviantart,a{a},{}\n", noon(d)));
        }
        if m >= 24 {
            rows.push_str(&format!("deviantart,late{m},{}\n", noon(d)));
        }
    }
    // Events at the right edge: 2021-01..2023-12 with releases in 2023-09/11.
    let edge = write("edge.csv", &rows);
    let svg = dir.path().join("edge.svg");
    let out = Bin::new(["stats", "--input"])
        .arg(&edge)
        .args(["--cutoff", "2022-01-01", "--svg"])
        .arg(&svg)
        .args([
            "--event",
            "DALL·E 2=2022-04-06",
            "--event",
            "Midjourney open beta=2022-07-12",
            "--event",
            "A model released at the very end of the range=2023-11-20",
            "--event",
            "Another late release with a long name=2023-09-12",
        ])
        .run_blocking();
    ok(&out);
    check_layout(&std::fs::read_to_string(&svg).expect("svg"), "edge");
    // Default events, range ending just after Stable Diffusion.
    let short: String = rows
        .lines()
        .filter(|l| l.contains(",2021-") || l.contains(",2022-0") || l.contains(",2022-10"))
        .map(|l| format!("{l}\n"))
        .collect();
    let short = write("short.csv", &short);
    let out = Bin::new(["stats", "--input"])
        .arg(&short)
        .args(["--to", "2022-10-31", "--svg"])
        .arg(&svg)
        .run_blocking();
    ok(&out);
    check_layout(
        &std::fs::read_to_string(&svg).expect("svg"),
        "edge-default-events",
    );

    // Hostile and long names, a long title, big counts.
    let long_site = "a-platform-with-a-name-far-too-long-for-any-panel-heading-".repeat(4);
    let mut rows = String::new();
    for m in 0..6 {
        let d = month(10 + m).replace_day(3).expect("day");
        for a in 0..(12_000 - 500 * m) {
            rows.push_str(&format!("big,b{a},{}\n", noon(d)));
        }
        for (site, n) in [("<a&\"b>\u{1}x", 3), (long_site.as_str(), 2), ("=cmd", 1)] {
            for a in 0..n + m {
                rows.push_str(&format!(
                    "\"{}\",s{a},{}\n",
                    site.replace('"', "\"\""),
                    noon(d)
                ));
            }
        }
    }
    let hostile = write("hostile.csv", &rows);
    let csv = dir.path().join("hostile-counts.csv");
    let long_event = format!(
        "{}=2022-01-20",
        "An event with an extremely long name ".repeat(5)
    );
    let out = Bin::new(["stats", "--input"])
        .arg(&hostile)
        .args(["--by", "site", "--cutoff", "2021-12-01", "--svg"])
        .arg(&svg)
        .arg("--csv")
        .arg(&csv)
        .args(["--event", &long_event, "--event", "<script>=2022-02-14"])
        .args(["--title", &"A title that goes on and on ".repeat(8)])
        .run_blocking();
    ok(&out);
    let chart = std::fs::read_to_string(&svg).expect("svg");
    assert!(
        chart.contains(">&lt;a&amp;&quot;b&gt;x — "),
        "escaped, control dropped"
    );
    assert!(!chart.contains("<script>") && chart.contains("&lt;script&gt;"));
    assert!(chart.contains(">15k<"), "tens of thousands written short");
    assert!(chart.contains('…'), "long texts are cut");
    check_layout(&chart, "hostile");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains('\u{1}'),
        "no control characters on the terminal"
    );
    let csv = std::fs::read_to_string(&csv).expect("csv");
    assert!(
        csv.lines().any(|l| l.starts_with("'=cmd,all,")),
        "a formula is not run"
    );

    // One bucket.
    let one = write(
        "one.csv",
        &format!(
            "x,a,{}\nx,b,{}\n",
            noon(month(12)),
            noon(month(12).replace_day(20).expect("day"))
        ),
    );
    let out = Bin::new(["stats", "--input"])
        .arg(&one)
        .args(["--cutoff", "2022-01-10", "--svg"])
        .arg(&svg)
        .run_blocking();
    ok(&out);
    let chart = std::fs::read_to_string(&svg).expect("svg");
    assert!(
        chart.contains("<circle class=\"data\""),
        "the lone bucket is marked"
    );
    check_layout(&chart, "one-bucket");

    // At most 20 event dates.
    let mut args = vec!["--input".to_owned(), one.to_str().expect("path").to_owned()];
    for i in 0..21 {
        args.push("--event".to_owned());
        args.push(format!("e{i}=2022-01-{:02}", 1 + i));
    }
    let out = Bin::new(["stats"]).args(&args).run_blocking();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most 20"));
}
