//! Grandstream GXP `.xml` files: P-values inside `<gs_provision>`
//! (Grandstream's XML provisioning guide and GXP21xx config template).
//!
//! Account 1 is the seat: P271 active, P270 account name, P47 SIP server,
//! P35 user ID, P36 authenticate ID, P34 password, P3 display name, P31
//! registration on, P32 expiry in minutes, P130 transport. The feature
//! codes and the watched seats go to the multi-purpose keys of GXP21xx
//! and GXP17xx firmware: key n is P(23000 + 5(n-1)) mode (0 speed dial,
//! 1 BLF), then account (0: account 1), description and value.

use super::{PhoneSeat, Provisioning, escape_xml};
use crate::config::PhoneTransport;

/// The first multi-purpose key's mode P-value; each key takes five.
const MPK_BASE: u32 = 23000;
const SPEED_DIAL: u8 = 0;
const BLF: u8 = 1;

/// The P-values of the `n`th multi-purpose key (from 1): mode, account,
/// description, value.
pub fn mpk(n: usize) -> [String; 4] {
    let base = MPK_BASE + 5 * (n as u32 - 1);
    [0, 1, 2, 3].map(|i| format!("P{}", base + i))
}

pub fn render(p: &Provisioning, seat: &PhoneSeat) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<!-- hotline: seat {} ({}), made from the seat config by hotline provision. \
It holds the seat's SIP password: keep it where only the phones fetch it. -->\n",
        escape_xml(&seat.extension),
        seat.class.as_str()
    ));
    out.push_str("<gs_provision version=\"1\">\n");
    if let Some(mac) = &seat.mac {
        out.push_str(&format!("  <mac>{mac}</mac>\n"));
    }
    out.push_str("  <config version=\"1\">\n");
    let mut p_value = |p: &str, value: &str| {
        out.push_str(&format!("    <{p}>{}</{p}>\n", escape_xml(value)));
    };
    let ext = seat.extension.as_str();
    p_value("P271", "1");
    p_value("P270", ext);
    p_value("P47", &format!("{}:{}", p.server, p.port));
    p_value("P35", ext);
    p_value("P36", ext);
    p_value("P34", &seat.password);
    p_value("P3", &seat.display_name);
    p_value("P31", "1");
    p_value("P32", &(p.expires / 60).max(1).to_string());
    p_value(
        "P130",
        match p.transport {
            PhoneTransport::Udp => "0",
            PhoneTransport::Tcp => "1",
        },
    );
    // Message waiting is not used.
    p_value("P99", "0");
    let mut keys: Vec<(u8, &str, &str)> = p
        .features
        .iter()
        .map(|f| (SPEED_DIAL, f.label.as_str(), f.number.as_str()))
        .collect();
    keys.extend(
        p.watched(seat)
            .into_iter()
            .map(|s| (BLF, s.display_name.as_str(), s.extension.as_str())),
    );
    for (i, (mode, description, value)) in keys.into_iter().enumerate() {
        let [m, a, d, v] = mpk(i + 1);
        p_value(&m, &mode.to_string());
        p_value(&a, "0");
        p_value(&d, description);
        p_value(&v, value);
    }
    out.push_str("  </config>\n</gs_provision>\n");
    out
}
