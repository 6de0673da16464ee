//! Fitting a table's columns into a width: each column has a width (0 =
//! flexible, takes what is left, at least `flex_min`) and a priority (0 is
//! kept first); the least important drop until the rest fit, and the kept
//! ones stay in display order.

/// The columns kept (indices, in display order) and each one's width.
#[derive(Debug, PartialEq, Eq)]
pub struct Fitted {
    pub kept: Vec<usize>,
    pub widths: Vec<u16>,
    /// Which kept columns are the flexible ones.
    pub flexible: Vec<bool>,
    /// The least a flexible column takes.
    pub flex_min: u16,
}

impl Fitted {
    /// The kept columns' constraints for a table: a flexible one takes at
    /// least `flex_min` and what is left; the others their width.
    pub fn constraints(&self) -> Vec<ratatui::layout::Constraint> {
        use ratatui::layout::Constraint;
        self.widths
            .iter()
            .zip(&self.flexible)
            .map(|(w, flex)| {
                if *flex {
                    Constraint::Min(self.flex_min)
                } else {
                    Constraint::Length(*w)
                }
            })
            .collect()
    }

    /// The width of column `i`, if it was kept.
    pub fn width_of(&self, i: usize) -> Option<u16> {
        self.kept
            .iter()
            .position(|k| *k == i)
            .map(|p| self.widths[p])
    }
}

/// A view's column: header, width (0 = the rest), priority (0 kept first).
pub type Col = (&'static str, u16, u8);

/// `cols` fitted into `avail` (inside the borders), and the header row of
/// the kept ones.
pub fn fit_named(
    cols: &[Col],
    avail: u16,
    flex_min: u16,
    style: ratatui::style::Style,
) -> (Fitted, ratatui::widgets::Row<'static>) {
    let specs: Vec<(u16, u8)> = cols.iter().map(|(_, w, p)| (*w, *p)).collect();
    let fitted = fit(&specs, avail, flex_min);
    let header = ratatui::widgets::Row::new(
        fitted
            .kept
            .iter()
            .map(|i| ratatui::text::Span::styled(cols[*i].0, style))
            .collect::<Vec<_>>(),
    );
    (fitted, header)
}

/// A list view's table drawn with its `selected` row (of `len`) highlighted.
pub fn draw_list(
    f: &mut ratatui::Frame,
    area: ratatui::layout::Rect,
    table: ratatui::widgets::Table,
    selection: ratatui::style::Style,
    selected: usize,
    len: usize,
) {
    f.render_stateful_widget(
        table.column_spacing(1).row_highlight_style(selection),
        area,
        &mut ratatui::widgets::TableState::default()
            .with_selected(Some(selected.min(len.saturating_sub(1)))),
    );
}

/// `cols` as (width, priority); one space between columns.
pub fn fit(cols: &[(u16, u8)], avail: u16, flex_min: u16) -> Fitted {
    let mut order: Vec<usize> = (0..cols.len()).collect();
    order.sort_by_key(|i| cols[*i].1);
    let need = |(w, _): (u16, u8)| if w == 0 { flex_min } else { w } + 1;
    let mut used = 0u16;
    let mut kept = Vec::new();
    for i in order {
        let w = need(cols[i]);
        if used + w <= avail {
            used += w;
            kept.push(i);
        }
    }
    kept.sort();
    let fixed: u16 = kept
        .iter()
        .filter(|i| cols[**i].0 > 0)
        .map(|i| cols[*i].0 + 1)
        .sum();
    let flexible = kept.iter().filter(|i| cols[**i].0 == 0).count() as u16;
    let flex = (avail.saturating_sub(fixed) / flexible.max(1))
        .saturating_sub(1)
        .max(flex_min);
    let widths = kept
        .iter()
        .map(|i| if cols[*i].0 == 0 { flex } else { cols[*i].0 })
        .collect();
    let flexible = kept.iter().map(|i| cols[*i].0 == 0).collect();
    Fitted {
        kept,
        widths,
        flexible,
        flex_min,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_drop_by_priority_and_keep_order() {
        let cols = [(10, 0), (10, 2), (10, 1), (0, 3)];
        assert_eq!(fit(&cols, 100, 10).kept, vec![0, 1, 2, 3]);
        assert_eq!(fit(&cols, 100, 10).widths, vec![10, 10, 10, 66]);
        assert_eq!(fit(&cols, 33, 10).kept, vec![0, 1, 2]);
        assert_eq!(fit(&cols, 22, 10).kept, vec![0, 2]);
        assert_eq!(fit(&cols, 5, 10).kept, Vec::<usize>::new());
        assert_eq!(fit(&cols, 22, 10).width_of(2), Some(10));
        assert_eq!(fit(&cols, 22, 10).width_of(1), None);
    }
}
