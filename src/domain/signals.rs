//! Other vocabularies of consent, mapped to ours once: the C2PA/CAWG
//! training-and-data-mining assertion, IPTC/PLUS `plus:DataMining`, W3C
//! TDMRep and the IETF AI-preferences `Content-Usage` value. Reading a
//! signal gives a [`ConsentSet`]; exporting a [`ConsentSet`] gives the
//! other vocabulary's value. `spec/signals.md` is the same table in prose,
//! with each specification's own wording.
//!
//! How an in-file signal combines with the registry's answer is
//! [`decide`]: a disallowing signal counts, an allowing one is only
//! reported (anyone can write metadata).

use super::consent::{Category, ConsentSet, Preference};

/// The CAWG assertion's label (CAWG training-and-data-mining 1.1).
pub const CAWG_LABEL: &str = "cawg.training-mining";
/// The C2PA 1.x assertion's label, still written by older tools.
pub const C2PA_LEGACY_LABEL: &str = "c2pa.training-mining";
/// The XMP namespace of PLUS, which holds `plus:DataMining`.
pub const PLUS_NS: &str = "http://ns.useplus.org/ldf/xmp/1.0/";
/// The prefix of the PLUS Data Mining vocabulary's values.
pub const PLUS_VOCAB: &str = "http://ns.useplus.org/ldf/vocab/";
/// The XMP namespace of TDMRep (`tdm:reservation`, `tdm:policy`).
pub const TDMREP_NS: &str = "http://www.w3.org/ns/tdmrep/";

/// The categories a TDMRep reservation covers: text and data mining and
/// the AI uses that are mining; not search (see `spec/signals.md`).
const TDM_CATEGORIES: [Category; 4] = [
    Category::TrainAi,
    Category::TrainGenai,
    Category::AiUse,
    Category::Tdm,
];

/// The CAWG entry keys for our categories (`search` has none).
const CAWG_ENTRIES: [(Category, &str); 4] = [
    (Category::TrainAi, "ai_training"),
    (Category::TrainGenai, "ai_generative_training"),
    (Category::AiUse, "ai_inference"),
    (Category::Tdm, "data_mining"),
];

/// The `Content-Usage` keys we write and read: aipref's `train-ai` and
/// `search`, and draft-02's `train-genai` and `ai-use` (readers ignore keys
/// they do not know).
const AIPREF_KEYS: [Category; 4] = [
    Category::TrainAi,
    Category::TrainGenai,
    Category::AiUse,
    Category::Search,
];

/// Why a signal's value says nothing we can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unrecognised(pub String);

/// The category of a CAWG (`cawg.*`) or C2PA 1.x (`c2pa.*`)
/// training-mining entry key; `None` for custom keys.
#[must_use]
pub fn cawg_entry_category(key: &str) -> Option<Category> {
    let name = key
        .strip_prefix("cawg.")
        .or_else(|| key.strip_prefix("c2pa."))?;
    CAWG_ENTRIES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(c, _)| *c)
}

/// A training-mining entry's `use`: `allowed`, or `notAllowed` and
/// `constrained` ("in the absence of additional information, `constrained`
/// shall be treated as equivalent to `notAllowed`").
///
/// # Errors
/// For any other value.
pub fn cawg_use(value: &str) -> Result<Preference, Unrecognised> {
    match value {
        "allowed" => Ok(Preference::Allowed),
        "notAllowed" | "constrained" => Ok(Preference::Disallowed),
        other => Err(Unrecognised(format!(
            "`use` is {other:?}, not allowed, notAllowed or constrained"
        ))),
    }
}

/// A `plus:DataMining` value (the vocabulary URI, or its key alone) as
/// consent. `DMI-UNSPECIFIED` states nothing (an empty set).
///
/// # Errors
/// For a value outside the PLUS Data Mining vocabulary.
pub fn iptc_data_mining(value: &str) -> Result<ConsentSet, Unrecognised> {
    use Preference::{Allowed, Disallowed};
    let value = value.trim();
    let key = value.strip_prefix(PLUS_VOCAB).unwrap_or(value);
    let all = |p: Preference| ConsentSet::from_signal(Category::ALL.map(|c| (c, p)));
    Ok(match key {
        "DMI-UNSPECIFIED" => ConsentSet::default(),
        "DMI-ALLOWED" => all(Allowed),
        "DMI-PROHIBITED-AIMLTRAINING" => ConsentSet::from_signal([(Category::TrainAi, Disallowed)]),
        "DMI-PROHIBITED-GENAIMLTRAINING" => {
            ConsentSet::from_signal([(Category::TrainGenai, Disallowed)])
        }
        "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING" => {
            ConsentSet::from_signal(Category::ALL.map(|c| {
                (
                    c,
                    if c == Category::Search {
                        Allowed
                    } else {
                        Disallowed
                    },
                )
            }))
        }
        "DMI-PROHIBITED"
        | "DMI-PROHIBITED-SEECONSTRAINT"
        | "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR"
        | "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR" => all(Disallowed),
        _ => {
            return Err(Unrecognised(format!(
                "{value:?} is not a PLUS Data Mining value"
            )))
        }
    })
}

/// A TDMRep `tdm-reservation` (`tdm:reservation` in XMP): `1` reserves
/// text and data mining, `0` does not.
///
/// # Errors
/// For any other value (TDMRep: a protocol error, the property is unset).
pub fn tdmrep_reservation(value: &str) -> Result<ConsentSet, Unrecognised> {
    let p = match value.trim() {
        "1" => Preference::Disallowed,
        "0" => Preference::Allowed,
        other => {
            return Err(Unrecognised(format!(
                "tdm-reservation is {other:?}, not 0 or 1"
            )))
        }
    };
    Ok(ConsentSet::from_signal(TDM_CATEGORIES.map(|c| (c, p))))
}

/// An aipref `Content-Usage` value (an RFC 9651 dictionary, `y` / `n`
/// tokens). Keys we do not map and values other than `y` / `n` are ignored,
/// as aipref says; a duplicated key's last value wins (RFC 9651).
///
/// # Errors
/// When the value is not a structured-field dictionary.
pub fn content_usage(value: &str) -> Result<ConsentSet, Unrecognised> {
    let dict: sfv::Dictionary = sfv::Parser::new(value)
        .parse()
        .map_err(|e| Unrecognised(format!("Content-Usage {value:?}: {e}")))?;
    let mut values = Vec::new();
    for (key, entry) in &dict {
        let Some(category) = AIPREF_KEYS.iter().find(|c| c.as_str() == key.as_str()) else {
            continue;
        };
        let sfv::ListEntry::Item(item) = entry else {
            continue;
        };
        match item.bare_item.as_token().map(|t| t.as_str()) {
            Some("y") => values.push((*category, Preference::Allowed)),
            Some("n") => values.push((*category, Preference::Disallowed)),
            _ => {}
        }
    }
    Ok(ConsentSet::from_signal(values))
}

/// The `Content-Usage` value of a consent set: its known values among
/// `train-ai`, `train-genai`, `ai-use` and `search`, in that order, e.g.
/// `train-ai=n, train-genai=n, search=y`. `None` when none is known.
#[must_use]
pub fn to_content_usage(set: &ConsentSet) -> Option<String> {
    let parts: Vec<String> = AIPREF_KEYS
        .iter()
        .filter_map(|c| {
            set.get(*c).map(|p| {
                let v = match p {
                    Preference::Allowed => 'y',
                    Preference::Disallowed => 'n',
                };
                format!("{}={v}", c.as_str())
            })
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The CAWG `cawg.training-mining` assertion data (`{"entries": …}`) of a
/// consent set: one entry per known category that has one (`search` has
/// none), `allowed` or `notAllowed`.
#[must_use]
pub fn to_cawg_assertion(set: &ConsentSet) -> serde_json::Value {
    let mut entries = serde_json::Map::new();
    for (c, name) in CAWG_ENTRIES {
        if let Some(p) = set.get(c) {
            let value = match p {
                Preference::Allowed => "allowed",
                Preference::Disallowed => "notAllowed",
            };
            entries.insert(format!("cawg.{name}"), serde_json::json!({ "use": value }));
        }
    }
    serde_json::json!({ "entries": entries })
}

/// The `plus:DataMining` value that says the most without saying more
/// than the set: `DMI-PROHIBITED` when every category is disallowed,
/// `…-EXCEPTSEARCHENGINEINDEXING` when every one but an allowed `search`
/// is, `…-AIMLTRAINING` when `train-ai` is, `…-GENAIMLTRAINING` when
/// `train-genai` is, `DMI-ALLOWED` when every one is allowed, else
/// `DMI-UNSPECIFIED`. The full vocabulary URI.
#[must_use]
pub fn to_iptc_data_mining(set: &ConsentSet) -> String {
    use Preference::{Allowed, Disallowed};
    let every = |f: &dyn Fn(Category) -> Option<Preference>| {
        Category::ALL.iter().all(|c| set.get(*c) == f(*c))
    };
    let key = if every(&|_| Some(Disallowed)) {
        "DMI-PROHIBITED"
    } else if every(&|c| {
        Some(if c == Category::Search {
            Allowed
        } else {
            Disallowed
        })
    }) {
        "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING"
    } else if set.get(Category::TrainAi) == Some(Disallowed) {
        "DMI-PROHIBITED-AIMLTRAINING"
    } else if set.get(Category::TrainGenai) == Some(Disallowed) {
        "DMI-PROHIBITED-GENAIMLTRAINING"
    } else if every(&|_| Some(Allowed)) {
        "DMI-ALLOWED"
    } else {
        "DMI-UNSPECIFIED"
    };
    format!("{PLUS_VOCAB}{key}")
}

/// The TDMRep `tdm-reservation` of a set: `1` when any use TDMRep covers
/// (`train-ai`, `train-genai`, `ai-use`, `tdm`) is disallowed, `0` when
/// all four are allowed, `None` otherwise. A reservation is all or
/// nothing: a partial refusal is written as `1`, with the registry's
/// record as the `tdm-policy` that says what is allowed.
#[must_use]
pub fn to_tdmrep_reservation(set: &ConsentSet) -> Option<u8> {
    let values = TDM_CATEGORIES.map(|c| set.get(c));
    if values.contains(&Some(Preference::Disallowed)) {
        Some(1)
    } else if values.iter().all(|v| *v == Some(Preference::Allowed)) {
        Some(0)
    } else {
        None
    }
}

/// Who decided a work's combined status for a purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecidedBy {
    /// The registry's signed answer alone.
    Registry,
    /// An in-file signal alone (the registry allowed, or did not know).
    File,
    /// Both disallowed it.
    Both,
    /// Neither said anything that counts: unknown.
    Nobody,
}

impl DecidedBy {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            DecidedBy::Registry => "registry",
            DecidedBy::File => "file",
            DecidedBy::Both => "registry+file",
            DecidedBy::Nobody => "none",
        }
    }
}

/// The combined status of a work for `purpose`, from the registry's
/// answer and the signals found in the file: the most restrictive rule,
/// with one asymmetry. Any `disallowed` wins (the registry's or a
/// file's); else the registry's `allowed`; else unknown. An in-file
/// `allowed` never makes a work allowed: anyone who handled the file
/// could have written it, and the registry's answer is the one signed by
/// the artist. It is reported, not counted.
#[must_use]
pub fn decide(
    purpose: Category,
    registry: Option<Preference>,
    file: &[ConsentSet],
) -> (Option<Preference>, DecidedBy) {
    let in_file = ConsentSet::combine(file).get(purpose);
    match (registry, in_file) {
        (Some(Preference::Disallowed), Some(Preference::Disallowed)) => {
            (Some(Preference::Disallowed), DecidedBy::Both)
        }
        (Some(Preference::Disallowed), _) => (Some(Preference::Disallowed), DecidedBy::Registry),
        (_, Some(Preference::Disallowed)) => (Some(Preference::Disallowed), DecidedBy::File),
        (Some(Preference::Allowed), _) => (Some(Preference::Allowed), DecidedBy::Registry),
        (None, _) => (None, DecidedBy::Nobody),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Preference::{Allowed, Disallowed};

    /// Every consent set a declaration can produce (nesting holds).
    fn every_set() -> Vec<ConsentSet> {
        let values = [None, Some(Allowed), Some(Disallowed)];
        let mut out = Vec::new();
        for n in 0..3usize.pow(5) {
            let mut pairs = Vec::new();
            let mut k = n;
            for c in Category::ALL {
                if let Some(v) = values[k % 3] {
                    pairs.push((c, v));
                }
                k /= 3;
            }
            let set = ConsentSet::from_signal(pairs.clone());
            if Category::ALL
                .iter()
                .all(|c| set.get(*c) == pairs.iter().find(|p| p.0 == *c).map(|p| p.1))
            {
                out.push(set);
            }
        }
        out
    }

    #[test]
    fn cawg_round_trips_every_category_it_has() {
        for set in every_set() {
            let data = to_cawg_assertion(&set);
            let mut values = Vec::new();
            for (key, entry) in data["entries"].as_object().expect("entries") {
                let c = cawg_entry_category(key).expect("our key");
                let p = cawg_use(entry["use"].as_str().expect("use")).expect("value");
                values.push((c, p));
            }
            let back = ConsentSet::from_signal(values);
            for c in Category::ALL {
                let want = if c == Category::Search {
                    None
                } else {
                    set.get(c)
                };
                assert_eq!(back.get(c), want, "{c:?} of {set:?}");
            }
        }
    }

    #[test]
    fn content_usage_round_trips_its_four_keys() {
        for set in every_set() {
            let back = to_content_usage(&set)
                .map(|v| content_usage(&v).expect("our own value parses"))
                .unwrap_or_default();
            for c in Category::ALL {
                let want = if c == Category::Tdm { None } else { set.get(c) };
                assert_eq!(back.get(c), want, "{c:?} of {set:?}");
            }
        }
        let set = content_usage("train-ai=n, search=y;q=1, foo=n, ai-use=?1, train-ai=y")
            .expect("dictionary");
        assert_eq!(set.get(Category::TrainAi), Some(Allowed), "last key wins");
        assert_eq!(set.get(Category::Search), Some(Allowed));
        assert_eq!(set.get(Category::AiUse), None, "not a y/n token");
        assert!(content_usage("train-ai=\"n").is_err());
    }

    #[test]
    fn iptc_and_tdmrep_never_say_more_than_the_set() {
        for set in every_set() {
            let back = iptc_data_mining(&to_iptc_data_mining(&set)).expect("ours");
            let reservation = to_tdmrep_reservation(&set)
                .map(|r| tdmrep_reservation(&r.to_string()).expect("ours"))
                .unwrap_or_default();
            for c in Category::ALL {
                // Read back, a value is the set's, or a refusal of a use the
                // format cannot tell apart: never an allowance it did not give.
                for got in [back.get(c), reservation.get(c)] {
                    match got {
                        None => {}
                        Some(Allowed) => assert_eq!(set.get(c), Some(Allowed), "{c:?} {set:?}"),
                        Some(Disallowed) => assert!(
                            set.get(c) == Some(Disallowed)
                                || TDM_CATEGORIES
                                    .iter()
                                    .any(|t| set.get(*t) == Some(Disallowed)),
                            "{c:?} {set:?}"
                        ),
                    }
                }
            }
        }
        let all_out = ConsentSet::from_signal(Category::ALL.map(|c| (c, Disallowed)));
        assert_eq!(
            to_iptc_data_mining(&all_out),
            "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED"
        );
        assert_eq!(to_tdmrep_reservation(&all_out), Some(1));
        assert!(iptc_data_mining("DMI-MAYBE").is_err());
        assert!(tdmrep_reservation("2").is_err());
        assert_eq!(
            iptc_data_mining("DMI-PROHIBITED-GENAIMLTRAINING")
                .expect("value")
                .get(Category::TrainAi),
            None
        );
    }

    #[test]
    fn a_file_can_refuse_but_not_allow() {
        let no = ConsentSet::from_signal([(Category::TrainAi, Disallowed)]);
        let yes = ConsentSet::from_signal([(Category::TrainAi, Allowed)]);
        let p = Category::TrainGenai;
        assert_eq!(decide(p, None, &[no]), (Some(Disallowed), DecidedBy::File));
        assert_eq!(
            decide(p, Some(Allowed), &[no]),
            (Some(Disallowed), DecidedBy::File)
        );
        assert_eq!(
            decide(p, Some(Disallowed), &[no]),
            (Some(Disallowed), DecidedBy::Both)
        );
        assert_eq!(
            decide(p, Some(Disallowed), &[yes]),
            (Some(Disallowed), DecidedBy::Registry)
        );
        assert_eq!(decide(p, None, &[yes]), (None, DecidedBy::Nobody));
        assert_eq!(
            decide(p, Some(Allowed), &[yes, no]),
            (Some(Disallowed), DecidedBy::File)
        );
        assert_eq!(
            decide(p, Some(Allowed), &[]),
            (Some(Allowed), DecidedBy::Registry)
        );
    }
}
