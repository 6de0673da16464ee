//! What the audit costs: the whole audit of N containers (after the
//! listing, which is Docker's time, not ours), and the re-evaluation after
//! one container changes (it must judge that container, its service and
//! its networks, nothing else).
//!
//!     cargo bench --bench audit -- [--counts 100,500,2000] [--rounds 20]
//!
//! Pure: a fleet of N replicas in the demo's shape (five layers, teams,
//! zone networks, limits, postures), built in memory with the default
//! topology. Prints the median and worst time of each, and how many
//! objects the one-container re-evaluation judged.

use std::time::Instant;

mod common;

use agile_deck::audit::{Audit, Settings, World};
use agile_deck::fleet::Fleet;
use agile_deck::model::{NetworkAttachment, Posture, Replica};
use agile_deck::topology::Topology;
use common::{arg, median};

fn replica(i: usize, topology: &Topology) -> Replica {
    let (name, service, layer, network) = match i % 5 {
        0 => (
            format!("agile-frontend-web-{i}"),
            "web-ui",
            "frontend",
            "agile-frontend",
        ),
        1 => (
            format!("agile-control-main-{i}"),
            "control",
            "control",
            "agile-control",
        ),
        2 => (
            format!("agile-coordinator-{i}"),
            "coordinator",
            "coordination",
            "agile-coordination",
        ),
        3 => (
            format!("agile-agent-development-dev-{i:03}"),
            "development-team",
            "execution",
            "agile-execution",
        ),
        _ => (
            format!("agile-db-postgres-{i}"),
            "postgres-primary",
            "data",
            "agile-data",
        ),
    };
    Replica::builder(format!("{i:064x}"), name)
        .labels(&[
            ("com.docker.compose.project", "agile"),
            ("com.docker.compose.service", service),
            ("app", "agile-ai"),
            ("layer", layer),
            ("component", service),
            ("environment", "bench"),
        ])
        .limits(Some(0.5), Some(256 << 20))
        .with(|r| {
            r.networks = vec![NetworkAttachment {
                network: network.into(),
                ip: String::new(),
                aliases: Vec::new(),
            }];
            r.posture = Some(Posture {
                user: if i.is_multiple_of(7) {
                    String::new()
                } else {
                    "1000".into()
                },
                read_only_root: !i.is_multiple_of(3),
                restart: "unless-stopped".into(),
                env_names: vec!["SERVICE_NAME".into(), "DB_PASSWORD".into()],
                ..Default::default()
            });
        })
        .placed(topology)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let counts: Vec<usize> = arg(&args, "--counts", "100,500,2000")
        .split(',')
        .map(|n| n.parse().unwrap())
        .collect();
    let rounds: usize = arg(&args, "--rounds", "20").parse().unwrap();
    let hosts = vec!["local".to_string()];
    println!(
        "containers  full audit (median / worst)  one change (median / worst)  judged per change  findings"
    );
    for n in counts {
        let topology = Topology::default_topology();
        let mut fleet = Fleet::new(topology);
        for i in 0..n {
            let r = replica(i, &fleet.topology);
            fleet.upsert(r);
        }
        let mut audit = Audit::new(Settings::default());
        let mut full = Vec::new();
        for _ in 0..rounds {
            let t = Instant::now();
            audit.full(&World::of(&fleet, &hosts));
            full.push(t.elapsed().as_secs_f64());
        }
        let mut one = Vec::new();
        let mut judged = 0;
        for k in 0..rounds {
            // One container changes: it loses its memory limit.
            let id = format!("{:064x}", (k * 37) % n);
            let before = fleet.replicas.get(&id).cloned();
            let mut r = before.clone().unwrap();
            r.limits.memory = Some(if k.is_multiple_of(2) { 0 } else { 256 << 20 });
            fleet.upsert(r);
            let was = audit.judged;
            let t = Instant::now();
            audit.container_changed(&World::of(&fleet, &hosts), before.as_ref(), &id);
            one.push(t.elapsed().as_secs_f64());
            judged = audit.judged - was;
        }
        let worst = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        println!(
            "{n:>10}  {:>10.2} ms / {:>7.2} ms     {:>10.3} ms / {:>7.3} ms     {judged:>17}  {:>8}",
            median(full.clone()) * 1e3,
            worst(&full) * 1e3,
            median(one.clone()) * 1e3,
            worst(&one) * 1e3,
            audit.findings().len()
        );
    }
}
