//! spec/vectors/signals.json, written from the table of spec/signals.md:
//! every reading, export and combination it lists is what the code does.

use consentry::domain::signals::{
    cawg_entry_category, cawg_use, content_usage, decide, iptc_data_mining, tdmrep_reservation,
    to_cawg_assertion, to_content_usage, to_iptc_data_mining, to_tdmrep_reservation,
};
use consentry::domain::{Category, ConsentSet, Preference};
use serde_json::{json, Value};

fn doc() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/spec/vectors/signals.json"
    ))
    .expect("vectors file");
    serde_json::from_str(&text).expect("json")
}

fn preference(v: &str) -> Option<Preference> {
    match v {
        "allowed" => Some(Preference::Allowed),
        "disallowed" => Some(Preference::Disallowed),
        _ => None,
    }
}

/// A vector's `{category: value}` object as a set (nothing else applied).
fn set(v: &Value) -> ConsentSet {
    let map = v.as_object().expect("consent object");
    for k in map.keys() {
        assert!(
            Category::ALL.iter().any(|c| c.as_str() == k),
            "category {k}"
        );
    }
    ConsentSet::from_signal(Category::ALL.into_iter().filter_map(|c| {
        map.get(c.as_str())
            .and_then(Value::as_str)
            .and_then(preference)
            .map(|p| (c, p))
    }))
}

fn json_of(s: &ConsentSet) -> Value {
    let mut map = serde_json::Map::new();
    for c in Category::ALL {
        if let Some(p) = s.get(c) {
            map.insert(c.as_str().to_owned(), json!(p));
        }
    }
    Value::Object(map)
}

#[test]
fn readings_map_each_vocabulary_as_the_table_says() {
    let d = doc();
    let readings = d["readings"].as_array().expect("readings");
    assert!(readings.len() >= 30);
    for v in readings {
        let value = v["value"].as_str().expect("value");
        let read: Result<ConsentSet, String> = match v["vocabulary"].as_str().expect("vocabulary") {
            "cawg" => {
                let key = v["key"].as_str().expect("key");
                match cawg_entry_category(key) {
                    None => Ok(ConsentSet::default()),
                    Some(c) => cawg_use(value)
                        .map(|p| ConsentSet::from_signal([(c, p)]))
                        .map_err(|e| e.to_string()),
                }
            }
            "iptc" => iptc_data_mining(value).map_err(|e| e.to_string()),
            "tdmrep" => tdmrep_reservation(value).map_err(|e| e.to_string()),
            "aipref" => content_usage(value).map_err(|e| e.to_string()),
            other => panic!("vocabulary {other}"),
        };
        if v["error"] == json!(true) {
            assert!(read.is_err(), "{v}: {read:?}");
        } else {
            let read = read.unwrap_or_else(|e| panic!("{v}: {e}"));
            assert_eq!(json_of(&read), v["consent"], "{v}");
        }
    }
}

#[test]
fn exports_are_the_table_s() {
    let d = doc();
    for v in d["exports"].as_array().expect("exports") {
        let s = set(&v["consent"]);
        assert_eq!(
            json_of(&s),
            v["consent"],
            "a vector's consent is nested already: {v}"
        );
        assert_eq!(json!(to_content_usage(&s)), v["content_usage"], "{v}");
        assert_eq!(json!(to_iptc_data_mining(&s)), v["iptc_data_mining"], "{v}");
        assert_eq!(
            json!(to_tdmrep_reservation(&s)),
            v["tdm-reservation"],
            "{v}"
        );
        assert_eq!(to_cawg_assertion(&s), v["cawg_assertion"]["data"], "{v}");
    }
}

#[test]
fn in_file_signals_combine_as_the_table_says() {
    let d = doc();
    for v in d["decide"].as_array().expect("decide") {
        let purpose = Category::ALL
            .into_iter()
            .find(|c| c.as_str() == v["purpose"])
            .expect("purpose");
        let files: Vec<ConsentSet> = v["file_signals"]
            .as_array()
            .expect("files")
            .iter()
            .map(set)
            .collect();
        let (combined, by) = decide(
            purpose,
            preference(v["registry"].as_str().expect("registry")),
            &files,
        );
        let combined = combined.map_or("unknown", |p| match p {
            Preference::Allowed => "allowed",
            Preference::Disallowed => "disallowed",
        });
        assert_eq!(
            (json!(combined), json!(by.as_str())),
            (v["combined"].clone(), v["decided_by"].clone()),
            "{v}"
        );
    }
}
