//! `[provisioning]`: desk-phone configuration files served over HTTP, and
//! the seats' `mac` addresses they are served under. What the files say
//! is `crate::provision`; this is only the file format and its checks.

use super::Config;
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisioningConfig {
    /// Part of every provisioning URL (`/provision/<secret>/...`): the
    /// files hold the seats' SIP passwords.
    pub secret: String,
    /// Networks phones may fetch from; others get 403. Empty: any.
    #[serde(default)]
    pub allow: Vec<ipnet::IpNet>,
    /// The SIP server written into the files (a host name or address);
    /// default: the phones listener's address (`server.advertise` for a
    /// wildcard listener).
    #[serde(default)]
    pub sip_server: Option<String>,
    /// The transport the phones register over.
    #[serde(default)]
    pub transport: PhoneTransport,
    /// BLF keys per phone, for the other seats of its class in config
    /// order, at most this many.
    #[serde(default = "default_blf_keys")]
    pub blf_keys: usize,
}

/// `[provisioning] transport`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PhoneTransport {
    #[default]
    Udp,
    Tcp,
}

/// Most BLF keys a file may carry (a phone with expansion modules).
pub const MAX_BLF_KEYS: usize = 100;

fn default_blf_keys() -> usize {
    30
}

/// A MAC address as phones name their files: 12 lower-case hex digits
/// (`00:15:65:AB:CD:EF`, `00-15-65-ab-cd-ef` and `001565abcdef` are the
/// same); `None` if it is not one.
pub fn normalize_mac(mac: &str) -> Option<String> {
    let hex: String = mac
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect::<String>()
        .to_ascii_lowercase();
    (hex.len() == 12 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}

impl Config {
    /// `[provisioning]` and the seats' `mac`: a secret fit for a URL and
    /// hard to guess, a listener for the transport, sane key counts, MAC
    /// addresses well formed and unique.
    pub(super) fn validate_provisioning(&self) -> Result<(), (String, String)> {
        let mut macs: HashMap<String, String> = HashMap::new();
        for (i, s) in self.seats.iter().enumerate() {
            let Some(mac) = &s.mac else { continue };
            let key = format!("seats[{i}].mac");
            let Some(norm) = normalize_mac(mac) else {
                return Err((
                    key,
                    format!(
                        "{mac:?} is not a MAC address (12 hex digits, e.g. \"00:15:65:ab:cd:ef\")"
                    ),
                ));
            };
            if let Some(first) = macs.insert(norm, key.clone()) {
                return Err((key, format!("{mac} is also {first}")));
            }
        }
        let Some(p) = &self.provisioning else {
            return Ok(());
        };
        if p.secret.len() < 16
            || !p
                .secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
        {
            return Err((
                "provisioning.secret".into(),
                "must be at least 16 characters of A-Z, a-z, 0-9, '-', '_', '.', '~' (it goes into the URL phones fetch)".into(),
            ));
        }
        let (listener, name) = match p.transport {
            PhoneTransport::Udp => (self.sip.phones.udp, "udp"),
            PhoneTransport::Tcp => (self.sip.phones.tcp, "tcp"),
        };
        if listener.is_none() {
            return Err((
                "provisioning.transport".into(),
                format!("is {name:?} but sip.phones.{name} is not set"),
            ));
        }
        if let Some(host) = &p.sip_server
            && (host.is_empty()
                || host.contains(|c: char| c.is_whitespace() || "/<>\"@;".contains(c)))
        {
            return Err((
                "provisioning.sip_server".into(),
                format!("{host:?} is not a host name or address"),
            ));
        }
        if p.blf_keys > MAX_BLF_KEYS {
            return Err((
                "provisioning.blf_keys".into(),
                format!("{} is more than {MAX_BLF_KEYS}", p.blf_keys),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn demo_with(extra: &str) -> Result<Config, super::super::ConfigError> {
        let demo = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml"));
        Config::from_str_at(&format!("{demo}\n{extra}"), Path::new("x.toml"))
    }

    #[test]
    fn macs_are_normalised_and_checked() {
        assert_eq!(
            normalize_mac("00:15:65:AB:cd:EF").as_deref(),
            Some("001565abcdef")
        );
        assert_eq!(
            normalize_mac("00-0b-82-01-02-ab").as_deref(),
            Some("000b820102ab")
        );
        assert_eq!(normalize_mac("00:15:65:ab:cd"), None);
        assert_eq!(normalize_mac("00:15:65:ab:cd:eg"), None);
        let seat = |ext: &str, mac: &str| {
            format!(
                "[[seats]]\nextension = \"{ext}\"\npassword = \"pw-{ext}\"\nmac = \"{mac}\"\nqueues = [{{ queue = \"citizen\" }}]\n"
            )
        };
        assert!(demo_with(&seat("8101", "00:15:65:ab:cd:ef")).is_ok());
        let bad = demo_with(&seat("8101", "nope")).unwrap_err();
        assert_eq!(bad.key, "seats[0].mac");
        let twice = demo_with(&(seat("8101", "001565ABCDEF") + &seat("8102", "00:15:65:ab:cd:ef")))
            .unwrap_err();
        assert_eq!(twice.key, "seats[1].mac");
        assert!(twice.reason.contains("seats[0].mac"), "{}", twice.reason);
    }

    #[test]
    fn the_secret_must_be_long_and_fit_a_url() {
        let demo = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml"));
        let with_secret = |s: &str| {
            let text = demo.replace(
                "secret = \"demo-provisioning-secret-change-me\"",
                &format!("secret = \"{s}\""),
            );
            Config::from_str_at(&text, Path::new("x.toml"))
        };
        assert!(with_secret("demo-provisioning-secret-change-me").is_ok());
        for bad in ["short", "has a space in it, long", "slash/in/the/secret/x"] {
            let e = with_secret(bad).unwrap_err();
            assert_eq!(e.key, "provisioning.secret", "{bad}");
        }
        let tcp_less = demo
            .replace("tcp = \"127.0.0.1:5060\"\n", "")
            .replace("transport = \"udp\"", "transport = \"tcp\"");
        let e = Config::from_str_at(&tcp_less, Path::new("x.toml")).unwrap_err();
        assert_eq!(e.key, "provisioning.transport");
    }
}
