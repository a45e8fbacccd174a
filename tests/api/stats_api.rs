//! `GET /v1/stats/uploads[.svg]` on both backends: the registry's records
//! give the same numbers as the engine on the same uploads; works named
//! again are not counted again; bad options name the problem.

use consentry::domain::{ContentHash, Timestamp};
use consentry::stats::{analyze, default_events, Bucket, Options};
use serde_json::{json, Value};
use time::{Date, Month};

use crate::helpers::*;

crate::both_backends!(stats_from_the_registry_match_the_engine);

fn date(y: i32, m: u8, d: u8) -> Date {
    Date::from_calendar_date(y, Month::try_from(m).expect("month"), d).expect("date")
}

async fn stats_from_the_registry_match_the_engine(app: TestApp) {
    let ana = app.artist("Ana").await;
    let ben = app.artist("Ben").await;
    // Published dates: Ana monthly from 2021, Ben from 2022-03; Ana's works
    // of 2021-06 are declared twice (a second statement): counted once.
    let mut expected: Vec<(String, Timestamp)> = Vec::new();
    let mut envs_ana = Vec::new();
    let mut envs_ben = Vec::new();
    let mut m = date(2021, 1, 1);
    let mut n = 0u64;
    while m <= date(2023, 6, 1) {
        let day = |d: Date| {
            Timestamp::from_unix_nanos(
                i64::try_from(d.midnight().assume_utc().unix_timestamp_nanos()).expect("range"),
            )
        };
        for (who, envs, key) in [
            ("ana", &mut envs_ana, &ana.key),
            ("ben", &mut envs_ben, &ben.key),
        ] {
            if who == "ben" && m < date(2022, 3, 1) {
                continue;
            }
            n += 1;
            let h = ContentHash::of(format!("stats work {n} {}", random_hex(4)).as_bytes());
            let published = day(m.replace_day(10).expect("day"));
            let payload = json!({
                "version": 1,
                "key": key.public_key().to_string(),
                "works": [{ "hash": h, "published_at": published }],
                "consent": "opt-out",
                "issued_at": ago(600),
            });
            envs.push(sign_statement(key, &payload));
            expected.push((who.to_owned(), published));
        }
        m = Bucket::Month.next(m);
    }
    app.submit(&ana.token, &envs_ana).await.assert_status(201);
    app.submit(&ben.token, &envs_ben).await.assert_status(201);
    // Ana states one of her works again, later: not a new upload.
    let again: Value = serde_json::from_slice(
        &consentry::crypto::dsse::decode_base64(&envs_ana[5].payload).expect("b64"),
    )
    .expect("json");
    let mut again = again;
    again["issued_at"] = json!(ago(60));
    again["consent"] = json!("opt-in");
    app.submit(&ana.token, &[sign_statement(&ana.key, &again)])
        .await
        .assert_status(201);

    let q = "basis=published&from=2021-01-01&to=2023-06-30&cutoff=2022-01-01";
    let r = app.get(&format!("/v1/stats/uploads?{q}")).await;
    r.assert_status(200);
    let options = Options {
        from: date(2021, 1, 1),
        to: date(2023, 6, 30),
        bucket: Bucket::Month,
        cap: 1,
        cutoff: date(2022, 1, 1),
        events: default_events(),
    };
    let engine = serde_json::to_value(analyze(&expected, &options).expect("engine")).expect("json");
    assert_eq!(
        r.body["series"], engine["series"],
        "the API and the engine disagree"
    );
    assert_eq!(r.body["basis"], "published");
    assert_eq!(r.body["events_in"], expected.len());
    assert_eq!(r.body["series"][1]["artists"], 1, "Ana is a senior");
    assert_eq!(r.body["series"][2]["artists"], 1, "Ben is a junior");
    // Registered basis: every new work at its receipt time (this month).
    let r = app
        .get("/v1/stats/uploads?basis=registered&cutoff=2020-01-01&from=2020-01-01")
        .await;
    r.assert_status(200);
    let total: u64 = r.body["series"][0]["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| b["active_artists"].as_u64().expect("n"))
        .sum();
    assert_eq!(total, 2, "two artists registered works this month");
    assert_eq!(
        r.body["events_in"],
        expected.len(),
        "the restatement is not a new upload"
    );
    // CSV and SVG.
    let csv = app.get(&format!("/v1/stats/uploads?{q}&format=csv")).await;
    csv.assert_status(200);
    assert!(csv.content_type.starts_with("text/csv"));
    assert!(
        csv.text
            .starts_with("series,bucket_start,count,active_artists\nall,2021-01-01,1,1\n"),
        "{}",
        csv.text
    );
    let svg = app.get(&format!("/v1/stats/uploads.svg?{q}")).await;
    svg.assert_status(200);
    assert_eq!(svg.content_type, "image/svg+xml");
    assert!(svg.text.starts_with("<svg") && svg.text.contains("2 artists: 1 senior, 1 junior"));
    // Bad options name the problem.
    for (query, needle) in [
        (
            "bucket=fortnight&cutoff=2022-01-01",
            "unknown bucket `fortnight`",
        ),
        (
            "basis=published&from=2021-01-01&to=2023-06-30&cutoff=2030-01-01",
            "outside the range",
        ),
        ("basis=somewhere", "unknown basis"),
        ("basis=published&cap=-1", "`cap`"),
        ("basis=published&from=yesterday", "`from` is not a date"),
        ("color=red", "unknown parameter `color`"),
        ("basis=published&event=SD", "NAME=YYYY-MM-DD"),
        (
            "bucket=week&from=1980-10-28&to=2200-07-09&cutoff=2000-10-30",
            "more than 2100 buckets",
        ),
    ] {
        let r = app.get(&format!("/v1/stats/uploads?{query}")).await;
        r.assert_problem(400, "invalid-parameter");
        assert!(
            r.body["detail"]
                .as_str()
                .is_some_and(|d| d.contains(needle)),
            "{query}: {}",
            r.text
        );
    }
    // The same uploads through `consentry stats` give the same numbers.
    let dir = tempfile::tempdir().expect("tmp");
    let mut csv = String::from("artist,timestamp\n");
    for (a, t) in &expected {
        csv.push_str(&format!("{a},{t}\n"));
    }
    std::fs::write(dir.path().join("u.csv"), csv).expect("write");
    let out = Bin::new(["stats", "--input"])
        .arg(dir.path().join("u.csv"))
        .args([
            "--from",
            "2021-01-01",
            "--to",
            "2023-06-30",
            "--cutoff",
            "2022-01-01",
        ])
        .run()
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).expect("json");
    let api = app.get(&format!("/v1/stats/uploads?{q}")).await;
    assert_eq!(
        cli["series"], api.body["series"],
        "the CLI and the API disagree"
    );
    // Answers are cached until the log grows: a new upload shows at once.
    let h = ContentHash::of(format!("late work {}", random_hex(4)).as_bytes());
    let late = json!({
        "version": 1,
        "key": ben.key.public_key().to_string(),
        "works": [{ "hash": h, "published_at": "2023-06-20T00:00:00Z" }],
        "consent": "opt-out",
        "issued_at": ago(30),
    });
    app.submit(&ben.token, &[sign_statement(&ben.key, &late)])
        .await
        .assert_status(201);
    let after = app.get(&format!("/v1/stats/uploads?{q}")).await;
    assert_eq!(after.body["events_in"], expected.len() + 1);
    // The default cutoff (2022-01-01) is outside this month's registrations: the error says so.
    let r = app.get("/v1/stats/uploads?basis=registered").await;
    r.assert_problem(400, "invalid-parameter");
    assert!(r.text.contains("give `cutoff`"), "{}", r.text);
}
