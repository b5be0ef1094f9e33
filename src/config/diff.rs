//! What a reload would change: the running config against a new one.
//!
//! A pure function of the two validated configs. [`diff`] first refuses
//! the keys that cannot change while hotline runs ([`RESTART_ONLY`]: the
//! sockets bound at start, the database, the recordings' roots and
//! retention, the RTP range and threads, the digest realm): a reload that
//! touches one of them is refused whole, naming the file, the key and
//! "needs a restart", and the running config stays; so is a queue changing
//! class (emergency or not) under its waiting callers. Otherwise it lists
//! every change, as the log and `POST /api/reload` say it: lines, queues
//! and seats added, removed or changed (which fields, from what to what),
//! then the other sections. Secrets (passwords, tokens) are named, never
//! shown.

use super::{Config, ConfigError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// Keys whose new value only takes effect at the next start, with why.
pub const RESTART_ONLY: &[(&str, &str)] = &[
    ("server.advertise", "the address in every Via and Contact"),
    ("server.drain_secs", "read when hotline starts"),
    ("sip.phones.udp", "a socket bound at start"),
    ("sip.phones.tcp", "a socket bound at start"),
    ("sip.trunk.udp", "a socket bound at start"),
    ("sip.trunk.tcp", "a socket bound at start"),
    (
        "sip.phones.realm",
        "the phones' outstanding digest challenges are bound to it",
    ),
    (
        "sip.phones.nonce_ttl_secs",
        "the phones' outstanding digest challenges are bound to it",
    ),
    (
        "sip.phones.auth_algorithms",
        "the phones' outstanding digest challenges are bound to it",
    ),
    ("http.listen", "a socket bound at start"),
    ("store.url", "the database is opened at start"),
    ("store.buffer", "the record writer is sized at start"),
    ("recordings.root", "recordings on record are found under it"),
    (
        "recordings.emergency_root",
        "recordings on record are found under it",
    ),
    (
        "recordings.retention_days",
        "the retention sweep reads it at start",
    ),
    (
        "recordings.emergency_retention_days",
        "the retention sweep reads it at start",
    ),
    ("media", "the RTP ports and workers are set up at start"),
    ("media.rtp_port_min", "the RTP ports are bound at start"),
    ("media.rtp_port_max", "the RTP ports are bound at start"),
    ("media.rtp_threads", "the RTP workers are started at start"),
    (
        "provisioning",
        "the desk phones' provisioning files are made at start",
    ),
];

/// One difference between the running config and the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// What changed: `line 12349`, `queue epidemic`, `seat 8031`, `[reports]`.
    pub item: String,
    pub kind: ChangeKind,
    /// For an addition, what it is; for a change, which fields, from what to what.
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, self.detail.is_empty()) {
            (ChangeKind::Added, false) => write!(f, "{} added ({})", self.item, self.detail),
            (ChangeKind::Added, true) => write!(f, "{} added", self.item),
            (ChangeKind::Removed, _) => write!(f, "{} removed", self.item),
            (ChangeKind::Changed, _) => write!(f, "{} changed: {}", self.item, self.detail),
        }
    }
}

/// The changes from `old` to `new` (both validated; `new` read from
/// `file`), or the refusal of a key that needs a restart.
pub fn diff(old: &Config, new: &Config, file: &Path) -> Result<Vec<Change>, ConfigError> {
    let (o, n) = (to_json(old), to_json(new));
    for (key, why) in RESTART_ONLY {
        let pointer = format!("/{}", key.replace('.', "/"));
        let (a, b) = (
            o.pointer(&pointer).unwrap_or(&Value::Null),
            n.pointer(&pointer).unwrap_or(&Value::Null),
        );
        if *key == "media" && a.is_null() != b.is_null() {
            let what = if a.is_null() { "added" } else { "removed" };
            return Err(restart(file, key, format!("[media] {what}: {why}")));
        }
        if *key == "provisioning" && a != b {
            // Its secret is not shown.
            return Err(restart(file, key, format!("changed ({why})")));
        }
        if *key != "media" && *key != "provisioning" && a != b {
            return Err(restart(
                file,
                key,
                format!("changed from {} to {} ({why})", show(a), show(b)),
            ));
        }
    }
    for (i, q) in new.queues.iter().enumerate() {
        if let Some(was) = old
            .queues
            .iter()
            .find(|o| o.name == q.name)
            .filter(|o| o.class != q.class)
        {
            return Err(ConfigError {
                file: file.to_path_buf(),
                key: format!("queues[{i}].class"),
                reason: format!(
                    "changed from {} to {}: a queue cannot change sides while hotline runs (callers waiting in it would reach the other side's seats); add a queue of the new class and point the lines at it, or restart",
                    was.class, q.class
                ),
            });
        }
    }
    let mut changes = Vec::new();
    keyed(
        &mut changes,
        "line",
        by(&o["lines"], "number"),
        by(&n["lines"], "number"),
        |l| {
            let mut d = format!("queue {}, class {}", show(&l["queue"]), show(&l["class"]));
            if let Some(tag) = l["tag"].as_str() {
                d.push_str(&format!(", tag {tag}"));
            }
            d
        },
    );
    keyed(
        &mut changes,
        "queue",
        by(&o["queues"], "name"),
        by(&n["queues"], "name"),
        |q| {
            format!(
                "class {}, strategy {}",
                show(&q["class"]),
                show(&q["strategy"])
            )
        },
    );
    let seats = |c: &Config| -> BTreeMap<String, Value> {
        c.all_seats()
            .into_iter()
            .map(|s| {
                (
                    s.extension.clone(),
                    serde_json::to_value(s).unwrap_or_default(),
                )
            })
            .collect()
    };
    keyed(&mut changes, "seat", seats(old), seats(new), |s| {
        format!("queues {}", memberships(&s["queues"]))
    });
    let (Value::Object(os), Value::Object(ns)) = (&o, &n) else {
        return Ok(changes);
    };
    for (section, a) in os {
        if matches!(
            section.as_str(),
            "lines" | "queues" | "seats" | "seat_ranges"
        ) {
            continue;
        }
        let b = ns.get(section).unwrap_or(&Value::Null);
        let item = format!("[{section}]");
        match (a.is_null(), b.is_null()) {
            (true, true) => {}
            (true, false) => changes.push(Change {
                item,
                kind: ChangeKind::Added,
                detail: String::new(),
            }),
            (false, true) => changes.push(Change {
                item,
                kind: ChangeKind::Removed,
                detail: String::new(),
            }),
            (false, false) => {
                let mut fields = Vec::new();
                fields_changed(section, "", a, b, &mut fields);
                if !fields.is_empty() {
                    changes.push(Change {
                        item,
                        kind: ChangeKind::Changed,
                        detail: fields.join(", "),
                    });
                }
            }
        }
    }
    Ok(changes)
}

fn restart(file: &Path, key: &str, what: String) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        key: key.into(),
        reason: format!("{what}: this needs a restart of hotline"),
    }
}

fn to_json(c: &Config) -> Value {
    serde_json::to_value(c).unwrap_or_default()
}

/// An array of objects keyed by one of their fields.
fn by(list: &Value, key: &str) -> BTreeMap<String, Value> {
    let items = list.as_array().map(Vec::as_slice).unwrap_or_default();
    items.iter().map(|v| (show(&v[key]), v.clone())).collect()
}

/// Additions, removals and changes between two keyed sets of `kind`.
fn keyed(
    out: &mut Vec<Change>,
    kind: &str,
    old: BTreeMap<String, Value>,
    new: BTreeMap<String, Value>,
    describe: impl Fn(&Value) -> String,
) {
    for (key, a) in &old {
        let item = format!("{kind} {key}");
        match new.get(key) {
            None => out.push(Change {
                item,
                kind: ChangeKind::Removed,
                detail: String::new(),
            }),
            Some(b) if a != b => {
                let mut fields = Vec::new();
                fields_changed(kind, "", a, b, &mut fields);
                out.push(Change {
                    item,
                    kind: ChangeKind::Changed,
                    detail: fields.join(", "),
                });
            }
            Some(_) => {}
        }
    }
    for (key, b) in new.iter().filter(|(k, _)| !old.contains_key(*k)) {
        out.push(Change {
            item: format!("{kind} {key}"),
            kind: ChangeKind::Added,
            detail: describe(b),
        });
    }
}

/// The leaves that differ between `a` and `b` (objects are walked, other
/// values compared whole), as `path old -> new`; secrets without values.
fn fields_changed(section: &str, path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    if a == b {
        return;
    }
    if let (Value::Object(ao), Value::Object(bo)) = (a, b) {
        let keys: std::collections::BTreeSet<&String> = ao.keys().chain(bo.keys()).collect();
        for k in keys {
            let sub = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            fields_changed(
                section,
                &sub,
                ao.get(k).unwrap_or(&Value::Null),
                bo.get(k).unwrap_or(&Value::Null),
                out,
            );
        }
        return;
    }
    let last = path.rsplit('.').next().unwrap_or(path);
    if section == "http" && path == "tokens" {
        out.push(token_changes(a, b));
    } else if ["password", "secret", "token"]
        .iter()
        .any(|s| last.contains(s))
    {
        out.push(format!("{path} (not shown)"));
    } else if last == "queues" {
        out.push(format!("{path} {} -> {}", memberships(a), memberships(b)));
    } else {
        out.push(format!("{path} {} -> {}", show(a), show(b)));
    }
}

/// `[http] tokens` by name: which were added, removed or changed.
fn token_changes(a: &Value, b: &Value) -> String {
    let (a, b) = (by(a, "name"), by(b, "name"));
    let mut said = Vec::new();
    for (name, t) in &a {
        match b.get(name) {
            None => said.push(format!("token {name} removed")),
            Some(u) if u != t => said.push(format!("token {name} changed")),
            Some(_) => {}
        }
    }
    said.extend(
        b.keys()
            .filter(|n| !a.contains_key(*n))
            .map(|n| format!("token {n} added")),
    );
    said.join(", ")
}

/// A seat's queues: `citizen, epidemic:1` (penalty after the colon when not 0).
fn memberships(v: &Value) -> String {
    let items = v.as_array().map(Vec::as_slice).unwrap_or_default();
    let names: Vec<String> = items
        .iter()
        .map(|m| match m["penalty"].as_u64() {
            Some(p) if p > 0 => format!("{}:{p}", show(&m["queue"])),
            _ => show(&m["queue"]),
        })
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// A value as the log shows it: strings bare, `none` for null, long ones cut.
fn show(v: &Value) -> String {
    let s = match v {
        Value::Null => "none".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 80 {
        format!("{}...", s.chars().take(77).collect::<String>())
    } else {
        s
    }
}

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
