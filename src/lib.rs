//! Consentry: an open registry of artist-signed AI-training consent.
//!
//! Layers point inward: [`http`] and [`cli`] call [`registry`] (and
//! [`payouts`] on top of it), which calls [`store`], [`transparency`],
//! [`index`] and [`crypto`]; the rules are [`domain`]'s and the formats
//! [`log`]'s, and neither knows storage or HTTP. The allowed imports of
//! every module are a table in `tests/api/boundaries.rs`, checked by the
//! test suite; `docs/architecture.md` explains them.
#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod check;
pub mod cli;
pub mod crypto;
pub mod domain;
pub mod fingerprint;
pub mod http;
pub mod index;
pub mod log;
pub mod payouts;
pub mod registry;
pub mod server;
pub mod signals;
pub mod stats;
pub mod store;
pub mod transparency;
