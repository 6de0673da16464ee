//! `agile-deck snapshot [--json]`: the fleet view once, to stdout, for
//! incident channels and scripts. The same listing and stats engine as the
//! dashboard, for as long as the first figures take, then out.

use color_eyre::eyre::{Result, WrapErr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::app::{App, Cmd, Msg};
use crate::engine::{Chosen, Engine, Path, Target};
use crate::fleet::{GroupBy, Row};
use crate::format;
use crate::model::{DaemonInfo, HostId};
use crate::sources;

/// One host to take: its client and what its daemon said, or why it
/// could not be reached.
pub struct HostTake {
    pub docker: Docker,
    pub info: std::result::Result<DaemonInfo, String>,
    pub path: Chosen,
}

/// Fill `app` (whose hosts are `hosts`, in order) with every reachable
/// host's inventory and, with `figures`, a first set of figures; an
/// unreachable one is marked lost with its reason, and the others are
/// taken all the same.
pub async fn take(app: &mut App, hosts: Vec<HostTake>, figures: bool) -> Result<()> {
    let topology = app.fleet.topology.clone();
    let (tx, mut rx) = mpsc::channel::<Msg>(4096);
    let mut engines = Vec::new();
    let mut api = false;
    for (i, h) in hosts.into_iter().enumerate() {
        let host = HostId(i as u16);
        let on = |m: Msg| Msg::OnHost(host, Box::new(m));
        let info = match h.info {
            Ok(info) => info,
            Err(error) => {
                app.update(on(Msg::SourceError {
                    source: sources::Source::Inventory,
                    error,
                }));
                engines.push(None);
                continue;
            }
        };
        app.update(on(Msg::Daemon(info.clone())));
        let listing = sources::list(
            &h.docker,
            &topology,
            &Default::default(),
            info.is_swarm_manager(),
        )
        .await
        .wrap_err_with(|| format!("{}: cannot list containers", app.hosts.name(host)))?;
        app.update(on(Msg::Listing(listing)));
        if !figures {
            continue;
        }
        // One-shot: the agent is for watching; Docker's stats answer once.
        let path = h.path.without_agent();
        api |= matches!(path, Path::Api);
        let htx = sources::wrapping(tx.clone(), move |m| Msg::OnHost(host, Box::new(m)));
        engines.push(Some(Engine::new(
            path,
            Duration::from_millis(500),
            info.mem_total,
            Arc::new(h.docker),
            htx,
            usize::MAX,
        )));
    }
    if !figures {
        return Ok(());
    }
    let targets: Vec<Target> = app
        .fleet
        .replicas
        .values()
        .filter(|r| r.is_running())
        .map(|r| Target {
            host: r.host,
            id: r.id.clone(),
            pid: r.pid,
        })
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    for (i, engine) in engines.iter_mut().enumerate() {
        if let Some(e) = engine {
            let mine: Vec<Target> = targets
                .iter()
                .filter(|t| t.host.index() == i)
                .cloned()
                .collect();
            e.watch(&mine);
        }
    }
    // Docker's stats need two readings a second apart; the cgroup files 100 ms.
    let limit = Duration::from_secs(if api { 6 } else { 3 });
    let started = Instant::now();
    while !app.fleet.all_running_sampled() && started.elapsed() < limit {
        if let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(100), rx.recv()).await {
            for cmd in app.update(msg) {
                if let Cmd::StreamInstead(targets) = cmd
                    && let Some(Some(e)) = targets
                        .first()
                        .map(|t| t.host.index())
                        .and_then(|i| engines.get_mut(i))
                {
                    e.stream_instead(targets);
                }
            }
        }
    }
    Ok(())
}

fn row_json(r: &Row) -> Value {
    let f = &r.figures;
    json!({
        "name": r.name,
        "services": r.services,
        "running": r.running,
        "wanted": r.wanted,
        "health": {
            "healthy": r.health.healthy,
            "starting": r.health.starting,
            "unhealthy": r.health.unhealthy,
            "no_check": r.health.no_check,
        },
        "cpu_percent": (f.sampled > 0).then_some(f.cpu_pct),
        "memory_used": (f.sampled > 0).then_some(f.mem_used),
        "memory_limit": (f.sampled > 0).then_some(f.mem_limit),
        "partial": f.sampled < r.running,
    })
}

/// The snapshot as JSON: daemon, layers, teams, replicas.
pub fn to_json(app: &App) -> Value {
    let mut replicas: Vec<_> = app.fleet.replicas.values().collect();
    replicas.sort_by(|a, b| a.name.cmp(&b.name));
    json!({
        "host": app.hosts.first().label(),
        "hosts": app.hosts.iter().map(|(_, h)| json!({
            "name": h.name,
            "url": h.url,
            "docker": h.daemon.server_version,
            "state": match &h.link {
                crate::hosts::Link::Up => "up",
                crate::hosts::Link::Connecting => "connecting",
                crate::hosts::Link::Down { .. } => "unreachable",
            },
            "error": match &h.link {
                crate::hosts::Link::Down { error, .. } => Some(error.as_str()),
                _ => None,
            },
        })).collect::<Vec<_>>(),
        "time": app.now.to_rfc3339(),
        "docker": app.daemon().server_version,
        "swarm": app.daemon().swarm,
        "layers": app.fleet.group_rows(GroupBy::Layer).iter().map(row_json).collect::<Vec<_>>(),
        "teams": app.fleet.group_rows(GroupBy::Team).iter().map(row_json).collect::<Vec<_>>(),
        "replicas": replicas.iter().map(|r| {
            let live = app.fleet.live.get(&r.id).filter(|l| r.is_running() && l.sample.counters.at.is_some());
            json!({
                "name": r.name,
                "host": app.hosts.name(r.host),
                "id": r.id,
                "service": r.placement.service.name,
                "kind": r.placement.service.kind_word(),
                "layer": r.placement.layer,
                "team": r.placement.team,
                "state": r.state,
                "health": r.health.word(),
                "restarts": r.restart_count,
                "exit_code": r.exit_code,
                "cpu_percent": live.map(|l| l.sample.cpu_pct),
                "memory_used": live.map(|l| l.sample.mem_used),
                "memory_limit": live.map(|l| l.sample.mem_limit),
            })
        }).collect::<Vec<_>>(),
    })
}

fn table(title: &str, rows: &[Row]) -> String {
    let mut out = format!(
        "{title:<14} {:>8} {:<14} {:>7} {:>15}\n",
        "RUN/WANT", "HEALTH", "CPU%", "MEM use/lim"
    );
    for r in rows {
        let f = &r.figures;
        let health = format!(
            "●{} ◐{} ✖{}",
            r.health.healthy, r.health.starting, r.health.unhealthy
        );
        let (cpu, mem) = if f.sampled == 0 {
            ("-".to_string(), "-".to_string())
        } else {
            (
                format!(
                    "{}{}",
                    format::percent(f.cpu_pct),
                    if f.sampled < r.running { "~" } else { "" }
                ),
                format!(
                    "{}/{}",
                    format::bytes(f.mem_used as f64),
                    format::bytes(f.mem_limit as f64)
                ),
            )
        };
        out += &format!(
            "{:<14} {:>8} {:<14} {:>7} {:>15}\n",
            r.name,
            format!(
                "{}/{}{}",
                r.running,
                r.wanted,
                if r.running < r.wanted { "!" } else { "" }
            ),
            health,
            cpu,
            mem
        );
    }
    out
}

/// The snapshot as text: the layers and teams tables, and replicas that
/// are not running or not healthy.
pub fn to_text(app: &App) -> String {
    let (running, wanted) = app.fleet.totals();
    let mut out = format!(
        "agile-deck snapshot — {} — docker {} — {} — {running}/{wanted} running\n",
        app.hosts.first().label(),
        app.daemon().server_version,
        app.now.format("%Y-%m-%d %H:%M:%S UTC"),
    );
    if app.hosts.several() {
        for (_, h) in app.hosts.iter() {
            out += &match &h.link {
                crate::hosts::Link::Down { error, .. } => {
                    format!("host {}: unreachable: {error}\n", h.label())
                }
                _ => format!("host {}: docker {}\n", h.label(), h.daemon.server_version),
            };
        }
    }
    out += "\n";
    out += &table("LAYER", &app.fleet.group_rows(GroupBy::Layer));
    out += "\n";
    out += &table("TEAM", &app.fleet.group_rows(GroupBy::Team));
    let mut trouble: Vec<_> = app
        .fleet
        .replicas
        .values()
        .filter(|r| !r.is_running() || r.health == crate::model::Health::Unhealthy)
        .collect();
    trouble.sort_by(|a, b| a.name.cmp(&b.name));
    if !trouble.is_empty() {
        out += "\nNEEDS ATTENTION\n";
        for r in trouble {
            out += &format!(
                "{} {} ({}){}\n",
                r.health.symbol(),
                r.name,
                if r.is_running() {
                    r.health.word().to_string()
                } else {
                    format!("{} exit {}", r.state, r.exit_code)
                },
                crate::events::diagnose(r, app.now)
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            );
        }
    }
    out
}
