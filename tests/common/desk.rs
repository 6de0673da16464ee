//! The app as an operator drives it (keys, command line, plan,
//! confirmation) with the real executor and rollout drivers behind it, a
//! journal in a temporary folder, and the daemon the environment names.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agile_deck::app::ops::OpView;
use agile_deck::app::{App, Cmd, Msg};
use agile_deck::journal::{Entry, Journal};
use agile_deck::ops::exec::{Context, Progress};
use agile_deck::rollout;
use agile_deck::sources;
use agile_deck::topology::Topology;
use agile_deck::work::Work;
use bollard::Docker;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::sync::mpsc;

/// The app, and the dashboard's own `Work` (a real executor and rollout
/// drivers) with a journal in a temporary folder.
pub struct Desk {
    pub app: App,
    /// The daemon the listing comes from.
    pub docker: Arc<Docker>,
    /// What runs confirmed work: a test may swap its daemon for a dead
    /// one (`work.docker`) or give canaries a Prometheus (`work.prom`).
    pub work: Work,
    _dir: tempfile::TempDir,
    pub tx: mpsc::Sender<Msg>,
    pub rx: mpsc::Receiver<Msg>,
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
        let docker = Arc::new(d);
        let work = Work::new(
            vec![(docker.clone(), "local (test)".into())],
            app.fleet.topology.clone(),
            journal,
            Context {
                run: "test".into(),
                user: "tester".into(),
                host: "local".into(),
            },
        );
        let mut desk = Desk {
            app,
            docker,
            work,
            _dir: dir,
            tx,
            rx,
        };
        desk.relist().await;
        desk
    }

    pub async fn relist(&mut self) {
        let topology = self.app.fleet.topology.clone();
        let manager = self.app.daemon().is_swarm_manager();
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
        let op = cmds
            .iter()
            .find_map(|c| match c {
                Cmd::RunOp { op, .. } => Some(*op),
                _ => None,
            })
            .unwrap_or_else(|| panic!("not started; flash: {:?}", self.app.flash));
        self.forward(cmds);
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
        let text = std::fs::read_to_string(&self.work.journal.path).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// Confirm a rollout's plan with `key` and start its driver, as the
    /// runtime does; its id.
    pub fn start_rollout(&mut self, key: char) -> u64 {
        let cmds = self.key(KeyCode::Char(key));
        let id = cmds
            .iter()
            .find_map(|c| match c {
                Cmd::StartRollout { view, .. } => Some(view.id),
                _ => None,
            })
            .unwrap_or_else(|| panic!("not started; flash: {:?}", self.app.flash));
        self.forward(cmds);
        id
    }

    /// Hand the app's commands for confirmed work (runs, cancels, rollout
    /// controls) to `Work`, as the runtime does; the others are the
    /// test's to look at.
    pub fn forward(&mut self, cmds: Vec<Cmd>) {
        for c in cmds {
            self.work.handle(c, &self.tx);
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
