//! Desk-phone provisioning: the configuration file each seat's phone
//! loads, made from the seat config so that thirty phones are set up
//! without typing (issue 7).
//!
//! One file per seat and vendor: the SIP account (extension, password,
//! display name, hotline's phones address, transport, registration
//! expiry), speed-dial keys for the feature codes (login, logout, ready,
//! not ready) and busy-lamp-field keys for the other seats of the same
//! class (`b2bua::blf` answers their SUBSCRIBEs). `yealink.rs` writes the
//! Yealink T4x/T5x `.cfg`, `grandstream.rs` the Grandstream GXP `.xml`.
//! The HTTP API serves them (`api::provision`); `hotline provision`
//! writes them to a directory.
//!
//! ```text
//!  file the phone asks for          seat
//!  <mac>.cfg                        Yealink, by the seat's mac
//!  cfg<mac>.xml                     Grandstream, by the seat's mac
//!  yealink/<ext>.cfg                by extension
//!  grandstream/<ext>.xml            by extension
//! ```

mod grandstream;
mod yealink;

#[cfg(test)]
mod tests;

use crate::config::{Config, PhoneTransport, normalize_mac};
use crate::model::LineClass;
use crate::sip::{Proto, Side};
use std::collections::HashMap;
use std::net::SocketAddr;

/// The phone makers hotline writes files for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Vendor {
    /// Yealink T4x/T5x: `.cfg`, `key = value` lines.
    Yealink,
    /// Grandstream GXP: `.xml`, P-values in `<gs_provision>`.
    Grandstream,
}

impl Vendor {
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Yealink => "yealink",
            Vendor::Grandstream => "grandstream",
        }
    }

    pub fn from_name(name: &str) -> Option<Vendor> {
        match name {
            "yealink" => Some(Vendor::Yealink),
            "grandstream" => Some(Vendor::Grandstream),
            _ => None,
        }
    }

    /// The file of seat `ext` by extension: `8001.cfg`, `8001.xml`.
    pub fn ext_file(self, ext: &str) -> String {
        match self {
            Vendor::Yealink => format!("{ext}.cfg"),
            Vendor::Grandstream => format!("{ext}.xml"),
        }
    }

    /// The file a phone asks for by its MAC: `001565abcdef.cfg`,
    /// `cfg000b820102ab.xml`.
    pub fn mac_file(self, mac: &str) -> String {
        match self {
            Vendor::Yealink => format!("{mac}.cfg"),
            Vendor::Grandstream => format!("cfg{mac}.xml"),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Vendor::Yealink => "text/plain; charset=utf-8",
            Vendor::Grandstream => "application/xml; charset=utf-8",
        }
    }
}

/// One seat's phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneSeat {
    pub extension: String,
    pub password: String,
    /// Shown on the phone; the extension when the seat has no name.
    pub display_name: String,
    pub class: LineClass,
    /// Normalised: 12 lower-case hex digits.
    pub mac: Option<String>,
}

/// A speed-dial key: label and the number it dials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpeedDial {
    pub label: String,
    pub number: String,
}

/// Everything the files are made of, from the config.
#[derive(Debug, Clone)]
pub struct Provisioning {
    /// The SIP server phones register with: host and port.
    pub server: String,
    pub port: u16,
    pub transport: PhoneTransport,
    /// Registration expiry written into the files, seconds.
    pub expires: u32,
    /// Feature-code keys, in order.
    pub features: Vec<SpeedDial>,
    /// BLF keys per phone, at most.
    pub blf_keys: usize,
    /// Seats in config order.
    seats: Vec<PhoneSeat>,
    by_mac: HashMap<String, usize>,
}

impl Provisioning {
    /// From a validated config; `bound` are the addresses the SIP
    /// listeners actually bound (the config's when `None`).
    pub fn from_config(c: &Config, bound: Option<&HashMap<(Side, Proto), SocketAddr>>) -> Self {
        let p = c.provisioning.as_ref();
        let transport = p.map(|p| p.transport).unwrap_or_default();
        let (proto, listen) = match transport {
            PhoneTransport::Udp => (Proto::Udp, c.sip.phones.udp),
            PhoneTransport::Tcp => (Proto::Tcp, c.sip.phones.tcp),
        };
        let listen = bound
            .and_then(|b| b.get(&(Side::Phones, proto)).copied())
            .or(listen)
            .or(c.sip.phones.udp)
            .or(c.sip.phones.tcp)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5060)));
        let server = match (p.and_then(|p| p.sip_server.clone()), c.server.advertise) {
            (Some(host), _) => host,
            (None, Some(ip)) if listen.ip().is_unspecified() => ip.to_string(),
            (None, _) => listen.ip().to_string(),
        };
        let fc = &c.feature_codes;
        let features = [
            ("Login", &fc.login),
            ("Logout", &fc.logout),
            ("Ready", &fc.ready),
            ("Not ready", &fc.not_ready),
        ]
        .into_iter()
        .map(|(label, number)| SpeedDial {
            label: label.into(),
            number: number.clone(),
        })
        .collect();
        let classes = c.seat_classes();
        let seats: Vec<PhoneSeat> = c
            .all_seats()
            .into_iter()
            .map(|s| PhoneSeat {
                class: classes.get(&s.extension).copied().unwrap_or_default(),
                display_name: s.name.clone().unwrap_or_else(|| s.extension.clone()),
                mac: s.mac.as_deref().and_then(normalize_mac),
                extension: s.extension,
                password: s.password,
            })
            .collect();
        let by_mac = seats
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((s.mac.clone()?, i)))
            .collect();
        Provisioning {
            server,
            port: listen.port(),
            transport,
            expires: c.sip.phones.default_expires(),
            features,
            blf_keys: p.map_or(30, |p| p.blf_keys),
            seats,
            by_mac,
        }
    }

    pub fn seats(&self) -> &[PhoneSeat] {
        &self.seats
    }

    pub fn seat(&self, ext: &str) -> Option<&PhoneSeat> {
        self.seats.iter().find(|s| s.extension == ext)
    }

    /// The seats `seat`'s BLF keys watch: the others of its class, in
    /// config order, at most `blf_keys`.
    pub fn watched(&self, seat: &PhoneSeat) -> Vec<&PhoneSeat> {
        self.seats
            .iter()
            .filter(|s| s.class == seat.class && s.extension != seat.extension)
            .take(self.blf_keys)
            .collect()
    }

    /// Seat `ext`'s file for `vendor`.
    pub fn render(&self, vendor: Vendor, ext: &str) -> Option<String> {
        let seat = self.seat(ext)?;
        Some(match vendor {
            Vendor::Yealink => yealink::render(self, seat),
            Vendor::Grandstream => grandstream::render(self, seat),
        })
    }

    /// The seat and vendor of a file a phone asks for by MAC
    /// (`001565abcdef.cfg`, `cfg000b820102ab.xml`, any case).
    pub fn by_mac_file(&self, name: &str) -> Option<(Vendor, &PhoneSeat)> {
        let name = name.to_ascii_lowercase();
        let (vendor, mac) = if let Some(mac) = name.strip_suffix(".cfg") {
            (Vendor::Yealink, mac)
        } else {
            let mac = name.strip_prefix("cfg")?.strip_suffix(".xml")?;
            (Vendor::Grandstream, mac)
        };
        let mac = normalize_mac(mac).filter(|m| m == mac)?;
        let seat = &self.seats[*self.by_mac.get(&mac)?];
        Some((vendor, seat))
    }

    /// `transport` as the files name it.
    pub fn transport_name(&self) -> &'static str {
        match self.transport {
            PhoneTransport::Udp => "udp",
            PhoneTransport::Tcp => "tcp",
        }
    }
}

/// Text made safe for XML content: markup characters escaped, control
/// characters dropped.
pub(crate) fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Text safe on one line of a phone's file: no control characters.
pub(crate) fn one_line(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// `hotline provision`: writes every seat's file for `vendor` into `out`
/// (by extension, and by MAC for seats with one); `progress` hears of
/// each file. Returns the files written.
pub fn write_all(
    p: &Provisioning,
    vendor: Vendor,
    out: &std::path::Path,
    mut progress: impl FnMut(usize, usize, &PhoneSeat, &std::path::Path),
) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(out)?;
    let mut written = Vec::new();
    let total = p.seats.len();
    for (i, seat) in p.seats.iter().enumerate() {
        let text = p
            .render(vendor, &seat.extension)
            .expect("a seat of the list renders");
        let mut names = vec![vendor.ext_file(&seat.extension)];
        names.extend(seat.mac.as_deref().map(|m| vendor.mac_file(m)));
        for name in names {
            let path = out.join(name);
            write_private(&path, &text)?;
            progress(i + 1, total, seat, &path);
            written.push(path);
        }
    }
    Ok(written)
}

/// Writes a file only its owner may read (it holds a SIP password).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)?.write_all(text.as_bytes())
}
