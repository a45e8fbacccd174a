//! Payouts: the arithmetic of a training run's payout ([`compute`]) and the
//! signed statement and record that carry it ([`statement`]). Pure: no I/O,
//! no keys.

pub mod compute;
pub mod statement;

pub use compute::*;
pub use statement::*;
