//! Who can reach what: the doctor's look at credentials and listeners,
//! from the config alone. Published credentials (the demo's `demo-...`
//! passwords and tokens, and anything still saying `change-me`, as the
//! production example's placeholders do) are a FAIL where a network
//! reaches them and a note on loopback; an open or anonymous API, plain
//! HTTP and a trunk allow-list open to everyone on a network address are
//! warnings.

use super::{Check, Status};
use crate::config::Config;
use std::net::SocketAddr;

/// A secret anyone can read: the demo's, or a placeholder.
pub(super) fn published(secret: &str) -> bool {
    let s = secret.to_ascii_lowercase();
    s.starts_with("demo-") || s.contains("change-me") || s.contains("changeme")
}

fn local(addr: SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Whether a URL's host is this machine only.
fn local_url(url: &str) -> bool {
    let Some(u) = reqwest::Url::parse(url).ok() else {
        return false;
    };
    let host = u.host_str().unwrap_or("").trim_matches(['[', ']']);
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The exposure checks of `config`.
pub fn exposure(config: &Config) -> Vec<Check> {
    let mut fail = Vec::new();
    let mut warn = Vec::new();
    let mut local_only = Vec::new();

    let phones: Vec<SocketAddr> = [config.sip.phones.udp, config.sip.phones.tcp]
        .into_iter()
        .flatten()
        .collect();
    let weak: Vec<String> = config
        .all_seats()
        .into_iter()
        .filter(|s| s.password == format!("demo-{}", s.extension) || published(&s.password))
        .map(|s| s.extension)
        .collect();
    if !weak.is_empty() {
        let what = format!("seat passwords ({} seats)", weak.len());
        match phones.iter().find(|a| !local(**a)) {
            Some(a) => fail.push(format!(
                "{} of seat(s) {} are published (demo-N or a placeholder) while the phones side listens on {a}: anyone can register as them; set real passwords in [[seats]]/[[seat_ranges]]",
                what,
                super::summarize(&weak)
            )),
            None => local_only.push(what),
        }
    }

    let http = config.http.listen;
    let mut api_secrets: Vec<String> = config
        .http
        .tokens
        .iter()
        .filter(|t| published(&t.token))
        .map(|t| format!("[http] tokens {:?}", t.name))
        .collect();
    if config.http.link_secret.as_deref().is_some_and(published) {
        api_secrets.push("[http] link_secret".into());
    }
    // Provisioning files (with SIP passwords) are served by the API.
    if config
        .provisioning
        .as_ref()
        .is_some_and(|p| published(&p.secret))
    {
        api_secrets.push("[provisioning] secret".into());
    }
    if !api_secrets.is_empty() {
        if local(http) {
            local_only.extend(api_secrets);
        } else {
            fail.push(format!(
                "{} published while the API listens on {http}: anyone can use them; set your own (openssl rand -hex 32)",
                api_secrets.join(", ")
            ));
        }
    }
    if !local(http) {
        if config.http.tokens.is_empty() {
            warn.push(format!(
                "no [http] tokens while the API listens on {http}: anyone who reaches it reads call records, downloads recordings and changes agent states; set tokens"
            ));
        } else if !config.http.anonymous.is_empty() {
            warn.push(format!(
                "[http] anonymous = [\"read\"] on {http}: anyone who reaches it reads call records and callers' numbers; set anonymous = []"
            ));
        }
        warn.push(format!(
            "the API speaks plain HTTP on {http}: tokens and recordings cross the network as they are; listen on 127.0.0.1 behind a TLS reverse proxy (README, Production install)"
        ));
    }

    let sinks = [
        ("[tickets] secret", config.tickets.as_ref()),
        (
            "[emergency_tickets] secret",
            config.emergency_tickets.as_ref(),
        ),
    ];
    for (key, sink) in sinks {
        let Some(t) = sink.filter(|t| published(&t.secret)) else {
            continue;
        };
        if local_url(&t.url) {
            local_only.push(key.to_string());
        } else {
            fail.push(format!(
                "{key} is published while events go to {}: anyone can sign events the ticket system believes; set the secret it shares with hotline",
                t.url
            ));
        }
    }
    let store = &config.store.url;
    if published(store) {
        let shown = crate::store::redact_url(store);
        if local_url(store) {
            local_only.push("[store] url's password".into());
        } else {
            fail.push(format!(
                "[store] url ({shown}) still has the placeholder password: set the database role's real one"
            ));
        }
    }

    let trunk: Vec<SocketAddr> = [config.sip.trunk.udp, config.sip.trunk.tcp]
        .into_iter()
        .flatten()
        .filter(|a| !local(*a))
        .collect();
    if let Some(a) = trunk.first()
        && config.sip.trunk.allow.iter().any(|n| n.prefix_len() == 0)
    {
        warn.push(format!(
            "[sip.trunk] allow lets any address call in on {a}: list the carrier's own addresses"
        ));
    }

    let mut out: Vec<Check> = fail
        .into_iter()
        .map(|t| check(Status::Fail, t))
        .chain(warn.into_iter().map(|t| check(Status::Warn, t)))
        .collect();
    if !local_only.is_empty() {
        out.push(check(
            Status::Ok,
            format!(
                "published demo or placeholder credentials ({}) reachable from this machine only: replace them before hotline listens on a network",
                local_only.join(", ")
            ),
        ));
    }
    if out.is_empty() {
        out.push(check(
            Status::Ok,
            "no published credentials; tokens set".to_string(),
        ));
    }
    out
}

fn check(status: Status, text: String) -> Check {
    Check {
        status,
        topic: "exposure",
        text,
    }
}
