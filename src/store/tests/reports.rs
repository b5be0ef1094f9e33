//! Reports computed in the database, on SQLite and PostgreSQL: the worked
//! example of docs/metrics.md (ten calls around midnight in +08:00, with
//! short abandons, an overflow, a rejection, a failure, a call still
//! waiting, emergency calls beside the others) and its seats' agent states,
//! every expected figure worked out by hand.

use super::{TestDb, on_each_backend};
use crate::model::{CallRecord, EventKind, HangupBy, LineClass, Outcome, QueueEvent};
use crate::reports::{
    self, By, CallCounts, Interval, Report, ReportQuery, ReportSettings, SeatCounts,
};

/// 2026-11-25T00:00:00+08:00.
const M: i64 = 1_795_536_000_000;
const MIN: i64 = 60_000;
const S: i64 = 1_000;
const DAY: i64 = 86_400_000;
const NE: Option<LineClass> = Some(LineClass::NonEmergency);
const EM: Option<LineClass> = Some(LineClass::Emergency);

struct Call {
    id: &'static str,
    line: &'static str,
    tag: &'static str,
    emergency: bool,
    queue: &'static str,
    offered: i64,
    /// Seat and wait until the answer, if answered.
    answer: Option<(&'static str, i64)>,
    /// Outcome and time from the answer (or offer) to the end.
    end: Option<(Outcome, i64)>,
}

/// The calls of docs/metrics.md, "Worked example".
const CALLS: &[Call] = &[
    Call {
        id: "c1",
        line: "12345",
        tag: "citizen-service",
        emergency: false,
        queue: "citizen",
        offered: M - 10 * MIN,
        answer: Some(("8001", 10 * S)),
        end: Some((Outcome::Answered, 120 * S)),
    },
    Call {
        id: "c2",
        line: "12345",
        tag: "citizen-service",
        emergency: false,
        queue: "citizen",
        offered: M - 8 * MIN,
        answer: Some(("8002", 30 * S)),
        end: Some((Outcome::Answered, 60 * S)),
    },
    Call {
        id: "c3",
        line: "12345",
        tag: "citizen-service",
        emergency: false,
        queue: "citizen",
        offered: M - 5 * MIN,
        answer: None,
        end: Some((Outcome::Abandoned, 3 * S)),
    },
    Call {
        id: "c4",
        line: "12329",
        tag: "housing-fund",
        emergency: false,
        queue: "citizen",
        offered: M - 2 * MIN,
        answer: None,
        end: Some((Outcome::Abandoned, 40 * S)),
    },
    Call {
        id: "c7",
        line: "110",
        tag: "police",
        emergency: true,
        queue: "emergency",
        offered: M - MIN,
        answer: Some(("8021", 4 * S)),
        end: Some((Outcome::Answered, 90 * S)),
    },
    Call {
        id: "c8",
        line: "119",
        tag: "fire",
        emergency: true,
        queue: "emergency",
        offered: M + MIN,
        answer: None,
        end: Some((Outcome::Abandoned, 2 * S)),
    },
    Call {
        id: "c5",
        line: "12345",
        tag: "citizen-service",
        emergency: false,
        queue: "citizen",
        offered: M + 2 * MIN,
        answer: None,
        end: Some((Outcome::Rejected, 600 * S)),
    },
    Call {
        id: "c6",
        line: "12333",
        tag: "social-security",
        emergency: false,
        queue: "backup",
        offered: M + 5 * MIN,
        answer: Some(("8003", 70 * S)),
        end: Some((Outcome::Answered, 30 * S)),
    },
    Call {
        id: "c9",
        line: "12345",
        tag: "citizen-service",
        emergency: false,
        queue: "citizen",
        offered: M + 10 * MIN,
        answer: None,
        end: Some((Outcome::Failed, 8 * S)),
    },
    Call {
        id: "c10",
        line: "12345",
        tag: "citizen-service",
        emergency: false,
        queue: "citizen",
        offered: M + 20 * MIN,
        answer: None,
        end: None,
    },
];

fn record(c: &Call) -> CallRecord {
    let answered_at = c.answer.map(|(_, w)| c.offered + w);
    let ended_at = c.end.map(|(_, d)| answered_at.unwrap_or(c.offered) + d);
    CallRecord {
        id: c.id.into(),
        sip_call_id: format!("sip-{}", c.id),
        line: c.line.into(),
        tag: Some(c.tag.into()),
        class: if c.emergency {
            LineClass::Emergency
        } else {
            LineClass::NonEmergency
        },
        caller: "13800000000".into(),
        queue: Some(c.queue.into()),
        seat: c.answer.map(|(s, _)| s.into()),
        offered_at_ms: c.offered,
        answered_at_ms: answered_at,
        ended_at_ms: ended_at,
        outcome: c.end.map(|(o, _)| o),
        hangup_by: c.answer.map(|_| HangupBy::Caller),
        reason: None,
        wait_ms: match (answered_at, ended_at) {
            (Some(a), _) => a - c.offered,
            (None, Some(e)) => e - c.offered,
            _ => 0,
        },
        talk_ms: match (answered_at, ended_at) {
            (Some(a), Some(e)) => e - a,
            _ => 0,
        },
        survey: None,
        anchored: false,
        direction: Default::default(),
        ticket: None,
    }
}

fn ev(
    at: i64,
    call: Option<&str>,
    queue: Option<&str>,
    seat: Option<&str>,
    kind: EventKind,
    detail: &str,
) -> QueueEvent {
    QueueEvent {
        at_ms: at,
        call_id: call.map(Into::into),
        queue: queue.map(Into::into),
        seat: seat.map(Into::into),
        kind,
        detail: Some(detail.into()),
    }
}

fn state(at: i64, seat: &str, call: Option<&str>, detail: &str) -> QueueEvent {
    ev(at, call, None, Some(seat), EventKind::AgentState, detail)
}

/// A seat rung for `call` at `ring`, answering `ring_ms` later, talking
/// `talk_ms`, then `wrap_ms` of wrap-up.
fn seat_call(
    out: &mut Vec<QueueEvent>,
    seat: &str,
    call: &str,
    queue: &str,
    ring: i64,
    (ring_ms, talk_ms, wrap_ms): (i64, i64, i64),
) {
    let on = ring + ring_ms;
    let off = on + talk_ms;
    out.push(ev(
        ring,
        Some(call),
        Some(queue),
        Some(seat),
        EventKind::Ring,
        "",
    ));
    out.push(state(ring, seat, Some(call), "ready->ringing"));
    out.push(ev(
        on,
        Some(call),
        Some(queue),
        Some(seat),
        EventKind::Connect,
        "",
    ));
    out.push(state(on, seat, Some(call), "ringing->on_call"));
    out.push(ev(
        off,
        Some(call),
        Some(queue),
        Some(seat),
        EventKind::Complete,
        "caller",
    ));
    out.push(state(off, seat, Some(call), "on_call->wrap_up"));
    out.push(state(off + wrap_ms, seat, None, "wrap_up->ready"));
}

/// The event log behind the calls: the seats' states (8001 goes to lunch
/// from 23:55 to 00:25), one ring not answered (8002 for c1) and the
/// overflow of c6 from citizen to backup.
fn events() -> Vec<QueueEvent> {
    let mut e = Vec::new();
    for seat in ["8001", "8002", "8003", "8021"] {
        e.push(state(M - 11 * MIN, seat, None, "logged_out->ready"));
    }
    e.push(ev(
        M - 10 * MIN + 2 * S,
        Some("c1"),
        Some("citizen"),
        Some("8002"),
        EventKind::Ring,
        "",
    ));
    e.push(state(
        M - 10 * MIN + 2 * S,
        "8002",
        Some("c1"),
        "ready->ringing",
    ));
    e.push(ev(
        M - 10 * MIN + 8 * S,
        Some("c1"),
        Some("citizen"),
        Some("8002"),
        EventKind::NoAnswer,
        "no_answer",
    ));
    e.push(state(
        M - 10 * MIN + 8 * S,
        "8002",
        Some("c1"),
        "ringing->ready",
    ));
    seat_call(
        &mut e,
        "8001",
        "c1",
        "citizen",
        M - 10 * MIN + 8 * S,
        (2 * S, 120 * S, 5 * S),
    );
    seat_call(
        &mut e,
        "8002",
        "c2",
        "citizen",
        M - 8 * MIN + 28 * S,
        (2 * S, 60 * S, 5 * S),
    );
    e.push(state(M - 5 * MIN, "8001", None, "ready->not_ready:lunch"));
    e.push(state(M + 25 * MIN, "8001", None, "not_ready:lunch->ready"));
    seat_call(
        &mut e,
        "8021",
        "c7",
        "emergency",
        M - MIN + 2 * S,
        (2 * S, 90 * S, 3 * S),
    );
    e.push(ev(
        M + 5 * MIN + 60 * S,
        Some("c6"),
        Some("citizen"),
        None,
        EventKind::Overflow,
        "to=backup; maximum wait reached",
    ));
    seat_call(
        &mut e,
        "8003",
        "c6",
        "backup",
        M + 5 * MIN + 68 * S,
        (2 * S, 30 * S, 5 * S),
    );
    e
}

async fn seed(db: &TestDb) {
    let calls: Vec<CallRecord> = CALLS.iter().map(record).collect();
    db.store
        .write_batch(&calls, &[], &events())
        .await
        .expect("seed");
}

fn settings() -> ReportSettings {
    let mut s = ReportSettings::default();
    for (seat, class) in [
        ("8001", LineClass::NonEmergency),
        ("8002", LineClass::NonEmergency),
        ("8003", LineClass::NonEmergency),
        ("8021", LineClass::Emergency),
    ] {
        s.seat_class.insert(seat.into(), class);
    }
    s
}

async fn report(
    db: &TestDb,
    from: i64,
    to: i64,
    by: By,
    interval: Option<Interval>,
    mix: bool,
    s: &ReportSettings,
) -> Report {
    let q = ReportQuery::new(from, to, by, interval, mix).expect("query");
    // "Now" is long after the window: no state is still running.
    reports::run(&db.store, &q, s, M + 2 * DAY)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

fn calls(
    r: &Report,
    class: Option<LineClass>,
    value: Option<&str>,
    start: Option<i64>,
) -> CallCounts {
    r.row(class, value, start)
        .and_then(|row| row.calls().cloned())
        .unwrap_or_else(|| panic!("no row {class:?} {value:?} {start:?} in {:#?}", r.rows))
}

fn seat(r: &Report, class: Option<LineClass>, ext: &str) -> SeatCounts {
    r.row(class, Some(ext), None)
        .and_then(|row| row.seat().cloned())
        .unwrap_or_else(|| panic!("no row {class:?} {ext} in {:#?}", r.rows))
}

#[tokio::test]
async fn reports_follow_docs_metrics_md() {
    on_each_backend("reports_follow_docs", |db| async move {
        seed(&db).await;
        let s = settings();
        // --from 2026-11-24 --to 2026-11-25 (both days) --by class
        let r = report(&db, M - DAY, M + DAY, By::Class, None, false, &s).await;
        assert_eq!(r.rows.len(), 2, "{:#?}", r.rows);
        let ne = calls(&r, NE, None, None);
        let want = CallCounts {
            answered: 3,
            abandoned: 1,
            short_abandoned: 1,
            rejected: 1,
            failed: 1,
            overflowed: 1,
            overflow_is_outcome: false,
            in_progress: 1,
            answered_in_sl: 1,
            answered_wait_ms: 110 * S,
            talk_ms: 210 * S,
            wrapup_ms: 15 * S,
            longest_wait_ms: Some(600 * S),
        };
        assert_eq!(ne, want);
        assert_eq!(ne.offered(), 7);
        assert_eq!(ne.answer_rate(), Some(0.5));
        assert_eq!(ne.service_level(), Some(1.0 / 7.0));
        assert_eq!(ne.service_level_answered(), Some(1.0 / 3.0));
        assert_eq!(
            (ne.asa_ms(), ne.avg_talk_ms(), ne.aht_ms()),
            (Some(36_667), Some(70_000), Some(75_000))
        );
        let em = calls(&r, EM, None, None);
        assert_eq!(
            (
                em.offered(),
                em.answered,
                em.short_abandoned,
                em.abandoned,
                em.overflowed
            ),
            (2, 1, 1, 0, 0)
        );
        assert_eq!(
            (em.answer_rate(), em.service_level(), em.asa_ms()),
            (Some(1.0), Some(0.5), Some(4_000))
        );
        assert_eq!(
            (em.longest_wait_ms, em.aht_ms()),
            (Some(4 * S), Some(93_000))
        );

        // The JSON rows carry what the issue asks for.
        let json = reports::format::to_json(&r);
        let row = json["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["class"] == "non_emergency")
            .unwrap()
            .clone();
        assert_eq!(
            (
                row["offered"].as_i64(),
                row["answered"].as_i64(),
                row["abandoned"].as_i64()
            ),
            (Some(7), Some(3), Some(1))
        );
        assert_eq!(
            (
                row["short_abandoned"].as_i64(),
                row["answer_rate"].as_f64(),
                row["asa_ms"].as_i64()
            ),
            (Some(1), Some(0.5), Some(36_667))
        );
        assert_eq!(row["service_level"].as_f64(), Some(1.0 / 7.0));

        // Mixed on purpose: one row, class null.
        let r = report(&db, M - DAY, M + DAY, By::Class, None, true, &s).await;
        assert_eq!(r.rows.len(), 1);
        let all = calls(&r, None, None, None);
        assert_eq!(
            (all.offered(), all.answered, all.short_abandoned),
            (9, 4, 2)
        );
    })
    .await;
}

#[tokio::test]
async fn reports_by_queue_count_an_overflowed_call_in_both_queues() {
    on_each_backend("reports_by_queue", |db| async move {
        seed(&db).await;
        let r = report(&db, M - DAY, M + DAY, By::Queue, None, false, &settings()).await;
        let citizen = calls(&r, NE, Some("citizen"), None);
        assert_eq!(
            (
                citizen.offered(),
                citizen.answered,
                citizen.abandoned,
                citizen.short_abandoned,
                citizen.rejected,
                citizen.failed,
                citizen.overflowed
            ),
            (7, 2, 1, 1, 1, 1, 1)
        );
        assert_eq!(citizen.answer_rate(), Some(2.0 / 6.0));
        assert_eq!(citizen.in_progress, 1);
        let backup = calls(&r, NE, Some("backup"), None);
        assert_eq!(
            (backup.offered(), backup.answered, backup.overflowed),
            (1, 1, 0)
        );
        assert_eq!(
            (backup.answer_rate(), backup.service_level()),
            (Some(1.0), Some(0.0))
        );
        let emergency = calls(&r, EM, Some("emergency"), None);
        assert_eq!(emergency.offered(), 2);
        assert!(
            r.row(EM, Some("citizen"), None).is_none(),
            "classes are never mixed: {:#?}",
            r.rows
        );

        // A queue's own service level: emergency within 3 s misses c7 (4 s).
        let mut s = settings();
        s.queue_service_level_ms.insert("emergency".into(), 3 * S);
        s.queue_service_level_ms.insert("backup".into(), 70 * S);
        let r = report(&db, M - DAY, M + DAY, By::Queue, None, false, &s).await;
        assert_eq!(calls(&r, EM, Some("emergency"), None).answered_in_sl, 0);
        assert_eq!(calls(&r, NE, Some("backup"), None).answered_in_sl, 1);
        assert_eq!(calls(&r, NE, Some("citizen"), None).answered_in_sl, 1);
    })
    .await;
}

#[tokio::test]
async fn reports_by_line_and_tag() {
    on_each_backend("reports_by_line_and_tag", |db| async move {
        seed(&db).await;
        let r = report(&db, M - DAY, M + DAY, By::Line, None, false, &settings()).await;
        let l = calls(&r, NE, Some("12345"), None);
        // c1, c2 answered; c3 short; c5 rejected; c9 failed; c10 waiting.
        assert_eq!(
            (
                l.offered(),
                l.answered,
                l.short_abandoned,
                l.rejected,
                l.failed,
                l.in_progress
            ),
            (5, 2, 1, 1, 1, 1)
        );
        assert_eq!(l.wrapup_ms, 10 * S);
        let l = calls(&r, NE, Some("12333"), None);
        assert_eq!(
            (l.offered(), l.answered, l.overflowed, l.answered_wait_ms),
            (1, 1, 1, 70 * S)
        );
        assert_eq!(calls(&r, EM, Some("119"), None).short_abandoned, 1);
        let r = report(&db, M - DAY, M + DAY, By::Tag, None, false, &settings()).await;
        assert_eq!(calls(&r, NE, Some("housing-fund"), None).abandoned, 1);
        assert_eq!(calls(&r, EM, Some("police"), None).answered, 1);
        assert_eq!(r.rows.len(), 5);
    })
    .await;
}

#[tokio::test]
async fn report_intervals_start_at_local_midnight() {
    on_each_backend("report_intervals", |db| async move {
        seed(&db).await;
        let s = settings();
        let r = report(
            &db,
            M - DAY,
            M + DAY,
            By::Interval,
            Some(Interval::Day),
            false,
            &s,
        )
        .await;
        assert_eq!(r.rows.len(), 4, "{:#?}", r.rows);
        let d24 = calls(&r, NE, None, Some(M - DAY));
        assert_eq!(
            (
                d24.offered(),
                d24.answered,
                d24.short_abandoned,
                d24.answer_rate()
            ),
            (4, 2, 1, Some(2.0 / 3.0))
        );
        let d25 = calls(&r, NE, None, Some(M));
        assert_eq!(
            (
                d25.offered(),
                d25.answered,
                d25.answer_rate(),
                d25.in_progress
            ),
            (3, 1, Some(1.0 / 3.0), 1)
        );
        assert_eq!(calls(&r, EM, None, Some(M - DAY)).answer_rate(), Some(1.0));
        let e25 = calls(&r, EM, None, Some(M));
        assert_eq!(
            (e25.offered(), e25.short_abandoned, e25.answer_rate()),
            (1, 1, None)
        );
        // The JSON names the interval in local time.
        let json = reports::format::to_json(&r);
        assert!(
            json["rows"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["interval_start"] == "2026-11-25T00:00:00+08:00"),
            "{json}"
        );

        // In UTC, midnight +08:00 is 16:00 the day before: one day holds all.
        let mut utc = s.clone();
        utc.tz = reports::Tz::parse("+00:00").unwrap();
        let r = report(
            &db,
            M - DAY,
            M + DAY,
            By::Interval,
            Some(Interval::Day),
            false,
            &utc,
        )
        .await;
        let day = Interval::Day.bucket_start(M, utc.tz);
        assert_eq!(calls(&r, NE, None, Some(day)).offered(), 7);

        // Hours and quarters, by queue.
        let r = report(
            &db,
            M - DAY,
            M + DAY,
            By::Queue,
            Some(Interval::Hour),
            false,
            &s,
        )
        .await;
        assert_eq!(
            calls(&r, NE, Some("citizen"), Some(M - 3_600_000)).offered(),
            4
        );
        assert_eq!(calls(&r, NE, Some("citizen"), Some(M)).offered(), 3);
        let r = report(
            &db,
            M - DAY,
            M + DAY,
            By::Interval,
            Some(Interval::Min15),
            false,
            &s,
        )
        .await;
        let q = calls(&r, NE, None, Some(M - 15 * MIN));
        assert_eq!((q.offered(), q.answered), (4, 2));
        assert_eq!(calls(&r, NE, None, Some(M)).offered(), 3);
        // A window of its own: 00:00 to 00:06 holds c8, c5 and c6.
        let r = report(&db, M, M + 6 * MIN, By::Class, None, false, &s).await;
        assert_eq!(
            (
                calls(&r, NE, None, None).offered(),
                calls(&r, EM, None, None).offered()
            ),
            (2, 1)
        );
    })
    .await;
}

#[tokio::test]
async fn seat_reports_sum_agent_states_by_reason() {
    on_each_backend("seat_reports", |db| async move {
        seed(&db).await;
        // 23:50 to 00:30: forty minutes of every seat.
        let r = report(
            &db,
            M - 10 * MIN,
            M + 30 * MIN,
            By::Seat,
            None,
            false,
            &settings(),
        )
        .await;
        let s1 = seat(&r, NE, "8001");
        assert_eq!((s1.handled, s1.rung, s1.no_answer), (1, 1, 0));
        assert_eq!(
            (s1.ringing_ms, s1.talk_ms, s1.wrapup_ms),
            (2 * S, 120 * S, 5 * S)
        );
        // Ready 8 s + 165 s + 300 s; lunch 23:55 to 00:25.
        assert_eq!(s1.ready_ms, 473 * S);
        assert_eq!(s1.not_ready.get("lunch"), Some(&(1800 * S)));
        assert_eq!(s1.not_ready_ms(), 1800 * S);
        assert_eq!(s1.occupancy(), Some(127.0 / 600.0));
        assert_eq!(s1.aht_ms(), Some(125_000));
        let s2 = seat(&r, NE, "8002");
        assert_eq!(
            (
                s2.handled,
                s2.rung,
                s2.no_answer,
                s2.ringing_ms,
                s2.ready_ms
            ),
            (1, 2, 1, 8 * S, 2327 * S)
        );
        let s21 = seat(&r, EM, "8021");
        assert_eq!(
            (s21.handled, s21.talk_ms, s21.wrapup_ms, s21.ready_ms),
            (1, 90 * S, 3 * S, 2305 * S)
        );
        assert!(r.row(NE, Some("8021"), None).is_none(), "{:#?}", r.rows);
        // Every second of the forty minutes is somewhere.
        for s in [&s1, &s2, &s21] {
            assert_eq!(
                s.talk_ms + s.wrapup_ms + s.ringing_ms + s.ready_ms + s.not_ready_ms(),
                40 * MIN
            );
        }

        // Before the window opened 8001 was at lunch already: the state
        // found before `from` counts from `from`.
        let r = report(&db, M, M + 10 * MIN, By::Seat, None, false, &settings()).await;
        let s1 = seat(&r, NE, "8001");
        assert_eq!(
            (s1.not_ready_ms(), s1.ready_ms, s1.handled),
            (10 * MIN, 0, 0)
        );
        let s3 = seat(&r, NE, "8003");
        assert_eq!((s3.handled, s3.talk_ms), (1, 30 * S));
    })
    .await;
}

#[tokio::test]
async fn migration_0007_fills_state_ends_and_wrapups_of_older_events() {
    on_each_backend("migrate_to_0007", |db| async move {
        // A database of its own, next to the test's, as hotline left it at 0005.
        let (url, schema) = match &db.schema {
            Some(s) => (db.url.clone(), Some(format!("{s}_v5"))),
            None => (db.url.replace("hotline.db", "v0005.db"), None),
        };
        let old = crate::store::Store::connect_at_version(&url, schema.as_deref(), 5)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let c1 = CALLS.iter().find(|c| c.id == "c1").unwrap();
        // The 0005 code wrote records and events with their columns only.
        let rec = record(c1);
        super::media::insert_v1(&old, &rec).await;
        let mut evs = vec![state(M - 11 * MIN, "8001", None, "logged_out->ready")];
        seat_call(&mut evs, "8001", "c1", "citizen", M - 10 * MIN + 8 * S, (2 * S, 120 * S, 5 * S));
        for e in &evs {
            sqlx::query("INSERT INTO queue_events (at_ms, call_id, queue, seat, kind, detail) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(e.at_ms)
                .bind(e.call_id.as_deref())
                .bind(e.queue.as_deref())
                .bind(e.seat.as_deref())
                .bind(e.kind.as_str())
                .bind(e.detail.as_deref())
                .execute(old.pool())
                .await
                .expect("insert event");
        }
        old.close().await;

        let new = crate::store::Store::connect_with_schema(&url, schema.as_deref())
            .await
            .unwrap_or_else(|e| panic!("migrate to 0007: {e}"));
        let wrapup: Option<i64> = sqlx::query_scalar("SELECT wrapup_ms FROM calls WHERE id = 'c1'")
            .fetch_one(new.pool())
            .await
            .expect("read wrapup_ms");
        assert_eq!(wrapup, Some(5 * S));
        let spans: Vec<(String, Option<i64>)> = sqlx::query_as(
            "SELECT detail, until_ms - at_ms FROM queue_events WHERE kind = 'agent_state' ORDER BY at_ms, id",
        )
        .fetch_all(new.pool())
        .await
        .expect("read spans");
        let want: Vec<(String, Option<i64>)> = [
            ("logged_out->ready", Some(MIN + 8 * S)),
            ("ready->ringing", Some(2 * S)),
            ("ringing->on_call", Some(120 * S)),
            ("on_call->wrap_up", Some(5 * S)),
            ("wrap_up->ready", None),
        ]
        .iter()
        .map(|(d, ms)| (d.to_string(), *ms))
        .collect();
        assert_eq!(spans, want);
        // And the seat report reads them as if they had been written now.
        let q = ReportQuery::new(M - 10 * MIN, M, By::Seat, None, false).unwrap();
        let r = reports::run(&new, &q, &settings(), M + DAY).await.expect("report");
        let s1 = seat(&r, NE, "8001");
        assert_eq!((s1.handled, s1.talk_ms, s1.wrapup_ms, s1.ready_ms), (1, 120 * S, 5 * S, 10 * MIN - 127 * S));
        new.close().await;
        if let Some(schema) = schema {
            db.exec(&format!("DROP SCHEMA \"{schema}\" CASCADE")).await;
        }
    })
    .await;
}

#[tokio::test]
async fn state_ends_and_wrapups_are_the_same_written_one_by_one_or_in_one_batch() {
    on_each_backend("reports_one_by_one", |db| async move {
        let records: Vec<CallRecord> = CALLS.iter().map(record).collect();
        db.store
            .write_batch(&records, &[], &[])
            .await
            .expect("calls");
        // Each event in a transaction of its own: every change ends the
        // stored state before it (the other path than `seed`'s one batch).
        for e in events() {
            db.store
                .insert_events(std::slice::from_ref(&e))
                .await
                .expect("event");
        }
        let s = settings();
        let r = report(&db, M - DAY, M + DAY, By::Class, None, false, &s).await;
        assert_eq!(calls(&r, NE, None, None).wrapup_ms, 15 * S);
        assert_eq!(calls(&r, EM, None, None).wrapup_ms, 3 * S);
        let r = report(&db, M - 10 * MIN, M + 30 * MIN, By::Seat, None, false, &s).await;
        let s1 = seat(&r, NE, "8001");
        assert_eq!(
            (s1.ready_ms, s1.not_ready_ms(), s1.talk_ms, s1.wrapup_ms),
            (473 * S, 1800 * S, 120 * S, 5 * S)
        );
        assert_eq!(seat(&r, NE, "8002").ready_ms, 2327 * S);
        // And in batches of three, cutting seats' timelines anywhere.
        let evs = events();
        let db2 = db.reopen().await;
        sqlx::query("DELETE FROM queue_events")
            .execute(db2.pool())
            .await
            .expect("clear");
        sqlx::query("UPDATE calls SET wrapup_ms = NULL")
            .execute(db2.pool())
            .await
            .expect("clear");
        for chunk in evs.chunks(3) {
            db2.insert_events(chunk).await.expect("events");
        }
        let r = report(&db, M - 10 * MIN, M + 30 * MIN, By::Seat, None, false, &s).await;
        assert_eq!(seat(&r, NE, "8001"), s1);
        let r = report(&db, M - DAY, M + DAY, By::Class, None, false, &s).await;
        assert_eq!(calls(&r, NE, None, None).wrapup_ms, 15 * S);
        db2.close().await;
    })
    .await;
}
