//! Yealink T4x/T5x `.cfg` files: `#!version:1.0.0.1`, then `key = value`
//! lines (Yealink's auto-provisioning guide).
//!
//! Account 1 is the seat. Line key 1 shows the account; the feature
//! codes follow as speed dials (type 13), then one BLF key (type 16) per
//! watched seat. Keys past the 27 line keys of a T46/T54 go to the
//! expansion modules, 40 keys each.

use super::{PhoneSeat, Provisioning, one_line};
use crate::config::PhoneTransport;

/// Line keys used before the expansion modules (T46S/U, T54W: 27).
const LINE_KEYS: usize = 27;
/// Keys of one expansion module (EXP40, EXP50).
const MODULE_KEYS: usize = 40;

/// DSS key types.
const LINE: u8 = 15;
const SPEED_DIAL: u8 = 13;
const BLF: u8 = 16;

/// The name of the `n`th key (from 1): `linekey.5`, `expansion_module.1.key.3`.
pub fn key_prefix(n: usize) -> String {
    if n <= LINE_KEYS {
        format!("linekey.{n}")
    } else {
        let i = n - LINE_KEYS - 1;
        format!(
            "expansion_module.{}.key.{}",
            i / MODULE_KEYS + 1,
            i % MODULE_KEYS + 1
        )
    }
}

pub fn render(p: &Provisioning, seat: &PhoneSeat) -> String {
    let mut out = String::from("#!version:1.0.0.1\n");
    out.push_str(&format!(
        "## hotline: seat {} ({}), made from the seat config by `hotline provision`.\n\
## It holds the seat's SIP password: keep it where only the phones fetch it.\n",
        seat.extension,
        seat.class.as_str()
    ));
    let transport = match p.transport {
        PhoneTransport::Udp => "0",
        PhoneTransport::Tcp => "1",
    };
    let ext = seat.extension.as_str();
    let port = p.port.to_string();
    let expires = p.expires.to_string();
    let account = [
        ("account.1.enable", "1"),
        ("account.1.label", ext),
        ("account.1.display_name", &seat.display_name),
        ("account.1.user_name", ext),
        ("account.1.auth_name", ext),
        ("account.1.password", &seat.password),
        ("account.1.sip_server.1.address", &p.server),
        ("account.1.sip_server.1.port", &port),
        ("account.1.sip_server.1.transport_type", transport),
        ("account.1.sip_server.1.expires", &expires),
        // Message waiting is not used.
        ("account.1.subscribe_mwi", "0"),
    ];
    out.push('\n');
    for (key, value) in account {
        out.push_str(&format!("{key} = {}\n", one_line(value)));
    }
    let mut keys: Vec<(u8, &str, &str)> = vec![(LINE, ext, ext)];
    keys.extend(
        p.features
            .iter()
            .map(|f| (SPEED_DIAL, f.number.as_str(), f.label.as_str())),
    );
    keys.extend(
        p.watched(seat)
            .into_iter()
            .map(|s| (BLF, s.extension.as_str(), s.display_name.as_str())),
    );
    for (i, (kind, value, label)) in keys.into_iter().enumerate() {
        let prefix = key_prefix(i + 1);
        out.push_str(&format!(
            "\n{prefix}.type = {kind}\n{prefix}.line = 1\n{prefix}.value = {}\n{prefix}.label = {}\n",
            one_line(value),
            one_line(label)
        ));
    }
    out
}
