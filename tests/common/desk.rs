//! The app as an operator drives it (keys, command line, plan,
//! confirmation) with the real executor and rollout drivers behind it, a
//! journal in a temporary folder, and the daemon the environment names.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use agile_deck::app::ops::OpView;
use agile_deck::app::{App, Cmd, Msg};
use agile_deck::journal::{Entry, Journal};
use agile_deck::ops::Machine;
use agile_deck::ops::exec::{self, Context, Progress};
use agile_deck::rollout::{self, Control};
use agile_deck::sources;
use agile_deck::topology::Topology;
use bollard::Docker;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::sync::mpsc;

/// The app, a real executor and a journal in a temporary folder.
pub struct Desk {
    pub app: App,
    pub docker: Arc<Docker>,
    /// The daemon the executor talks to (a test swaps it for a dead one).
    pub runner: Arc<Docker>,
    pub journal: Arc<Journal>,
    _dir: tempfile::TempDir,
    pub tx: mpsc::Sender<Msg>,
    pub rx: mpsc::Receiver<Msg>,
    /// Canaries ask this Prometheus (with the topology's metrics).
    pub prom: Option<Arc<agile_deck::prometheus::Client>>,
    controls: HashMap<u64, mpsc::Sender<Control>>,
}

impl Desk {
    pub async fn new(topology: Topology) -> Desk {
        Desk::on(topology, None).await
    }

    /// On the daemon `host` names (None: the environment's).
    pub async fn on(topology: Topology, host: Option<&str>) -> Desk {
        let (app, d) = super::app_on(topology, host).await;
        let dir = tempfile::tempdir().unwrap();
        let journal = Arc::new(Journal::open(&dir.path().join("journal.jsonl")).unwrap());
        let (tx, rx) = mpsc::channel(4096);
        let mut desk = Desk {
            app,
            runner: Arc::new(d.clone()),
            docker: Arc::new(d),
            journal,
            _dir: dir,
            tx,
            rx,
            prom: None,
            controls: HashMap::new(),
        };
        desk.relist().await;
        desk
    }

    pub async fn relist(&mut self) {
        let topology = self.app.fleet.topology.clone();
        let manager = self.app.daemon.swarm == "manager";
        let listing = sources::list(&self.docker, &topology, &HashMap::new(), manager)
            .await
            .unwrap();
        self.app.update(Msg::Listing(listing));
        if manager {
            let services = sources::list_services(&self.docker, &topology)
                .await
                .unwrap();
            self.app.update(Msg::Services(services));
        }
    }

    pub fn key(&mut self, code: KeyCode) -> Vec<Cmd> {
        self.app
            .update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
    }

    /// Type `:line` and Enter; the plan is then pending (or `flash` says why not).
    /// Controls for rollouts go straight to their drivers.
    pub fn command(&mut self, line: &str) {
        self.key(KeyCode::Char(':'));
        for c in line.chars() {
            self.key(KeyCode::Char(c));
        }
        let cmds = self.key(KeyCode::Enter);
        self.forward(cmds);
    }

    pub fn plan_steps(&self) -> Vec<String> {
        let p = &self
            .app
            .ops
            .pending
            .as_ref()
            .unwrap_or_else(|| panic!("no plan; flash: {:?}", self.app.flash));
        p.plan.steps.iter().map(|s| s.what.clone()).collect()
    }

    /// Confirm with `key` and run the operation to its end with the real
    /// executor, feeding its messages to the app; then list again.
    pub async fn confirm(&mut self, key: char) -> OpView {
        let cmds = self.key(KeyCode::Char(key));
        let (op, plan) = cmds
            .into_iter()
            .find_map(|c| match c {
                Cmd::RunOp { op, plan } => Some((op, plan)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("not started; flash: {:?}", self.app.flash));
        tokio::spawn(exec::run(
            self.runner.clone(),
            Machine::new(plan),
            op,
            Context {
                run: "test".into(),
                user: "tester".into(),
                host: "local".into(),
            },
            self.journal.clone(),
            Arc::new(AtomicBool::new(false)),
            self.tx.clone(),
        ));
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(120), self.rx.recv())
                .await
                .expect("the operation went quiet")
                .unwrap();
            let done =
                matches!(&msg, Msg::Op { op: o, progress: Progress::Finished { .. } } if *o == op);
            self.app.update(msg);
            if done {
                break;
            }
        }
        self.relist().await;
        self.app
            .ops
            .list
            .iter()
            .find(|o| o.id == op)
            .unwrap()
            .clone()
    }

    pub fn journal_lines(&self) -> Vec<Entry> {
        let text = std::fs::read_to_string(&self.journal.path).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// Confirm a rollout's plan with `key` and start its driver, as the
    /// runtime does; its id.
    pub fn start_rollout(&mut self, key: char) -> u64 {
        let cmds = self.key(KeyCode::Char(key));
        let (request, view) = cmds
            .into_iter()
            .find_map(|c| match c {
                Cmd::StartRollout { request, view } => Some((request, view)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("not started; flash: {:?}", self.app.flash));
        let id = view.id;
        let (ctl, controls) = mpsc::channel(8);
        self.controls.insert(id, ctl);
        let driver = agile_deck::driver::Driver::new(
            *request.clone(),
            *view,
            self.tx.clone(),
            controls,
            self.journal.clone(),
            Context {
                run: "test".into(),
                user: "tester".into(),
                host: "local".into(),
            },
        );
        if request.swarm_id.is_some() {
            tokio::spawn(driver.run_swarm(self.runner.clone()));
        } else {
            let metrics = self.app.fleet.topology.metrics.clone();
            let prom = self.prom.clone().map(|c| (c, metrics));
            tokio::spawn(driver.run_compose(self.runner.clone(), prom));
        }
        id
    }

    /// Hand the app's commands for rollouts to their drivers.
    pub fn forward(&mut self, cmds: Vec<Cmd>) {
        for c in cmds {
            if let Cmd::RolloutControl { id, control } = c {
                self.controls[&id].try_send(control).unwrap();
            }
        }
    }

    /// A rollout as the app knows it.
    pub fn rollout(&self, id: u64) -> rollout::View {
        self.app
            .ops
            .rollouts
            .iter()
            .find(|r| r.id == id)
            .unwrap()
            .clone()
    }

    /// Feed the drivers' messages to the app until `done` holds of rollout
    /// `id` (or panic after `timeout`).
    pub async fn until(
        &mut self,
        id: u64,
        timeout: Duration,
        done: impl Fn(&rollout::View) -> bool,
    ) -> rollout::View {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let r = self.rollout(id);
            if done(&r) {
                return r;
            }
            let msg = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .unwrap_or_else(|_| panic!("rollout #{id} went quiet: {r:#?}"))
                .unwrap();
            let cmds = self.app.update(msg);
            self.forward(cmds);
        }
    }
}
