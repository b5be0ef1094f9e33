//! Config loading: the shipped configs load, bad ones are refused with the
//! file, the key and the reason.

use super::*;

fn demo_text() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml")).unwrap()
}

fn refuse(text: &str) -> ConfigError {
    Config::from_str_at(text, Path::new("bad.toml")).expect_err("config should be refused")
}

#[test]
fn demo_config_loads_with_the_promised_contents() {
    let c = Config::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/demo.toml"
    )))
    .unwrap();
    assert_eq!(c.sip.phones.udp.unwrap().to_string(), "127.0.0.1:5060");
    assert_eq!(c.sip.trunk.udp.unwrap().to_string(), "127.0.0.1:5080");
    assert_eq!(c.http.listen.to_string(), "127.0.0.1:8080");
    let seats = c.all_seats();
    assert_eq!(seats.len(), 30);
    assert_eq!(seats[0].extension, "8001");
    assert_eq!(seats[0].password, "demo-8001");
    assert_eq!(seats[29].queues[0].queue, "emergency");
    assert!(c.sip.phones.auto_ready);
    let numbers: Vec<_> = c.lines.iter().map(|l| l.number.as_str()).collect();
    assert_eq!(numbers, ["12345", "12329", "12333", "110", "119", "122"]);
}

#[test]
fn unknown_key_is_named() {
    let text = demo_text().replace("wrapup_secs = 5", "wrapup_secz = 5");
    let e = refuse(&text);
    assert_eq!(e.file, Path::new("bad.toml"));
    assert_eq!(e.key, "queues[0].wrapup_secz");
    assert!(e.reason.contains("wrapup_secz"), "{e}");
}

#[test]
fn wrong_type_is_named_with_its_path() {
    let e = refuse(&demo_text().replace("ring_timeout_secs = 15", "ring_timeout_secs = \"soon\""));
    assert_eq!(e.key, "queues[0].ring_timeout_secs");
    assert!(e.reason.contains("line"), "{e}");
}

#[test]
fn bad_address_is_named() {
    let e = refuse(&demo_text().replace("listen = \"127.0.0.1:8080\"", "listen = \"localhost\""));
    assert_eq!(e.key, "http.listen");
}

#[test]
fn syntax_error_is_reported() {
    let e = refuse("[sip\nphones = 1");
    assert_eq!(e.key, "(syntax)");
}

#[test]
fn line_to_missing_queue_is_refused() {
    let e = refuse(&demo_text().replace(
        "queue = \"citizen\"\ntag = \"housing-fund\"",
        "queue = \"housing\"\ntag = \"housing-fund\"",
    ));
    assert_eq!(e.key, "lines[1].queue");
    assert!(e.reason.contains("housing"), "{e}");
}

#[test]
fn emergency_line_into_citizen_queue_is_refused() {
    let e = refuse(&demo_text().replace(
        "number = \"110\"\nqueue = \"emergency\"",
        "number = \"110\"\nqueue = \"citizen\"",
    ));
    assert_eq!(e.key, "lines[3].class");
}

#[test]
fn overflow_without_target_is_refused() {
    let e =
        refuse(&demo_text().replace("when_timeout = \"reject\"", "when_timeout = \"overflow\""));
    assert_eq!(e.key, "queues[0].overflow_queue");
}

#[test]
fn duplicate_extension_is_refused() {
    let e = refuse(&demo_text().replace("from = 8021", "from = 8020"));
    assert_eq!(e.key, "seat_ranges[1]");
    assert!(e.reason.contains("8020"), "{e}");
}

#[test]
fn trunk_and_phones_on_one_port_are_refused() {
    let e = refuse(&demo_text().replace("udp = \"127.0.0.1:5080\"", "udp = \"127.0.0.1:5060\""));
    assert_eq!(e.key, "sip.trunk.udp");
}

#[test]
fn error_display_names_file_key_and_reason() {
    let e = refuse(&demo_text().replace("reject_code = 486", "reject_code = 200"));
    assert_eq!(
        e.to_string(),
        "bad.toml: queues[0].reject_code: 200 is not a SIP failure code (400-699)"
    );
}

#[test]
fn lowering_max_expires_alone_is_enough() {
    let c = Config::from_str_at(
        &demo_text().replace(
            "max_expires = 3600\ndefault_expires = 3600\n",
            "max_expires = 1800\n",
        ),
        Path::new("a.toml"),
    )
    .unwrap();
    assert_eq!(
        (c.sip.phones.max_expires, c.sip.phones.default_expires()),
        (1800, 1800)
    );
}

#[test]
fn a_wildcard_listener_needs_an_advertised_address() {
    let text = demo_text().replace("udp = \"127.0.0.1:5080\"", "udp = \"0.0.0.0:5080\"");
    let e = refuse(&text);
    assert_eq!(e.key, "server.advertise");
    assert!(e.reason.contains("sip.trunk.udp = 0.0.0.0:5080"), "{e}");
    let fixed = text.replace(
        "name = \"hotline-demo\"",
        "name = \"hotline-demo\"\nadvertise = \"192.0.2.10\"",
    );
    Config::from_str_at(&fixed, Path::new("b.toml")).unwrap();
}

#[test]
fn a_feature_code_that_begins_with_the_not_ready_code_is_refused() {
    let e = refuse(&demo_text().replace("login = \"*11\"", "login = \"*141\""));
    assert_eq!(e.key, "feature_codes.login");
    assert!(e.reason.contains("not_ready code \"*14\""), "{e}");
}

#[test]
fn a_store_buffer_too_small_to_ride_out_an_outage_is_refused() {
    let e = refuse(&demo_text().replace(
        "url = \"sqlite://hotline.db\"",
        "url = \"sqlite://hotline.db\"\nbuffer = 0",
    ));
    assert_eq!(e.key, "store.buffer");
}

#[test]
fn media_settings_are_checked_down_to_the_prompt_files() {
    let demo = demo_text();
    let c = Config::from_str_at(&demo, Path::new("m.toml")).unwrap();
    assert_eq!(
        c.welcome_prompt(&c.lines[0]),
        Path::new("config/prompts/zh/welcome.wav")
    );
    let e = refuse(&demo.replace("codecs = [\"PCMA\", \"PCMU\"]", "codecs = [\"G729\"]"));
    assert_eq!(e.key, "media.codecs[0]");
    let e = refuse(&demo.replace(
        "prompts_dir = \"config/prompts\"",
        "prompts_dir = \"/nonexistent\"",
    ));
    assert_eq!(e.key, "lines[0].welcome");
    assert!(e.reason.contains("/nonexistent/zh/welcome.wav"), "{e}");
    let e = refuse(&demo.replace("rtp_port_min = 20000", "rtp_port_min = 80"));
    assert_eq!(e.key, "media.rtp_port_max");
    let e = refuse(&demo.replace(
        "rtp_port_min = 20000",
        "rtp_threads = 1000\nrtp_port_min = 20000",
    ));
    assert_eq!(e.key, "media.rtp_threads");
}

#[test]
fn announcements_and_the_survey_need_their_prompts_and_say_how_to_do_without() {
    // A prompt folder with only the welcomes, the busy prompt and the music.
    let dir = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/prompts");
    for f in [
        "zh/welcome.wav",
        "zh/emergency.wav",
        "zh/busy.wav",
        "music/hold.wav",
    ] {
        std::fs::create_dir_all(dir.path().join(f).parent().unwrap()).unwrap();
        std::fs::copy(shipped.join(f), dir.path().join(f)).unwrap();
    }
    let text = demo_text().replace(
        "prompts_dir = \"config/prompts\"",
        &format!("prompts_dir = {:?}", dir.path()),
    );
    let e = refuse(&text);
    assert_eq!(e.key, "queues[0].announce_every_secs");
    assert!(
        e.reason.contains("zh/position-1.wav") && e.reason.contains("announce_every_secs = 0"),
        "{e}"
    );
    let text = text.replace("announce_every_secs = 30", "announce_every_secs = 0");
    let e = refuse(&text);
    assert_eq!(e.key, "lines[0].survey");
    assert!(e.reason.contains("zh/survey.wav"), "{e}");
    let text = text.replace("survey = true\n", "");
    Config::from_str_at(&text, Path::new("m.toml"))
        .expect("welcome and music are enough without them");
}

#[test]
fn outbound_patterns_prefix_and_media_are_checked() {
    let e =
        refuse(&demo_text().replace("mobile = \"1[3-9][0-9]{9}\"", "mobile = \"1[3-9][0-9]{9\""));
    assert_eq!(e.key, "outbound.patterns.mobile");
    assert!(e.reason.contains("not a valid regular expression"), "{e}");

    let e = refuse(&demo_text().replace(
        "default_allow = [\"mobile\", \"landline\"]",
        "default_allow = [\"mobile\", \"premium\"]",
    ));
    assert_eq!(e.key, "outbound.default_allow[1]");
    assert!(e.reason.contains("no pattern \"premium\""), "{e}");

    let e = refuse(&demo_text().replace(
        "outbound = [\"mobile\", \"landline\", \"local\"]",
        "outbound = [\"international\"]",
    ));
    assert_eq!(e.key, "seat_ranges[1].outbound[0]");

    let e = refuse(&demo_text().replace("prefix = \"9\"", "prefix = \"*1\""));
    assert_eq!(e.key, "outbound.prefix");
    assert!(e.reason.contains("feature_codes.login"), "{e}");

    let no_media = demo_text().replace("\n[media]\n", "\n[unused_media]\n");
    let no_media = no_media[..no_media.find("[unused_media]").unwrap()].to_string()
        + &no_media[no_media.find("# The ticket system").unwrap()..];
    let e = refuse(&no_media);
    assert_eq!(e.key, "outbound");
    assert!(e.reason.contains("needs [media]"), "{e}");
}

#[test]
fn seats_may_dial_only_their_patterns() {
    let c = Config::from_str_at(&demo_text(), Path::new("config/demo.toml")).unwrap();
    let o = runtime::outbound(&c).expect("the demo has [outbound]");
    assert_eq!(o.check("8001", "13800138000").unwrap(), "mobile");
    assert_eq!(o.check("8001", "057188888888").unwrap(), "landline");
    for forbidden in ["0044207946000", "12345", "95588", "8765432", "138001380001"] {
        assert!(
            o.check("8001", forbidden).is_err(),
            "{forbidden} must be refused for a 12345 seat"
        );
    }
    assert_eq!(
        o.check("8021", "8765432").unwrap(),
        "local",
        "emergency seats may dial local numbers"
    );
    assert_eq!(o.seats["8021"].class, crate::model::LineClass::Emergency);
    assert_eq!(o.seats["8001"].class, crate::model::LineClass::NonEmergency);
    let refused = o.check("8001", "0044207946000").unwrap_err().to_string();
    assert!(refused.contains("mobile, landline"), "{refused}");
}

#[test]
fn capacity_needs_its_reserve_within_the_total_and_the_media_ports_for_it() {
    let with = |c: &str| demo_text() + "\n[capacity]\n" + c;
    assert!(
        Config::from_str_at(
            &with("max_calls = 240\nreserved_emergency = 30\n"),
            Path::new("x.toml")
        )
        .is_ok()
    );
    let e = refuse(&with("max_calls = 10\nreserved_emergency = 11\n"));
    assert_eq!(e.key, "capacity.reserved_emergency");
    // The demo's 1000 ports hold 500 legs: 250 calls.
    let e = refuse(&with("max_calls = 251\n"));
    assert_eq!(e.key, "capacity.max_calls");
    assert!(
        e.reason.contains("widen the range or lower max_calls"),
        "{e}"
    );
    let e = refuse(&with("max_calls = 0\n"));
    assert_eq!(e.key, "capacity.max_calls");
}

#[test]
fn reports_settings_come_from_the_file_and_default_to_china() {
    let c = Config::from_str_at(&demo_text(), Path::new("demo.toml")).unwrap();
    let s = runtime::report_settings(&c);
    assert_eq!(s.tz, crate::reports::Tz::CHINA);
    assert_eq!((s.short_abandon_ms, s.service_level_ms), (5_000, 20_000));
    assert_eq!(s.queue_service_level_ms.get("emergency"), Some(&10_000));
    assert_eq!(s.queue_service_level_ms.get("citizen"), None);
    assert_eq!(
        s.seat_class.get("8021"),
        Some(&crate::model::LineClass::Emergency)
    );
    assert_eq!(
        s.seat_class.get("8001"),
        Some(&crate::model::LineClass::NonEmergency)
    );
    let start = demo_text().find("\n[reports]\n").unwrap();
    let end = demo_text().find("\n[feature_codes]\n").unwrap();
    let without = format!("{}{}", &demo_text()[..start], &demo_text()[end..]);
    let c = Config::from_str_at(&without, Path::new("demo.toml")).unwrap();
    assert_eq!(c.reports.timezone, "+08:00");
    assert_eq!(c.reports.short_abandon_secs, 5);
}

#[test]
fn bad_report_settings_are_named() {
    let e = refuse(&demo_text().replace("timezone = \"+08:00\"", "timezone = \"Asia/Shanghai\""));
    assert_eq!(e.key, "reports.timezone");
    assert!(e.reason.contains("\"+08:00\""), "{e}");
    let e = refuse(&demo_text().replace("short_abandon_secs = 5", "short_abandon_secs = 300"));
    assert_eq!(e.key, "reports.short_abandon_secs");
    let e = refuse(&demo_text().replace("service_level_secs = 10", "service_level_secs = 0"));
    assert_eq!(e.key, "queues[1].service_level_secs");
    assert!(e.reason.contains("between 1 and 3600"), "{e}");
}
