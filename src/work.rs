//! Confirmed work: the one place where a confirmed operation goes to the
//! executor and a confirmed rollout to its driver, and where the app's
//! cancel and rollout controls reach them. The runtime hands it the app's
//! commands; the integration tests drive the app through the same `Work`,
//! so what they test is what the dashboard runs.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bollard::Docker;
use tokio::sync::mpsc;

use crate::app::{Cmd, Msg};
use crate::journal::{Journal, Outcome};
use crate::model::HostId;
use crate::ops::exec::{self, Context};
use crate::ops::{Kind, Machine};
use crate::prometheus::Client;
use crate::rollout::Control;
use crate::topology::Topology;

pub struct Work {
    /// The daemons work acts on, by host (`HostId` is the index), each
    /// with its label for the journal.
    pub hosts: Vec<(Arc<Docker>, String)>,
    /// Canaries' gates ask this Prometheus, with the topology's metrics.
    pub prom: Option<Arc<Client>>,
    pub topology: Arc<Topology>,
    pub journal: Arc<Journal>,
    /// Who, for the journal (where is the host's label).
    pub context: Context,
    /// Cancel flags of running operations.
    cancels: HashMap<u64, Arc<AtomicBool>>,
    /// The way to each running rollout's driver.
    controls: HashMap<u64, mpsc::Sender<Control>>,
}

impl Work {
    pub fn new(
        hosts: Vec<(Arc<Docker>, String)>,
        topology: Arc<Topology>,
        journal: Arc<Journal>,
        context: Context,
    ) -> Work {
        Work {
            hosts,
            prom: None,
            topology,
            journal,
            context,
            cancels: HashMap::new(),
            controls: HashMap::new(),
        }
    }

    /// The daemon of `host` and the journal's context there.
    fn on(&self, host: HostId) -> (Arc<Docker>, Context) {
        let (docker, label) = &self.hosts[host.index()];
        let context = Context {
            host: label.clone(),
            ..self.context.clone()
        };
        (docker.clone(), context)
    }

    /// Carry out `cmd` if it is confirmed work or a control of it; any
    /// other command comes back for its owner.
    pub fn handle(&mut self, cmd: Cmd, tx: &mpsc::Sender<Msg>) -> Option<Cmd> {
        match cmd {
            Cmd::RunOp { op, host, plan } => {
                let (docker, context) = self.on(host);
                let cancel = Arc::new(AtomicBool::new(false));
                self.cancels.retain(|_, c| Arc::strong_count(c) > 1);
                self.cancels.insert(op, cancel.clone());
                log::info!(
                    "#{op} {}: confirmed, {} steps",
                    plan.title,
                    plan.steps.len()
                );
                tokio::spawn(exec::run(
                    docker,
                    Machine::new(plan),
                    op,
                    context,
                    self.journal.clone(),
                    cancel,
                    tx.clone(),
                ));
            }
            Cmd::CancelOp(op) => {
                if let Some(c) = self.cancels.get(&op) {
                    c.store(true, Ordering::Relaxed);
                }
            }
            Cmd::StartRollout {
                host,
                request,
                view,
            } => {
                let (docker, context) = self.on(host);
                let (ctl, controls) = mpsc::channel(8);
                self.controls.retain(|_, c| !c.is_closed());
                self.controls.insert(view.id, ctl);
                let swarm = request.swarm_id.is_some();
                let driver = crate::driver::Driver::new(
                    *request,
                    *view,
                    tx.clone(),
                    controls,
                    self.journal.clone(),
                    context,
                );
                if swarm {
                    tokio::spawn(driver.run_swarm(docker));
                } else {
                    let prom = self
                        .prom
                        .clone()
                        .map(|c| (c, self.topology.metrics.clone()));
                    tokio::spawn(driver.run_compose(docker, prom));
                }
            }
            Cmd::RolloutControl { id, control } => {
                if let Some(c) = self.controls.get(&id) {
                    let _ = c.try_send(control);
                }
            }
            Cmd::CloseInterrupted {
                host,
                run,
                op,
                operation,
                target,
                detail,
            } => {
                let context = Context {
                    host,
                    ..self.context.clone()
                };
                let mut e = exec::entry_for(
                    &context,
                    op,
                    Kind::Rollout,
                    &target,
                    &serde_json::Value::Null,
                    "result",
                );
                (e.run, e.operation, e.outcome, e.detail) =
                    (run, operation, Outcome::Interrupted, detail);
                match self.journal.append(&e) {
                    Ok(()) => {
                        let _ = tx.try_send(Msg::Journaled(Box::new(e)));
                    }
                    Err(err) => log::error!("{err:#}"),
                }
            }
            other => return Some(other),
        }
        None
    }
}
