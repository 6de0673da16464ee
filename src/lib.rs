//! agile-deck: a terminal dashboard for live Docker and Swarm deployments.
//!
//! The crate is a library so the tests can drive every part without a
//! terminal; `main.rs` only parses the command line and starts things.
//! See ARCHITECTURE.md for how a message travels from Docker to the screen.

pub mod agent;
pub mod alerting;
pub mod app;
pub mod audit;
pub mod baseline;
pub mod cgroup;
pub mod cli;
pub mod commands;
pub mod config;
pub mod connect;
pub mod demo;
pub mod dirs;
pub mod driver;
pub mod engine;
pub mod events;
pub mod file_error;
pub mod filter;
pub mod fleet;
pub mod format;
pub mod history;
pub mod hosts;
pub mod journal;
pub mod keymap;
pub mod logs;
pub mod metrics;
pub mod model;
pub mod ops;
pub mod placement;
pub mod policy;
pub mod prometheus;
pub mod promserver;
pub mod recovery;
pub mod relay;
pub mod rollout;
pub mod rulebook;
pub mod runtime;
pub mod shell;
pub mod snapshot;
pub mod sources;
pub mod stats;
pub mod terminal;
pub mod text;
pub mod theme;
pub mod topology;
pub mod ui;
pub mod units;
pub mod varint;
pub mod when;
pub mod words;
pub mod work;
