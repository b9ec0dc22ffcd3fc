//! Plain-text tables and the time formats they show.

use std::io::{self, Write};

use racestore::analysis::race::{Gap, Rule, Standing};

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    /// Text: flush left.
    Left,
    /// Numbers: flush right.
    Right,
}

/// A table of text cells, printed with columns padded to their widest cell.
#[derive(Debug)]
pub(crate) struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers and alignments.
    pub(crate) fn new(columns: &[(&'static str, Align)]) -> Self {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; it must have one cell per column.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.columns.len());
        self.rows.push(cells);
    }

    /// Writes the header and the rows, two spaces between columns, no trailing spaces.
    pub(crate) fn write(&self, out: &mut impl Write) -> io::Result<()> {
        let mut widths: Vec<usize> = self.columns.iter().map(|(h, _)| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let header: Vec<String> = self.columns.iter().map(|(h, _)| (*h).to_owned()).collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = widths[i] - cell.chars().count();
                match self.columns[i].1 {
                    Align::Left => {
                        line.push_str(cell);
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// A lap time as `m:ss.fff`, rounded to the millisecond.
pub(crate) fn lap_time(seconds: f64) -> String {
    let ms = (seconds * 1000.0).round() as i64;
    format!("{}:{:02}.{:03}", ms / 60_000, ms / 1000 % 60, ms % 1000)
}

/// A race time: `m:ss.fff` under an hour (`48:42.667`), `h:mm:ss.fff` from an hour on.
pub(crate) fn race_time(seconds: f64) -> String {
    let ms = (seconds * 1000.0).round() as i64;
    if ms < 3_600_000 {
        return lap_time(seconds);
    }
    format!(
        "{}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// The TIME/GAP cell of a classification: the leader's race time (in a race) or best lap
/// (otherwise), then each competitor's gap to the leader: `+7.145`, `+1 lap`, `+3 laps`.
pub(crate) fn time_or_gap(rule: Rule, standing: &Standing) -> String {
    match (standing.gap_to_leader, rule) {
        (None, Rule::Race) => race_time(standing.total_time),
        (None, Rule::BestLap) => lap_time(standing.best_lap),
        (Some(Gap::Seconds(s)), _) => format!("+{}", self::seconds(s)),
        (Some(Gap::Laps(n)), _) => format!("+{n} lap{}", if n == 1 { "" } else { "s" }),
    }
}

/// A sector or gap as seconds with milliseconds: `29.301`.
pub(crate) fn seconds(seconds: f64) -> String {
    format!("{seconds:.3}")
}

/// A probability in `[0, 1]` as a percentage with one decimal: `23.4%`.
pub(crate) fn percent(probability: f64) -> String {
    format!("{:.1}%", probability * 100.0)
}

/// An optional value formatted with `f`, or `-` when absent.
pub(crate) fn or_dash<T>(value: Option<T>, f: impl FnOnce(T) -> String) -> String {
    value.map_or_else(|| "-".to_owned(), f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lap_times_read_as_minutes_seconds_milliseconds() {
        assert_eq!(lap_time(97.4), "1:37.400");
        assert_eq!(lap_time(59.9996), "1:00.000");
        assert_eq!(lap_time(123.0456), "2:03.046");
        assert_eq!(race_time(2922.667), "48:42.667");
        assert_eq!(race_time(3600.0), "1:00:00.000");
        assert_eq!(race_time(86_399.5), "23:59:59.500");
        assert_eq!(seconds(29.3), "29.300");
        assert_eq!(percent(0.2345), "23.4%");
        assert_eq!(or_dash(None::<f64>, lap_time), "-");
    }

    #[test]
    fn tables_pad_columns_to_the_widest_cell() {
        let mut table = Table::new(&[("NAME", Align::Left), ("N", Align::Right)]);
        table.row(vec!["a".into(), "100".into()]);
        table.row(vec!["long name".into(), "7".into()]);
        let mut out = Vec::new();
        table.write(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "NAME         N\na          100\nlong name    7\n"
        );
    }
}
