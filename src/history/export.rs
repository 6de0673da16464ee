//! `history export`: each replica's figures, the Prometheus answers and
//! the events of a span, as CSV (one table: `kind` says which) or JSON.

use chrono::{DateTime, Utc};
use color_eyre::eyre::Result;
use serde_json::json;

use super::frame::{Entry, Identity};
use super::read::Reader;

/// A replica or event is the target's: its service, name, team or layer.
fn matches(target: Option<&str>, names: [&str; 4]) -> bool {
    target.is_none_or(|t| names.contains(&t))
}

fn who(i: &Identity) -> [&str; 4] {
    [
        &i.service,
        &i.name,
        i.team.as_deref().unwrap_or(""),
        i.layer.as_deref().unwrap_or(""),
    ]
}

const CSV_HEADER: &str = "kind,time,host,replica,service,team,layer,state,health,cpu_percent,memory_used,memory_limit,net_rx_bytes_per_s,net_tx_bytes_per_s,block_read_bytes_per_s,block_write_bytes_per_s,pids,event,detail,metric,value\n";

fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

pub fn export(
    reader: &Reader,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    target: Option<&str>,
    as_json: bool,
) -> Result<String> {
    let mut figures = Vec::new();
    reader.frames(from, to, |at, i, e| {
        if matches(target, who(i)) {
            figures.push((at, i.clone(), e.clone()));
        }
    })?;
    let events: Vec<_> = reader
        .events(from, to, usize::MAX >> 1)?
        .into_iter()
        .filter(|e| matches(target, [&e.service, &e.container, &e.team, &e.layer]))
        .collect();
    let metrics: Vec<_> = reader
        .metric_values(from, to)?
        .into_iter()
        .filter(|m| matches(target, [&m.target, "", "", ""]))
        .collect();
    if as_json {
        let row = |(at, i, e): &(DateTime<Utc>, Identity, Entry)| {
            let f = e.figures.as_ref();
            json!({
                "time": at.to_rfc3339(),
                "host": i.host, "replica": i.name, "id": i.container,
                "service": i.service, "team": i.team, "layer": i.layer,
                "state": e.state, "health": e.health.word(),
                "restarts": e.restarts, "exit_code": e.exit_code, "oom_killed": e.oom_killed,
                "cpu_percent": f.map(|f| f.cpu_pct),
                "memory_used": f.map(|f| f.mem_used),
                "memory_limit": f.map(|f| f.mem_limit),
                "net_rx_bytes_per_s": f.map(|f| f.net_rx_rate),
                "net_tx_bytes_per_s": f.map(|f| f.net_tx_rate),
                "block_read_bytes_per_s": f.map(|f| f.blk_read_rate),
                "block_write_bytes_per_s": f.map(|f| f.blk_write_rate),
                "pids": f.map(|f| f.pids),
            })
        };
        let v = json!({
            "from": from.to_rfc3339(),
            "to": to.to_rfc3339(),
            "target": target,
            "figures": figures.iter().map(row).collect::<Vec<_>>(),
            "metrics": metrics.iter().map(|m| json!({
                "time": m.at.to_rfc3339(), "target": m.target,
                "metric": m.metric, "value": m.value,
            })).collect::<Vec<_>>(),
            "events": events.iter().map(|e| json!({
                "time": e.at.to_rfc3339(), "source": e.source, "severity": e.severity,
                "host": e.host, "layer": e.layer, "team": e.team, "service": e.service,
                "container": e.container, "event": e.event, "detail": e.detail,
            })).collect::<Vec<_>>(),
        });
        return Ok(format!("{v:#}\n"));
    }
    let mut out = String::from(CSV_HEADER);
    for (at, i, e) in &figures {
        let f = e.figures.as_ref();
        let num = |v: Option<String>| v.unwrap_or_default();
        let head = [
            "figures".to_string(),
            at.to_rfc3339(),
            csv(&i.host),
            csv(&i.name),
            csv(&i.service),
            csv(i.team.as_deref().unwrap_or("")),
            csv(i.layer.as_deref().unwrap_or("")),
            e.state.to_string(),
            e.health.word().to_string(),
            num(f.map(|f| format!("{:.2}", f.cpu_pct))),
            num(f.map(|f| f.mem_used.to_string())),
            num(f.map(|f| f.mem_limit.to_string())),
            num(f.map(|f| format!("{:.0}", f.net_rx_rate))),
            num(f.map(|f| format!("{:.0}", f.net_tx_rate))),
            num(f.map(|f| format!("{:.0}", f.blk_read_rate))),
            num(f.map(|f| format!("{:.0}", f.blk_write_rate))),
            num(f.map(|f| f.pids.to_string())),
        ];
        csv_line(&mut out, &head, &[]);
    }
    for e in &events {
        let head = [
            format!("event:{}", e.source),
            e.at.to_rfc3339(),
            csv(&e.host),
            csv(&e.container),
            csv(&e.service),
            csv(&e.team),
            csv(&e.layer),
        ];
        let tail = [csv(&e.event), csv(&e.detail), String::new(), String::new()];
        csv_line(&mut out, &head, &tail);
    }
    // A metric is on a row, not a replica: its target goes in `service`.
    for m in &metrics {
        let head = [
            "metric".to_string(),
            m.at.to_rfc3339(),
            String::new(),
            String::new(),
            csv(&m.target),
        ];
        csv_line(&mut out, &head, &[csv(&m.metric), m.value.to_string()]);
    }
    Ok(out)
}

/// One CSV line: `head` in the header's first columns, `tail` in its
/// last ones, the columns between empty.
fn csv_line(out: &mut String, head: &[String], tail: &[String]) {
    let columns = CSV_HEADER.matches(',').count() + 1;
    let between = columns.saturating_sub(head.len() + tail.len());
    let cells: Vec<&str> = head
        .iter()
        .map(String::as_str)
        .chain(std::iter::repeat_n("", between))
        .chain(tail.iter().map(String::as_str))
        .collect();
    out.push_str(&cells.join(","));
    out.push('\n');
}
