//! Docker's `/events` stream, filtered to what changes the view,
//! re-subscribed with backoff, with `DaemonBack` when it answers again.

use super::*;

/// Follow `/events` for containers, services, nodes and networks; resubscribe with
/// backoff when the stream fails, and tell the app so it resyncs.
pub async fn follow_events<M: From<Feed>>(docker: Docker, tx: Sender<M>, answered: bool) {
    let mut backoff = Duration::from_millis(500);
    // A daemon that has not answered yet (`answered` false) is probed,
    // and its API version agreed on, before the first subscription.
    let mut probe = !answered;
    loop {
        if probe {
            // Probe before subscribing so the app hears when the daemon is
            // back; a daemon restarted may be another version.
            match docker.clone().negotiate_version().await {
                Ok(_) => {
                    if tx.send(Feed::DaemonBack.into()).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    if tx.send(failed(&e).into()).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(backoff).await;
                    // At most 2 s: a daemon that answers again is seen within that.
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            }
        }
        probe = true;
        let mut filters = HashMap::new();
        filters.insert(
            "type".to_string(),
            vec![
                "container".to_string(),
                "service".to_string(),
                "node".to_string(),
                "network".to_string(),
            ],
        );
        // Only what changes the view: not the exec_* events every health
        // probe makes (a few per second on a busy host), nor attach/resize/top.
        filters.insert(
            "event".to_string(),
            [
                "create",
                "start",
                "restart",
                "die",
                "kill",
                "oom",
                "stop",
                "destroy",
                "pause",
                "unpause",
                "rename",
                "update",
                "health_status",
                "connect",
                "disconnect",
                "remove",
            ]
            .map(String::from)
            .to_vec(),
        );
        let mut events = docker.events(Some(EventsOptions {
            filters: Some(filters),
            ..Default::default()
        }));
        while let Some(item) = events.next().await {
            match item {
                Ok(ev) => {
                    backoff = Duration::from_millis(500);
                    let id = ev
                        .actor
                        .as_ref()
                        .and_then(|a| a.id.clone())
                        .unwrap_or_default();
                    let action = ev.action.clone().unwrap_or_default();
                    let kind = match ev.typ {
                        Some(EventMessageTypeEnum::CONTAINER) => "container",
                        Some(EventMessageTypeEnum::SERVICE) => "service",
                        Some(EventMessageTypeEnum::NODE) => "node",
                        _ => "",
                    };
                    if !kind.is_empty() && !action.starts_with("exec_") {
                        let time = ev
                            .time_nano
                            .map(chrono::DateTime::from_timestamp_nanos)
                            .or_else(|| {
                                ev.time.and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                            })
                            .unwrap_or_else(chrono::Utc::now);
                        let raw = crate::events::RawEvent {
                            kind: kind.into(),
                            id: id.clone(),
                            action: action.clone(),
                            time,
                            attrs: ev
                                .actor
                                .as_ref()
                                .and_then(|a| a.attributes.clone())
                                .unwrap_or_default()
                                .into_iter()
                                .collect(),
                        };
                        if tx.send(Feed::Timeline(Box::new(raw)).into()).await.is_err() {
                            return;
                        }
                    }
                    let feed = match ev.typ {
                        Some(EventMessageTypeEnum::CONTAINER) => Feed::Container { id, action },
                        Some(EventMessageTypeEnum::SERVICE) | Some(EventMessageTypeEnum::NODE) => {
                            Feed::Swarm { action }
                        }
                        // Connect/disconnect also change containers' networks.
                        Some(EventMessageTypeEnum::NETWORK) => Feed::Network {
                            action,
                            container: ev
                                .actor
                                .as_ref()
                                .and_then(|a| a.attributes.as_ref())
                                .and_then(|a| a.get("container").cloned()),
                        },
                        _ => continue,
                    };
                    if tx.send(feed.into()).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    if tx.send(failed(&e).into()).await.is_err() {
                        return;
                    }
                    break;
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// The events source failed: the daemon is not answering (with its causes).
fn failed(e: &bollard::errors::Error) -> Feed {
    Feed::Failed {
        source: Source::Events,
        error: crate::connect::with_causes(e),
    }
}
