//! Rollout drivers, the tasks that carry a rollout out against Docker
//! (`compose`: agile-deck replaces the replicas; `swarm`: Swarm does and
//! the driver follows), and what they share: the view reported after each
//! change, the journal line per Docker action, the user's controls.

pub mod compose;
pub mod swarm;

use crate::journal::Outcome;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;

use crate::journal::Journal;
use crate::ops::exec::{Context, entry_for};
use crate::ops::{Kind, StepError};
use crate::rollout::{Control, Phase, Request, View};

/// What the user said, if anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Got {
    Nothing,
    Pause,
    Resume,
    Rollback,
    Abort,
}

/// What a driver tells whoever listens (the app's `Msg` is `From` it): its
/// own message, so the drivers do not depend on the app.
#[derive(Debug)]
pub enum Report {
    /// The driver's latest view of its rollout.
    View(Box<View>),
    /// A line the journal just took.
    Journaled(Box<crate::journal::Entry>),
}

pub struct Driver<M> {
    pub request: Request,
    pub view: View,
    tx: mpsc::Sender<M>,
    controls: mpsc::Receiver<Control>,
    journal: Arc<Journal>,
    ctx: Context,
    steps: std::sync::atomic::AtomicUsize,
    /// Why the journal last refused a line, until the rollout stops for it.
    unjournaled: std::sync::Mutex<Option<String>>,
}

impl<M: From<Report> + Send + 'static> Driver<M> {
    pub fn new(
        request: Request,
        view: View,
        tx: mpsc::Sender<M>,
        controls: mpsc::Receiver<Control>,
        journal: Arc<Journal>,
        ctx: Context,
    ) -> Driver<M> {
        Driver {
            request,
            view,
            tx,
            controls,
            journal,
            ctx,
            steps: Default::default(),
            unjournaled: Default::default(),
        }
    }

    fn params(&self) -> serde_json::Value {
        let s = &self.request.spec;
        json!({
            "from": self.view.from,
            "to": self.view.to,
            "what": self.view.what.word(),
            "parallelism": s.parallelism,
            "delay": crate::rollout::duration_text(s.delay),
            "monitor": crate::rollout::duration_text(s.monitor),
            "healthy_within": crate::rollout::duration_text(s.healthy_within),
            "failure": s.on_failure.word(),
            "ratio": s.max_ratio,
            "order": s.order.word(),
            // What a later agile-deck needs to take it over (recovery).
            "replicas": self.view.slots.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        })
    }

    /// A journal line of this rollout ("step" or "result"), to fill in.
    pub(super) fn entry(&self, kind: &str) -> crate::journal::Entry {
        let target = format!("service {}", self.request.service.name);
        entry_for(
            &self.ctx,
            self.view.id,
            Kind::Rollout,
            &target,
            &self.params(),
            kind,
        )
    }

    /// Report the view to the app.
    pub async fn send(&self) {
        let _ = self
            .tx
            .send(Report::View(Box::new(self.view.clone())).into())
            .await;
    }

    /// Journal one action (fsync'd) and pass its result on.
    pub async fn step(
        &self,
        what: String,
        cli: String,
        result: Result<String, StepError>,
    ) -> Result<String, StepError> {
        let n = self
            .steps
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let mut e = self.entry("step");
        e.step = Some(n);
        e.what = what;
        e.cli = cli;
        match &result {
            Ok(d) => (e.outcome, e.detail) = (Outcome::Done, d.clone()),
            Err(err) => (e.outcome, e.error) = (Outcome::Failed, err.message.clone()),
        }
        self.journaled(e).await;
        result
    }

    pub(super) async fn journaled(&self, e: crate::journal::Entry) {
        match self.journal.append(&e) {
            Ok(()) => {
                let _ = self.tx.send(Report::Journaled(Box::new(e)).into()).await;
            }
            Err(err) => {
                // The operations' policy: nothing goes on unrecorded. The
                // step that ran is reported; the next poll pauses.
                log::error!("{err:#}");
                *self.journal_trouble() = Some(format!("{err:#}"));
            }
        }
    }

    fn journal_trouble(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        // A panic elsewhere while holding it leaves a plain Option behind.
        self.unjournaled.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Why the journal refused a line, once (the rollout paused for it).
    pub fn take_unjournaled(&self) -> Option<String> {
        self.journal_trouble().take()
    }

    /// End in `phase`: the result line and the last view.
    pub async fn finish(&mut self, phase: Phase) {
        let mut e = self.entry("result");
        (e.outcome, e.error) = phase.outcome();
        e.detail = self.view.message.clone();
        e.after = json!({
            "replicas": self.view.slots.iter().map(|s| json!({
                "name": s.name, "state": format!("{:?}", s.state), "image": if s.state == crate::rollout::SlotState::Replaced { &s.to } else { &s.from },
            })).collect::<Vec<_>>(),
            "failures": self.view.failures,
        });
        self.journaled(e).await;
        self.view.phase = phase;
        self.view.finished = Some(chrono::Utc::now());
        self.send().await;
    }

    fn got(c: Option<Control>) -> Got {
        match c {
            Some(Control::Pause) => Got::Pause,
            Some(Control::Resume) => Got::Resume,
            Some(Control::Rollback) => Got::Rollback,
            Some(Control::Abort) => Got::Abort,
            // The app is gone: finish what is safe, i.e. stop here.
            None => Got::Abort,
        }
    }

    /// The user's word within `wait` (Nothing if none came); Pause at once
    /// while the journal refuses lines.
    pub async fn control(&mut self, wait: Duration) -> Got {
        if self.journal_trouble().is_some() {
            return Got::Pause;
        }
        match tokio::time::timeout(wait, self.controls.recv()).await {
            Ok(c) => Self::got(c),
            Err(_) => Got::Nothing,
        }
    }

    /// Wait as long as it takes for the user's word.
    pub async fn wait_control(&mut self) -> Got {
        Self::got(self.controls.recv().await)
    }
}
