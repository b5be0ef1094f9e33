//! Stopping hotline: SIGTERM ends it cleanly, with every record written.

mod common;

use common::*;
use hotline::store::{CallFilter, Store};
use std::time::Duration;

#[test]
fn sigterm_exits_cleanly_with_every_record_in_the_database() {
    let mut h = Hotline::start(|c| c);
    trunk(&h, "trunk_cancel.xml", "12345", 1, "-d 200").run_ok();
    trunk(&h, "trunk_refused.xml", "99999", 1, "")
        .var("CODE", "404")
        .run_ok();
    let status = h.terminate(Duration::from_secs(10));
    assert!(
        status.success(),
        "exit status {status:?}; log:\n{}",
        tail(&h.log(), 30)
    );
    let url = format!("sqlite://{}/hotline.db", h.dir.path().display());
    let calls = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = Store::connect(&url).await.unwrap();
        store.list_calls(&CallFilter::default()).await.unwrap()
    });
    let mut outcomes: Vec<String> = calls
        .iter()
        .map(|c| format!("{} {}", c.line, c.outcome.unwrap()))
        .collect();
    outcomes.sort();
    assert_eq!(outcomes, ["12345 abandoned", "99999 rejected"]);
    assert!(
        h.log().contains("store writer stopped"),
        "the writer flushed and stopped"
    );
}
