//! Inspects containers for whoever asks, one at a time per container.
//!
//! Two inspects of one container in flight may answer out of order, and
//! an older state (running) would overwrite a newer one (OOM-killed): a
//! burst of events (create, start, oom, die) asks for several at once. So
//! a request for a container being inspected only marks it to be
//! inspected once more when that answer is in: its answers come in the
//! order they were asked, the last one after the last request, and a
//! burst costs two inspects per container, not one per event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bollard::Docker;
use tokio::sync::Semaphore;
use tokio::sync::mpsc::Sender;

use super::{Feed, INSPECT_CONCURRENCY, Source, inspect};
use crate::topology::Topology;

/// One daemon's inspector (cheap to clone: the clones share their state).
#[derive(Clone)]
pub struct Inspector {
    docker: Arc<Docker>,
    /// Bounds concurrent inspects, so an event storm cannot flood the daemon.
    permits: Arc<Semaphore>,
    /// Containers being inspected, and whether they were asked for again.
    busy: Arc<Mutex<HashMap<String, bool>>>,
}

impl Inspector {
    pub fn new(docker: Arc<Docker>) -> Inspector {
        Inspector {
            docker,
            permits: Arc::new(Semaphore::new(INSPECT_CONCURRENCY)),
            busy: Arc::default(),
        }
    }

    /// Inspect `id` and send what it is (or that it is gone, or the
    /// error) to `tx`; see the module's comment for a container already
    /// being inspected.
    pub fn request<M: From<Feed> + Send + 'static>(
        &self,
        topology: Arc<Topology>,
        id: String,
        tx: Sender<M>,
    ) {
        {
            let mut busy = self.busy.lock().expect("inspector lock");
            if let Some(again) = busy.get_mut(&id) {
                *again = true;
                return;
            }
            busy.insert(id.clone(), false);
        }
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                let feed = match me.permits.acquire().await {
                    Ok(_permit) => match inspect(&me.docker, &topology, &id).await {
                        Ok(replica) => Feed::Inspected {
                            id: id.clone(),
                            replica: replica.map(Box::new),
                        },
                        Err(e) => Feed::Failed {
                            source: Source::Inspect,
                            error: crate::connect::with_causes(&e),
                        },
                    },
                    // Never closed; were it, nothing more is inspected.
                    Err(_) => return,
                };
                let _ = tx.send(M::from(feed)).await;
                let mut busy = me.busy.lock().expect("inspector lock");
                match busy.get_mut(&id) {
                    Some(again) if *again => *again = false,
                    _ => {
                        busy.remove(&id);
                        return;
                    }
                }
            }
        });
    }

    /// Containers being inspected now.
    pub fn in_flight(&self) -> usize {
        self.busy.lock().expect("inspector lock").len()
    }
}
