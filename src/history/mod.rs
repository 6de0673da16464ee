//! The flight recorder: the fleet recorded every 5 seconds into an
//! embedded SQLite store (`store`), read back as the fleet at a moment,
//! a row's series or the events (`read`). `Recorder` is the writing
//! thread the runtime feeds: sending never blocks, so a slow disk costs
//! frames (counted), never the dashboard's responsiveness.

pub mod export;
pub mod frame;
pub mod read;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

pub use frame::Frame;
pub use read::{Moment, Reader};
pub use store::{Event, Retention, Written, default_path};

/// How often the recorder takes a frame.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(store::FINE as u64);

enum Job {
    Frame(Box<Frame>),
    Events(Vec<Event>),
    Metrics(DateTime<Utc>, Vec<(String, String, f64)>),
}

/// What the recording thread reports.
#[derive(Clone, Debug, Default)]
pub struct Status {
    pub written: Written,
    /// The store's bytes on disk, as of the last frame.
    pub size: u64,
    /// Jobs dropped because the thread was behind.
    pub dropped: u64,
    /// The last write that failed, if the latest did.
    pub error: Option<String>,
}

/// Records events into the recorder's queue from anywhere; never blocks.
#[derive(Clone)]
pub struct Sink {
    tx: Option<SyncSender<Job>>,
    status: Arc<Mutex<Status>>,
}

impl Sink {
    pub fn events(&self, e: Vec<Event>) {
        let Some(tx) = &self.tx else { return };
        if !e.is_empty() && matches!(tx.try_send(Job::Events(e)), Err(TrySendError::Full(_))) {
            self.status.lock().expect("not poisoned").dropped += 1;
        }
    }
}

/// The recording thread and its queue.
pub struct Recorder {
    tx: Option<SyncSender<Job>>,
    status: Arc<Mutex<Status>>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub path: PathBuf,
}

impl Recorder {
    /// Take the store's lock and start writing; refused (with the
    /// holder's pid) if another process records into it.
    pub fn start(path: &Path, retention: Retention) -> color_eyre::Result<Recorder> {
        let mut writer = store::Writer::open(path, retention)?;
        let (tx, rx) = sync_channel::<Job>(64);
        let status = Arc::new(Mutex::new(Status {
            size: writer.size(),
            ..Status::default()
        }));
        let shared = status.clone();
        let thread = std::thread::Builder::new()
            .name("recorder".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    let done = match job {
                        Job::Frame(f) => writer.frame(&f),
                        Job::Events(e) => writer.events(&e),
                        Job::Metrics(at, v) => writer.metrics(at, &v),
                    };
                    let mut s = shared.lock().expect("not poisoned");
                    match done {
                        Ok(()) => s.error = None,
                        Err(e) => {
                            let e = format!("{e:#}");
                            if s.error.as_ref() != Some(&e) {
                                log::error!("recording into {}: {e}", writer.path.display());
                            }
                            s.error = Some(e);
                        }
                    }
                    s.written = writer.written.clone();
                    s.size = writer.size();
                }
                if let Err(e) = writer.finish() {
                    log::error!("recording into {}: {e:#}", writer.path.display());
                }
            })?;
        Ok(Recorder {
            tx: Some(tx),
            status,
            thread: Some(thread),
            path: path.to_path_buf(),
        })
    }

    fn send(&self, job: Job) {
        let Some(tx) = &self.tx else { return };
        if let Err(TrySendError::Full(_)) = tx.try_send(job) {
            self.status.lock().expect("not poisoned").dropped += 1;
        }
    }

    pub fn frame(&self, f: Frame) {
        self.send(Job::Frame(Box::new(f)));
    }

    pub fn events(&self, e: Vec<Event>) {
        if !e.is_empty() {
            self.send(Job::Events(e));
        }
    }

    /// A handle that records events from another task (a dead
    /// replica's last log lines, fetched after the fact).
    pub fn events_sink(&self) -> Sink {
        Sink {
            tx: self.tx.clone(),
            status: self.status.clone(),
        }
    }

    pub fn metrics(&self, at: DateTime<Utc>, values: Vec<(String, String, f64)>) {
        if !values.is_empty() {
            self.send(Job::Metrics(at, values));
        }
    }

    pub fn status(&self) -> Status {
        self.status.lock().expect("not poisoned").clone()
    }

    /// Write what is queued and the minute in progress, then stop.
    pub fn finish(mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
