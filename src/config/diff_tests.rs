//! The reload diff: what it lists, what it refuses.

use super::*;

fn demo_text() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml")).unwrap()
}

fn load(text: &str) -> Config {
    Config::from_str_at(text, Path::new("new.toml")).unwrap()
}

fn changes(old: &str, new: &str) -> Vec<String> {
    diff(&load(old), &load(new), Path::new("new.toml"))
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// The epidemic line of issue 6: a line, its queue and a seat.
pub(crate) const EPIDEMIC: &str = r#"
[[lines]]
number = "12349"
queue = "epidemic"
tag = "epidemic"

[[queues]]
name = "epidemic"
class = "non_emergency"
ring_timeout_secs = 15

[[seats]]
extension = "8031"
password = "demo-8031"
queues = [{ queue = "epidemic" }, { queue = "citizen", penalty = 2 }]
"#;

#[test]
fn the_same_config_has_no_changes() {
    assert_eq!(changes(&demo_text(), &demo_text()), Vec::<String>::new());
}

#[test]
fn an_added_line_queue_and_seat_are_listed_with_what_they_are() {
    let new = demo_text() + EPIDEMIC;
    assert_eq!(
        changes(&demo_text(), &new),
        [
            "line 12349 added (queue epidemic, class non_emergency, tag epidemic)",
            "queue epidemic added (class non_emergency, strategy longest_idle)",
            "seat 8031 added (queues epidemic, citizen:2)",
        ]
    );
    // And the other way round.
    assert_eq!(
        changes(&new, &demo_text()),
        [
            "line 12349 removed",
            "queue epidemic removed",
            "seat 8031 removed"
        ]
    );
}

#[test]
fn changed_fields_say_from_what_to_what_and_secrets_are_not_shown() {
    let new = demo_text()
        .replace("ring_timeout_secs = 15", "ring_timeout_secs = 20")
        .replace("strategy = \"longest_idle\"", "strategy = \"round_robin\"")
        .replace(
            "number = \"12329\"\nqueue = \"citizen\"",
            "number = \"12329\"\nqueue = \"emergency\"\nclass = \"emergency\"",
        )
        .replace(
            "from = 8021\nto = 8030\npassword = \"demo-{ext}\"",
            "from = 8021\nto = 8030\npassword = \"new-{ext}\"",
        )
        .replace("service_level_secs = 20 ", "service_level_secs = 15 ")
        .replace("name = \"ticket-system\"", "name = \"tickets\"");
    let got = changes(&demo_text(), &new);
    assert!(
        got.contains(
            &"line 12329 changed: class non_emergency -> emergency, queue citizen -> emergency"
                .to_string()
        ),
        "{got:#?}"
    );
    assert!(got.contains(&"queue citizen changed: ring_timeout_secs 15 -> 20, strategy longest_idle -> round_robin".to_string()), "{got:#?}");
    assert!(
        got.contains(&"seat 8021 changed: password (not shown)".to_string()),
        "{got:#?}"
    );
    assert_eq!(
        got.iter().filter(|c| c.starts_with("seat ")).count(),
        10,
        "seats 8021-8030: {got:#?}"
    );
    assert!(
        got.contains(&"[reports] changed: service_level_secs 20 -> 15".to_string()),
        "{got:#?}"
    );
    assert!(
        got.contains(
            &"[http] changed: token ticket-system removed, token tickets added".to_string()
        ),
        "{got:#?}"
    );
    assert!(
        got.iter().all(|c| !c.contains("new-80")),
        "no password in the log: {got:#?}"
    );
}

#[test]
fn a_seat_moved_between_queues_shows_its_memberships() {
    let new = demo_text().replace(
        "from = 8001\nto = 8020\npassword = \"demo-{ext}\"\nqueues = [{ queue = \"citizen\", penalty = 0 }]",
        "from = 8001\nto = 8019\npassword = \"demo-{ext}\"\nqueues = [{ queue = \"citizen\", penalty = 0 }]\n\n[[seats]]\nextension = \"8020\"\npassword = \"demo-8020\"\nqueues = [{ queue = \"citizen\", penalty = 1 }, { queue = \"emergency\" }]",
    );
    assert_eq!(
        changes(&demo_text(), &new),
        ["seat 8020 changed: queues citizen -> citizen:1, emergency"]
    );
}

#[test]
fn sections_added_and_removed() {
    let new = demo_text() + "\n[capacity]\nmax_calls = 100\nreserved_emergency = 10\n";
    assert_eq!(changes(&demo_text(), &new), ["[capacity] added"]);
    assert_eq!(changes(&new, &demo_text()), ["[capacity] removed"]);
}

#[test]
fn keys_bound_at_start_need_a_restart_and_refuse_the_whole_reload() {
    for (from, to, key) in [
        (
            "udp = \"127.0.0.1:5060\"",
            "udp = \"127.0.0.1:5062\"",
            "sip.phones.udp",
        ),
        (
            "listen = \"127.0.0.1:8080\"",
            "listen = \"127.0.0.1:8081\"",
            "http.listen",
        ),
        (
            "url = \"sqlite://hotline.db\"",
            "url = \"sqlite://other.db\"",
            "store.url",
        ),
        (
            "rtp_port_max = 20999",
            "rtp_port_max = 20899",
            "media.rtp_port_max",
        ),
        (
            "root = \"recordings\"",
            "root = \"/var/rec\"",
            "recordings.root",
        ),
        (
            "realm = \"hotline.demo\"",
            "realm = \"other\"",
            "sip.phones.realm",
        ),
    ] {
        // With a live change beside it: still refused whole.
        let new = demo_text().replace(from, to) + EPIDEMIC;
        let e = diff(&load(&demo_text()), &load(&new), Path::new("new.toml")).expect_err(key);
        assert_eq!(e.file, Path::new("new.toml"));
        assert_eq!(e.key, key);
        assert!(e.reason.ends_with("needs a restart of hotline"), "{e}");
    }
    let e = diff(
        &load(&demo_text()),
        &load(&demo_text().replace("udp = \"127.0.0.1:5060\"", "udp = \"127.0.0.1:5062\"")),
        Path::new("n.toml"),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "n.toml: sip.phones.udp: changed from 127.0.0.1:5060 to 127.0.0.1:5062 (a socket bound at start): this needs a restart of hotline"
    );
}

#[test]
fn a_queue_cannot_change_sides_while_running() {
    let new = demo_text()
        .replace(
            "name = \"citizen\"\nclass = \"non_emergency\"",
            "name = \"citizen\"\nclass = \"emergency\"",
        )
        .replace(
            "\nqueue = \"citizen\"",
            "\nqueue = \"citizen\"\nclass = \"emergency\"",
        );
    let e = diff(&load(&demo_text()), &load(&new), Path::new("n.toml")).unwrap_err();
    assert_eq!(e.key, "queues[0].class");
    assert!(
        e.reason
            .starts_with("changed from non_emergency to emergency: a queue cannot change sides"),
        "{e}"
    );
}

#[test]
fn removing_media_needs_a_restart() {
    let mut without = load(&demo_text());
    without.media = None;
    without.outbound = None;
    let e = diff(&load(&demo_text()), &without, Path::new("n.toml")).unwrap_err();
    assert_eq!(e.key, "media");
    assert!(e.reason.starts_with("[media] removed"), "{e}");
}
