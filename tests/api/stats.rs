//! The statistics engine (`spec/stats.md`): reference values for a small
//! fixed dataset (computed with scipy 1.17, statsmodels 0.15 and
//! pymannkendall 1.4, which agree with each other), and generated upload
//! histories with known properties: a flat series, a planted decline after
//! an event date, the cap, the cohort split, buckets, bad options.

use consentry::domain::Timestamp;
use consentry::stats::{analyze, default_events, ols4, trend, Bucket, EventDate, Options};
use time::{Date, Month};

use crate::bin::Bin;

fn close(a: f64, b: f64) {
    assert!(
        (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        "{a} differs from the reference {b}"
    );
}

fn date(y: i32, m: u8, d: u8) -> Date {
    Date::from_calendar_date(y, Month::try_from(m).expect("month"), d).expect("date")
}

fn at(d: Date) -> Timestamp {
    Timestamp::from_unix_nanos(
        i64::try_from(d.midnight().assume_utc().unix_timestamp_nanos()).expect("range")
            + 3_600_000_000_000,
    )
}

fn options() -> Options {
    Options {
        from: date(2021, 1, 1),
        to: date(2023, 10, 31),
        bucket: Bucket::Month,
        cap: 1,
        cutoff: date(2022, 1, 1),
        events: default_events(),
    }
}

#[test]
fn trend_matches_the_reference_implementations() {
    let a = [5., 7., 6., 9., 8., 12., 11., 13., 10., 15., 14., 16.];
    let t = trend(&a);
    close(t.theil_sen_slope.expect("slope"), 1.0);
    close(t.theil_sen_intercept.expect("intercept"), 5.0);
    assert_eq!(t.mann_kendall.s, 52);
    close(t.mann_kendall.var_s, 212.666_666_666_666_66);
    close(t.mann_kendall.z, 3.497_199_954_751_082_4);
    close(t.mann_kendall.p, 0.000_470_169_279_313_969_3);
    close(t.mann_kendall.tau, 0.787_878_787_878_787_8);
    // Ties (three tied pairs), a decline.
    let b = [10., 12., 11., 13., 12., 14., 6., 5., 6., 4., 5., 3.];
    let t = trend(&b);
    close(t.theil_sen_slope.expect("slope"), -71.0 / 84.0);
    close(t.theil_sen_intercept.expect("intercept"), 1069.0 / 84.0);
    assert_eq!(t.mann_kendall.s, -35);
    close(t.mann_kendall.var_s, 209.666_666_666_666_66);
    close(t.mann_kendall.z, -2.348_087_203_132_267_5);
    close(t.mann_kendall.p, 0.018_870_102_830_341_826);
    // All ties: no variance, no trend.
    let t = trend(&[4.; 8]);
    close(t.theil_sen_slope.expect("slope"), 0.0);
    assert_eq!(t.mann_kendall.s, 0);
    close(t.mann_kendall.var_s, 0.0);
    close(t.mann_kendall.p, 1.0);
    // Four tied values.
    let d = [3., 5., 5., 2., 8., 5., 9., 5., 10., 11.];
    let t = trend(&d);
    close(t.theil_sen_slope.expect("slope"), 0.8);
    close(t.theil_sen_intercept.expect("intercept"), 3.5);
    assert_eq!(t.mann_kendall.s, 27);
    close(t.mann_kendall.var_s, 116.333_333_333_333_33);
    close(t.mann_kendall.p, 0.015_927_247_487_413_33);
}

#[test]
fn segmented_regression_matches_statsmodels() {
    let design = |n: usize, k: usize| -> Vec<[f64; 4]> {
        (0..n)
            .map(|t| {
                let d = if t >= k { 1.0 } else { 0.0 };
                [1.0, t as f64, d, (t as f64 - k as f64) * d]
            })
            .collect()
    };
    let b = [10., 12., 11., 13., 12., 14., 6., 5., 6., 4., 5., 3.];
    let c = ols4(&design(12, 6), &b).expect("fit");
    let expect = [
        (
            10.428_571_428_571_425,
            0.615_742_090_485_509_1,
            1.498_281_522_222_437_2e-7,
        ),
        (
            0.628_571_428_571_427_9,
            0.203_372_919_086_310_72,
            0.014_873_023_921_310_341,
        ),
        (
            -8.152_380_952_380_948,
            1.003_214_787_220_090_7,
            3.900_653_506_989_337e-5,
        ),
        (
            -1.114_285_714_285_709_4,
            0.287_612_740_391_266_44,
            0.004_712_887_086_442_328,
        ),
    ];
    for (got, (beta, se, p)) in c.iter().zip(expect) {
        close(got.estimate, beta);
        close(got.std_error.expect("se"), se);
        close(got.p.expect("p"), p);
    }
    let d = [3., 5., 5., 2., 8., 5., 9., 5., 10., 11.];
    let c = ols4(&design(10, 5), &d).expect("fit");
    close(c[2].estimate, -1.299_999_999_999_997_6);
    close(c[2].std_error.expect("se"), 2.982_728_057_779_768);
    close(c[2].p.expect("p"), 0.678_194_627_486_513);
    close(c[3].p.expect("p"), 0.578_938_832_714_541_7);
}

#[test]
fn a_flat_series_has_no_trend_and_no_change() {
    // 20 artists, each exactly one upload a month, every month.
    let mut events = Vec::new();
    let mut d = date(2021, 1, 1);
    while d <= date(2023, 10, 1) {
        for a in 0..20 {
            events.push((a, at(d)));
        }
        d = Bucket::Month.next(d);
    }
    let r = analyze(&events, &options()).expect("analysis");
    let all = &r.series[0];
    assert_eq!(all.name, "all");
    assert_eq!(all.buckets.len(), 34); // January 2021 to October 2023
    assert!(all
        .buckets
        .iter()
        .all(|b| b.count == 20 && b.active_artists == 20));
    assert_eq!(all.trend.theil_sen_slope, Some(0.0));
    assert_eq!(all.trend.mann_kendall.p, 1.0);
    for e in &all.events {
        let level = e.level_change.as_ref().expect("level");
        assert!(level.estimate.abs() < 1e-9, "{}: {level:?}", e.name);
        assert!(
            level.std_error.is_none(),
            "a perfect fit has no standard error"
        );
    }
    // Everyone uploaded in 2021: all seniors, no juniors.
    assert_eq!((r.series[1].artists, r.series[2].artists), (20, 0));
}

#[test]
fn a_planted_decline_after_an_event_is_found_and_juniors_rise() {
    // Seniors: 30 artists upload monthly until August 2022, then only 10 of
    // them. Juniors: from January 2022, one more artist each month.
    let mut events = Vec::new();
    let mut d = date(2021, 1, 1);
    let mut month = 0;
    while d <= date(2023, 10, 1) {
        let active = if d < date(2022, 9, 1) { 30 } else { 10 };
        for a in 0..active {
            events.push((format!("senior-{a}"), at(d)));
        }
        if d >= date(2022, 1, 1) {
            for j in 0..(month - 11) {
                events.push((format!("junior-{j}"), at(d)));
            }
        }
        d = Bucket::Month.next(d);
        month += 1;
    }
    let r = analyze(&events, &options()).expect("analysis");
    let seniors = &r.series[1];
    let sd = seniors
        .events
        .iter()
        .find(|e| e.name.starts_with("Stable Diffusion"))
        .expect("SD");
    // The release is on 22 August: September 2022 is the first whole month after.
    assert_eq!(
        seniors.buckets[sd.first_post_bucket.expect("k")].start,
        date(2022, 9, 1)
    );
    let level = sd.level_change.as_ref().expect("level");
    close(level.estimate, -20.0);
    assert!(seniors.trend.mann_kendall.s < 0);
    assert!(seniors.trend.mann_kendall.p < 0.001);
    let juniors = &r.series[2];
    assert!(juniors.trend.theil_sen_slope.expect("slope") > 0.0);
    assert!(juniors.trend.mann_kendall.p < 0.001);
    assert_eq!(juniors.buckets[12].count, 1); // January 2022: the first junior
    assert_eq!(r.series[0].buckets[33].count, 10 + 22); // October 2023
}

#[test]
fn the_cap_caps_and_cohorts_split_at_the_cutoff() {
    let events = vec![
        // Ten uploads in one month by one artist.
        ("busy", at(date(2022, 3, 1))),
        ("busy", at(date(2022, 3, 2))),
        ("busy", at(date(2022, 3, 3))),
        ("busy", at(date(2022, 3, 4))),
        ("busy", at(date(2022, 3, 5))),
        ("busy", at(date(2022, 3, 6))),
        ("busy", at(date(2022, 3, 7))),
        ("busy", at(date(2022, 3, 8))),
        ("busy", at(date(2022, 3, 9))),
        ("busy", at(date(2022, 3, 31))),
        // First upload the day before the cutoff: senior.
        ("eve", at(date(2021, 12, 31))),
        // First upload on the cutoff: junior.
        ("day", at(date(2022, 1, 1))),
        // First upload before the range: senior, and that upload is not counted.
        ("old", at(date(2019, 5, 1))),
        ("old", at(date(2022, 3, 15))),
    ];
    let r = analyze(&events, &options()).expect("analysis");
    let march = 14; // 2022-03 is the 15th month from 2021-01
    assert_eq!(r.series[0].buckets[march].start, date(2022, 3, 1));
    assert_eq!(
        r.series[0].buckets[march].count, 2,
        "busy capped at 1, plus old"
    );
    assert_eq!(r.series[0].buckets[march].active_artists, 2);
    assert_eq!(r.events_in_range, 13);
    // busy's first upload is in March 2022: a junior, like day.
    assert_eq!((r.series[1].artists, r.series[2].artists), (2, 2));
    let mut no_cap = options();
    no_cap.cap = 0;
    let r = analyze(&events, &no_cap).expect("analysis");
    assert_eq!(r.series[0].buckets[march].count, 11);
    let mut cap3 = options();
    cap3.cap = 3;
    assert_eq!(
        analyze(&events, &cap3).expect("analysis").series[2].buckets[march].count,
        3
    );
}

#[test]
fn weeks_and_quarters_and_bad_options() {
    // 2022-01-05 is a Wednesday: its ISO week starts Monday 2022-01-03.
    assert_eq!(Bucket::Week.start(date(2022, 1, 5)), date(2022, 1, 3));
    assert_eq!(Bucket::Quarter.start(date(2022, 8, 22)), date(2022, 7, 1));
    assert_eq!(Bucket::Quarter.next(date(2022, 10, 1)), date(2023, 1, 1));
    assert_eq!(Bucket::Month.next(date(2022, 12, 1)), date(2023, 1, 1));
    let mut q = options();
    q.bucket = Bucket::Quarter;
    let r = analyze(&[("a", at(date(2022, 8, 22)))], &q).expect("analysis");
    assert_eq!(r.series[0].buckets.len(), 12); // 2021Q1 to 2023Q4
                                               // Bad options name the problem.
    assert!(Bucket::parse("fortnight")
        .expect_err("refused")
        .to_string()
        .contains("unknown bucket `fortnight`"));
    let mut bad = options();
    bad.cutoff = date(2025, 1, 1);
    assert!(analyze(&[("a", at(date(2022, 1, 1)))], &bad)
        .expect_err("refused")
        .to_string()
        .contains("cutoff 2025-01-01 is outside the range"));
    let mut empty = options();
    empty.to = date(2020, 1, 1);
    assert!(analyze::<&str>(&[], &empty)
        .expect_err("refused")
        .to_string()
        .contains("range is empty"));
    // An event too close to the range's end gets a note, not a regression.
    let mut late = options();
    late.events = vec![EventDate {
        name: "late".into(),
        date: date(2023, 10, 15),
    }];
    let r = analyze(&[("a", at(date(2022, 1, 1)))], &late).expect("analysis");
    assert!(r.series[0].events[0].level_change.is_none());
    assert!(r.series[0].events[0].note.is_some());
}

#[test]
fn consentry_stats_gives_the_engines_numbers_and_a_chart() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    // Two seniors and one junior over 2021-2023, one with two uploads a month.
    let mut csv = String::from("timestamp,artist,title\n");
    let mut events = Vec::new();
    let mut m = date(2021, 1, 1);
    while m <= date(2023, 6, 1) {
        let t = at(m);
        for a in ["ana", "ben"] {
            if a == "ana" || m < date(2022, 9, 1) {
                csv.push_str(&format!("{t},{a},x\n"));
                events.push((a.to_owned(), t));
            }
        }
        let t2 = Timestamp::from_unix_nanos(t.unix_nanos() + 86_400_000_000_000);
        csv.push_str(&format!("{t2},ana,second\n"));
        events.push(("ana".to_owned(), t2));
        if m >= date(2022, 2, 1) {
            csv.push_str(&format!("{t},chloé,y\n"));
            events.push(("chloé".to_owned(), t));
        }
        m = Bucket::Month.next(m);
    }
    std::fs::write(d.join("uploads.csv"), &csv).expect("write");
    let json = d.join("a.json");
    let svg = d.join("chart.svg");
    let counts = d.join("counts.csv");
    let out = Bin::new([
        "stats",
        "--input",
        d.join("uploads.csv").to_str().expect("path"),
        "--from",
        "2021-01-01",
        "--to",
        "2023-06-30",
        "--json",
        json.to_str().expect("path"),
        "--svg",
        svg.to_str().expect("path"),
        "--csv",
        counts.to_str().expect("path"),
    ])
    .run_blocking();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("json");
    let mut o = options();
    o.to = date(2023, 6, 30);
    let engine = serde_json::to_value(analyze(&events, &o).expect("analysis")).expect("json");
    assert_eq!(
        got["series"], engine["series"],
        "the CLI and the engine disagree"
    );
    assert_eq!(got["series"][1]["artists"], 2);
    assert_eq!(got["series"][2]["artists"], 1);
    assert_eq!(
        got["series"][0]["buckets"][0]["count"], 2,
        "ana capped at 1 a month"
    );
    let counts = std::fs::read_to_string(&counts).expect("csv");
    assert!(
        counts.starts_with("series,bucket_start,count,active_artists\nall,2021-01-01,2,2\n"),
        "{counts}"
    );
    let chart = std::fs::read_to_string(&svg).expect("svg");
    assert!(chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"));
    for needle in [
        "Uploads of senior and junior artists",
        "3 artists: 2 seniors, 1 junior",
        "Stable Diffusion public release (2022-08-22)",
        "per month",
        "level ",
    ] {
        assert!(chart.contains(needle), "the chart lacks {needle}");
    }
    // gallery-dl metadata: artist from author.username, site prefix, UTC dates.
    let g = d.join("gallery");
    std::fs::create_dir_all(g.join("deviantart/ana")).expect("mkdir");
    std::fs::write(
        g.join("deviantart/ana/1.json"),
        r#"{"category":"deviantart","author":{"username":"ana"},"date":"2021-03-04 10:00:00"}"#,
    )
    .expect("write");
    std::fs::write(
        g.join("deviantart/ana/2.json"),
        r#"{"category":"danbooru","tag_string_artist":"ben other","date":"2022-05-01 00:00:00"}"#,
    )
    .expect("write");
    let out = Bin::new(["stats", "--input", g.to_str().expect("path")]).run_blocking();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json on stdout");
    assert_eq!(v["events_in"], 2);
    assert_eq!(
        (
            v["series"][1]["artists"].clone(),
            v["series"][2]["artists"].clone()
        ),
        (1.into(), 1.into())
    );
    // Bad input and options name the problem.
    std::fs::write(
        d.join("bad.csv"),
        "artist,timestamp\nana,2021-01-01\nben,yesterday\n",
    )
    .expect("write");
    let out = Bin::new([
        "stats",
        "--input",
        d.join("bad.csv").to_str().expect("path"),
    ])
    .run_blocking();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3") && err.contains("yesterday"), "{err}");
    let out = Bin::new([
        "stats",
        "--input",
        d.join("uploads.csv").to_str().expect("path"),
        "--bucket",
        "fortnight",
    ])
    .run_blocking();
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown bucket `fortnight`"));
    let out = Bin::new([
        "stats",
        "--input",
        d.join("uploads.csv").to_str().expect("path"),
        "--cutoff",
        "2030-01-01",
    ])
    .run_blocking();
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside the range"));
}
