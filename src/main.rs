//! agile-deck's entry point: parse the command line, load the files, reach
//! the daemon (with a clear message when it cannot), then hand over to the
//! runtime with the terminal in TUI mode.

use std::process::ExitCode;

use clap::Parser;

use agile_deck::app::{App, Host, Hosts, Options};
use agile_deck::audit::{Audit, Settings, report};
use agile_deck::cli::{
    self as cli_def, AgentAction, Cli, Command, ConfigAction, DemoAction, parse_labels,
};
use agile_deck::config::{self, Config, PromFlags};
use agile_deck::connect::HostSpec;
use agile_deck::connect::{self, Endpoint};
use agile_deck::fleet::Fleet;
use agile_deck::keymap::Keymap;
use agile_deck::theme::{self, Theme};
use agile_deck::topology::Topology;
use agile_deck::{demo, engine, prometheus, promserver, runtime, terminal};
use color_eyre::eyre::{WrapErr, eyre};

/// An error for the user: printed with its causes, no backtrace.
type Fail = color_eyre::Report;

fn main() -> ExitCode {
    // color-eyre first so ratatui's panic hook (installed at TUI entry)
    // restores the terminal before the report is printed.
    if let Err(e) = color_eyre::install() {
        eprintln!("agile-deck: {e}");
    }
    let cli = Cli::parse();
    // The agent reads no file of ours and needs no runtime: it serves its
    // stdin and stdout, and exits when stdin closes.
    if let Some(Command::Agent {
        stdio: true, every, ..
    }) = &cli.command
    {
        let every = every.map_or(engine::REFRESH, std::time::Duration::from_secs_f64);
        std::process::exit(agile_deck::agent::serve::serve(every));
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("agile-deck: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let auditing = matches!(cli.command, Some(Command::Audit { .. }));
    let result = {
        // The relays' sockets and folders go, whatever happened (a panic too).
        let _relays = agile_deck::relay::CloseAll;
        rt.block_on(run(cli))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `audit --fail-on`: 1 when findings reach it, 2 when it could not audit.
        Err(e) if e.downcast_ref::<report::Reached>().is_some() => {
            eprintln!("agile-deck: {e}");
            ExitCode::from(1)
        }
        Err(e) if auditing => {
            eprintln!("agile-deck: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            // `{:#}`: the message and each cause after it, on one line.
            eprintln!("agile-deck: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn connect(
    endpoint: &Endpoint,
) -> Result<(bollard::Docker, agile_deck::model::DaemonInfo), Fail> {
    connect::connect(endpoint)
        .await
        .map_err(|e| eyre!(connect::explain(endpoint, &e)))
}

fn progress(line: String) {
    eprintln!("  {line}");
}

/// Write to stdout; a reader that went away (`| head`) is no error.
fn emit(bytes: &[u8]) -> Result<(), Fail> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// `config check`: every file agile-deck would read, validated, and what
/// is in effect. Any problem is an error with file, line and reason.
fn config_check(cli: &Cli, config: &Config, topology: &Topology) -> Result<(), Fail> {
    let path = cli.config.clone().or_else(config::default_path);
    let shown = |p: &Option<std::path::PathBuf>| {
        p.as_ref()
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "none (defaults)".into())
    };
    println!("config:      {}", shown(&path));
    // What the dashboard would use, and why: the same choice it makes.
    let specs = hosts_chosen(cli, config)?;
    for s in &specs {
        println!(
            "host:        {} {} (from {}){}",
            s.name,
            s.endpoint.url,
            s.endpoint.source,
            if s.read_only { ", read-only" } else { "" }
        );
    }
    let local = specs[0].endpoint.url.starts_with("unix://");
    match choose_prometheus(cli, config, local)? {
        (Some(p), why) => {
            prometheus::Client::new(&p.url, p.auth.clone(), p.timeout).map_err(Fail::msg)?;
            println!(
                "prometheus:  {} every {:.1} s, timeout {:.1} s, auth {:?} ({why})",
                p.url,
                p.interval.as_secs_f64(),
                p.timeout.as_secs_f64(),
                p.auth
            );
        }
        (None, why) => println!("prometheus:  none ({why})"),
    }
    let journal = cli
        .journal
        .clone()
        .or_else(|| config.journal.clone())
        .unwrap_or_else(agile_deck::journal::default_path);
    println!("journal:     {}", journal.display());
    println!(
        "read-only:   {}{}",
        cli.read_only || config.read_only,
        if config.hosts.iter().any(|h| h.read_only) {
            format!(
                " (and for {})",
                config
                    .hosts
                    .iter()
                    .filter(|h| h.read_only)
                    .map(|h| h.url.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            String::new()
        }
    );
    println!(
        "topology:    {}: {} layers, {} rules, {} metrics, {} profiles, {} policies, {} zones, {} flows, {} rollout defaults, {} canaries, {} pairs",
        topology.origin,
        topology.layers.len(),
        topology.rules.len(),
        topology.metrics.len(),
        topology.profiles.len(),
        topology.policies.len(),
        topology.zones.len(),
        topology.flows.len(),
        topology.rollouts.len(),
        topology.canaries.len(),
        topology.pairs.len()
    );
    let keymap = match &cli.keymap {
        Some(p) => Keymap::load(p)?,
        None => Keymap::default_keymap(),
    };
    println!(
        "keymap:      {}: {} bindings",
        keymap.origin,
        keymap.help().len()
    );
    let theme = match &cli.theme {
        Some(spec) => Theme::resolve(spec)?,
        None => Theme::default_theme(),
    };
    println!(
        "theme:       {}{}",
        theme.name,
        if theme::no_color_requested() {
            " (NO_COLOR: without colour)"
        } else {
            ""
        }
    );
    println!(
        "refresh:     {:.1} s",
        cli.refresh.unwrap_or(engine::REFRESH.as_secs_f64())
    );
    println!("ok");
    Ok(())
}

/// The Prometheus the dashboard uses, and where it comes from: the flag,
/// the environment, the config file, or — with none of them, on a local
/// daemon — the demo's when it runs. `config check` prints the same.
fn choose_prometheus(
    cli: &Cli,
    config: &Config,
    local_daemon: bool,
) -> Result<(Option<config::PromSettings>, String), Fail> {
    if cli.no_prometheus {
        return Ok((None, "--no-prometheus".into()));
    }
    let flags = PromFlags {
        url: cli.prometheus.clone(),
        interval: cli.prometheus_interval,
        timeout: cli.prometheus_timeout,
    };
    let configured = config::prometheus_settings(&flags, config.prometheus.as_ref(), |k| {
        std::env::var(k).ok()
    })
    .map_err(Fail::msg)?;
    if let Some(p) = configured {
        let from_flag =
            std::env::args().any(|a| a == "--prometheus" || a.starts_with("--prometheus="));
        let why = if cli.prometheus.is_none() {
            "from [prometheus] url in the config".to_string()
        } else if from_flag {
            "from --prometheus".to_string()
        } else {
            "from AGILE_DECK_PROMETHEUS".to_string()
        };
        return Ok((Some(p), why));
    }
    let none_set = "no --prometheus, AGILE_DECK_PROMETHEUS or [prometheus] url";
    if !local_daemon {
        return Ok((
            None,
            format!("{none_set}; the demo's is used only with a local daemon"),
        ));
    }
    match promserver::demo_running() {
        Some((pid, url)) => {
            let p = config::prometheus_settings(
                &PromFlags {
                    url: Some(url),
                    ..flags
                },
                None,
                |_| None,
            )
            .map_err(Fail::msg)?;
            Ok((p, format!("the demo's, pid {pid}: {none_set}")))
        }
        None => Ok((
            None,
            format!("{none_set}, and the demo's Prometheus is not running"),
        )),
    }
}

/// The Prometheus client for settings (the URL is checked here).
fn with_client(
    p: config::PromSettings,
) -> Result<(prometheus::Client, config::PromSettings), Fail> {
    let client = prometheus::Client::new(&p.url, p.auth.clone(), p.timeout).map_err(Fail::msg)?;
    Ok((client, p))
}

/// The hosts the flags, the config and the environment choose.
fn hosts_chosen(cli: &Cli, config: &Config) -> Result<Vec<connect::HostSpec>, Fail> {
    let choice = connect::Choice {
        hosts: &cli.host,
        contexts: &cli.context,
        all_contexts: cli.all_contexts,
    };
    connect::hosts_from_environment(&choice, &config.hosts).map_err(Fail::msg)
}

/// "c1, c2, c3"
fn names(specs: &[connect::HostSpec]) -> String {
    specs
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// How to take a host's figures: its own `stats`, else `--stats`.
fn path_of(
    spec: &connect::HostSpec,
    cli: &Cli,
    cgroup_version: &str,
) -> Result<engine::Chosen, Fail> {
    engine::choose_path(
        spec.stats.unwrap_or(cli.stats),
        engine::Place::of_url(&spec.endpoint.url),
        cgroup_version,
    )
    .map_err(|e| eyre!("{}: {e}", spec.name))
}

/// `agent install HOST`: HOST a `[[host]]` name, an ssh:// URL, or
/// `user@host` as ssh takes it.
async fn agent_install(
    config: &Config,
    host: &str,
    path: Option<&str>,
    binary: Option<&std::path::Path>,
) -> Result<(), Fail> {
    let named = config
        .hosts
        .iter()
        .find(|h| h.name.as_deref() == Some(host) || connect::name_from_url(&h.url) == host);
    let (url, path) = match named {
        Some(h) => (h.url.clone(), path.or(h.agent_path.as_deref())),
        None if host.starts_with("ssh://") => (host.to_string(), path),
        None if host.contains("://") => {
            return Err(eyre!(
                "{host}: the agent is installed and run over ssh: give ssh://user@host[:port]"
            ));
        }
        None => (format!("ssh://{host}"), path),
    };
    eprintln!("agile-deck: installing the agent on {url} …");
    let done = agile_deck::agent::install::install(&url, path, binary)
        .await
        .map_err(|e| eyre!("agent install {host}: {e}"))?;
    println!(
        "installed {} at {} on {host} ({} bytes, sha256 {} checked on both sides)",
        done.version, done.path, done.bytes, done.sha256
    );
    if path.is_some() && named.is_none_or(|h| h.agent_path.as_deref() != path) {
        println!(
            "the dashboard looks on PATH and in ~/{}: give agent_path = {:?} in the host's [[host]] table",
            agile_deck::agent::link::INSTALLED,
            done.path
        );
    }
    Ok(())
}

/// `demo up --swarm` / `demo down --swarm` on the cluster of the given
/// hosts: the image built on each of them, the services created on a
/// manager among them, the node labels it needs applied once confirmed.
async fn demo_swarm(specs: &[connect::HostSpec], action: &DemoAction) -> Result<(), Fail> {
    let mut manager = None;
    let mut all = Vec::new();
    for spec in specs {
        let (docker, info) = connect(&spec.endpoint).await?;
        if manager.is_none() && info.is_swarm_manager() {
            manager = Some((docker.clone(), spec.name.clone()));
        }
        all.push((docker, spec.name.clone()));
    }
    let Some((docker, name)) = manager else {
        return Err(eyre!(
            "none of the hosts ({}) is a Swarm manager: give one with --host, or make one with `docker swarm init`",
            names(specs)
        ));
    };
    if let DemoAction::Down { .. } = action {
        eprintln!("agile-deck: removing the Swarm demo through {name}");
        return demo::swarm::down(&docker, &mut progress).await;
    }
    let yes = matches!(action, DemoAction::Up { yes: true, .. });
    let mut image = String::new();
    for (d, host) in &all {
        eprintln!("agile-deck: the workload image on {host}");
        image = demo::ensure_image(d, &mut progress).await?;
    }
    let nodes = agile_deck::sources::list_nodes(&docker)
        .await
        .wrap_err("cannot list the Swarm's nodes")?;
    let plan = demo::swarm::label_plan(&nodes);
    if !plan.is_empty() {
        eprintln!(
            "agile-deck: the production shape places postgres-primary and redis-master by node label:"
        );
        for (node, change) in &plan {
            eprintln!("  {}", change.cli(&node.hostname));
        }
        if !yes && !confirmed("apply these node labels?")? {
            return Err(eyre!(
                "nothing was changed (the labels were not confirmed; --yes confirms them)"
            ));
        }
        demo::swarm::apply_labels(&docker, &plan).await?;
    }
    eprintln!("agile-deck: the production shape as Swarm services through {name}");
    demo::swarm::up(&docker, &image, &mut progress).await?;
    eprintln!(
        "agile-deck: the Swarm demo is up. Watch it with: agile-deck {}",
        specs
            .iter()
            .map(|s| format!("--host {}={}", s.name, s.endpoint.url))
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(())
}

/// Ask on the terminal; a non-interactive stdin is a no.
fn confirmed(question: &str) -> Result<bool, Fail> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Start the demo deployment, and its Prometheus when there is one to run.
async fn demo_up(
    docker: &bollard::Docker,
    endpoint: &Endpoint,
    labels: &[(String, String)],
) -> Result<(), Fail> {
    eprintln!(
        "agile-deck: starting the demo deployment on {}",
        endpoint.url
    );
    demo::up(docker, labels, &mut progress).await?;
    if !endpoint.url.starts_with("unix://") {
        eprintln!(
            "agile-deck: no demo Prometheus: it scrapes the demo through 127.0.0.1, \
             so it runs only next to a local daemon"
        );
    } else if promserver::binary().is_none() {
        eprintln!(
            "agile-deck: no demo Prometheus (service metrics columns): {}",
            promserver::HOW_TO_GET_IT
        );
    } else {
        let url = promserver::demo_up(&endpoint.url, demo::DEMO_LABEL)?;
        eprintln!(
            "agile-deck: Prometheus at {url} scrapes the demo (data in {}); \
             agile-deck uses it by itself",
            promserver::demo_dir().display()
        );
    }
    Ok(())
}

/// Every chosen host listed once (and, for a snapshot, its first figures)
/// into an app that is never drawn: `snapshot` and `audit`. One host must
/// answer (its message, as the dashboard's); of several, those that do are
/// taken and the others said unreachable.
async fn one_shot(
    cli: &Cli,
    specs: &[HostSpec],
    topology: Topology,
    figures: bool,
) -> Result<App, Fail> {
    let mut takes = Vec::new();
    if let [spec] = specs {
        let (docker, info) = connect(&spec.endpoint).await?;
        takes.push((docker, Ok(info)));
    } else {
        let tries = specs.iter().map(|spec| async move {
            let answer = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                connect::connect(&spec.endpoint),
            )
            .await
            .unwrap_or_else(|_| Err("no answer within 10 s".into()));
            match answer {
                Ok((docker, info)) => Ok((docker, Ok(info))),
                Err(e) => connect::client(&spec.endpoint).map(|d| (d, Err(e))),
            }
        });
        for t in futures_util::future::join_all(tries).await {
            takes.push(t.map_err(Fail::msg)?);
        }
    }
    let mut hosts = Vec::new();
    for (spec, (docker, info)) in specs.iter().zip(takes) {
        let path = match &info {
            Ok(i) => path_of(spec, cli, &i.cgroup_version)?,
            Err(_) => engine::Chosen::Api,
        };
        hosts.push(agile_deck::snapshot::HostTake { docker, info, path });
    }
    let mut app = App::new(
        Fleet::new(topology),
        Keymap::default_keymap(),
        Theme::default_theme(),
        Hosts::new(
            specs
                .iter()
                .map(|s| Host::new(s.name.clone(), s.endpoint.url.clone()))
                .collect(),
        ),
    );
    agile_deck::snapshot::take(&mut app, hosts, figures).await?;
    app.now = chrono::Utc::now();
    Ok(app)
}

async fn run(mut cli: Cli) -> Result<(), Fail> {
    // The config file fills in what the command line left out.
    let config = Config::load(cli.config.as_deref())?;
    cli.topology = cli.topology.take().or_else(|| config.topology.clone());
    cli.keymap = cli.keymap.take().or_else(|| config.keymap.clone());
    cli.theme = cli
        .theme
        .take()
        .or_else(|| config.theme.clone().map(Into::into));
    if cli.refresh.is_none()
        && let Some(r) = config.refresh
    {
        cli.refresh =
            Some(cli_def::parse_refresh(&r.to_string()).map_err(|e| eyre!("config refresh: {e}"))?);
    }
    let topology = match &cli.topology {
        Some(path) => Topology::load(path)?,
        None => Topology::default_topology(),
    };
    match &cli.command {
        Some(Command::Completions { shell }) => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut cli_def::command(), "agile-deck", &mut out);
            return emit(&out);
        }
        Some(Command::Man) => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cli_def::command()).render(&mut out)?;
            return emit(&out);
        }
        Some(Command::Config {
            action: ConfigAction::Default,
        }) => return emit(config::DEFAULT_TEXT.as_bytes()),
        Some(Command::Config {
            action: ConfigAction::Check,
        }) => return config_check(&cli, &config, &topology),
        Some(Command::Agent { action, .. }) => {
            return match action {
                Some(AgentAction::Install { host, path, binary }) => {
                    agent_install(&config, host, path.as_deref(), binary.as_deref()).await
                }
                None => Err(eyre!(
                    "the agent runs on a host the dashboard reaches over ssh: it starts it \
                     there as `agile-deck agent --stdio`. To put it there: agile-deck agent \
                     install HOST"
                )),
            };
        }
        // The store alone: no daemon is asked.
        Some(Command::Snapshot { json, at: Some(at) }) => {
            let store = store_path(&cli, &config);
            return history_snapshot(&store, topology, at, *json);
        }
        Some(Command::History { action }) => {
            let store = store_path(&cli, &config);
            return history_command(&store, action);
        }
        _ => {}
    }
    let specs = hosts_chosen(&cli, &config)?;
    // `demo` and `--demo` act on one daemon.
    let one_host = || match &specs[..] {
        [one] => Ok(one.endpoint.clone()),
        _ => Err(eyre!(
            "this acts on one daemon, and {} hosts are chosen ({}): give one with --host",
            specs.len(),
            names(&specs)
        )),
    };

    if let Some(Command::Snapshot { json, .. }) = &cli.command {
        let app = one_shot(&cli, &specs, topology, true).await?;
        let text = if *json {
            format!("{:#}\n", agile_deck::snapshot::to_json(&app))
        } else {
            agile_deck::snapshot::to_text(&app)
        };
        return emit(text.as_bytes());
    }
    if let Some(Command::Audit {
        json,
        fail_on,
        rules,
    }) = &cli.command
    {
        if *rules {
            return emit(report::rules_text().as_bytes());
        }
        let mut app = one_shot(&cli, &specs, topology, false).await?;
        app.audit = Audit::new(Settings::from_config(&config));
        app.audit_all();
        let hosts = app.hosts.names();
        let text = if *json {
            format!(
                "{:#}\n",
                report::to_json(&app.audit, &app.fleet.topology, &hosts)
            )
        } else {
            report::to_text(&app.audit, &app.fleet.topology, &hosts)
        };
        emit(text.as_bytes())?;
        return match report::reached(&app.audit, *fail_on) {
            Some(reached) => Err(reached.into()),
            None => Ok(()),
        };
    }

    if let Some(Command::Demo {
        action: action @ (DemoAction::Up { swarm: true, .. } | DemoAction::Down { swarm: true, .. }),
    }) = &cli.command
    {
        return demo_swarm(&specs, action).await;
    }
    if let Some(Command::Demo { action }) = &cli.command {
        let endpoint = one_host()?;
        let (docker, _) = connect(&endpoint).await?;
        return match action {
            DemoAction::Up { label, .. } => {
                demo_up(&docker, &endpoint, &parse_labels(label).map_err(Fail::msg)?).await?;
                eprintln!("agile-deck: demo is up. Watch it with: agile-deck");
                Ok(())
            }
            DemoAction::Down { label, .. } => {
                eprintln!(
                    "agile-deck: removing the demo deployment from {}",
                    endpoint.url
                );
                let labels = parse_labels(label).map_err(Fail::msg)?;
                demo::down(&docker, &labels, &mut progress).await?;
                // The tests' partial downs (by label) leave the demo's Prometheus alone.
                if labels.is_empty() && promserver::demo_down() {
                    progress("the demo's Prometheus: stopped".into());
                }
                Ok(())
            }
        };
    }

    // A bad URL is the user's to fix before anything starts.
    let (chosen, _) = choose_prometheus(&cli, &config, false)?;
    let mut prom = chosen.map(with_client).transpose()?;
    let journal_path = cli
        .journal
        .clone()
        .or_else(|| config.journal.clone())
        .unwrap_or_else(agile_deck::journal::default_path);
    let journal = agile_deck::journal::Journal::open(&journal_path)?;
    let keymap = match &cli.keymap {
        Some(path) => Keymap::load(path)?,
        None => Keymap::default_keymap(),
    };
    let mut theme = match &cli.theme {
        Some(spec) => Theme::resolve(spec)?,
        None => Theme::default_theme(),
    };
    if theme::no_color_requested() {
        theme = theme.without_colour();
    }

    // One host: it must answer before the dashboard opens (a clear
    // message otherwise). Several: none waits for another; each is
    // brought up by the runtime and shown lost until it answers.
    let mut conns = Vec::new();
    if let [spec] = &specs[..] {
        let (docker, info) = connect(&spec.endpoint).await?;
        if cli.demo && !demo::is_up(&docker).await? {
            demo_up(&docker, &spec.endpoint, &[]).await?;
        }
        conns.push((docker, Some(info)));
    } else {
        if cli.demo {
            one_host()?;
        }
        for spec in &specs {
            let docker = connect::client(&spec.endpoint)
                .map_err(|e| eyre!(connect::explain(&spec.endpoint, &e)))?;
            conns.push((docker, None));
        }
    }
    // No Prometheus configured: the demo's, when it runs (perhaps started
    // just now by --demo), is the obvious one.
    let local = specs[0].endpoint.url.starts_with("unix://");
    let mut prom_origin = "from the command line, environment or config".to_string();
    if prom.is_none() {
        let (chosen, why) = choose_prometheus(&cli, &config, local)?;
        prom = chosen.map(with_client).transpose()?;
        prom_origin = why;
    }

    terminal::init_logging();
    for (spec, (_, info)) in specs.iter().zip(&conns) {
        match info {
            Some(info) => log::info!(
                "{}: connected to {} (from {}): docker {} API {}, swarm {}, cgroup v{}",
                spec.name,
                spec.endpoint.url,
                spec.endpoint.source,
                info.server_version,
                info.api_version,
                info.swarm,
                info.cgroup_version
            ),
            None => log::info!(
                "{}: {} (from {}), connecting",
                spec.name,
                spec.endpoint.url,
                spec.endpoint.source
            ),
        }
    }
    log::info!("topology: {}", topology.origin);
    let hosts = Hosts::new(
        specs
            .iter()
            .map(|s| Host {
                read_only: s.read_only || config.read_only_for(&s.endpoint.url),
                ..Host::new(s.name.clone(), s.endpoint.url.clone())
            })
            .collect(),
    );
    // What an earlier agile-deck left unfinished on these hosts, from the journal.
    let labels: Vec<String> = hosts.iter().map(|(_, h)| h.label()).collect();
    let interrupted =
        agile_deck::recovery::find(agile_deck::recovery::read(&journal.path), &labels);
    for i in &interrupted {
        log::warn!(
            "interrupted {} of {} (run {}, {}): see the Rollouts tab",
            i.operation,
            i.service(),
            i.run,
            i.summary()
        );
    }
    // Every host read-only is the same as --read-only: the gate refuses
    // before any plan. Some: plans on those are refused (`App::propose`).
    let read_only = cli.read_only || config.read_only || hosts.iter().all(|(_, h)| h.read_only);
    log::info!(
        "journal: {}{}",
        journal.path.display(),
        if read_only {
            " (read-only: no operation can start)"
        } else {
            ""
        }
    );
    if let Some((_, p)) = &prom {
        log::info!(
            "prometheus ({prom_origin}): {} every {:.1} s, timeout {:.1} s, auth {:?}",
            p.url,
            p.interval.as_secs_f64(),
            p.timeout.as_secs_f64(),
            p.auth
        );
    }
    let app = App::new(Fleet::new(topology), keymap, theme, hosts).with(Options {
        show_log: cli.log,
        show_engine: cli.show_engine,
        log_cap: cli.log_lines as usize,
        events_max: cli.events_max as usize,
        read_only,
        prometheus: prom.as_ref().map(|(_, p)| p.url.clone()),
        interrupted,
        audit: Settings::from_config(&config),
    });
    let mut host_conns = Vec::new();
    for (spec, (docker, info)) in specs.iter().zip(conns) {
        // A daemon not heard from yet runs on this machine's kernel if it
        // is local: its cgroup version is this machine's.
        let cgroup_version = info
            .as_ref()
            .map_or_else(agile_deck::cgroup::local_version, |i| {
                i.cgroup_version.clone()
            });
        host_conns.push(runtime::HostConn {
            docker,
            info,
            path: path_of(spec, &cli, &cgroup_version)?,
            agent_path: spec.agent_path.clone(),
        });
    }
    if let Some(alerts) = &config.alerts {
        alerts.check().map_err(Fail::msg)?;
    }
    config.record.check().map_err(Fail::msg)?;
    // The flight recorder: `record` must hold the store; the dashboard
    // records when no one else does, and says who does.
    let recording = matches!(cli.command, Some(Command::Record));
    let store = store_path(&cli, &config);
    let mut app = app;
    let recorder = if recording || (config.record.dashboard && !cli.no_record) {
        let r = &config.record;
        let retention = agile_deck::history::Retention {
            fine: chrono::Duration::milliseconds((r.fine_hours * 3_600_000.0) as i64),
            coarse: chrono::Duration::milliseconds((r.coarse_days * 86_400_000.0) as i64),
            max_bytes: r.max_mib << 20,
        };
        match agile_deck::history::Recorder::start(&store, retention) {
            Ok(r) => {
                log::info!("recording into {}", store.display());
                Some(r)
            }
            Err(e) if recording => return Err(e),
            Err(e) => {
                log::warn!("not recording: {e:#}");
                app.flash = Some(format!("not recording: {e:#}"));
                None
            }
        }
    } else {
        None
    };
    app.history_store = recorder.is_some() || store.exists();
    let settings = runtime::Settings {
        refresh: cli
            .refresh
            .map_or(engine::REFRESH, std::time::Duration::from_secs_f64),
        max_streams: cli.max_streams.max(1),
        prometheus: prom.map(|(client, p)| (client, p.interval)),
        journal,
        history: runtime::History {
            store: Some(store),
            recorder,
            alerts: config.alerts.clone(),
            quiet: chrono::Duration::milliseconds((config.record.quiet * 1000.0) as i64),
            source: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_else(|_| "agile-deck".into()),
        },
    };
    if recording {
        eprintln!(
            "agile-deck: recording {} into {} (SIGTERM or Ctrl-C stops){}",
            names(&specs),
            settings
                .history
                .store
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            match &config.alerts {
                Some(a) if !a.is_empty() => ", alerts delivered",
                _ => "",
            }
        );
        return runtime::run(None, app, host_conns, settings)
            .await
            .wrap_err("recording");
    }

    terminal::want_mouse(!cli.no_mouse);
    let mut term = terminal::enter().wrap_err("cannot open the terminal")?;
    let _restore = terminal::Guard;
    runtime::run(Some(&mut term), app, host_conns, settings)
        .await
        .wrap_err("terminal error")
}

/// The history store: `--store`, else the config's `[record] store`, else
/// `$XDG_STATE_HOME/agile-deck/history.db`.
fn store_path(cli: &Cli, config: &Config) -> std::path::PathBuf {
    cli.store
        .clone()
        .or_else(|| config.record.store.clone())
        .unwrap_or_else(agile_deck::history::default_path)
}

/// `snapshot --at WHEN`: the fleet as recorded then, from the store alone.
fn history_snapshot(
    store: &std::path::Path,
    topology: Topology,
    at: &str,
    json: bool,
) -> Result<(), Fail> {
    let now = chrono::Utc::now();
    let asked = agile_deck::when::moment(at, now, *chrono::Local::now().offset())
        .map_err(|e| eyre!("--at {e}"))?;
    let reader = agile_deck::history::Reader::open(store)?;
    let Some(m) = reader.moment(asked)? else {
        let first = reader
            .span()?
            .map(|(a, _)| {
                format!(
                    "; it starts at {}",
                    a.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S")
                )
            })
            .unwrap_or_else(|| "; it is empty".into());
        return Err(eyre!(
            "nothing was recorded by {} in {}{first}",
            asked
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S"),
            store.display()
        ));
    };
    let mut names: Vec<String> = m.replicas.iter().map(|(i, _)| i.host.clone()).collect();
    names.sort();
    names.dedup();
    if names.is_empty() {
        names.push("local".into());
    }
    let hosts = Hosts::new(names.iter().map(|n| Host::new(n.clone(), "")).collect());
    let fleet = m.fleet(std::sync::Arc::new(topology), |n| {
        hosts.by_name(n).unwrap_or_default()
    });
    let mut app = App::new(
        fleet,
        Keymap::default_keymap(),
        Theme::default_theme(),
        hosts,
    );
    app.now = m.at;
    let text = if json {
        let mut v = agile_deck::snapshot::to_json(&app);
        // The Prometheus columns as recorded: row → metric → value.
        let mut metrics = std::collections::BTreeMap::<&str, serde_json::Map<_, _>>::new();
        for ((row, metric), value) in &m.metrics {
            metrics
                .entry(row)
                .or_default()
                .insert(metric.clone(), (*value).into());
        }
        v["recorded"] = serde_json::json!({
            "asked": m.asked.to_rfc3339(),
            "at": m.at.to_rfc3339(),
            "resolution_seconds": m.res,
            "gone": m.gone.len(),
            "metrics": metrics,
        });
        if let Some(list) = v["replicas"].as_array_mut() {
            for r in list {
                let gone = r["name"].as_str().is_some_and(|n| n.ends_with(" (gone)"));
                r["gone"] = gone.into();
                if let Some(n) = r["name"].as_str().and_then(|n| n.strip_suffix(" (gone)")) {
                    r["name"] = n.to_string().into();
                }
            }
        }
        format!("{v:#}\n")
    } else {
        format!(
            "recorded at {} ({} s frame; asked {})\n{}",
            m.at.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S"),
            m.res,
            m.asked.with_timezone(&chrono::Local).format("%H:%M:%S"),
            agile_deck::snapshot::to_text(&app)
        )
    };
    emit(text.as_bytes())
}

/// `history export|info`.
fn history_command(store: &std::path::Path, action: &cli_def::HistoryAction) -> Result<(), Fail> {
    use agile_deck::history::Reader;
    let reader = Reader::open(store)?;
    match action {
        cli_def::HistoryAction::Info => {
            let span = reader.span()?;
            let (from, to) = match span {
                Some((a, b)) => (
                    a.with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string(),
                    b.with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string(),
                ),
                None => ("-".into(), "-".into()),
            };
            let counts = reader.counts()?;
            let size = agile_deck::history::store::file_size(store);
            let text = format!(
                "store:    {}\nsize:     {} ({} bytes)\nfrom:     {from}\nto:       {to}\nframes:   {} at 5 s, {} at 1 min\nreplicas: {}\nevents:   {}\nwriter:   {}\n",
                store.display(),
                agile_deck::format::bytes(size as f64),
                size,
                counts.fine,
                counts.coarse,
                counts.replicas,
                counts.events,
                match agile_deck::history::store::holder(store) {
                    Some(pid) => format!("pid {pid}"),
                    None => "none".into(),
                }
            );
            emit(text.as_bytes())
        }
        cli_def::HistoryAction::Export {
            since,
            format,
            target,
        } => {
            let to = chrono::Utc::now();
            let from = to - *since;
            let out = agile_deck::history::export::export(
                &reader,
                from,
                to,
                target.as_deref(),
                *format == cli_def::ExportFormat::Json,
            )?;
            emit(out.as_bytes())
        }
    }
}
