//! The report queries: aggregation in the database (GROUP BY with CASE
//! sums), one SQL text for SQLite and PostgreSQL through sqlx's `Any`
//! driver, as the store does. Seat states are grouped by the raw
//! `from->to` detail and parsed here, which keeps string functions (that
//! differ between the two) out of the SQL.
//!
//! Numbers in the SQL (window bounds, thresholds, offsets) are formatted
//! from `i64`s, never from text; the one kind of text that goes in, queue
//! names with their own service level, is bound.

use super::figures::{CallCounts, SeatCounts};
use super::{By, Figures, Gather, GatherKey, ReportQuery, ReportSettings, Row, into_rows};
use crate::model::LineClass;
use crate::store::{Store, StoreError};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row as _};

/// Which rows of `calls` are offered calls (docs/metrics.md, "Which calls"):
/// inbound ones. Outbound callbacks (migration 0006's `direction`) are
/// not. Every query on offered calls goes through [`offered_where`].
pub const OFFERED_CALLS_FILTER: Option<&str> = Some("c.direction = 'inbound'");

/// How long after its offer a call's overflow events are
/// looked for, and how far before the window a seat's state change is
/// looked for.
const SLACK_MS: i64 = 86_400_000;

/// `WHERE` conditions of the offered calls (alias `c`) in the window.
fn offered_where(q: &ReportQuery) -> String {
    let mut w = format!(
        "c.offered_at_ms >= {} AND c.offered_at_ms < {}",
        q.from_ms, q.to_ms
    );
    if let Some(f) = OFFERED_CALLS_FILTER {
        w.push_str(" AND ");
        w.push_str(f);
    }
    w
}

/// `CASE WHEN cond THEN 1 ELSE 0 END`, summed.
fn count_if(cond: &str) -> String {
    format!("CAST(COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0) AS BIGINT)")
}

/// `expr` summed over the rows where `cond` holds.
fn sum_if(cond: &str, expr: &str) -> String {
    format!("CAST(COALESCE(SUM(CASE WHEN {cond} THEN {expr} ELSE 0 END), 0) AS BIGINT)")
}

/// The local-time bucket number of `col` (see [`super::Interval::bucket`]).
fn bucket_expr(q: &ReportQuery, s: &ReportSettings, col: &str) -> Option<String> {
    q.interval
        .map(|i| format!("(({col} + ({})) / {})", s.tz.offset_ms(), i.ms()))
}

/// The grouping columns of a call query: `k_class`, `k_value`, `k_bucket`
/// as far as the query has them, with `time_col` for the interval.
struct Keys {
    select: Vec<String>,
    group: Vec<String>,
}

impl Keys {
    fn new(
        q: &ReportQuery,
        s: &ReportSettings,
        value: Option<&str>,
        class: Option<&str>,
        time_col: &str,
    ) -> Keys {
        let mut k = Keys {
            select: Vec::new(),
            group: Vec::new(),
        };
        if !q.mix_classes
            && let Some(class) = class
        {
            k.push(class, "k_class");
        }
        if let Some(v) = value {
            k.push(v, "k_value");
        }
        if let Some(b) = bucket_expr(q, s, time_col) {
            k.push(&b, "k_bucket");
        }
        k
    }

    fn push(&mut self, expr: &str, alias: &str) {
        self.select.push(format!("{expr} AS {alias}"));
        self.group.push(expr.to_string());
    }

    /// `SELECT` list prefix (ends with a comma when not empty).
    fn select(&self) -> String {
        self.select.iter().map(|s| format!("{s}, ")).collect()
    }

    fn group_by(&self) -> String {
        if self.group.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", self.group.join(", "))
        }
    }
}

/// The gather key of a result row.
fn key_of(
    row: &AnyRow,
    q: &ReportQuery,
    s: &ReportSettings,
    has_value: bool,
) -> Result<GatherKey, sqlx::Error> {
    let class = if q.mix_classes {
        None
    } else {
        let c: Option<String> = row.try_get("k_class")?;
        Some(
            c.and_then(|c| c.parse::<LineClass>().ok())
                .unwrap_or_default()
                .as_str(),
        )
    };
    let value = if has_value {
        row.try_get::<Option<String>, _>("k_value")?
    } else {
        None
    };
    let bucket = match q.interval {
        Some(i) => Some(i.bucket_to_ms(row.try_get::<i64, _>("k_bucket")?, s.tz)),
        None => None,
    };
    Ok((bucket, class, value))
}

/// The service-level threshold of the call's queue, as SQL.
fn sl_threshold(s: &ReportSettings, binds: &mut Vec<String>) -> String {
    if s.queue_service_level_ms.is_empty() {
        return s.service_level_ms.to_string();
    }
    let mut e = String::from("CASE");
    for (queue, ms) in &s.queue_service_level_ms {
        binds.push(queue.clone());
        e.push_str(&format!(
            " WHEN c.queue = CAST(${} AS TEXT) THEN {ms}",
            binds.len()
        ));
    }
    e.push_str(&format!(" ELSE {} END", s.service_level_ms));
    e
}

async fn fetch(
    store: &Store,
    sql: String,
    binds: &[String],
    op: &'static str,
) -> Result<Vec<AnyRow>, StoreError> {
    let mut query = sqlx::query(AssertSqlSafe(sql)).persistent(false);
    for b in binds {
        query = query.bind(b.clone());
    }
    query
        .fetch_all(store.pool())
        .await
        .map_err(StoreError::query(op))
}

/// Rows of call figures (by line, tag, class, queue or interval).
pub(super) async fn call_rows(
    store: &Store,
    q: &ReportQuery,
    s: &ReportSettings,
) -> Result<Vec<Row>, StoreError> {
    let value_col = match q.by {
        By::Line => Some("c.line"),
        By::Tag => Some("c.tag"),
        By::Queue => Some("c.queue"),
        _ => None,
    };
    let by_queue = q.by == By::Queue;
    let keys = Keys::new(q, s, value_col, Some("c.class"), "c.offered_at_ms");
    let read = |e| StoreError::query("read report row")(e);
    let done = "c.outcome IS NOT NULL";
    let answered = "c.outcome = 'answered'";
    let mut binds = Vec::new();
    let sl = sl_threshold(s, &mut binds);
    let short = s.short_abandon_ms;
    let sql = format!(
        "SELECT {keys}{answered_n} AS answered, {short_n} AS short_abandoned, {abandoned_n} AS abandoned, \
         {rejected_n} AS rejected, {failed_n} AS failed, {open_n} AS in_progress, \
         {in_sl} AS answered_in_sl, {wait} AS answered_wait_ms, {talk} AS talk_ms, {wrapup} AS wrapup_ms, \
         MAX(CASE WHEN {done} THEN c.wait_ms END) AS longest_wait_ms \
         FROM calls c WHERE {window}{group}",
        keys = keys.select(),
        answered_n = count_if(answered),
        short_n = count_if(&format!("c.outcome = 'abandoned' AND c.wait_ms < {short}")),
        abandoned_n = count_if(&format!("c.outcome = 'abandoned' AND c.wait_ms >= {short}")),
        rejected_n = count_if("c.outcome = 'rejected'"),
        failed_n = count_if(&format!(
            "{done} AND c.outcome NOT IN ('answered', 'abandoned', 'rejected')"
        )),
        open_n = count_if("c.outcome IS NULL"),
        in_sl = count_if(&format!("{answered} AND c.wait_ms <= {sl}")),
        wait = sum_if(answered, "c.wait_ms"),
        talk = sum_if(answered, "c.talk_ms"),
        wrapup = sum_if(done, "COALESCE(c.wrapup_ms, 0)"),
        window = offered_where(q),
        group = keys.group_by(),
    );
    let mut rows: Gather<CallCounts> = Gather::new();
    for r in fetch(store, sql, &binds, "report calls").await? {
        let key = key_of(&r, q, s, value_col.is_some()).map_err(read)?;
        let get = |c: &str| r.try_get::<i64, _>(c).map_err(read);
        let counts = CallCounts {
            answered: get("answered")?,
            abandoned: get("abandoned")?,
            short_abandoned: get("short_abandoned")?,
            rejected: get("rejected")?,
            failed: get("failed")?,
            overflowed: 0,
            overflow_is_outcome: by_queue,
            in_progress: get("in_progress")?,
            answered_in_sl: get("answered_in_sl")?,
            answered_wait_ms: get("answered_wait_ms")?,
            talk_ms: get("talk_ms")?,
            wrapup_ms: get("wrapup_ms")?,
            longest_wait_ms: r
                .try_get::<Option<i64>, _>("longest_wait_ms")
                .map_err(read)?,
        };
        rows.entry(key).or_default().add(&counts);
    }
    // Overflows, from the (few) overflow events: by queue, the calls that
    // left each queue (offered there too); otherwise the calls that
    // overflowed at least once.
    let keys = Keys::new(
        q,
        s,
        if by_queue { Some("e.queue") } else { value_col },
        Some("c.class"),
        "c.offered_at_ms",
    );
    let sql = format!(
        "SELECT {keys}COUNT(DISTINCT c.id) AS n FROM queue_events e JOIN calls c ON c.id = e.call_id \
         WHERE e.kind = 'overflow' AND e.at_ms >= {} AND e.at_ms < {} AND {done} AND {}{}",
        q.from_ms,
        q.to_ms + SLACK_MS,
        offered_where(q),
        keys.group_by(),
        keys = keys.select(),
    );
    for r in fetch(store, sql, &[], "report overflows").await? {
        let key = key_of(&r, q, s, by_queue || value_col.is_some()).map_err(read)?;
        let n: i64 = r.try_get("n").map_err(read)?;
        let row = rows.entry(key).or_insert_with(|| CallCounts {
            overflow_is_outcome: by_queue,
            ..Default::default()
        });
        row.overflowed += n;
    }
    Ok(into_rows(rows, Figures::Calls))
}

/// Rows of seat figures: agent-state spans and ring events.
pub(super) async fn seat_rows(
    store: &Store,
    q: &ReportQuery,
    s: &ReportSettings,
    now_ms: i64,
) -> Result<Vec<Row>, StoreError> {
    let read = |e| StoreError::query("read report row")(e);
    let end = q.to_ms.min(now_ms.max(q.from_ms));
    let from = q.from_ms;
    let class_join = if q.mix_classes {
        ""
    } else {
        " LEFT JOIN calls c ON c.id = t.call_id"
    };
    let keys = Keys::new(q, s, Some("t.seat"), Some("c.class"), "t.start_ms");
    // Each state change's span is [at_ms, until_ms) (migration 0007),
    // clipped to the window; a state still on lasts until `end`.
    let sql = format!(
        "WITH t AS (SELECT seat, call_id, at_ms, detail, \
         CASE WHEN at_ms < {from} THEN {from} ELSE at_ms END AS start_ms, \
         CASE WHEN until_ms IS NULL OR until_ms > {end} THEN {end} ELSE until_ms END AS end_ms \
         FROM queue_events WHERE kind = 'agent_state' AND seat IS NOT NULL \
         AND at_ms >= {before} AND at_ms < {end} AND (until_ms IS NULL OR until_ms >= {from})) \
         SELECT {keys}t.detail AS k_detail, {begun} AS begun, {ms} AS ms \
         FROM t{class_join} WHERE t.end_ms >= t.start_ms GROUP BY {group}, t.detail",
        before = from - SLACK_MS,
        keys = keys.select(),
        begun = count_if(&format!("t.at_ms >= {from}")),
        ms = sum_if("1 = 1", "t.end_ms - t.start_ms"),
        group = keys.group.join(", "),
    );
    let mut rows: Gather<SeatCounts> = Gather::new();
    let home = |seat: &Option<String>| {
        seat.as_ref()
            .and_then(|x| s.seat_class.get(x))
            .copied()
            .unwrap_or_default()
            .as_str()
    };
    // Ringing, talk and wrap-up belong to the call's class; the rest to the seat's.
    let resolve = |key: GatherKey, call_time: bool, has_call: bool| {
        let (bucket, class, seat) = key;
        let class = match class {
            None if q.mix_classes => None,
            Some(c) if call_time && has_call => Some(c),
            _ => Some(home(&seat)),
        };
        (bucket, class, seat)
    };
    for r in fetch(store, sql, &[], "report seat states").await? {
        let key = key_of(&r, q, s, true).map_err(read)?;
        let has_call = !q.mix_classes
            && r.try_get::<Option<String>, _>("k_class")
                .map_err(read)?
                .is_some();
        // `from->to`: the span is in state `to`.
        let detail: Option<String> = r.try_get("k_detail").map_err(read)?;
        let detail = detail.unwrap_or_default();
        let state = detail.split_once("->").map_or("", |(_, to)| to).to_string();
        let call_time = matches!(state.as_str(), "ringing" | "on_call" | "wrap_up");
        let key = resolve(key, call_time, has_call);
        let ms: i64 = r.try_get("ms").map_err(read)?;
        let begun: i64 = r.try_get("begun").map_err(read)?;
        rows.entry(key).or_default().add_span(&state, ms, begun);
    }
    let keys = Keys::new(q, s, Some("e.seat"), Some("c.class"), "e.at_ms");
    let class_join = if q.mix_classes {
        ""
    } else {
        " LEFT JOIN calls c ON c.id = e.call_id"
    };
    let sql = format!(
        "SELECT {keys}e.kind AS k_kind, COUNT(*) AS n FROM queue_events e{class_join} \
         WHERE e.kind IN ('ring', 'no_answer') AND e.seat IS NOT NULL AND e.at_ms >= {from} AND e.at_ms < {to} \
         GROUP BY {group}, e.kind",
        keys = keys.select(),
        to = q.to_ms,
        group = keys.group.join(", "),
    );
    for r in fetch(store, sql, &[], "report seat rings").await? {
        let key = key_of(&r, q, s, true).map_err(read)?;
        let has_call = !q.mix_classes
            && r.try_get::<Option<String>, _>("k_class")
                .map_err(read)?
                .is_some();
        let key = resolve(key, true, has_call);
        let kind: String = r.try_get("k_kind").map_err(read)?;
        let n: i64 = r.try_get("n").map_err(read)?;
        let row = rows.entry(key).or_default();
        if kind == "ring" {
            row.rung += n;
        } else {
            row.no_answer += n;
        }
    }
    Ok(into_rows(rows, Figures::Seat))
}
