//! agile-deck's own agent: the local stats engine's cgroup reader, run on
//! an `ssh://` host by the dashboard through the user's own ssh, so that a
//! remote host is watched at the cost of a local one (no Docker stats
//! stream per container). Nothing listens, nothing is stored, nothing is
//! left running: authentication and encryption are ssh's, and the agent
//! lives exactly as long as its stdin.
//!
//! * `wire`: the framed, versioned protocol.
//! * `serve`: `agile-deck agent --stdio`, on the host.
//! * `link`: the dashboard's side, one per `ssh://` host.
//! * `install`: `agile-deck agent install HOST`.

pub mod install;
pub mod link;
pub mod serve;
pub mod wire;
