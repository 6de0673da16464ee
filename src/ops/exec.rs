//! Running an operation: each step's action (`steps::execute`), the
//! machine's decision on what it observed, a journal line (fsync'd) per
//! step and one for the result, and a progress message per change.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bollard::Docker;
use serde_json::json;
use tokio::sync::mpsc;

use super::steps::execute;
use super::{Machine, Status, StepState};
use crate::journal::{Entry, Journal, Outcome};

/// Who and where, for every journal line of a run.
#[derive(Clone, Debug)]
pub struct Context {
    pub run: String,
    pub user: String,
    pub host: String,
}

/// Progress of operation `op`, for the app.
#[derive(Clone, Debug, PartialEq)]
pub enum Progress {
    Step { index: usize, state: StepState },
    Finished { status: Status, summary: String },
}

fn entry(ctx: &Context, op: u64, m: &Machine, kind: &str) -> Entry {
    entry_for(ctx, op, m.plan.kind, &m.plan.target, &m.plan.params, kind)
}

/// A journal line of operation `op` ("step" or "result"), to fill in.
pub fn entry_for(
    ctx: &Context,
    op: u64,
    operation: super::Kind,
    target: &str,
    params: &serde_json::Value,
    kind: &str,
) -> Entry {
    Entry {
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        run: ctx.run.clone(),
        op,
        kind: kind.into(),
        user: ctx.user.clone(),
        host: ctx.host.clone(),
        operation: operation.word().into(),
        target: target.to_string(),
        params: params.clone(),
        step: None,
        what: String::new(),
        before: serde_json::Value::Null,
        after: serde_json::Value::Null,
        cli: String::new(),
        outcome: Outcome::Running,
        detail: String::new(),
        error: String::new(),
    }
}

/// What a running operation tells whoever listens (the app's `Msg` is
/// `From` it): its own message, so the executor does not depend on the app.
#[derive(Debug)]
pub enum Report {
    /// How operation `op` goes.
    Op { op: u64, progress: Progress },
    /// A line the journal just took.
    Journaled(Box<crate::journal::Entry>),
}

/// Drive `m` to its end: run each step, journal it (fsync) and only then
/// report it. `cancel` is looked at between steps.
pub async fn run<M: From<Report>>(
    docker: Arc<Docker>,
    mut m: Machine,
    op: u64,
    ctx: Context,
    journal: Arc<Journal>,
    cancel: Arc<AtomicBool>,
    tx: mpsc::Sender<M>,
) {
    let send = |p: Progress| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(Report::Op { op, progress: p }.into()).await;
        }
    };
    loop {
        if cancel.load(Ordering::Relaxed) {
            m.cancel();
        }
        let Some((i, action)) = m.next_step() else {
            break;
        };
        send(Progress::Step {
            index: i,
            state: StepState::Running,
        })
        .await;
        let result = execute(&docker, &action).await;
        m.observe(i, result);
        let step = &m.plan.steps[i];
        let state = m.steps[i].clone();
        let mut e = entry(&ctx, op, &m, "step");
        e.step = Some(i + 1);
        e.what = step.what.clone();
        e.before = step.before.clone();
        e.cli = step.cli.clone();
        (e.outcome, e.detail, e.error) = match &state {
            StepState::Done(d) => (Outcome::Done, d.clone(), String::new()),
            StepState::Skipped(d) => (Outcome::Skipped, d.clone(), String::new()),
            StepState::Failed(err) => (Outcome::Failed, String::new(), err.clone()),
            other => (
                Outcome::Other(format!("{other:?}")),
                String::new(),
                String::new(),
            ),
        };
        if state.took_effect() {
            e.after = step.after.clone();
        }
        match journal.append(&e) {
            Ok(()) => {
                let _ = tx.send(Report::Journaled(Box::new(e)).into()).await;
            }
            Err(err) => {
                // A journal that cannot be written stops the operation:
                // nothing happens that is not on record.
                log::error!("{err:#}");
                m.cancel();
            }
        }
        send(Progress::Step { index: i, state }).await;
    }
    let summary = m.summary();
    let mut e = entry(&ctx, op, &m, "result");
    (e.outcome, e.error) = m.status.outcome();
    e.detail = summary.clone();
    e.after = json!({ "steps": m.steps.iter().map(|s| s.symbol()).collect::<String>() });
    match journal.append(&e) {
        Ok(()) => {
            let _ = tx.send(Report::Journaled(Box::new(e)).into()).await;
        }
        Err(err) => log::error!("{err:#}"),
    }
    send(Progress::Finished {
        status: m.status.clone(),
        summary,
    })
    .await;
}
