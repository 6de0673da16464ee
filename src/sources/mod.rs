//! Sources: tasks that turn Docker's API into messages for the app. They
//! never touch the app's state; they only send their `Feed`.
//!
//! - `inventory`: list + inspect, at start and on a slow resync;
//! - `events`: the `/events` stream, re-subscribed with backoff when it drops;
//! - `logs`: one replica's log stream, in batches.
//!
//! Live figures come from `engine`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, ContainerSummary, EventMessageTypeEnum};
use bollard::query_parameters::{
    EventsOptions, ListContainersOptions, ListNetworksOptions, ListTasksOptions,
};
use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use tokio::sync::mpsc::Sender;

use crate::model::{DockerNetwork, Health, NetworkAttachment, PortMapping, Replica, SwarmService};
use crate::topology::Topology;

mod events;
mod inspector;
mod inventory;
mod logs;

pub use events::follow_events;
pub use inspector::Inspector;
pub use inventory::*;
pub use logs::{follow_logs, last_lines};

/// A sender whose messages reach `tx` wrapped by `wrap`: one host's
/// sources and engine speak through it (`Msg::OnHost(host, …)`), so they
/// need not know which host they serve.
pub fn wrapping<M: Send + 'static>(
    tx: Sender<M>,
    wrap: impl Fn(M) -> M + Send + 'static,
) -> Sender<M> {
    let (wtx, mut wrx) = tokio::sync::mpsc::channel::<M>(4096);
    tokio::spawn(async move {
        while let Some(msg) = wrx.recv().await {
            if tx.send(wrap(msg)).await.is_err() {
                return;
            }
        }
    });
    wtx
}

/// Which source failed: a failed inspect is one container's problem, a
/// failed listing or events stream the daemon's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Inventory,
    Inspect,
    Events,
}

impl Source {
    pub fn word(self) -> &'static str {
        match self {
            Source::Inventory => "inventory",
            Source::Inspect => "inspect",
            Source::Events => "events",
        }
    }

    /// Whether its failure means the daemon is not answering.
    pub fn is_the_daemons(self) -> bool {
        self != Source::Inspect
    }
}

/// What the event and log streams tell whoever listens (the app's `Msg` is
/// `From` it): their own message, so the sources do not depend on the app.
#[derive(Debug)]
pub enum Feed {
    /// A Docker event for the timeline.
    Timeline(Box<crate::events::RawEvent>),
    Container {
        id: String,
        action: String,
    },
    Swarm {
        action: String,
    },
    Network {
        action: String,
        container: Option<String>,
    },
    /// A container as inspected now; None: it is gone.
    Inspected {
        id: String,
        replica: Option<Box<Replica>>,
    },
    /// A stream (or an inspect) failed.
    Failed {
        source: Source,
        error: String,
    },
    /// The daemon answers again after an error.
    DaemonBack,
    /// Lines for logs pane `pane`.
    LogLines {
        pane: u64,
        lines: Vec<crate::logs::LogLine>,
    },
    /// A followed replica's stream ended.
    LogEnded {
        pane: u64,
        source: usize,
        why: String,
    },
}
