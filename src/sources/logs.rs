//! One replica's logs for a logs pane, in batches.

use super::*;
use crate::logs::split_chunk;
use bollard::container::LogOutput;

/// Follow one replica's logs for logs pane `pane`: the last `tail` lines,
/// then everything new, sent in batches (every 50 ms or 256 lines) so a
/// chatty replica costs a few messages a second. Ends with `Feed::LogEnded`.
pub async fn follow_logs<M: From<Feed>>(
    docker: Docker,
    pane: u64,
    source: usize,
    id: String,
    tail: Option<usize>,
    since: i32,
    tx: Sender<M>,
) {
    use crate::logs::LogLine;
    let options = bollard::query_parameters::LogsOptions {
        follow: true,
        stdout: true,
        stderr: true,
        timestamps: true,
        since,
        tail: tail.map(|n| n.to_string()).unwrap_or_else(|| "all".into()),
        ..Default::default()
    };
    let mut stream = docker.logs(&id, Some(options));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut batch: Vec<LogLine> = Vec::new();
    let mut last_send = std::time::Instant::now();
    let why = loop {
        let next = tokio::time::timeout(Duration::from_millis(50), stream.next()).await;
        match next {
            Ok(Some(Ok(chunk))) => {
                let (stderr, partial, bytes) = match chunk {
                    LogOutput::StdErr { message } => (true, &mut err, message),
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        (false, &mut out, message)
                    }
                    LogOutput::StdIn { .. } => continue,
                };
                for (at, text) in split_chunk(partial, &bytes) {
                    batch.push(LogLine {
                        at,
                        source,
                        stderr,
                        text,
                        marker: false,
                    });
                }
            }
            Ok(Some(Err(e))) => break format!("logs of this replica failed: {e}"),
            Ok(None) => break "stream ended: the replica stopped".to_string(),
            Err(_) => {} // quiet for 50 ms: time to send what there is
        }
        if !batch.is_empty()
            && (batch.len() >= 256 || last_send.elapsed() >= Duration::from_millis(50))
        {
            let lines = std::mem::take(&mut batch);
            if tx
                .send(Feed::LogLines { pane, lines }.into())
                .await
                .is_err()
            {
                return;
            }
            last_send = std::time::Instant::now();
        }
    };
    if !batch.is_empty() {
        let _ = tx.send(Feed::LogLines { pane, lines: batch }.into()).await;
    }
    let _ = tx.send(Feed::LogEnded { pane, source, why }.into()).await;
}

/// A container's last `n` log lines, once (not followed): what the
/// recorder keeps of a replica that died. (time, stderr, text), oldest
/// first.
pub async fn last_lines(
    docker: &Docker,
    id: &str,
    n: usize,
) -> Result<Vec<(DateTime<Utc>, bool, String)>, String> {
    let options = bollard::query_parameters::LogsOptions {
        follow: false,
        stdout: true,
        stderr: true,
        timestamps: true,
        tail: n.to_string(),
        ..Default::default()
    };
    let mut stream = docker.logs(id, Some(options));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut lines = Vec::new();
    while let Some(chunk) = stream.next().await {
        let (stderr, partial, bytes) = match chunk.map_err(|e| e.to_string())? {
            LogOutput::StdErr { message } => (true, &mut err, message),
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                (false, &mut out, message)
            }
            LogOutput::StdIn { .. } => continue,
        };
        for (at, text) in split_chunk(partial, &bytes) {
            lines.push((at, stderr, text));
        }
    }
    lines.sort_by_key(|l| l.0);
    Ok(lines)
}
