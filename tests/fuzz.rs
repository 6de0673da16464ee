//! Bad input, generated (issue 15, point 5): every parser of what a user
//! or a daemon can hand agile-deck — the topology, keymap, theme and
//! config files, the filter grammar, every `:` command and its
//! `key=value` options, units and durations, Prometheus answers of any
//! shape, log chunks of any bytes torn anywhere, cgroup and /proc files
//! of any content — never panics, and its errors name the file and line
//! or the bad token. Property tests (proptest) with a bounded number of
//! cases, so the whole file runs in CI in seconds; a case proptest finds
//! is kept in `proptest-regressions/` and becomes an explicit test below.

use agile_deck::app::{App, Msg};
use agile_deck::fleet::Fleet;
use agile_deck::keymap::Keymap;
use agile_deck::theme::Theme;
use agile_deck::topology::Topology;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use proptest::prelude::*;

/// A file's text with one line replaced, one line inserted and one cut
/// short: near-valid input reaches deeper than random text.
fn mutated(base: &'static str) -> impl Strategy<Value = String> {
    let lines = base.lines().count().max(1);
    (
        0..lines,
        ".{0,40}",
        0..lines,
        "[ -~]{0,40}",
        0..lines,
        0usize..40,
    )
        .prop_map(move |(a, junk, b, more, c, cut)| {
            let mut v: Vec<String> = base.lines().map(String::from).collect();
            v[a] = junk;
            v.insert(b, more);
            if let Some(l) = v.get_mut(c) {
                let keep: String = l.chars().take(cut).collect();
                *l = keep;
            }
            v.join("\n")
        })
}

/// Text that is sometimes random, sometimes a mutated `base`.
fn file_text(base: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![1 => ".{0,200}", 4 => mutated(base)]
}

/// An error of a file parser: its line is inside the text (or the line
/// after it, for an unexpected end), and the message says which file and
/// which line.
fn names_file_and_line(shown: &str, line: usize, text: &str, prefix: &str) {
    let lines = text.lines().count() + 1;
    assert!(
        (1..=lines).contains(&line),
        "line {line} of {lines}: {shown}"
    );
    assert!(
        shown.starts_with(&format!("{prefix}, line {line}: ")),
        "{shown}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn topology_files(text in file_text(agile_deck::topology::DEFAULT_TOPOLOGY)) {
        if let Err(e) = Topology::parse(&text, "t.toml") {
            names_file_and_line(&e.to_string(), e.line, &text, "topology t.toml");
        }
    }

    #[test]
    fn keymap_files(text in file_text(agile_deck::keymap::DEFAULT_KEYMAP)) {
        if let Err(e) = Keymap::parse(&text, "k.toml") {
            names_file_and_line(&e.to_string(), e.line, &text, "keymap k.toml");
        }
    }

    #[test]
    fn theme_files(text in file_text(agile_deck::theme::DEFAULT_THEME)) {
        if let Err(e) = Theme::parse(&text, "th.toml") {
            names_file_and_line(&e.to_string(), e.line, &text, "theme th.toml");
        }
    }

    #[test]
    fn config_files(text in file_text(agile_deck::config::DEFAULT_TEXT)) {
        if let Err(e) = agile_deck::config::Config::parse(&text, "c.toml") {
            // Line 0: a problem of the whole file (a value that is not
            // valid as a whole), said without a line.
            if e.line > 0 {
                names_file_and_line(&e.to_string(), e.line, &text, "config c.toml");
            } else {
                prop_assert!(e.to_string().starts_with("config c.toml: "), "{e}");
            }
        }
    }

    #[test]
    fn filters(text in prop_oneof![
        ".{0,40}",
        "(!?(layer|team|state|health|image|name)[=~]?[a-z*.\\[\\](|)+?\\\\]{0,8} ?){0,4}",
    ]) {
        if let Err(e) = agile_deck::filter::Filter::parse(&text) {
            prop_assert!(!e.is_empty());
        }
    }

    #[test]
    fn durations(text in prop_oneof![".{0,12}", "[-+]?[0-9]{0,20}(\\.[0-9]{0,6})?(ms|s|m|h|d|)"]) {
        let plain = text.trim().chars().all(|c| c.is_ascii_alphanumeric() || ".+-".contains(c));
        match agile_deck::rollout::parse_duration(&text) {
            Ok(d) => prop_assert!(d.as_secs() <= 7 * 86400),
            Err(e) if plain => prop_assert!(e.contains(text.trim()), "{e}"),
            Err(e) => prop_assert!(!e.is_empty()),
        }
    }

    #[test]
    fn units(text in prop_oneof![
        ".{0,12}",
        "[-+]?[0-9]{0,25}(\\.[0-9]{0,6})?[kmgtbKMGTB]{0,2}",
        Just("-1".to_string()),
        Just("unlimited".to_string()),
    ]) {
        use agile_deck::units::{parse_bytes, parse_cpus, parse_pids};
        let plain = text.trim().chars().all(|c| c.is_ascii_alphanumeric() || ".+-".contains(c));
        for r in [
            parse_cpus(&text, 2),
            parse_bytes(&text, "memory", true),
            parse_bytes(&text, "memory", false),
            parse_pids(&text),
        ] {
            if let Err(e) = r
                && plain
            {
                prop_assert!(e.contains(text.trim()), "{e} does not name {text:?}");
            }
        }
    }

    #[test]
    fn resource_changes(words in prop::collection::vec(
        "(cpus|memory|mem|swap|reservation|pids|x)=[-+0-9.kmgtunlimited]{0,12}", 0..5)
    ) {
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let _ = agile_deck::units::parse_change(&words, 2, 8 << 30);
    }

    #[test]
    fn rollout_options(words in prop::collection::vec(
        "(image|parallelism|delay|monitor|healthy-within|failure|ratio|order|restart|x)(=[-a-z0-9.:]{0,12})?", 0..6)
    ) {
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let mut spec = agile_deck::rollout::Spec::default();
        if let Err(e) = agile_deck::rollout::parse_args(&words, &mut spec) {
            prop_assert!(!e.is_empty());
        }
    }

    /// Every `:` command, with arguments of any kind: the app says what is
    /// wrong and never panics.
    #[test]
    fn command_lines(
        command in prop::sample::select(agile_deck::commands::names()),
        args in prop::collection::vec(prop_oneof![
            "[a-z0-9=.:*-]{0,12}",
            ".{0,8}",
            "(image|cpus|memory|parallelism|monitor|healthy-within|order|failure)=.{0,6}",
        ], 0..4),
    ) {
        let mut app = App::new(
            Fleet::new(Topology::default_topology()),
            Keymap::default_keymap(),
            Theme::default_theme(),
            agile_deck::app::Hosts::single("fuzz", "unix:///fuzz.sock"),
        );
        let line = format!("{command} {}", args.join(" "));
        let key = |code| Msg::Key(KeyEvent::new(code, KeyModifiers::NONE));
        app.update(key(KeyCode::Char(':')));
        for c in line.chars().filter(|c| !c.is_control()) {
            app.update(key(KeyCode::Char(c)));
        }
        app.update(key(KeyCode::Enter));
    }

    /// Prometheus answers of any shape and status.
    #[test]
    fn prometheus_answers(status in prop::sample::select(vec![200u16, 400, 422, 500, 503]),
                          body in prometheus_body()) {
        let _ = agile_deck::prometheus::parse_response(status, body.as_bytes());
    }

    /// Log chunks of any bytes, torn anywhere: the same lines come out as
    /// from the whole, and nothing panics.
    #[test]
    fn log_chunks(bytes in prop::collection::vec(any::<u8>(), 0..400),
                  cuts in prop::collection::vec(0usize..400, 0..8)) {
        let mut whole_partial = Vec::new();
        let whole: Vec<String> = agile_deck::logs::split_chunk(&mut whole_partial, &bytes)
            .into_iter().map(|(_, l)| l).collect();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        cuts.sort();
        let mut partial = Vec::new();
        let mut torn = Vec::new();
        let mut from = 0;
        for c in cuts.into_iter().chain([bytes.len()]) {
            torn.extend(agile_deck::logs::split_chunk(&mut partial, &bytes[from..c])
                .into_iter().map(|(_, l)| l));
            from = c;
        }
        prop_assert_eq!(whole, torn);
        prop_assert_eq!(whole_partial, partial);
    }

    /// /proc/stat of any content.
    #[test]
    fn proc_stat(text in prop_oneof![
        ".{0,200}",
        "(cpu[0-9]{0,2}( [0-9]{1,20}){0,10}\n){0,5}",
    ]) {
        let _ = agile_deck::cgroup::SystemCpu::parse(&text);
    }

    /// /proc/self/mountinfo of any content.
    #[test]
    fn mountinfo(text in prop_oneof![
        ".{0,200}",
        "([0-9]{1,3} [0-9]{1,3} [0-9]:[0-9]{1,3} /[a-z/]{0,12} /sys/fs/cgroup/[a-z,]{0,12} rw[a-z,]{0,10} - cgroup2? cgroup rw,[a-z,]{0,20}\n){0,6}",
    ], version in prop::sample::select(vec!["1", "2", "", "x"])) {
        let _ = agile_deck::cgroup::Layout::from_mountinfo(&text, version);
    }

    /// The agent's stream: any bytes, or a valid stream with some bytes
    /// changed, torn anywhere, never panics the decoder (it says the
    /// stream is not its protocol, or waits for more).
    #[test]
    fn agent_frames(junk in prop::collection::vec(any::<u8>(), 0..300),
                    flips in prop::collection::vec((0usize..400, any::<u8>()), 0..6),
                    cut in 0usize..400) {
        use agile_deck::agent::wire;
        let mut valid = Vec::new();
        wire::encode_hello(&wire::Hello::ours(2, 1 << 30), &mut valid);
        let mut n = wire::Numbering::default();
        let at = chrono::DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let sample = agile_deck::stats::Sample { cpu_pct: 12.5, mem_used: 1 << 20, ..Default::default() };
        n.encode_batch(at, &[("a".repeat(64), sample)], 1 << 30, &mut valid);
        wire::encode_set(&[wire::Wanted { id: "b".repeat(64), pid: Some(7) }], &mut valid);
        let len = valid.len();
        for (i, b) in flips {
            valid[i % len] = b;
        }
        for bytes in [junk, valid] {
            let mut d = wire::Decoder::default();
            let cut = cut.min(bytes.len());
            for part in [&bytes[..cut], &bytes[cut..]] {
                d.push(part);
                while let Ok(Some(_)) = d.frame() {}
            }
        }
    }
}

/// Found by `proc_stat` above: tick counts near u64::MAX overflowed.
#[test]
fn a_proc_stat_with_huge_counters_saturates() {
    let huge = format!("cpu  {m} {m} 1 1 1 1 1 1\ncpu0 1\ncpu1 1\n", m = u64::MAX);
    let s = agile_deck::cgroup::SystemCpu::parse(&huge);
    assert_eq!((s.total_ns, s.online), (u64::MAX, 2));
}

/// JSON of any shape, and near-Prometheus answers with wrong types.
fn prometheus_body() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,10}".prop_map(serde_json::Value::from),
        prop::sample::select(vec!["NaN", "+Inf", "-Inf", "1e400", "0x10", ""])
            .prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "status",
                    "data",
                    "resultType",
                    "result",
                    "metric",
                    "value",
                    "values",
                    "error",
                    "errorType",
                    "x",
                ])
                .prop_map(String::from),
                inner,
                0..4
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    let shaped = (
        prop::sample::select(vec!["success", "error", "weird"]),
        prop::sample::select(vec!["vector", "matrix", "scalar", "string", "other"]),
        value.clone(),
    )
        .prop_map(|(status, kind, result)| {
            serde_json::json!({
                "status": status,
                "data": { "resultType": kind, "result": result },
                "errorType": "bad_data",
                "error": "x",
            })
            .to_string()
        });
    prop_oneof![value.prop_map(|v| v.to_string()), shaped, ".{0,50}",]
}
