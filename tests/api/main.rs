//! The integration suite: every endpoint through the real router, every
//! storage test on SQLite and on PostgreSQL, the CLI through the binary.

mod helpers;

mod artists;
mod audit;
mod auth;
mod check;
mod check_cli;
mod cli;
mod contract;
mod crash;
mod durability;
mod injection;
mod limits;
mod load;
mod loadgen;
mod log;
mod openapi;
mod payout;
mod payout_cli;
mod runs;
mod secrets;
mod statements;
mod stats;
mod stats_api;
mod storage;
mod upgrade;
mod vectors;
