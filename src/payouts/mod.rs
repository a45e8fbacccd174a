//! Payouts: builders report training runs; the registry computes, signs and
//! logs who is owed what (`spec/payouts.md`). The formats and arithmetic
//! are [`crate::domain::payout`]'s; this module adds keys, the consent
//! index and the report use case.

mod reads;
mod run;
pub mod statement;

pub use run::{ReportedRun, RunReport};
pub use statement::{
    compute_statement, recompute, sign_record, sign_statement, used_works, verify_statement, Signed,
};
