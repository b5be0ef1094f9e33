//! A report as JSON (the API's answer and `--format json`), CSV (every
//! figure, for spreadsheets) or an aligned text table (the figures a
//! supervisor reads first). Rows carry their grouping key: `class`, the
//! `by` column (`line`, `queue`, ...) and `interval_start` (local RFC 3339).

use super::{By, Figures, Report, Row};
use serde_json::{Map, Value, json};

/// The call figures of a row, in column order.
const CALL_COLUMNS: &[&str] = &[
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "rejected",
    "failed",
    "overflowed",
    "in_progress",
    "answer_rate",
    "service_level",
    "service_level_answered",
    "answered_in_sl",
    "asa_ms",
    "longest_wait_ms",
    "avg_talk_ms",
    "talk_ms",
    "wrapup_ms",
    "aht_ms",
];

/// The seat figures of a row, in column order.
const SEAT_COLUMNS: &[&str] = &[
    "rung",
    "no_answer",
    "handled",
    "talk_ms",
    "wrapup_ms",
    "ringing_ms",
    "ready_ms",
    "not_ready_ms",
    "not_ready",
    "aht_ms",
    "occupancy",
];

/// The key columns of `report`'s rows.
fn key_columns(report: &Report) -> Vec<&'static str> {
    let mut k = vec!["class"];
    if let Some(name) = report.query.by.key_name() {
        k.push(name);
    }
    if report.query.interval.is_some() {
        k.push("interval_start");
    }
    k
}

fn figure_columns(report: &Report) -> &'static [&'static str] {
    if report.query.by == By::Seat {
        SEAT_COLUMNS
    } else {
        CALL_COLUMNS
    }
}

fn opt_i(v: Option<i64>) -> Value {
    v.map_or(Value::Null, Value::from)
}

fn opt_f(v: Option<f64>) -> Value {
    v.filter(|f| f.is_finite()).map_or(Value::Null, Value::from)
}

/// One row's columns and values, keys first.
fn fields(report: &Report, row: &Row) -> Vec<(&'static str, Value)> {
    let mut f: Vec<(&'static str, Value)> = vec![(
        "class",
        row.key.class.map_or(Value::Null, |c| c.as_str().into()),
    )];
    if let Some(name) = report.query.by.key_name() {
        f.push((name, row.key.value.clone().map_or(Value::Null, Value::from)));
    }
    if report.query.interval.is_some() {
        f.push((
            "interval_start",
            row.key
                .interval_start_ms
                .map_or(Value::Null, |ms| report.settings.tz.format(ms).into()),
        ));
    }
    match &row.figures {
        Figures::Calls(c) => f.extend([
            ("offered", c.offered().into()),
            ("answered", c.answered.into()),
            ("abandoned", c.abandoned.into()),
            ("short_abandoned", c.short_abandoned.into()),
            ("rejected", c.rejected.into()),
            ("failed", c.failed.into()),
            ("overflowed", c.overflowed.into()),
            ("in_progress", c.in_progress.into()),
            ("answer_rate", opt_f(c.answer_rate())),
            ("service_level", opt_f(c.service_level())),
            ("service_level_answered", opt_f(c.service_level_answered())),
            ("answered_in_sl", c.answered_in_sl.into()),
            ("asa_ms", opt_i(c.asa_ms())),
            ("longest_wait_ms", opt_i(c.longest_wait_ms)),
            ("avg_talk_ms", opt_i(c.avg_talk_ms())),
            ("talk_ms", c.talk_ms.into()),
            ("wrapup_ms", c.wrapup_ms.into()),
            ("aht_ms", opt_i(c.aht_ms())),
        ]),
        Figures::Seat(s) => f.extend([
            ("rung", s.rung.into()),
            ("no_answer", s.no_answer.into()),
            ("handled", s.handled.into()),
            ("talk_ms", s.talk_ms.into()),
            ("wrapup_ms", s.wrapup_ms.into()),
            ("ringing_ms", s.ringing_ms.into()),
            ("ready_ms", s.ready_ms.into()),
            ("not_ready_ms", s.not_ready_ms().into()),
            ("not_ready", json!(s.not_ready)),
            ("aht_ms", opt_i(s.aht_ms())),
            ("occupancy", opt_f(s.occupancy())),
        ]),
    }
    f
}

/// The report as one JSON object: what was asked, the settings used, rows.
pub fn to_json(report: &Report) -> Value {
    let q = &report.query;
    let s = &report.settings;
    let rows: Vec<Value> = report
        .rows
        .iter()
        .map(|r| {
            Value::Object(
                fields(report, r)
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect::<Map<_, _>>(),
            )
        })
        .collect();
    json!({
        "from": s.tz.format(q.from_ms),
        "to": s.tz.format(q.to_ms),
        "timezone": s.tz.to_string(),
        "by": q.by.as_str(),
        "interval": q.interval.map(|i| i.as_str()),
        "mix_classes": q.mix_classes,
        "short_abandon_secs": s.short_abandon_ms as f64 / 1000.0,
        "service_level_secs": s.service_level_ms as f64 / 1000.0,
        "rows": rows,
    })
}

/// A value as CSV or table text: empty for null; a `not_ready` map as
/// `reason=ms` pairs.
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";"),
        other => other.to_string(),
    }
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Every column, a header line first.
pub fn to_csv(report: &Report) -> String {
    let mut header = key_columns(report);
    header.extend_from_slice(figure_columns(report));
    let mut out = header.join(",");
    out.push('\n');
    for row in &report.rows {
        let cells: Vec<String> = fields(report, row)
            .iter()
            .map(|(_, v)| csv_cell(&text(v)))
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// The columns of the text table, with their titles.
fn table_columns(by: By) -> &'static [(&'static str, &'static str)] {
    if by == By::Seat {
        &[
            ("handled", "handled"),
            ("rung", "rung"),
            ("no_answer", "no answer"),
            ("talk_ms", "talk"),
            ("wrapup_ms", "wrap-up"),
            ("aht_ms", "AHT"),
            ("ready_ms", "ready"),
            ("not_ready_ms", "not ready"),
            ("occupancy", "occupancy"),
            ("not_ready", "not ready by reason (s)"),
        ]
    } else {
        &[
            ("offered", "offered"),
            ("answered", "answered"),
            ("abandoned", "abandoned"),
            ("short_abandoned", "short"),
            ("rejected", "rejected"),
            ("failed", "failed"),
            ("overflowed", "overflowed"),
            ("answer_rate", "answer rate"),
            ("service_level", "SL"),
            ("asa_ms", "ASA"),
            ("longest_wait_ms", "longest"),
            ("aht_ms", "AHT"),
            ("in_progress", "in progress"),
        ]
    }
}

/// A value as the table shows it: rates in percent, times in seconds.
fn table_text(column: &str, v: &Value) -> String {
    match (column, v) {
        (_, Value::Null) => "-".into(),
        ("answer_rate" | "service_level" | "occupancy", Value::Number(n)) => {
            format!("{:.1}%", n.as_f64().unwrap_or(0.0) * 100.0)
        }
        ("not_ready", Value::Object(m)) => m
            .iter()
            .map(|(k, v)| format!("{k} {:.0}", v.as_f64().unwrap_or(0.0) / 1000.0))
            .collect::<Vec<_>>()
            .join(", "),
        (c, Value::Number(n)) if c.ends_with("_ms") => {
            format!("{:.1}s", n.as_f64().unwrap_or(0.0) / 1000.0)
        }
        (_, v) => text(v),
    }
}

/// The figures a supervisor reads first, aligned; a note under it says
/// where the rest is.
pub fn to_table(report: &Report) -> String {
    let cols = table_columns(report.query.by);
    let mut header: Vec<String> = key_columns(report)
        .iter()
        .map(|k| k.replace('_', " "))
        .collect();
    header.extend(cols.iter().map(|(_, title)| title.to_string()));
    let mut lines = vec![header];
    for row in &report.rows {
        let f = fields(report, row);
        let get = |name: &str| {
            f.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null)
        };
        let mut line: Vec<String> = key_columns(report)
            .iter()
            .map(|k| table_text(k, &get(k)))
            .collect();
        line.extend(cols.iter().map(|(k, _)| table_text(k, &get(k))));
        lines.push(line);
    }
    let n = lines[0].len();
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for l in &lines {
        let cells: Vec<String> = l
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    if report.rows.is_empty() {
        out.push_str("(no calls in this window)\n");
    }
    let s = &report.settings;
    out.push_str(&format!(
        "{} to {} ({}); short abandons under {} s; service level within {} s; definitions: docs/metrics.md; every figure: --format csv or json\n",
        s.tz.format(report.query.from_ms),
        s.tz.format(report.query.to_ms),
        s.tz,
        s.short_abandon_ms as f64 / 1000.0,
        s.service_level_ms as f64 / 1000.0,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LineClass;
    use crate::reports::{CallCounts, ReportQuery, ReportSettings, RowKey, SeatCounts};

    fn report(by: By, interval: Option<super::super::Interval>, rows: Vec<Row>) -> Report {
        let from = 1_795_536_000_000;
        Report {
            query: ReportQuery::new(from, from + 86_400_000, by, interval, false).unwrap(),
            settings: ReportSettings::default(),
            rows,
        }
    }

    fn line_row() -> Row {
        Row {
            key: RowKey {
                class: Some(LineClass::NonEmergency),
                value: Some("12345".into()),
                interval_start_ms: None,
            },
            figures: Figures::Calls(CallCounts {
                answered: 3,
                short_abandoned: 1,
                answered_in_sl: 2,
                answered_wait_ms: 30_000,
                longest_wait_ms: Some(15_000),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn json_rows_carry_the_key_and_the_figures() {
        let r = report(By::Line, None, vec![line_row()]);
        let v = to_json(&r);
        assert_eq!(v["by"], "line");
        assert_eq!(v["from"], "2026-11-25T00:00:00+08:00");
        assert_eq!(v["timezone"], "+08:00");
        let row = &v["rows"][0];
        assert_eq!(row["class"], "non_emergency");
        assert_eq!(row["line"], "12345");
        assert_eq!(row["offered"], 4);
        assert_eq!(row["answered"], 3);
        assert_eq!(row["short_abandoned"], 1);
        assert_eq!(row["abandoned"], 0);
        assert_eq!(row["answer_rate"], 1.0);
        assert_eq!(row["service_level"], 0.5);
        assert_eq!(row["asa_ms"], 10_000);
        assert!(
            row["aht_ms"].is_number() && row.get("interval_start").is_none(),
            "{row}"
        );
    }

    #[test]
    fn csv_has_a_header_and_every_figure() {
        let mut row = line_row();
        row.key.value = Some("a,b".into());
        let csv = to_csv(&report(By::Line, None, vec![row]));
        let mut lines = csv.lines();
        let header = lines.next().unwrap();
        assert!(
            header.starts_with("class,line,offered,answered,abandoned,short_abandoned,"),
            "{header}"
        );
        let cells = lines.next().unwrap();
        assert!(
            cells.starts_with("non_emergency,\"a,b\",4,3,0,1,"),
            "{cells}"
        );
        let empty = to_csv(&report(By::Interval, None, vec![]));
        assert_eq!(
            empty
                .lines()
                .next()
                .unwrap()
                .split(',')
                .take(3)
                .collect::<Vec<_>>(),
            ["class", "interval_start", "offered"]
        );
    }

    #[test]
    fn the_table_shows_percentages_and_seconds() {
        let t = to_table(&report(By::Line, None, vec![line_row()]));
        assert!(t.contains("answer rate"), "{t}");
        assert!(
            t.contains("100.0%") && t.contains("50.0%") && t.contains("10.0s"),
            "{t}"
        );
        assert!(t.contains("docs/metrics.md"), "{t}");
        let seat = Row {
            key: RowKey {
                class: Some(LineClass::Emergency),
                value: Some("8021".into()),
                interval_start_ms: None,
            },
            figures: Figures::Seat(SeatCounts {
                handled: 1,
                talk_ms: 90_000,
                ready_ms: 30_000,
                not_ready: [("lunch".to_string(), 1_800_000)].into(),
                ..Default::default()
            }),
        };
        let t = to_table(&report(By::Seat, None, vec![seat.clone()]));
        assert!(t.contains("lunch 1800") && t.contains("75.0%"), "{t}");
        let v = to_json(&report(By::Seat, None, vec![seat]));
        assert_eq!(v["rows"][0]["seat"], "8021");
        assert_eq!(v["rows"][0]["not_ready"]["lunch"], 1_800_000);
        assert_eq!(v["rows"][0]["not_ready_ms"], 1_800_000);
    }
}
