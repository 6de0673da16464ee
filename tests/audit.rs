//! The audit against the real daemon: a deployment built to break each
//! container, service and network rule exactly once (and objects breaking
//! none) gives exactly the expected findings, through the real binary's
//! `audit --json` (checked against assets/audit.schema.json); a secret's
//! value never appears anywhere; `f` on "no memory limit" plans a resize
//! that runs and the finding goes away; `[[ignore]]` with and without a
//! reason. (The Swarm rules: unit tests in `audit::check::tests`, and the
//! real three-node Swarm in `tests/cluster.rs`.)

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use agile_deck::app::views::View;
use agile_deck::topology::Topology;
use common::desk::Desk;
use common::{TestRun, docker, docker_or_skip};
use crossterm::event::KeyCode;
use serde_json::Value;

fn topology_text(id: &str) -> String {
    format!(
        r#"
layers = ["front", "core", "store", "batch"]
teams = ["crew"]

[[rule]]
compose_service = "front*"
layer = "front"
[[rule]]
compose_service = "core*"
layer = "core"
[[rule]]
compose_service = "store*"
layer = "store"

[[zone]]
network = "zf{id}"
layer = "front"
[[zone]]
network = "zc{id}"
layer = "core"
[[zone]]
network = "zs{id}"
layer = "store"
[[zone]]
network = "zb{id}"
layer = "batch"

[[flow]]
from = "front"
to = "core"
[[flow]]
from = "core"
to = "store"

[[policy]]
match = "corepol"
min_replicas = 2
max_replicas = 4

[audit]
required_labels = ["app", "layer", "component", "environment"]
secret_names = ["*PASSWORD*", "*TOKEN*", "*SECRET*", "*_KEY"]
sensitive_paths = ["/", "/etc", "/proc", "/sys"]
docker_sockets = ["/var/run/docker.sock", "/run/docker.sock"]
public_layer = "front"
data_layer = "store"

[[audit.tier]]
name = "std"
cpu_guarantee = 0.5
memory_guarantee = 0.5

[[audit.component]]
name = "Lone"
services = ["corelone"]
tier = "std"
cpu = [0.1, 0.5]
memory = ["32m", "128m"]
replicas = 2

[[audit.component]]
name = "Core"
services = ["core*"]
naming = ["t{id}-core-*"]
tier = "std"
cpu = [0.1, 0.5]
memory = ["32m", "128m"]
"#
    )
}

/// A container of the test's that breaks no rule but those `breaks`
/// says: `docker run` arguments in, the container's name out.
struct Spec<'a> {
    name: String,
    service: &'a str,
    args: Vec<String>,
}

fn spec<'a>(id: &str, service: &'a str) -> Spec<'a> {
    Spec {
        name: format!("t{id}-core-{service}"),
        service,
        args: [
            "--user",
            "1000:1000",
            "--read-only",
            "--memory",
            "64m",
            "--memory-reservation",
            "32m",
            "--cpus",
            "0.25",
            "--pids-limit",
            "100",
            "--restart",
            "unless-stopped",
            "--label",
            "app=test",
            "--label",
            "component=c",
            "--label",
            "environment=test",
        ]
        .map(String::from)
        .to_vec(),
    }
}

impl Spec<'_> {
    /// Without the flag `flag` (and its value).
    fn without(mut self, flag: &str) -> Self {
        if let Some(i) = self.args.iter().position(|a| a == flag) {
            let with_value = !matches!(flag, "--read-only");
            self.args.drain(i..i + if with_value { 2 } else { 1 });
        }
        self
    }

    fn with(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    fn named(mut self, name: String) -> Self {
        self.name = name;
        self
    }
}

fn run(t: &TestRun, id: &str, s: Spec, image: &str, network: &str) {
    let layer = s
        .service
        .split(|c: char| !c.is_ascii_lowercase())
        .next()
        .unwrap_or("");
    let layer = match layer {
        l if l.starts_with("core") => "core",
        l if l.starts_with("front") => "front",
        l if l.starts_with("store") => "store",
        l => l,
    };
    let mut args = vec![
        "run".to_string(),
        "-d".into(),
        "--name".into(),
        s.name.clone(),
        "--label".into(),
        t.label(),
        "--label".into(),
        format!("com.docker.compose.project=t{id}"),
        "--label".into(),
        format!("com.docker.compose.service={}", s.service),
        "--label".into(),
        format!("layer={layer}"),
    ];
    if !s.args.iter().any(|a| a == "--network") {
        args.extend(["--network".into(), network.to_string()]);
    }
    args.extend(s.args);
    args.push(image.to_string());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    docker(&refs);
}

fn agile_deck(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_agile-deck"))
        .args(args)
        .env_remove("AGILE_DECK_PROMETHEUS")
        .output()
        .unwrap()
}

/// Check a value against the schema's `required`, `enum`, `const`,
/// `additionalProperties: false` and item shapes (the parts it uses).
fn check_schema(schema: &Value, v: &Value, at: &str) {
    if let Some(c) = schema.get("const") {
        assert_eq!(v, c, "{at}");
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        assert!(e.contains(v), "{at}: {v} not in {e:?}");
    }
    if let Some(obj) = v.as_object() {
        for r in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            assert!(obj.contains_key(r.as_str().unwrap()), "{at}: no {r}");
        }
        let props = schema.get("properties").and_then(Value::as_object);
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(s) => check_schema(s, val, &format!("{at}.{k}")),
                None => assert!(
                    schema.get("additionalProperties") != Some(&Value::Bool(false)),
                    "{at}: {k} is not in the schema"
                ),
            }
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for (i, x) in arr.iter().enumerate() {
            check_schema(items, x, &format!("{at}[{i}]"));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rule_broken_once_gives_exactly_its_finding() {
    if !docker_or_skip("each_rule_broken_once_gives_exactly_its_finding") {
        return;
    }
    let t = TestRun::new();
    let id = t.id.clone();
    let img = common::workload_image().await;
    let latest = format!("t{id}img:latest");
    docker(&["tag", &img, &latest]);
    let label = t.label();
    for (net, internal) in [
        (format!("zf{id}"), false),
        (format!("zc{id}"), true),
        (format!("zs{id}"), true),
        (format!("zb{id}"), false), // breaks zone.internal
        (format!("sh{id}"), false), // joins front and store: zone.shared-network
    ] {
        let mut args = vec!["network", "create", "--label", &label];
        if internal {
            args.push("--internal");
        }
        args.push(&net);
        docker(&args);
    }
    let zc = format!("zc{id}");
    let secret = format!("s3cr3t-value-{id}");
    let env = format!("DB_PASSWORD={secret}");
    let port = format!("{}", 20000 + (std::process::id() % 20000));
    let port_env = format!("PORT={port}");
    // An explicit port: Docker 20.10's allocator was seen handing out one
    // a stale proxy still held.
    let published = format!("0.0.0.0:{}:8080", 20000 + (std::process::id() + 7) % 20000);
    // (container or object name, rule it breaks)
    let mut expected: BTreeSet<(String, String)> = BTreeSet::new();
    let mut breaks = |name: &str, rule: &str| {
        expected.insert((name.to_string(), rule.to_string()));
    };
    let c = |s: &str| format!("t{id}-core-{s}");
    // Clean objects: one core container, and a front and a store one on
    // their zones and on the shared network.
    run(&t, &id, spec(&id, "coreok"), &img, &zc);
    for (svc, zone) in [("frontok", "zf"), ("storeok", "zs")] {
        let name = format!("t{id}-{svc}");
        run(
            &t,
            &id,
            spec(&id, svc).named(name.clone()),
            &img,
            &format!("{zone}{id}"),
        );
        docker(&["network", "connect", &format!("sh{id}"), &name]);
    }
    breaks(&format!("sh{id}"), "zone.shared-network");
    breaks(&format!("zb{id}"), "zone.internal");
    // Zones.
    run(&t, &id, spec(&id, "corebridge"), &img, &zc);
    docker(&["network", "connect", &format!("zb{id}"), &c("corebridge")]);
    breaks(&c("corebridge"), "zone.bridge");
    let fd = format!("t{id}-frontdata");
    run(
        &t,
        &id,
        spec(&id, "frontdata").named(fd.clone()),
        &img,
        &format!("zf{id}"),
    );
    docker(&["network", "connect", &format!("zs{id}"), &fd]);
    breaks(&fd, "zone.frontend-data");
    run(
        &t,
        &id,
        spec(&id, "coreport").with(&["--network", "bridge", "-p", &published]),
        &img,
        &zc,
    );
    breaks(&c("coreport"), "zone.published-port");
    // Resources.
    run(
        &t,
        &id,
        spec(&id, "corenomem").without("--memory"),
        &img,
        &zc,
    );
    breaks(&c("corenomem"), "resources.memory-limit");
    run(&t, &id, spec(&id, "corenocpu").without("--cpus"), &img, &zc);
    breaks(&c("corenocpu"), "resources.cpu-limit");
    run(
        &t,
        &id,
        spec(&id, "corenopids").without("--pids-limit"),
        &img,
        &zc,
    );
    breaks(&c("corenopids"), "resources.pids-limit");
    run(
        &t,
        &id,
        spec(&id, "corebig")
            .without("--cpus")
            .with(&["--cpus", "1.0"]),
        &img,
        &zc,
    );
    breaks(&c("corebig"), "resources.profile");
    run(
        &t,
        &id,
        spec(&id, "corenores").without("--memory-reservation"),
        &img,
        &zc,
    );
    breaks(&c("corenores"), "resources.reservation");
    // Health, lifecycle, scale.
    run(
        &t,
        &id,
        spec(&id, "corenohealth").with(&["--no-healthcheck"]),
        &img,
        &zc,
    );
    breaks(&c("corenohealth"), "health.no-check");
    run(
        &t,
        &id,
        spec(&id, "corenorestart").without("--restart"),
        &img,
        &zc,
    );
    breaks(&c("corenorestart"), "lifecycle.restart");
    run(&t, &id, spec(&id, "corepol"), &img, &zc);
    breaks("corepol", "scale.policy-min");
    run(&t, &id, spec(&id, "corelone").named(c("lone")), &img, &zc);
    breaks("corelone", "lifecycle.single-replica");
    // Identity.
    run(
        &t,
        &id,
        spec(&id, "corenamed").named(format!("t{id}-misnamed")),
        &img,
        &zc,
    );
    breaks(&format!("t{id}-misnamed"), "identity.naming");
    run(
        &t,
        &id,
        spec(&id, "corenolabel").without("--label"),
        &img,
        &zc,
    );
    breaks(&c("corenolabel"), "identity.labels");
    run(&t, &id, spec(&id, "corelatest"), &latest, &zc);
    breaks(&c("corelatest"), "identity.image-tag");
    // Security.
    run(&t, &id, spec(&id, "coreroot").without("--user"), &img, &zc);
    breaks(&c("coreroot"), "security.root");
    run(
        &t,
        &id,
        spec(&id, "corepriv").with(&["--privileged"]),
        &img,
        &zc,
    );
    breaks(&c("corepriv"), "security.privileged");
    run(
        &t,
        &id,
        spec(&id, "corecap").with(&["--cap-add", "NET_ADMIN"]),
        &img,
        &zc,
    );
    breaks(&c("corecap"), "security.capabilities");
    run(
        &t,
        &id,
        spec(&id, "coresock").with(&["-v", "/var/run/docker.sock:/var/run/docker.sock:ro"]),
        &img,
        &zc,
    );
    breaks(&c("coresock"), "security.docker-socket");
    run(
        &t,
        &id,
        spec(&id, "coreetc").with(&["-v", "/etc:/host-etc:ro"]),
        &img,
        &zc,
    );
    breaks(&c("coreetc"), "security.host-path");
    run(
        &t,
        &id,
        spec(&id, "corehostnet").with(&["--network", "host", "-e", &port_env]),
        &img,
        &zc,
    );
    breaks(&c("corehostnet"), "security.host-network");
    run(
        &t,
        &id,
        spec(&id, "corehostpid").with(&["--pid", "host"]),
        &img,
        &zc,
    );
    breaks(&c("corehostpid"), "security.host-pid");
    run(
        &t,
        &id,
        spec(&id, "corewritable").without("--read-only"),
        &img,
        &zc,
    );
    breaks(&c("corewritable"), "security.writable-root");
    run(
        &t,
        &id,
        spec(&id, "coresecret").with(&["-e", &env]),
        &img,
        &zc,
    );
    breaks(&c("coresecret"), "security.secret-env");

    let dir = tempfile::tempdir().unwrap();
    let topo = dir.path().join("topology.toml");
    std::fs::write(&topo, topology_text(&id)).unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, "").unwrap();
    let topo_s = topo.to_str().unwrap();
    let config_s = config.to_str().unwrap();
    // `agile-deck audit ARGS` with the test's config and topology.
    let audit = |args: &[&str]| {
        let mut all = vec!["--config", config_s, "--topology", topo_s, "audit"];
        all.extend_from_slice(args);
        agile_deck(&all)
    };

    // The real binary, as CI or cron would run it.
    let out = audit(&["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let json: Value = serde_json::from_str(&stdout).unwrap();
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string("assets/audit.schema.json").unwrap())
            .unwrap();
    check_schema(&schema, &json, "$");
    let mine = |name: &str| name.contains(&id) || name == "corepol" || name == "corelone";
    let found: BTreeSet<(String, String)> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| mine(f["object"]["name"].as_str().unwrap()))
        .map(|f| {
            (
                f["object"]["name"].as_str().unwrap().to_string(),
                f["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(found, expected, "findings differ from the rules broken");
    // Severities are the rule book's.
    for f in json["findings"].as_array().unwrap() {
        let rule: agile_deck::audit::RuleId = f["rule"].as_str().unwrap().parse().unwrap();
        assert_eq!(f["severity"], rule.default_severity().to_string());
    }
    // --fail-on: critical findings exist (root, privileged, …): exit 1.
    let failing = audit(&["--fail-on", "critical"]);
    assert_eq!(failing.status.code(), Some(1));
    let text = String::from_utf8_lossy(&failing.stdout).into_owned();
    assert!(text.contains("CRITICAL security.secret-env"), "{text}");

    // [[ignore]] with a reason silences one finding, shown with it…
    std::fs::write(
        &config,
        format!(
            "[[ignore]]\nrule = \"security.privileged\"\nobject = \"{}\"\nreason = \"needs /dev for the test\"\n\n[[rule]]\nid = \"identity.naming\"\nseverity = \"off\"\n",
            c("corepriv")
        ),
    )
    .unwrap();
    let out = audit(&["--json"]);
    let json2: Value = serde_json::from_slice(&out.stdout).unwrap();
    let priv_f = json2["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["object"]["name"] == c("corepriv").as_str())
        .unwrap();
    assert_eq!(priv_f["ignored"], "needs /dev for the test");
    assert_eq!(
        json2["summary"]["critical"].as_u64().unwrap() + 1,
        json["summary"]["critical"].as_u64().unwrap()
    );
    // … and a rule turned off is gone.
    assert!(
        !json2["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "identity.naming")
    );
    // … without a reason it is refused, with the file and line.
    std::fs::write(
        &config,
        "\n[[ignore]]\nrule = \"security.root\"\nobject = \"x\"\nreason = \"  \"\n",
    )
    .unwrap();
    let refused = audit(&[]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("line 2") && err.contains("needs a reason"),
        "{err}"
    );
    std::fs::write(&config, "").unwrap();

    // `f` on "no memory limit": a resize plan, run, and the finding goes.
    let mut desk = Desk::new(Topology::parse(&topology_text(&id), "test").unwrap()).await;
    desk.command("audit corenomem");
    assert_eq!(desk.app.views.view, View::Audit);
    let at = desk
        .app
        .audit_findings()
        .iter()
        .position(|f| f.rule.to_string() == "resources.memory-limit")
        .expect("the memory-limit finding");
    for _ in 0..at {
        desk.key(KeyCode::Down);
    }
    desk.key(KeyCode::Char('f'));
    let steps = desk.plan_steps().join("\n");
    assert!(steps.contains("memory unset → 128m"), "{steps}");
    let op = desk.confirm('y').await;
    assert_eq!(op.status, agile_deck::ops::Status::Done, "{op:?}");
    let memory = docker(&["inspect", "-f", "{{.HostConfig.Memory}}", &c("corenomem")]);
    assert_eq!(memory.trim(), (128u64 << 20).to_string());
    desk.relist().await;
    assert!(
        !desk
            .app
            .audit
            .findings()
            .iter()
            .any(|f| f.rule.to_string() == "resources.memory-limit"
                && f.object.name() == c("corenomem")),
        "the finding stayed after the fix"
    );

    // `f` on a zone bridge: the container taken off the foreign zone's
    // network, the finding gone; `:undo` puts it back with its aliases.
    let zb = format!("zb{id}");
    desk.command("audit corebridge");
    assert_eq!(
        desk.app.audit_findings().len(),
        1,
        "{:?}",
        desk.app.audit_findings()
    );
    assert_eq!(desk.app.audit_findings()[0].rule.to_string(), "zone.bridge");
    desk.key(KeyCode::Char('f'));
    let steps = desk.plan_steps().join("\n");
    assert!(steps.contains(&format!("off {zb}")), "{steps}");
    let op = desk.confirm('y').await;
    assert_eq!(op.status, agile_deck::ops::Status::Done, "{op:?}");
    let nets = || {
        docker(&[
            "inspect",
            "-f",
            "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}",
            &c("corebridge"),
        ])
    };
    assert!(!nets().contains(&zb), "{}", nets());
    desk.relist().await;
    assert!(
        desk.app.audit_findings().is_empty(),
        "{:?}",
        desk.app.audit_findings()
    );
    desk.command("undo");
    let op = desk.confirm('y').await;
    assert_eq!(op.status, agile_deck::ops::Status::Done, "{op:?}");
    assert!(nets().contains(&zb), "{}", nets());
    desk.relist().await;
    assert_eq!(desk.app.audit_findings().len(), 1);

    // `f` on "no restart policy": docker update --restart, the finding goes.
    desk.command("audit corenorestart");
    assert_eq!(
        desk.app.audit_findings()[0].rule.to_string(),
        "lifecycle.restart"
    );
    desk.key(KeyCode::Char('f'));
    let op = desk.confirm('y').await;
    assert_eq!(op.status, agile_deck::ops::Status::Done, "{op:?}");
    let policy = docker(&[
        "inspect",
        "-f",
        "{{.HostConfig.RestartPolicy.Name}}",
        &c("corenorestart"),
    ]);
    assert_eq!(policy.trim(), "unless-stopped");
    desk.relist().await;
    assert!(
        desk.app.audit_findings().is_empty(),
        "{:?}",
        desk.app.audit_findings()
    );

    // The secret's value is in no output, journal or log.
    let journal: String = desk
        .journal_lines()
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let log = audit(&[]);
    for (what, text) in [
        ("audit --json", stdout.as_str()),
        ("audit text", &String::from_utf8_lossy(&log.stdout)),
        ("audit stderr", &String::from_utf8_lossy(&log.stderr)),
        ("journal", &journal),
        ("the view", &format!("{:?}", desk.app.audit.findings())),
    ] {
        assert!(!text.contains(&secret), "{what} holds the secret's value");
    }
    docker(&["rmi", &latest]);
}
