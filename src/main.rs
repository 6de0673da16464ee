//! agile-deck's entry point: parse the command line, load the files, reach
//! the daemon (with a clear message when it cannot), then hand over to the
//! runtime with the terminal in TUI mode.

use std::process::ExitCode;

use clap::Parser;

use agile_deck::app::App;
use agile_deck::cli::{Cli, Command, DemoAction, parse_labels};
use agile_deck::connect::{self, Endpoint};
use agile_deck::fleet::Fleet;
use agile_deck::keymap::Keymap;
use agile_deck::theme::{self, Theme};
use agile_deck::topology::Topology;
use agile_deck::{demo, engine, runtime, terminal};

/// An error for the user: printed as is, no backtrace.
struct Fail(String);

impl<E: std::fmt::Display> From<E> for Fail {
    fn from(e: E) -> Fail {
        Fail(e.to_string())
    }
}

fn main() -> ExitCode {
    // color-eyre first so ratatui's panic hook (installed at TUI entry)
    // restores the terminal before the report is printed.
    if let Err(e) = color_eyre::install() {
        eprintln!("agile-deck: {e}");
    }
    let cli = Cli::parse();
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
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(msg)) => {
            eprintln!("agile-deck: {msg}");
            ExitCode::FAILURE
        }
    }
}

async fn connect(
    endpoint: &Endpoint,
) -> Result<(bollard::Docker, agile_deck::model::DaemonInfo), Fail> {
    connect::connect(endpoint)
        .await
        .map_err(|e| Fail(connect::explain(endpoint, &e)))
}

fn progress(line: String) {
    eprintln!("  {line}");
}

async fn run(cli: Cli) -> Result<(), Fail> {
    let topology = match &cli.topology {
        Some(path) => Topology::load(path)?,
        None => Topology::default_topology(),
    };
    let endpoint = connect::endpoint_from_environment(cli.host.as_deref())?;

    if let Some(Command::Demo { action }) = &cli.command {
        let (docker, _) = connect(&endpoint).await?;
        return match action {
            DemoAction::Up { label } => {
                eprintln!(
                    "agile-deck: starting the demo deployment on {}",
                    endpoint.url
                );
                demo::up(&docker, &parse_labels(label)?, &mut progress).await?;
                eprintln!("agile-deck: demo is up. Watch it with: agile-deck");
                Ok(())
            }
            DemoAction::Down { label } => {
                eprintln!(
                    "agile-deck: removing the demo deployment from {}",
                    endpoint.url
                );
                demo::down(&docker, &parse_labels(label)?, &mut progress).await?;
                Ok(())
            }
        };
    }

    let keymap = match &cli.keymap {
        Some(path) => Keymap::load(path)?,
        None => Keymap::default_keymap(),
    };
    let mut theme = match &cli.theme {
        Some(path) => Theme::load(path)?,
        None => Theme::default_theme(),
    };
    if theme::no_color_requested() {
        theme = theme.without_colour();
    }

    let (docker, info) = connect(&endpoint).await?;
    if cli.demo && !demo::is_up(&docker).await? {
        eprintln!(
            "agile-deck: starting the demo deployment on {}",
            endpoint.url
        );
        demo::up(&docker, &[], &mut progress).await?;
    }

    terminal::init_logging();
    log::info!(
        "connected to {} (from {}): docker {} API {}, swarm {}, cgroup v{}",
        endpoint.url,
        endpoint.source,
        info.server_version,
        info.api_version,
        info.swarm,
        info.cgroup_version
    );
    log::info!("topology: {}", topology.origin);
    let mut app = App::new(
        Fleet::new(topology),
        keymap,
        theme,
        format!("{} ({})", endpoint.label(), endpoint.url),
    );
    app.show_log = cli.log;
    app.show_engine = cli.show_engine;
    let layout = engine::choose_path(
        cli.stats,
        endpoint.url.starts_with("unix://"),
        &info.cgroup_version,
    )?;
    let settings = runtime::Settings {
        layout,
        refresh: std::time::Duration::from_secs_f64(cli.refresh),
        max_streams: cli.max_streams.max(1),
    };

    let mut term = terminal::enter().map_err(|e| Fail(format!("cannot open the terminal: {e}")))?;
    let _restore = terminal::Guard;
    runtime::run(&mut term, app, docker, info, settings)
        .await
        .map_err(|e| Fail(format!("terminal error: {e}")))
}
