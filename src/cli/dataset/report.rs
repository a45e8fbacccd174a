//! The report of a check ([`write_report`]): one CSV row or JSON line per
//! item with what the registry said about it.

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::Path;

use anyhow::{bail, ensure};
use serde::Serialize;

use super::atomic_file::write_atomically;
use super::manifest::ManifestFormat;
use super::paths::relative_to_file;
use super::source::Item;
use crate::domain::ContentHash;
use crate::signals::Finding;

/// What the caller learned about one item, for [`write_report`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportRow {
    pub status: String,
    pub terms: serde_json::Value,
    pub claimants: Vec<String>,
    pub statements: Vec<String>,
    pub disputed: bool,
    /// How the item was matched: `exact`, `near`, or empty.
    pub matched: String,
    /// Every matched work with its distance, as the registry answered
    /// (nearest first): what a version 2 receipt signs. The report's
    /// `matched_hash` is the first, and for a near match `distance` its
    /// distance.
    pub matched_works: Vec<(ContentHash, u32)>,
    /// The status with the in-file signals (the registry's when they were
    /// not read).
    pub combined: String,
    /// `registry`, `file`, `registry+file` or `none`.
    pub decided_by: String,
}

impl ReportRow {
    /// The nearest matched work's hash.
    fn matched_hash(&self) -> Option<String> {
        self.matched_works.first().map(|w| w.0.to_string())
    }

    /// For a near match, the distance to the nearest matched work.
    fn distance(&self) -> Option<u32> {
        (self.matched == "near")
            .then(|| self.matched_works.first().map(|w| w.1))
            .flatten()
    }
}

/// A matched work as the report writes it.
#[derive(Serialize)]
struct MatchedWork<'a> {
    hash: &'a ContentHash,
    distance: u32,
}

fn matched_works(row: &ReportRow) -> Vec<MatchedWork<'_>> {
    row.matched_works
        .iter()
        .map(|(hash, distance)| MatchedWork {
            hash,
            distance: *distance,
        })
        .collect()
}

/// Writes one line per item with what the caller learned about it (`rows[i]`
/// for `items[i]`): CSV with columns
/// `label,path,hash,status,disputed,claimants,statements,terms,match,distance,matched_hash,error,fingerprints,matched,combined,decided_by,signals,signal_notes`
/// (lists joined with `;`, terms and the matched works as compact JSON;
/// `error` says why an image has no fingerprint; `fingerprints` are the
/// item's image codes as sent, `matched` every work it matched with its
/// distance; `status` is the registry's signed answer, `combined` the
/// status with the in-file signals and `decided_by` who decided it,
/// `signals` the findings in the file as a JSON array (in CSV an empty
/// field, in JSON Lines `null`, when the file was not read for them) and `signal_notes` why some of its metadata
/// could not be read) when `out` ends in `.csv`, JSON
/// Lines objects with the same fields (lists as arrays) when it ends in
/// `.jsonl` / `.ndjson`. `path` is relative to the folder of `out` (empty or
/// null for items without a file).
///
/// # Errors
/// When `out` has another extension, `rows` and `items` differ in length, or
/// writing fails.
pub fn write_report(items: &[Item], rows: &[ReportRow], out: &Path) -> anyhow::Result<()> {
    #[derive(Serialize)]
    struct Line<'a> {
        label: &'a str,
        path: Option<Cow<'a, str>>,
        hash: &'a ContentHash,
        status: &'a str,
        disputed: bool,
        claimants: &'a [String],
        statements: &'a [String],
        terms: &'a serde_json::Value,
        #[serde(rename = "match")]
        kind: Option<&'a str>,
        distance: Option<u32>,
        matched_hash: Option<String>,
        error: Option<&'a str>,
        fingerprints: Vec<String>,
        matched: Vec<MatchedWork<'a>>,
        combined: &'a str,
        decided_by: &'a str,
        signals: Option<&'a [Finding]>,
        signal_notes: &'a [String],
    }
    ensure!(
        items.len() == rows.len(),
        "{} report rows for {} items",
        rows.len(),
        items.len()
    );
    let Some(format) = ManifestFormat::from_path(out) else {
        bail!("{}: a report is written as .csv or .jsonl", out.display());
    };
    let paths: Vec<Option<String>> = items
        .iter()
        .map(|i| {
            i.path
                .as_deref()
                .map(|p| relative_to_file(p, out))
                .transpose()
        })
        .collect::<io::Result<_>>()?;
    let lines = items.iter().zip(rows).zip(&paths);
    match format {
        ManifestFormat::Jsonl => write_atomically(out, |writer| {
            for ((item, row), path) in lines {
                let line = Line {
                    label: &item.label,
                    path: path.as_deref().map(Cow::Borrowed),
                    hash: &item.hash,
                    status: &row.status,
                    disputed: row.disputed,
                    claimants: &row.claimants,
                    statements: &row.statements,
                    terms: &row.terms,
                    kind: (!row.matched.is_empty()).then_some(row.matched.as_str()),
                    distance: row.distance(),
                    matched_hash: row.matched_hash(),
                    error: item.fingerprint_error.as_deref(),
                    fingerprints: item.codes.iter().map(ToString::to_string).collect(),
                    matched: matched_works(row),
                    combined: &row.combined,
                    decided_by: &row.decided_by,
                    signals: item.signals.as_ref().map(|s| s.findings.as_slice()),
                    signal_notes: item.signals.as_ref().map_or(&[], |s| s.notes.as_slice()),
                };
                serde_json::to_writer(&mut *writer, &line)?;
                writer.write_all(b"\n")?;
            }
            Ok(())
        }),
        ManifestFormat::Csv => write_atomically(out, |writer| {
            let mut csv = csv::Writer::from_writer(writer);
            csv.write_record([
                "label",
                "path",
                "hash",
                "status",
                "disputed",
                "claimants",
                "statements",
                "terms",
                "match",
                "distance",
                "matched_hash",
                "error",
                "fingerprints",
                "matched",
                "combined",
                "decided_by",
                "signals",
                "signal_notes",
            ])?;
            for ((item, row), path) in lines {
                let path = path.as_deref().unwrap_or_default();
                let distance = row.distance().map(|d| d.to_string()).unwrap_or_default();
                let codes: Vec<String> = item.codes.iter().map(ToString::to_string).collect();
                let matched = if row.matched_works.is_empty() {
                    String::new()
                } else {
                    serde_json::to_string(&matched_works(row))?
                };
                let (signals, notes) = match &item.signals {
                    Some(s) => (serde_json::to_string(&s.findings)?, s.notes.join("; ")),
                    None => (String::new(), String::new()),
                };
                let fields: [&str; 18] = [
                    &item.label,
                    path,
                    &item.hash.to_string(),
                    &row.status,
                    if row.disputed { "true" } else { "false" },
                    &row.claimants.join(";"),
                    &row.statements.join(";"),
                    &serde_json::to_string(&row.terms)?,
                    &row.matched,
                    &distance,
                    &row.matched_hash().unwrap_or_default(),
                    item.fingerprint_error.as_deref().unwrap_or_default(),
                    &codes.join(";"),
                    &matched,
                    &row.combined,
                    &row.decided_by,
                    &signals,
                    &notes,
                ];
                csv.write_record(fields)?;
            }
            csv.flush()?;
            Ok(())
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::*;
    use crate::cli::dataset::test_support::{blake3_of, error_text};
    use crate::domain::fingerprint::ImageCode;
    use crate::signals::FileSignals;

    /// Items under `dir` (the report's folder in the tests).
    fn report_fixture(dir: &Path) -> (Vec<Item>, Vec<ReportRow>) {
        let items = vec![
            Item {
                label: "a.png".to_owned(),
                path: Some(dir.join("data/a.png")),
                hash: blake3_of(b"a"),
                codes: Vec::new(),
                fingerprint_error: None,
                signals: Some(FileSignals {
                    findings: vec![Finding {
                        source: "xmp",
                        property: "plus:DataMining".to_owned(),
                        value: "DMI-PROHIBITED-AIMLTRAINING".to_owned(),
                        consent: crate::domain::signals::iptc_data_mining(
                            "DMI-PROHIBITED-AIMLTRAINING",
                        )
                        .expect("value"),
                        signature: None,
                        signer: None,
                    }],
                    notes: vec!["a note".to_owned()],
                }),
            },
            Item {
                label: "s.tar:0001".to_owned(),
                path: None,
                hash: blake3_of(b"b"),
                codes: vec![ImageCode::parse("ISCC:EEA4GQZQTY6J5DTH").expect("code")],
                fingerprint_error: None,
                signals: None,
            },
        ];
        let rows = vec![
            ReportRow {
                status: "opt-out".to_owned(),
                terms: serde_json::json!({"training": "deny"}),
                claimants: vec!["artist1".to_owned(), "artist2".to_owned()],
                statements: vec!["st1".to_owned(), "st2".to_owned()],
                disputed: true,
                combined: "disallowed".to_owned(),
                decided_by: "registry+file".to_owned(),
                ..ReportRow::default()
            },
            ReportRow {
                status: "allowed".to_owned(),
                matched: "near".to_owned(),
                matched_works: vec![(blake3_of(b"w"), 2), (blake3_of(b"v"), 4)],
                combined: "allowed".to_owned(),
                decided_by: "registry".to_owned(),
                ..ReportRow::default()
            },
        ];
        (items, rows)
    }

    #[test]
    fn report_as_csv() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (items, rows) = report_fixture(dir.path());
        let out = dir.path().join("report.csv");
        write_report(&items, &rows, &out).expect("report");
        assert_eq!(
            fs::read_to_string(&out).expect("read"),
            format!(
                "label,path,hash,status,disputed,claimants,statements,terms,match,distance,matched_hash,error,fingerprints,matched,combined,decided_by,signals,signal_notes\n\
                 a.png,data/a.png,{},opt-out,true,artist1;artist2,st1;st2,\"{{\"\"training\"\":\"\"deny\"\"}}\",,,,,,,disallowed,registry+file,\"[{{\"\"source\"\":\"\"xmp\"\",\"\"property\"\":\"\"plus:DataMining\"\",\"\"value\"\":\"\"DMI-PROHIBITED-AIMLTRAINING\"\",\"\"consent\"\":{{\"\"train-ai\"\":\"\"disallowed\"\",\"\"train-genai\"\":\"\"disallowed\"\"}}}}]\",a note\n\
                 s.tar:0001,,{},allowed,false,,,null,near,2,{w},,ISCC:EEA4GQZQTY6J5DTH,\"[{{\"\"hash\"\":\"\"{w}\"\",\"\"distance\"\":2}},{{\"\"hash\"\":\"\"{v}\"\",\"\"distance\"\":4}}]\",allowed,registry,,\n",
                items[0].hash,
                items[1].hash,
                w = blake3_of(b"w"),
                v = blake3_of(b"v"),
            )
        );
        let e = error_text(write_report(&items, &rows, &dir.path().join("r.txt")));
        assert!(e.contains("a report is written as .csv or .jsonl"), "{e}");
        let e = error_text(write_report(&items, &rows[..1], &out));
        assert!(e.contains("1 report rows for 2 items"), "{e}");
    }

    #[test]
    fn report_as_jsonl() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (items, rows) = report_fixture(dir.path());
        let out = dir.path().join("report.jsonl");
        write_report(&items, &rows, &out).expect("report");
        let text = fs::read_to_string(&out).expect("read");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(
            lines,
            [
                serde_json::json!({
                    "label": "a.png",
                    "path": "data/a.png",
                    "hash": items[0].hash.to_string(),
                    "status": "opt-out",
                    "disputed": true,
                    "claimants": ["artist1", "artist2"],
                    "statements": ["st1", "st2"],
                    "terms": {"training": "deny"},
                    "match": null,
                    "distance": null,
                    "matched_hash": null,
                    "error": null,
                    "fingerprints": [],
                    "matched": [],
                    "combined": "disallowed",
                    "decided_by": "registry+file",
                    "signals": [{
                        "source": "xmp",
                        "property": "plus:DataMining",
                        "value": "DMI-PROHIBITED-AIMLTRAINING",
                        "consent": {"train-ai": "disallowed", "train-genai": "disallowed"},
                    }],
                    "signal_notes": ["a note"],
                }),
                serde_json::json!({
                    "label": "s.tar:0001",
                    "path": null,
                    "hash": items[1].hash.to_string(),
                    "status": "allowed",
                    "disputed": false,
                    "claimants": [],
                    "statements": [],
                    "terms": null,
                    "match": "near",
                    "distance": 2,
                    "matched_hash": blake3_of(b"w").to_string(),
                    "error": null,
                    "fingerprints": ["ISCC:EEA4GQZQTY6J5DTH"],
                    "matched": [
                        {"hash": blake3_of(b"w").to_string(), "distance": 2},
                        {"hash": blake3_of(b"v").to_string(), "distance": 4},
                    ],
                    "combined": "allowed",
                    "decided_by": "registry",
                    "signals": null,
                    "signal_notes": [],
                }),
            ]
        );
    }
}
