//! Every pane rendered into a TestBackend at 80×24 and 160×48, from a fixed
//! fleet (the demo deployment's shape, with figures), and snapshotted.
//!
//! One module per view, all drawing the shared fixture (fixture.rs).

mod audit;
mod fixture;
mod help;
mod incident;
mod ops;
mod prometheus;
mod rollouts;
mod screen;
