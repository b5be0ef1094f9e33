//! Historical reports: answer rate, service level, abandons and the rest
//! of docs/metrics.md, by line, tag, class, queue, seat or interval, from
//! the stored call records and event log.
//!
//! ```text
//!  hotline report / GET /api/reports
//!        | ReportQuery (window, grouping, interval) + ReportSettings ([reports])
//!        v
//!  sql.rs: GROUP BY with CASE sums, in the database   --> rows of sums
//!        v
//!  figures.rs: rates and averages (sans-IO)           --> Report
//!        v
//!  format.rs: table, CSV or JSON
//! ```
//!
//! Everything but `sql.rs` is pure: the window, "now" and the settings are
//! arguments. Every row carries its class (emergency or not) unless the
//! query mixes them on purpose.

pub mod figures;
pub mod format;
mod sql;
pub mod time;

pub use figures::{CallCounts, SeatCounts};
pub use sql::OFFERED_CALLS_FILTER;
pub use time::{End, Interval, Tz, parse_bound};

use crate::model::LineClass;
use crate::store::{Store, StoreError};
use std::collections::BTreeMap;

/// What a report's rows are grouped by (besides class, and the interval
/// when one is asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum By {
    Line,
    Tag,
    Class,
    Queue,
    Seat,
    Interval,
}

impl By {
    pub fn parse(s: &str) -> Result<By, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "line" => Ok(By::Line),
            "tag" => Ok(By::Tag),
            "class" => Ok(By::Class),
            "queue" => Ok(By::Queue),
            "seat" => Ok(By::Seat),
            "interval" => Ok(By::Interval),
            _ => Err(format!(
                "by {s:?}: use line, tag, class, queue, seat or interval"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            By::Line => "line",
            By::Tag => "tag",
            By::Class => "class",
            By::Queue => "queue",
            By::Seat => "seat",
            By::Interval => "interval",
        }
    }

    /// The name of the row's own key column (`line`, `queue`, ...), if the
    /// grouping has one beyond class and interval.
    pub fn key_name(self) -> Option<&'static str> {
        match self {
            By::Class | By::Interval => None,
            other => Some(other.as_str()),
        }
    }
}

/// The report asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportQuery {
    /// Calls offered at or after this time (Unix ms)...
    pub from_ms: i64,
    /// ...and before this one.
    pub to_ms: i64,
    pub by: By,
    /// Rows per interval too (always, when `by` is `Interval`).
    pub interval: Option<Interval>,
    /// Emergency and non-emergency together (`class` null).
    pub mix_classes: bool,
}

/// The most intervals a report may have (a year in hours, and some).
pub const MAX_INTERVALS: i64 = 10_000;

impl ReportQuery {
    /// A query; `by = Interval` without an interval means hourly. Refuses
    /// an empty window or one cut in too many intervals.
    pub fn new(
        from_ms: i64,
        to_ms: i64,
        by: By,
        interval: Option<Interval>,
        mix_classes: bool,
    ) -> Result<ReportQuery, String> {
        if to_ms <= from_ms {
            return Err("the window is empty: --to must be later than --from".into());
        }
        let interval = match (by, interval) {
            (By::Interval, None) => Some(Interval::Hour),
            (_, i) => i,
        };
        if let Some(i) = interval {
            let n = (to_ms - from_ms) / i.ms();
            if n > MAX_INTERVALS {
                return Err(format!(
                    "{n} intervals of {} is too many (at most {MAX_INTERVALS}): use a longer interval or a shorter window",
                    i.as_str()
                ));
            }
        }
        Ok(ReportQuery {
            from_ms,
            to_ms,
            by,
            interval,
            mix_classes,
        })
    }
}

/// The `[reports]` settings a report is computed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSettings {
    pub tz: Tz,
    /// An abandon before this is a short abandon.
    pub short_abandon_ms: i64,
    /// Service-level threshold T...
    pub service_level_ms: i64,
    /// ...and the queues with their own.
    pub queue_service_level_ms: BTreeMap<String, i64>,
    /// Each configured seat's own class (emergency if it serves an
    /// emergency queue): where its ready and not-ready time is reported.
    pub seat_class: BTreeMap<String, LineClass>,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            tz: Tz::CHINA,
            short_abandon_ms: 5_000,
            service_level_ms: 20_000,
            queue_service_level_ms: BTreeMap::new(),
            seat_class: BTreeMap::new(),
        }
    }
}

/// What one row is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowKey {
    /// `None` only when classes are mixed on purpose.
    pub class: Option<LineClass>,
    /// The line, tag, queue or seat (`None`: a call without tag or queue).
    pub value: Option<String>,
    /// The start of the row's interval (Unix ms), when by interval.
    pub interval_start_ms: Option<i64>,
}

/// A row's figures: calls, or a seat's work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Figures {
    Calls(CallCounts),
    Seat(SeatCounts),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub key: RowKey,
    pub figures: Figures,
}

impl Row {
    /// The call figures (rows by anything but seat).
    pub fn calls(&self) -> Option<&CallCounts> {
        match &self.figures {
            Figures::Calls(c) => Some(c),
            Figures::Seat(_) => None,
        }
    }

    /// The seat figures (rows by seat).
    pub fn seat(&self) -> Option<&SeatCounts> {
        match &self.figures {
            Figures::Seat(s) => Some(s),
            Figures::Calls(_) => None,
        }
    }
}

/// A computed report: the query, the settings it used, and its rows in
/// order of interval, class, then key.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub query: ReportQuery,
    pub settings: ReportSettings,
    pub rows: Vec<Row>,
}

impl Report {
    /// The row for `class` and `value` (and interval start), for tests and
    /// callers that look one up.
    pub fn row(
        &self,
        class: Option<LineClass>,
        value: Option<&str>,
        interval_start_ms: Option<i64>,
    ) -> Option<&Row> {
        self.rows.iter().find(|r| {
            r.key.class == class
                && r.key.value.as_deref() == value
                && r.key.interval_start_ms == interval_start_ms
        })
    }
}

/// Computes the report `q` from `store` with `settings`; `now_ms` ends the
/// spans of seats still in a state.
pub async fn run(
    store: &Store,
    q: &ReportQuery,
    settings: &ReportSettings,
    now_ms: i64,
) -> Result<Report, StoreError> {
    let started = std::time::Instant::now();
    let rows = match q.by {
        By::Seat => sql::seat_rows(store, q, settings, now_ms).await?,
        _ => sql::call_rows(store, q, settings).await?,
    };
    tracing::info!(
        by = q.by.as_str(),
        rows = rows.len(),
        query_ms = started.elapsed().as_millis() as u64,
        "report computed"
    );
    Ok(Report {
        query: q.clone(),
        settings: settings.clone(),
        rows,
    })
}

/// Sort and group key of a row while rows are gathered: interval start,
/// class, key value.
type GatherKey = (Option<i64>, Option<&'static str>, Option<String>);

/// Rows' figures while they are gathered, in row order.
type Gather<T> = BTreeMap<GatherKey, T>;

fn class_of(s: Option<&str>) -> Option<LineClass> {
    s.and_then(|c| c.parse().ok())
}

/// Rows out of gathered figures, in key order.
fn into_rows<T>(g: Gather<T>, wrap: impl Fn(T) -> Figures) -> Vec<Row> {
    g.into_iter()
        .map(|((interval_start_ms, class, value), f)| Row {
            key: RowKey {
                class: class_of(class),
                value,
                interval_start_ms,
            },
            figures: wrap(f),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_refuse_empty_windows_and_too_many_intervals() {
        assert!(
            ReportQuery::new(10, 10, By::Line, None, false)
                .unwrap_err()
                .contains("--to must be later")
        );
        let q = ReportQuery::new(0, 86_400_000, By::Interval, None, false).unwrap();
        assert_eq!(q.interval, Some(Interval::Hour));
        let year = 366 * 86_400_000;
        assert!(ReportQuery::new(0, year, By::Line, Some(Interval::Hour), false).is_ok());
        let e = ReportQuery::new(0, year, By::Line, Some(Interval::Min15), false).unwrap_err();
        assert!(e.contains("too many"), "{e}");
        assert_eq!(By::parse("Queue"), Ok(By::Queue));
        assert!(
            By::parse("agent")
                .unwrap_err()
                .contains("line, tag, class, queue, seat or interval")
        );
    }
}
