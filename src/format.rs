//! Short human forms of figures, sized for table cells.

/// Bytes in binary units, like `docker stats`: 512B, 1.5K, 310M, 2.1G.
pub fn bytes(n: f64) -> String {
    const UNITS: [&str; 6] = ["B", "K", "M", "G", "T", "P"];
    let mut v = n.max(0.0);
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0}{}", UNITS[unit])
    } else if v < 10.0 {
        format!("{v:.1}{}", UNITS[unit])
    } else {
        format!("{v:.0}{}", UNITS[unit])
    }
}

/// A rate in bytes per second: `1.2M` (the column header says /s).
pub fn rate(n: f64) -> String {
    bytes(n)
}

/// CPU percent with one decimal below 100.
pub fn percent(p: f64) -> String {
    if p >= 100.0 {
        format!("{p:.0}")
    } else {
        format!("{p:.1}")
    }
}

/// Cores: `0.5`, `2`, or `-` when unlimited.
pub fn cores(c: Option<f64>) -> String {
    match c {
        None => "-".into(),
        Some(c) if (c - c.round()).abs() < 1e-9 => format!("{c:.0}"),
        Some(c) => {
            let s = format!("{c:.2}");
            s.trim_end_matches('0').to_string()
        }
    }
}

/// An age: `45s`, `12m`, `3h02m`, `6d4h`.
pub fn age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

/// A text sparkline of `values`, scaled to `max` (or their own maximum).
pub fn sparkline(values: &[f64], max: Option<f64>) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let top = max
        .unwrap_or_else(|| values.iter().copied().fold(0.0, f64::max))
        .max(1.0);
    values
        .iter()
        .map(|v| {
            if *v <= 0.0 {
                ' '
            } else {
                let i = ((v / top) * 7.0).round().clamp(0.0, 7.0) as usize;
                BARS[i]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(bytes(512.0), "512B");
        assert_eq!(bytes(1536.0), "1.5K");
        assert_eq!(bytes(310.0 * 1024.0 * 1024.0), "310M");
        assert_eq!(bytes(2.1 * 1024.0 * 1024.0 * 1024.0), "2.1G");
        assert_eq!(percent(4.14), "4.1");
        assert_eq!(percent(191.3), "191");
        assert_eq!(cores(Some(0.25)), "0.25");
        assert_eq!(cores(Some(0.5)), "0.5");
        assert_eq!(cores(Some(2.0)), "2");
        assert_eq!(cores(None), "-");
        assert_eq!(age(59), "59s");
        assert_eq!(age(3 * 3600 + 120), "3h02m");
        assert_eq!(age(2 * 86400 + 7200), "2d2h");
    }

    #[test]
    fn sparkline_scales() {
        assert_eq!(sparkline(&[0.0, 50.0, 100.0], Some(100.0)), " ▅█");
        assert_eq!(sparkline(&[1.0, 2.0], None), "▅█");
        assert_eq!(sparkline(&[10.0, 20.0], None), "▅█");
    }
}
