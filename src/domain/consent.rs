//! Consent categories, declared preferences and the rules that combine them.
//!
//! The two rules a reader looks for live here:
//! * nesting: disallowing `train-ai` disallows `train-genai`; an undeclared
//!   `train-genai` inherits `train-ai` ([`ConsentSet::from_declaration`]);
//! * combining claimants: per category, any `disallowed` wins, else any
//!   `allowed`, else `unknown` ([`ConsentSet::combine`]).

use serde::{Deserialize, Serialize};

use super::InvalidPayload;

/// A use of a work that an artist can allow or disallow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Category {
    /// Training any AI model.
    #[serde(rename = "train-ai")]
    TrainAi,
    /// Training generative models (narrower than `train-ai`).
    #[serde(rename = "train-genai")]
    TrainGenai,
    /// Use as input to a deployed model (RAG, img2img, style reference).
    #[serde(rename = "ai-use")]
    AiUse,
    /// Search indexing that links back to the source.
    #[serde(rename = "search")]
    Search,
    /// Text and data mining in general.
    #[serde(rename = "tdm")]
    Tdm,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::TrainAi,
        Category::TrainGenai,
        Category::AiUse,
        Category::Search,
        Category::Tdm,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::TrainAi => "train-ai",
            Category::TrainGenai => "train-genai",
            Category::AiUse => "ai-use",
            Category::Search => "search",
            Category::Tdm => "tdm",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// A declared preference. Absence means unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preference {
    Allowed,
    Disallowed,
}

/// The consent part of a statement as the artist wrote it: a shorthand for
/// every category, or one preference per category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConsentDeclaration {
    Shorthand(Shorthand),
    PerCategory(PerCategory),
}

/// `opt-in` allows every category; `opt-out` disallows every category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shorthand {
    #[serde(rename = "opt-in")]
    OptIn,
    #[serde(rename = "opt-out")]
    OptOut,
}

/// Per-category preferences; a missing field is unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerCategory {
    #[serde(rename = "train-ai", default, skip_serializing_if = "Option::is_none")]
    pub train_ai: Option<Preference>,
    #[serde(
        rename = "train-genai",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub train_genai: Option<Preference>,
    #[serde(rename = "ai-use", default, skip_serializing_if = "Option::is_none")]
    pub ai_use: Option<Preference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<Preference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tdm: Option<Preference>,
}

/// One value per category: `Some(Allowed)`, `Some(Disallowed)` or `None` (unknown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ConsentSet([Option<Preference>; 5]);

impl ConsentSet {
    #[must_use]
    pub fn get(&self, category: Category) -> Option<Preference> {
        self.0[category.index()]
    }

    fn set(&mut self, category: Category, value: Option<Preference>) {
        self.0[category.index()] = value;
    }

    /// Expands a declaration into per-category values and applies nesting.
    ///
    /// # Errors
    /// When the declaration allows `train-genai` while disallowing
    /// `train-ai`: the narrower use cannot be allowed when the wider one is
    /// refused, and guessing which one the artist meant would be wrong.
    pub fn from_declaration(decl: &ConsentDeclaration) -> Result<Self, InvalidPayload> {
        let mut set = ConsentSet::default();
        match decl {
            ConsentDeclaration::Shorthand(s) => {
                let value = match s {
                    Shorthand::OptIn => Preference::Allowed,
                    Shorthand::OptOut => Preference::Disallowed,
                };
                for c in Category::ALL {
                    set.set(c, Some(value));
                }
            }
            ConsentDeclaration::PerCategory(p) => {
                if p == &PerCategory::default() {
                    return Err(InvalidPayload::new(
                        "consent declares no category: use \"opt-in\", \"opt-out\" or name at least one category",
                    ));
                }
                set.set(Category::TrainAi, p.train_ai);
                set.set(Category::TrainGenai, p.train_genai);
                set.set(Category::AiUse, p.ai_use);
                set.set(Category::Search, p.search);
                set.set(Category::Tdm, p.tdm);
            }
        }
        match (set.get(Category::TrainAi), set.get(Category::TrainGenai)) {
            (Some(Preference::Disallowed), Some(Preference::Allowed)) => {
                return Err(InvalidPayload::new(
                    "consent allows train-genai while disallowing train-ai; disallowing train-ai disallows train-genai",
                ));
            }
            (Some(parent), None) => set.set(Category::TrainGenai, Some(parent)),
            _ => {}
        }
        Ok(set)
    }

    /// The values an outside signal states (a C2PA assertion, an XMP
    /// property), with nesting applied as for a declaration, except that a
    /// signal is never refused: an allowed `train-genai` under a disallowed
    /// `train-ai` reads as disallowed, the most restrictive reading.
    #[must_use]
    pub fn from_signal(values: impl IntoIterator<Item = (Category, Preference)>) -> Self {
        let mut set = ConsentSet::default();
        for (c, v) in values {
            let merged = match (set.get(c), v) {
                (Some(Preference::Disallowed), _) | (_, Preference::Disallowed) => {
                    Preference::Disallowed
                }
                _ => Preference::Allowed,
            };
            set.set(c, Some(merged));
        }
        match (set.get(Category::TrainAi), set.get(Category::TrainGenai)) {
            (Some(Preference::Disallowed), _) => {
                set.set(Category::TrainGenai, Some(Preference::Disallowed));
            }
            (Some(parent), None) => set.set(Category::TrainGenai, Some(parent)),
            _ => {}
        }
        set
    }

    /// Whether no category has a value.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }

    /// Combines the current statements of several claimants: per category,
    /// any `disallowed` wins, else any `allowed`, else unknown.
    #[must_use]
    pub fn combine<'a>(sets: impl IntoIterator<Item = &'a ConsentSet>) -> ConsentSet {
        let mut out = ConsentSet::default();
        for set in sets {
            for c in Category::ALL {
                let merged = match (out.get(c), set.get(c)) {
                    (Some(Preference::Disallowed), _) | (_, Some(Preference::Disallowed)) => {
                        Some(Preference::Disallowed)
                    }
                    (Some(Preference::Allowed), _) | (_, Some(Preference::Allowed)) => {
                        Some(Preference::Allowed)
                    }
                    _ => None,
                };
                out.set(c, merged);
            }
        }
        out
    }

    /// Whether any category is allowed.
    #[must_use]
    pub fn allows_anything(&self) -> bool {
        self.0.contains(&Some(Preference::Allowed))
    }

    /// The per-category view used in API responses: every category, with
    /// `"unknown"` for undeclared ones.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        for c in Category::ALL {
            let v = match self.get(c) {
                Some(Preference::Allowed) => "allowed",
                Some(Preference::Disallowed) => "disallowed",
                None => "unknown",
            };
            map.insert(c.as_str().to_owned(), serde_json::Value::from(v));
        }
        serde_json::Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per(train_ai: Option<Preference>, train_genai: Option<Preference>) -> ConsentDeclaration {
        ConsentDeclaration::PerCategory(PerCategory {
            train_ai,
            train_genai,
            ..Default::default()
        })
    }

    #[test]
    fn opt_out_disallows_everything() {
        let set = ConsentSet::from_declaration(&ConsentDeclaration::Shorthand(Shorthand::OptOut))
            .expect("valid");
        for c in Category::ALL {
            assert_eq!(set.get(c), Some(Preference::Disallowed));
        }
    }

    #[test]
    fn train_genai_inherits_train_ai() {
        let set =
            ConsentSet::from_declaration(&per(Some(Preference::Disallowed), None)).expect("valid");
        assert_eq!(set.get(Category::TrainGenai), Some(Preference::Disallowed));
        let set = ConsentSet::from_declaration(&per(
            Some(Preference::Allowed),
            Some(Preference::Disallowed),
        ))
        .expect("valid");
        assert_eq!(set.get(Category::TrainGenai), Some(Preference::Disallowed));
        assert!(ConsentSet::from_declaration(&per(
            Some(Preference::Disallowed),
            Some(Preference::Allowed)
        ))
        .is_err());
    }

    #[test]
    fn most_restrictive_wins() {
        let a = ConsentSet::from_declaration(&ConsentDeclaration::Shorthand(Shorthand::OptIn))
            .expect("valid");
        let b =
            ConsentSet::from_declaration(&per(Some(Preference::Disallowed), None)).expect("valid");
        let c = ConsentSet::combine([&a, &b]);
        assert_eq!(c.get(Category::TrainAi), Some(Preference::Disallowed));
        assert_eq!(c.get(Category::Search), Some(Preference::Allowed));
        assert_eq!(
            ConsentSet::combine([&ConsentSet::default()]).get(Category::Tdm),
            None
        );
    }
}
