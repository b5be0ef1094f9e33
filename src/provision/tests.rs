//! The files, parsed back the way a phone reads them: Yealink's
//! `key = value` lines, Grandstream's XML (checked for balanced,
//! well-formed elements by a small reader: no XML crate is a dependency).

use super::*;
use std::collections::BTreeMap;
use std::path::Path;

fn demo(extra: &str, edit: impl Fn(String) -> String) -> Provisioning {
    let text = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml"));
    let c = Config::from_str_at(&edit(format!("{text}\n{extra}")), Path::new("demo.toml"))
        .expect("the config loads");
    Provisioning::from_config(&c, None)
}

const MAC_SEAT: &str = "[[seats]]\nextension = \"7001\"\npassword = \"s3cret&<x>\"\nname = \"王芳\"\nmac = \"00:15:65:AB:CD:EF\"\nqueues = [{ queue = \"citizen\" }]\n";

/// A Yealink file as the phone reads it: the version line, then
/// `key = value` lines; `#` lines are comments.
fn parse_yealink(text: &str) -> BTreeMap<String, String> {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("#!version:1.0.0.1"), "{text}");
    let mut map = BTreeMap::new();
    for line in lines.map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once(" = ")
            .unwrap_or_else(|| panic!("not key = value: {line:?}"));
        assert!(
            map.insert(k.to_string(), v.to_string()).is_none(),
            "{k} twice"
        );
    }
    map
}

/// A Grandstream file read as XML: declaration, comments, balanced
/// elements without attributes but the root's; the P-values of `<config>`
/// unescaped, and the `<mac>`.
fn parse_grandstream(text: &str) -> (Option<String>, BTreeMap<String, String>) {
    let mut rest = text
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        .expect("an XML declaration")
        .trim_start();
    let (mut stack, mut values, mut mac) = (Vec::<String>::new(), BTreeMap::new(), None);
    let mut text_of = String::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("<!--") {
            let end = r.find("-->").expect("a closed comment");
            assert!(!r[..end].contains("--"), "-- inside a comment");
            rest = &r[end + 3..];
        } else if let Some(r) = rest.strip_prefix("</") {
            let end = r.find('>').unwrap();
            let name = &r[..end];
            assert_eq!(stack.pop().as_deref(), Some(name), "unbalanced </{name}>");
            let value = unescape(&std::mem::take(&mut text_of));
            if name.starts_with('P') && stack.last().map(String::as_str) == Some("config") {
                assert!(name[1..].chars().all(|c| c.is_ascii_digit()), "{name}");
                assert!(
                    values.insert(name.to_string(), value).is_none(),
                    "{name} twice"
                );
            } else if name == "mac" {
                mac = Some(value);
            }
            rest = &r[end + 1..];
        } else if let Some(r) = rest.strip_prefix('<') {
            let end = r.find('>').unwrap();
            let tag = &r[..end];
            let name = tag.split_whitespace().next().unwrap().to_string();
            if stack.is_empty() {
                assert_eq!(tag, "gs_provision version=\"1\"");
            } else {
                assert!(
                    name == tag || tag == "config version=\"1\"",
                    "unexpected attributes: <{tag}>"
                );
            }
            stack.push(name);
            rest = &r[end + 1..];
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let chunk = &rest[..end];
            assert!(
                !chunk.contains('>') && !chunk.contains('&') || is_escaped(chunk),
                "{chunk}"
            );
            text_of.push_str(chunk.trim_matches('\n').trim_start_matches(' '));
            rest = &rest[end..];
        }
    }
    assert!(stack.is_empty(), "unclosed {stack:?}");
    (mac, values)
}

fn is_escaped(s: &str) -> bool {
    s.match_indices('&').all(|(i, _)| {
        ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
            .iter()
            .any(|e| s[i..].starts_with(e))
    })
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Key number -> (type, value, label) of the Yealink DSS keys.
fn yealink_keys(map: &BTreeMap<String, String>) -> Vec<(String, String, String)> {
    (1..)
        .map(yealink::key_prefix)
        .map_while(|k| {
            Some((
                map.get(&format!("{k}.type"))?.clone(),
                map[&format!("{k}.value")].clone(),
                map[&format!("{k}.label")].clone(),
            ))
        })
        .collect()
}

#[test]
fn a_yealink_file_parses_back_to_the_seat() {
    let p = demo(MAC_SEAT, |c| c);
    let map = parse_yealink(&p.render(Vendor::Yealink, "7001").unwrap());
    for (k, v) in [
        ("account.1.enable", "1"),
        ("account.1.user_name", "7001"),
        ("account.1.auth_name", "7001"),
        ("account.1.password", "s3cret&<x>"),
        ("account.1.display_name", "王芳"),
        ("account.1.sip_server.1.address", "127.0.0.1"),
        ("account.1.sip_server.1.port", "5060"),
        ("account.1.sip_server.1.transport_type", "0"),
        ("account.1.sip_server.1.expires", "3600"),
    ] {
        assert_eq!(map.get(k).map(String::as_str), Some(v), "{k}");
    }
    let keys = yealink_keys(&map);
    assert_eq!(keys[0], ("15".into(), "7001".into(), "7001".into()));
    let speed: Vec<_> = keys[1..5]
        .iter()
        .map(|k| (k.0.as_str(), k.1.as_str()))
        .collect();
    assert_eq!(
        speed,
        [("13", "*11"), ("13", "*12"), ("13", "*13"), ("13", "*14")]
    );
    let blf: Vec<&str> = keys[5..]
        .iter()
        .inspect(|k| assert_eq!(k.0, "16"))
        .map(|k| k.1.as_str())
        .collect();
    let want: Vec<String> = (8001..=8020).map(|e| e.to_string()).collect();
    assert_eq!(blf, want, "the other 12345 seats, none of 110's");
    assert!(map.contains_key("linekey.25.type"));
}

#[test]
fn an_emergency_seat_watches_emergency_seats_only() {
    let p = demo("", |c| c);
    let map = parse_yealink(&p.render(Vendor::Yealink, "8021").unwrap());
    let blf: Vec<String> = yealink_keys(&map)
        .into_iter()
        .filter(|k| k.0 == "16")
        .map(|k| k.1)
        .collect();
    let want: Vec<String> = (8022..=8030).map(|e| e.to_string()).collect();
    assert_eq!(blf, want);
}

#[test]
fn a_grandstream_file_parses_back_to_the_seat() {
    let p = demo(MAC_SEAT, |c| c);
    let (mac, v) = parse_grandstream(&p.render(Vendor::Grandstream, "7001").unwrap());
    assert_eq!(mac.as_deref(), Some("001565abcdef"));
    for (k, want) in [
        ("P271", "1"),
        ("P270", "7001"),
        ("P47", "127.0.0.1:5060"),
        ("P35", "7001"),
        ("P36", "7001"),
        ("P34", "s3cret&<x>"),
        ("P3", "王芳"),
        ("P31", "1"),
        ("P32", "60"),
        ("P130", "0"),
    ] {
        assert_eq!(v.get(k).map(String::as_str), Some(want), "{k}");
    }
    let key = |n: usize| grandstream::mpk(n).map(|p| v.get(&p).cloned().unwrap_or_default());
    assert_eq!(key(1), ["0", "0", "Login", "*11"].map(String::from));
    assert_eq!(key(4), ["0", "0", "Not ready", "*14"].map(String::from));
    assert_eq!(key(5), ["1", "0", "8001", "8001"].map(String::from));
    assert_eq!(key(24), ["1", "0", "8020", "8020"].map(String::from));
    assert_eq!(
        key(25),
        ["", "", "", ""].map(String::from),
        "20 seats watched"
    );
}

#[test]
fn the_settings_come_from_the_config() {
    let p = demo("", |c| {
        c.replace("blf_keys = 30", "blf_keys = 3")
            .replace(
                "transport = \"udp\"",
                "transport = \"tcp\"\nsip_server = \"pbx.example\"",
            )
            .replace("default_expires = 3600", "default_expires = 600")
    });
    let map = parse_yealink(&p.render(Vendor::Yealink, "8005").unwrap());
    assert_eq!(map["account.1.sip_server.1.address"], "pbx.example");
    assert_eq!(map["account.1.sip_server.1.transport_type"], "1");
    assert_eq!(map["account.1.sip_server.1.expires"], "600");
    let blf: Vec<String> = yealink_keys(&map)
        .into_iter()
        .filter(|k| k.0 == "16")
        .map(|k| k.1)
        .collect();
    assert_eq!(blf, ["8001", "8002", "8003"], "capped at blf_keys");
    let (_, v) = parse_grandstream(&p.render(Vendor::Grandstream, "8005").unwrap());
    assert_eq!(v["P130"], "1");
    assert_eq!(v["P32"], "10");
    assert_eq!(v["P47"], "pbx.example:5060");
}

#[test]
fn phones_find_their_files_by_mac() {
    let p = demo(MAC_SEAT, |c| c);
    let (vendor, seat) = p.by_mac_file("001565abcdef.cfg").unwrap();
    assert_eq!((vendor, seat.extension.as_str()), (Vendor::Yealink, "7001"));
    let (vendor, seat) = p.by_mac_file("cfg001565ABCDEF.xml").unwrap();
    assert_eq!(
        (vendor, seat.extension.as_str()),
        (Vendor::Grandstream, "7001")
    );
    for other in [
        "001565abcdee.cfg",
        "y000000000044.cfg",
        "cfg001565abcdef",
        "00:15:65:ab:cd:ef.cfg",
        "8001.cfg",
    ] {
        assert!(p.by_mac_file(other).is_none(), "{other}");
    }
    assert!(p.render(Vendor::Yealink, "9999").is_none());
}

#[test]
fn keys_past_the_line_keys_go_to_the_expansion_modules() {
    assert_eq!(yealink::key_prefix(1), "linekey.1");
    assert_eq!(yealink::key_prefix(27), "linekey.27");
    assert_eq!(yealink::key_prefix(28), "expansion_module.1.key.1");
    assert_eq!(yealink::key_prefix(67), "expansion_module.1.key.40");
    assert_eq!(yealink::key_prefix(68), "expansion_module.2.key.1");
    assert_eq!(grandstream::mpk(1)[0], "P23000");
    assert_eq!(
        grandstream::mpk(2),
        ["P23005", "P23006", "P23007", "P23008"]
    );
}

#[test]
fn write_all_writes_each_seat_by_extension_and_by_mac() {
    let p = demo(MAC_SEAT, |c| c);
    let dir = tempfile::tempdir().unwrap();
    let mut heard = Vec::new();
    let files = write_all(&p, Vendor::Grandstream, dir.path(), |i, n, s, _| {
        heard.push((i, n, s.extension.clone()))
    })
    .unwrap();
    assert_eq!(files.len(), 31 + 1, "30 demo seats, 7001 twice");
    assert_eq!(heard.first(), Some(&(1, 31, "7001".to_string())));
    assert_eq!(heard.last(), Some(&(31, 31, "8030".to_string())));
    let by_mac = std::fs::read_to_string(dir.path().join("cfg001565abcdef.xml")).unwrap();
    let by_ext = std::fs::read_to_string(dir.path().join("7001.xml")).unwrap();
    assert_eq!(by_mac, by_ext);
    parse_grandstream(&std::fs::read_to_string(dir.path().join("8030.xml")).unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("8030.xml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o077,
            0,
            "only the owner reads a file with a password"
        );
    }
}
