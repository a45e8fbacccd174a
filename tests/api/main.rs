//! The integration suite: every endpoint through the real router, every
//! storage test on SQLite and on PostgreSQL, the CLI through the binary.

mod bin;
mod helpers;
mod raw_db;
mod replica;

mod agreement;
mod artists;
mod audit;
mod auth;
mod body_memory;
mod boundaries;
mod check;
mod check_cli;
mod cli;
mod connections;
mod contract;
mod crash;
mod durability;
mod exports;
mod injection;
mod integrity;
mod limits;
mod load;
mod loadgen;
mod log;
mod near;
mod near_cli;
mod newcomer_cli;
mod openapi;
mod payout;
mod payout_cli;
mod problems;
mod runs;
mod secrets;
mod shards;
mod signal_vectors;
mod signals_cli;
mod statements;
mod stats;
mod stats_api;
mod stats_sites;
mod storage;
mod upgrade;
mod vectors;
mod web;
