//! `hotline retention` against a seeded SQLite database and recording
//! files: each class by its own period and root (12345 30 days,
//! emergency 365 days, under an emergency root of its own). A dry run
//! reports them and deletes nothing; a real run deletes the expired files,
//! marks their records (a file already gone too) and keeps the rest; an
//! unreachable database fails with what to do.

use hotline::model::{CallMedia, CallRecord, Direction, HangupBy, LineClass, Outcome, Recording};
use hotline::store::Store;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The demo config with its database and recordings in `dir`: 12345
/// recordings kept 30 days, emergency ones 365 under their own root.
fn config(dir: &Path, store_url: &str) -> PathBuf {
    let demo =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml")).unwrap();
    let recordings = format!(
        "root = \"{0}/rec\"\nemergency_root = \"{0}/rec-emergency\"\nretention_days = 30\nemergency_retention_days = 365",
        dir.display()
    );
    let text = demo
        .replace("\"sqlite://hotline.db\"", &format!("\"{store_url}\""))
        .replace("root = \"recordings\"", &recordings)
        .replace(
            "prompts_dir = \"config/prompts\"",
            &format!(
                "prompts_dir = \"{}/config/prompts\"",
                env!("CARGO_MANIFEST_DIR")
            ),
        );
    assert!(text.contains("emergency_retention_days = 365"));
    let path = dir.join("hotline.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// An answered call of `class` that ended `days_ago`, recorded at
/// `<class>/2025/01/01/<id>.wav` (the file written unless `file` is false).
async fn seed(store: &Store, root: &Path, id: &str, class: LineClass, days_ago: i64, file: bool) {
    let end = now_ms() - days_ago * DAY_MS;
    let rec = CallRecord {
        id: id.into(),
        sip_call_id: format!("sip-{id}"),
        line: if class == LineClass::Emergency {
            "110"
        } else {
            "12345"
        }
        .into(),
        tag: None,
        class,
        caller: "13800000000".into(),
        queue: Some("citizen".into()),
        seat: Some("8001".into()),
        offered_at_ms: end - 70_000,
        answered_at_ms: Some(end - 60_000),
        ended_at_ms: Some(end),
        outcome: Some(Outcome::Answered),
        hangup_by: Some(HangupBy::Caller),
        reason: None,
        wait_ms: 10_000,
        talk_ms: 60_000,
        survey: None,
        anchored: true,
        direction: Direction::Inbound,
        ticket: None,
        parent_id: None,
    };
    store.upsert_call(&rec).await.unwrap();
    let rel = format!("{}/2025/01/01/{id}.wav", class.as_str());
    if file {
        let path = root.join(&rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, vec![0u8; 1000]).unwrap();
    }
    let media = CallMedia {
        recording: Some(Recording {
            path: rel,
            duration_ms: 60_000,
            size_bytes: 1000,
            sha256: "00".repeat(32),
            deleted_at_ms: None,
        }),
        ..Default::default()
    };
    assert!(store.attach_call_media(id, &media).await.unwrap());
}

fn retention(config: &Path, dry: bool) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotline"));
    cmd.args(["retention", "--config"]).arg(config);
    if dry {
        cmd.arg("--dry-run");
    }
    cmd.output().expect("run hotline retention")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn deleted_at(store: &Store, id: &str) -> Option<i64> {
    let call = store.get_call(id).await.unwrap().expect("the record stays");
    call.media
        .recording
        .expect("its metadata stays")
        .deleted_at_ms
}

#[tokio::test]
async fn each_class_is_swept_by_its_own_period_dry_run_first() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/hotline.db", dir.path().display());
    let cfg = config(dir.path(), &url);
    let (rec, sos) = (dir.path().join("rec"), dir.path().join("rec-emergency"));
    let store = Store::connect(&url).await.unwrap();
    seed(&store, &rec, "old12345", LineClass::NonEmergency, 40, true).await;
    seed(
        &store,
        &rec,
        "gone12345",
        LineClass::NonEmergency,
        50,
        false,
    )
    .await;
    seed(&store, &rec, "new12345", LineClass::NonEmergency, 10, true).await;
    seed(&store, &sos, "police40", LineClass::Emergency, 40, true).await;
    seed(&store, &sos, "police400", LineClass::Emergency, 400, true).await;
    let files = [
        rec.join("non_emergency/2025/01/01/old12345.wav"),
        rec.join("non_emergency/2025/01/01/new12345.wav"),
        sos.join("emergency/2025/01/01/police40.wav"),
        sos.join("emergency/2025/01/01/police400.wav"),
    ];

    let out = retention(&cfg, true);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("non_emergency: [recordings] retention_days = 30")
            && stdout.contains("2 recording(s) of calls that ended before")
            && stdout.contains("2.0 kB on their records"),
        "{stdout}"
    );
    assert!(
        stdout.contains("non_emergency: would delete 1 file(s), 1.0 kB; 1 already gone"),
        "{stdout}"
    );
    assert!(
        stdout.contains("emergency: [recordings] emergency_retention_days = 365")
            && stdout.contains(&format!("root {}", sos.display()))
            && stdout.contains("emergency: would delete 1 file(s)"),
        "{stdout}"
    );
    assert!(stderr.contains("dry run: nothing deleted"), "{stderr}");
    assert!(
        files.iter().all(|f| f.exists()),
        "a dry run deletes nothing"
    );
    for id in ["old12345", "gone12345", "police400"] {
        assert_eq!(deleted_at(&store, id).await, None, "{id} not marked");
    }

    let out = retention(&cfg, false);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("non_emergency: deleted 1 file(s), 1.0 kB; 1 already gone")
            && stdout.contains("emergency: deleted 1 file(s), 1.0 kB"),
        "{stdout}"
    );
    let kept: Vec<bool> = files.iter().map(|f| f.exists()).collect();
    assert_eq!(kept, [false, true, true, false], "{files:?}");
    for id in ["old12345", "gone12345", "police400"] {
        assert!(deleted_at(&store, id).await.is_some(), "{id} marked");
    }
    for id in ["new12345", "police40"] {
        assert_eq!(deleted_at(&store, id).await, None, "{id} kept");
    }

    // Nothing left to do.
    let (stdout, _) = text(&retention(&cfg, false));
    assert!(
        stdout.contains("non_emergency: [recordings] retention_days = 30")
            && stdout.contains("no recording of a call that ended before")
            && !stdout.contains("deleted"),
        "{stdout}"
    );
    store.close().await;
}

#[test]
fn an_unreachable_database_fails_saying_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1.
    let cfg = config(dir.path(), "postgres://hotline:secret@127.0.0.1:1/hotline");
    let out = retention(&cfg, true);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("postgres://hotline:***@127.0.0.1:1/hotline")
            && stderr.contains("nothing was deleted")
            && stderr.contains("check that PostgreSQL is running"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "the password is not shown");

    // A SQLite file that is not there is not created.
    let missing = format!("sqlite://{}/nowhere.db", dir.path().display());
    let out = retention(&config(dir.path(), &missing), false);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no database file"), "{stderr}");
    assert!(!dir.path().join("nowhere.db").exists());
}
