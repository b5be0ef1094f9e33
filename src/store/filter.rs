//! Query filters for listing call records and queue events, and the small
//! `WHERE`-clause builder both listings share. Placeholders are `$n`, which
//! SQLite and PostgreSQL both accept, so one SQL text serves both backends.

use serde::{Deserialize, Serialize};
use sqlx::Any;
use sqlx::any::AnyArguments;
use sqlx::query::Query;

use crate::model::{EventKind, LineClass, Outcome};

/// Calls listed when a [`CallFilter`] sets no limit.
pub const CALLS_DEFAULT_LIMIT: u32 = 100;
/// The most calls one [`CallFilter`] query returns.
pub const CALLS_MAX_LIMIT: u32 = 1_000;
/// Events listed when an [`EventFilter`] sets no limit.
pub const EVENTS_DEFAULT_LIMIT: u32 = 1_000;
/// The most events one [`EventFilter`] query returns.
pub const EVENTS_MAX_LIMIT: u32 = 10_000;

/// Which call records [`super::Store::list_calls`] returns, newest offer first.
/// Every field that is set must match; `Default` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallFilter {
    /// Offered at or after this time (Unix ms, inclusive).
    pub from_ms: Option<i64>,
    /// Offered before this time (Unix ms, exclusive).
    pub to_ms: Option<i64>,
    pub line: Option<String>,
    pub queue: Option<String>,
    pub seat: Option<String>,
    pub outcome: Option<Outcome>,
    pub class: Option<LineClass>,
    /// Inbound calls or callbacks.
    pub direction: Option<crate::model::Direction>,
    /// Calls of this ticket (工单).
    pub ticket_id: Option<String>,
    /// Calls continuing this record after a transfer across sides.
    pub parent_id: Option<String>,
    /// At most this many rows: [`CALLS_DEFAULT_LIMIT`] if unset, capped at
    /// [`CALLS_MAX_LIMIT`].
    pub limit: Option<u32>,
    /// Rows to skip (for paging).
    pub offset: Option<u32>,
}

/// Which queue events [`super::Store::list_events`] returns, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventFilter {
    pub call_id: Option<String>,
    pub queue: Option<String>,
    pub seat: Option<String>,
    pub kind: Option<EventKind>,
    /// At or after this time (Unix ms, inclusive).
    pub from_ms: Option<i64>,
    /// Before this time (Unix ms, exclusive).
    pub to_ms: Option<i64>,
    /// At most this many rows: [`EVENTS_DEFAULT_LIMIT`] if unset, capped at
    /// [`EVENTS_MAX_LIMIT`].
    pub limit: Option<u32>,
    /// Rows to skip (for paging).
    pub offset: Option<u32>,
}

/// A value to bind to a `$n` placeholder.
enum Arg {
    Int(i64),
    Text(String),
}

/// `WHERE` conditions with their bound values, numbered from `$1`.
#[derive(Default)]
pub(super) struct Conditions {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Conditions {
    /// Adds `column = value` if `value` is set.
    pub(super) fn eq(&mut self, column: &'static str, value: Option<&str>) {
        if let Some(v) = value {
            self.push(column, "=", Arg::Text(v.to_string()));
        }
    }

    /// Adds the half-open time range `from <= column < to` for what is set.
    pub(super) fn range(&mut self, column: &'static str, from: Option<i64>, to: Option<i64>) {
        if let Some(from) = from {
            self.push(column, ">=", Arg::Int(from));
        }
        if let Some(to) = to {
            self.push(column, "<", Arg::Int(to));
        }
    }

    fn push(&mut self, column: &'static str, op: &'static str, arg: Arg) {
        self.args.push(arg);
        self.clauses
            .push(format!("{column} {op} ${}", self.args.len()));
    }

    /// `SELECT {columns} FROM {table} [WHERE ...] ORDER BY {order} LIMIT $n OFFSET $m`.
    pub(super) fn select(&self, columns: &str, table: &str, order: &str) -> String {
        let mut sql = format!("SELECT {columns} FROM {table}");
        if !self.clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&self.clauses.join(" AND "));
        }
        let n = self.args.len();
        sql.push_str(&format!(
            " ORDER BY {order} LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        ));
        sql
    }

    /// Binds the condition values, then `limit` and `offset`, to `q`.
    pub(super) fn bind<'q>(
        self,
        mut q: Query<'q, Any, AnyArguments>,
        limit: u32,
        offset: u32,
    ) -> Query<'q, Any, AnyArguments> {
        for arg in self.args {
            q = match arg {
                Arg::Int(i) => q.bind(i),
                Arg::Text(s) => q.bind(s),
            };
        }
        q.bind(i64::from(limit)).bind(i64::from(offset))
    }
}

/// `limit` defaulted and capped.
pub(super) fn clamp_limit(limit: Option<u32>, default: u32, max: u32) -> u32 {
    limit.unwrap_or(default).min(max)
}
