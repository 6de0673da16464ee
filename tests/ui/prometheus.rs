//! Prometheus columns and charts, and ad-hoc PromQL.

use crate::fixture::*;

#[test]
fn prometheus_columns_and_charts() {
    both("prom_layers", |app| with_prometheus(app, figures));
    // Thresholds style the cells: data's 12 % errors is critical, the
    // coordination layer's 3 % a warning.
    let mut app = fixture();
    with_prometheus(&mut app, figures);
    let backend = draw(&mut app, 160, 48);
    let buf = backend.buffer();
    let style_of = |row: &str, text: &str| {
        let y = (0..48u16)
            .find(|y| {
                (0..160u16)
                    .map(|x| buf[(x, *y)].symbol())
                    .collect::<String>()
                    .starts_with(&format!("│{row} "))
            })
            .unwrap();
        let line: String = (0..160u16).map(|x| buf[(x, y)].symbol()).collect();
        let x = line
            .find(text)
            .unwrap_or_else(|| panic!("{text} in {line}"));
        let col = line[..x].chars().count() as u16;
        buf[(col, y)].fg
    };
    let theme = Theme::default_theme();
    assert_eq!(style_of("data", "12.0%"), theme.critical.fg.unwrap());
    assert_eq!(style_of("data", "1.80s"), theme.critical.fg.unwrap());
    assert_eq!(style_of("coordination", "3.0%"), theme.warning.fg.unwrap());
    assert_eq!(style_of("execution", "0.04%"), theme.text.fg.unwrap());
    assert_eq!(style_of("execution", "bad_da…"), theme.critical.fg.unwrap());
}

#[test]
fn prometheus_replica_columns() {
    let mut app = fixture();
    key(&mut app, KeyCode::Tab);
    key(&mut app, KeyCode::Char('j'));
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Enter);
    with_prometheus(&mut app, figures);
    insta::assert_snapshot!("prom_replicas_160x48", render(&mut app, 160, 48));
}

#[test]
fn prometheus_down() {
    let mut app = fixture();
    with_prometheus(&mut app, |_, _| {
        Err(PromError::Connect(
            "Connection refused (os error 111)".into(),
        ))
    });
    insta::assert_snapshot!("prom_down_120x30", render(&mut app, 120, 30));
}

#[test]
fn promql_prompt_and_answers() {
    let mut app = fixture();
    with_prometheus(&mut app, figures);
    key(&mut app, KeyCode::Char('P'));
    for c in "sum by (layer) (rate(agile_sim_requests_total[1m]))".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    insta::assert_snapshot!("promql_prompt_100x30", render(&mut app, 100, 30));
    key(&mut app, KeyCode::Enter);
    let query = app.adhoc.as_ref().unwrap().query.clone();
    insta::assert_snapshot!("promql_waiting_100x30", render(&mut app, 100, 30));
    let series = |layer: &str, v: f64| Series {
        labels: [("layer".to_string(), layer.to_string())]
            .into_iter()
            .collect(),
        at: 0.0,
        value: v,
    };
    app.update(Msg::PromAdhoc {
        query: query.clone(),
        result: Ok(Data::Vector(vec![
            series("frontend", 8.8),
            series("data", 5.6),
            series("execution", f64::NAN),
        ])),
    });
    insta::assert_snapshot!("promql_table_100x30", render(&mut app, 100, 30));
    // `r`: the same over the last 15 minutes, as a chart.
    key(&mut app, KeyCode::Char('r'));
    let range = app.adhoc.as_ref().unwrap().query.clone();
    assert!(matches!(range, Query::Range { .. }));
    let Ok(Data::Matrix(mut a)) = wave(4.0) else {
        unreachable!()
    };
    let Ok(Data::Matrix(b)) = wave(2.0) else {
        unreachable!()
    };
    a[0].labels.insert("layer".into(), "frontend".into());
    let mut b = b;
    b[0].labels.insert("layer".into(), "data".into());
    a.extend(b);
    app.update(Msg::PromAdhoc {
        query: range,
        result: Ok(Data::Matrix(a)),
    });
    insta::assert_snapshot!("promql_chart_100x30", render(&mut app, 100, 30));
    // Prometheus's own error, whole.
    key(&mut app, KeyCode::Char('r'));
    let query = app.adhoc.as_ref().unwrap().query.clone();
    app.update(Msg::PromAdhoc {
        query,
        result: Err(PromError::Api {
            kind: "bad_data".into(),
            message: "invalid parameter \"query\": 1:10: parse error: unclosed left parenthesis"
                .into(),
        }),
    });
    insta::assert_snapshot!("promql_error_100x30", render(&mut app, 100, 30));
    key(&mut app, KeyCode::Esc);
    assert!(app.adhoc.is_none());
    // Scalars and strings say what they are.
    key(&mut app, KeyCode::Char(':'));
    for c in "promql time()".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    let query = app.adhoc.as_ref().unwrap().query.clone();
    app.update(Msg::PromAdhoc {
        query,
        result: Ok(Data::Scalar {
            at: 0.0,
            value: 1795790000.0,
        }),
    });
    assert!(render(&mut app, 100, 30).contains("scalar: 1795790000"));
}

#[test]
fn promql_without_prometheus_says_how() {
    let mut app = fixture();
    key(&mut app, KeyCode::Char('P'));
    for c in "up".chars() {
        key(&mut app, KeyCode::Char(c));
    }
    key(&mut app, KeyCode::Enter);
    assert!(app.adhoc.is_none());
    let screen = render(&mut app, 100, 30);
    assert!(
        screen.contains("Prometheus is not configured: start agile-deck with --prometheus URL"),
        "{screen}"
    );
}
