//! Consentry: an open registry of artist-signed AI-training consent.
//!
//! Layers point inward: [`http`] and [`cli`] call [`registry`], which calls
//! [`store`], [`transparency`] and [`crypto`], which know only [`domain`]
//! and the format code in [`log`].
#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod check;
pub mod cli;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod index;
pub mod log;
pub mod payouts;
pub mod registry;
pub mod server;
pub mod stats;
pub mod store;
pub mod transparency;
