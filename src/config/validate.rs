//! Cross-field validation of a parsed config. Each refusal names the key
//! (as a dotted path) and the reason; [`super::Config::from_str_at`] adds
//! the file.

use super::file::*;
use std::collections::{HashMap, HashSet};

type Refusal = (String, String);

impl Config {
    /// Every seat: the `[[seats]]` entries followed by the expanded
    /// `[[seat_ranges]]`, in order.
    pub fn all_seats(&self) -> Vec<SeatConfig> {
        let mut seats = self.seats.clone();
        for range in &self.seat_ranges {
            for ext in range.from..=range.to {
                let ext = ext.to_string();
                seats.push(SeatConfig {
                    password: range.password.replace("{ext}", &ext),
                    extension: ext,
                    name: None,
                    queues: range.queues.clone(),
                    outbound: range.outbound.clone(),
                    mac: None,
                });
            }
        }
        seats
    }

    /// Each seat's class: emergency if it serves an emergency queue (the
    /// rule the ACD's live view uses too). Its callbacks, its ready and
    /// not-ready time in reports, and the tokens that see it follow it.
    pub fn seat_classes(&self) -> HashMap<String, crate::model::LineClass> {
        let emergency: HashSet<&str> = self
            .queues
            .iter()
            .filter(|q| q.class == crate::model::LineClass::Emergency)
            .map(|q| q.name.as_str())
            .collect();
        self.all_seats()
            .into_iter()
            .map(|s| {
                let class = if s
                    .queues
                    .iter()
                    .any(|m| emergency.contains(m.queue.as_str()))
                {
                    crate::model::LineClass::Emergency
                } else {
                    crate::model::LineClass::NonEmergency
                };
                (s.extension, class)
            })
            .collect()
    }

    pub(super) fn validate(&self) -> Result<(), Refusal> {
        let refuse = |key: String, reason: String| Err((key, reason));
        let phones = &self.sip.phones;
        let trunk = &self.sip.trunk;
        if phones.udp.is_none() && phones.tcp.is_none() {
            return refuse(
                "sip.phones".into(),
                "needs a udp or a tcp listen address".into(),
            );
        }
        if phones.auth_algorithms.is_empty() {
            return refuse(
                "sip.phones.auth_algorithms".into(),
                "needs at least one of \"MD5\", \"SHA-256\"".into(),
            );
        }
        for (i, a) in phones.auth_algorithms.iter().enumerate() {
            if !matches!(a.as_str(), "MD5" | "SHA-256") {
                return refuse(
                    format!("sip.phones.auth_algorithms[{i}]"),
                    format!("{a:?} is not \"MD5\" or \"SHA-256\""),
                );
            }
        }
        if trunk.udp.is_none() && trunk.tcp.is_none() {
            return refuse(
                "sip.trunk".into(),
                "needs a udp or a tcp listen address".into(),
            );
        }
        for (key, p, t) in [
            ("udp", phones.udp, trunk.udp),
            ("tcp", phones.tcp, trunk.tcp),
        ] {
            if let (Some(p), Some(t)) = (p, t)
                && p.port() == t.port()
                && (p.ip() == t.ip() || p.ip().is_unspecified() || t.ip().is_unspecified())
            {
                return refuse(
                    format!("sip.trunk.{key}"),
                    format!(
                        "{t} collides with sip.phones.{key} {p}; give the trunk side its own port"
                    ),
                );
            }
        }
        if phones.min_expires == 0 || phones.min_expires > phones.max_expires {
            return refuse(
                "sip.phones.min_expires".into(),
                format!("must be between 1 and max_expires ({})", phones.max_expires),
            );
        }
        if !(phones.min_expires..=phones.max_expires).contains(&phones.default_expires()) {
            return refuse(
                "sip.phones.default_expires".into(),
                "must lie between min_expires and max_expires".into(),
            );
        }
        let advertised = self.server.advertise.is_some();
        for (key, addr) in [
            ("sip.phones.udp", phones.udp),
            ("sip.phones.tcp", phones.tcp),
            ("sip.trunk.udp", trunk.udp),
            ("sip.trunk.tcp", trunk.tcp),
        ] {
            if let Some(a) = addr
                && a.ip().is_unspecified()
                && !advertised
            {
                return refuse(
                    "server.advertise".into(),
                    format!(
                        "is required when a SIP listener is a wildcard address ({key} = {a}): set the address phones and the trunk reach hotline at"
                    ),
                );
            }
        }
        if phones.nonce_ttl_secs < 10 {
            return refuse(
                "sip.phones.nonce_ttl_secs".into(),
                "must be at least 10".into(),
            );
        }
        if trunk.allow.is_empty() {
            return refuse(
                "sip.trunk.allow".into(),
                "is empty: no trunk could reach hotline; list the carrier's addresses".into(),
            );
        }
        let url = &self.store.url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return refuse(
                "store.url".into(),
                format!("{url:?} is neither sqlite://FILE nor postgres://..."),
            );
        }
        if self.store.buffer < 1000 {
            return refuse(
                "store.buffer".into(),
                format!(
                    "{} is too small: records and events wait here while the database is away; use at least 1000",
                    self.store.buffer
                ),
            );
        }
        self.validate_media()?;
        self.validate_reports()?;
        self.validate_tickets()?;
        self.validate_http()?;
        self.validate_feature_codes()?;
        self.validate_queues()?;
        self.validate_lines()?;
        self.validate_seats()?;
        self.validate_outbound()?;
        self.validate_provisioning()?;
        self.validate_capacity()
    }

    /// `[capacity]`: a reserve within the total, and (with `[media]`)
    /// enough RTP ports for the total: two legs per call.
    fn validate_capacity(&self) -> Result<(), Refusal> {
        let Some(c) = &self.capacity else {
            return Ok(());
        };
        if c.max_calls == 0 {
            return Err(("capacity.max_calls".into(), "must be at least 1".into()));
        }
        if c.reserved_emergency > c.max_calls {
            return Err((
                "capacity.reserved_emergency".into(),
                format!(
                    "{} is more than max_calls ({})",
                    c.reserved_emergency, c.max_calls
                ),
            ));
        }
        if let Some(m) = &self.media {
            let legs =
                crate::media::ports::PortPool::new(m.rtp_port_min, m.rtp_port_max).capacity();
            if (c.max_calls as usize) * 2 > legs {
                return Err((
                    "capacity.max_calls".into(),
                    format!(
                        "{} calls need {} RTP ports (two legs each, RTP and RTCP), but [media] rtp_port_min..rtp_port_max holds {} legs: widen the range or lower max_calls",
                        c.max_calls,
                        c.max_calls * 4,
                        legs
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `[outbound]`: the prefix cannot be confused with a feature code,
    /// every pattern compiles, every pattern named (by default or by a
    /// seat) exists.
    fn validate_outbound(&self) -> Result<(), Refusal> {
        // Without [outbound] the seats' lists mean nothing yet (callbacks
        // are off); they are checked once the section is there.
        let Some(o) = &self.outbound else {
            return Ok(());
        };
        let named = |key: &str, names: &[String]| -> Result<(), Refusal> {
            for (j, n) in names.iter().enumerate() {
                if !o.patterns.contains_key(n) {
                    let known: Vec<&str> = o.patterns.keys().map(String::as_str).collect();
                    return Err((
                        format!("{key}[{j}]"),
                        format!("no pattern {n:?} in [outbound.patterns] (there: {known:?})"),
                    ));
                }
            }
            Ok(())
        };
        for (i, s) in self.seats.iter().enumerate() {
            if let Some(names) = &s.outbound {
                named(&format!("seats[{i}].outbound"), names)?;
            }
        }
        for (i, r) in self.seat_ranges.iter().enumerate() {
            if let Some(names) = &r.outbound {
                named(&format!("seat_ranges[{i}].outbound"), names)?;
            }
        }
        if self.media.is_none() {
            return Err((
                "outbound".into(),
                "needs [media]: callbacks are anchored and recorded like every call".into(),
            ));
        }
        if o.prefix.is_empty()
            || !o
                .prefix
                .chars()
                .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
        {
            return Err((
                "outbound.prefix".into(),
                format!("{:?} must be digits (or * and #), e.g. \"9\"", o.prefix),
            ));
        }
        let fc = &self.feature_codes;
        for (name, code) in [
            ("login", &fc.login),
            ("logout", &fc.logout),
            ("ready", &fc.ready),
            ("not_ready", &fc.not_ready),
        ] {
            if code.starts_with(&o.prefix) || o.prefix.starts_with(code.as_str()) {
                return Err((
                    "outbound.prefix".into(),
                    format!("{:?} overlaps feature_codes.{name} {code:?}", o.prefix),
                ));
            }
        }
        if o.caller_id.is_empty()
            || !o
                .caller_id
                .trim_start_matches('+')
                .chars()
                .all(|c| c.is_ascii_digit())
        {
            return Err((
                "outbound.caller_id".into(),
                format!(
                    "{:?} must be a number (digits, an optional leading +)",
                    o.caller_id
                ),
            ));
        }
        if o.ring_timeout_secs == 0 {
            return Err((
                "outbound.ring_timeout_secs".into(),
                "must be at least 1".into(),
            ));
        }
        for (name, pattern) in &o.patterns {
            if let Err(e) = regex::Regex::new(&anchored(pattern)) {
                let why = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                return Err((
                    format!("outbound.patterns.{name}"),
                    format!("{pattern:?} is not a valid regular expression: {why}"),
                ));
            }
        }
        named("outbound.default_allow", &o.default_allow)
    }

    fn validate_reports(&self) -> Result<(), Refusal> {
        let r = &self.reports;
        if let Err(reason) = crate::reports::Tz::parse(&r.timezone) {
            return Err((
                "reports.timezone".into(),
                format!("{reason}: the center's fixed UTC offset, e.g. \"+08:00\""),
            ));
        }
        if r.short_abandon_secs > 60 {
            return Err((
                "reports.short_abandon_secs".into(),
                format!(
                    "{} is too long: a short abandon is a hang-up within seconds (default 5, at most 60)",
                    r.short_abandon_secs
                ),
            ));
        }
        let sl = |key: String, secs: u64| -> Result<(), Refusal> {
            if !(1..=3600).contains(&secs) {
                return Err((key, format!("{secs} is not between 1 and 3600 seconds")));
            }
            Ok(())
        };
        sl("reports.service_level_secs".into(), r.service_level_secs)?;
        for (i, q) in self.queues.iter().enumerate() {
            if let Some(secs) = q.service_level_secs {
                sl(format!("queues[{i}].service_level_secs"), secs)?;
            }
        }
        Ok(())
    }

    fn validate_http(&self) -> Result<(), Refusal> {
        let mut seen = HashSet::new();
        for (i, t) in self.http.tokens.iter().enumerate() {
            if t.token.len() < 16 {
                return Err((
                    format!("http.tokens[{i}].token"),
                    "must be at least 16 characters".into(),
                ));
            }
            if !seen.insert(t.token.as_str()) {
                return Err((
                    format!("http.tokens[{i}].token"),
                    "is the same as an earlier token's".into(),
                ));
            }
            if t.name.is_empty() || t.access.is_empty() {
                return Err((
                    format!("http.tokens[{i}]"),
                    "needs a name and at least one access (read, recordings, write)".into(),
                ));
            }
        }
        if !self.http.anonymous.is_empty() && self.http.tokens.is_empty() {
            return Err((
                "http.anonymous".into(),
                "only means something with http.tokens (without tokens the API is open)".into(),
            ));
        }
        if self.http.anonymous.iter().any(|a| *a != Access::Read) {
            return Err((
                "http.anonymous".into(),
                "may only be [] or [\"read\"]: recordings and changes always need a token".into(),
            ));
        }
        if let Some(s) = &self.http.link_secret
            && s.len() < 16
        {
            return Err((
                "http.link_secret".into(),
                "must be at least 16 characters".into(),
            ));
        }
        Ok(())
    }

    fn validate_tickets(&self) -> Result<(), Refusal> {
        if let Some(t) = &self.tickets {
            Self::validate_ticket_sink("tickets", t)?;
        }
        if let Some(e) = &self.emergency_tickets {
            Self::validate_ticket_sink("emergency_tickets", e)?;
            if self.tickets.as_ref().is_some_and(|t| t.url == e.url) {
                return Err((
                    "emergency_tickets.url".into(),
                    "is [tickets] url: emergency calls' events must not reach the 12345 ticket system; give them their own receiver, or leave [emergency_tickets] out".into(),
                ));
            }
        }
        Ok(())
    }

    /// A `[tickets]`-shaped section under `key`.
    fn validate_ticket_sink(key: &str, t: &TicketsConfig) -> Result<(), Refusal> {
        let http = |u: &str| {
            (u.starts_with("http://") || u.starts_with("https://")) && u.len() > "https://".len()
        };
        if !http(&t.url) {
            return Err((
                format!("{key}.url"),
                format!("{:?} is not an http:// or https:// URL", t.url),
            ));
        }
        if t.secret.len() < 16 {
            return Err((
                format!("{key}.secret"),
                "must be at least 16 characters (the receiver checks the signature with it)".into(),
            ));
        }
        if t.max_attempts == 0 {
            return Err((format!("{key}.max_attempts"), "must be at least 1".into()));
        }
        if t.timeout_secs == 0 {
            return Err((format!("{key}.timeout_secs"), "must be at least 1".into()));
        }
        if t.retry_min_secs == 0 || t.retry_min_secs > t.retry_max_secs {
            return Err((
                format!("{key}.retry_min_secs"),
                "must be at least 1 and at most retry_max_secs".into(),
            ));
        }
        if let Some(u) = &t.public_url
            && !http(u)
        {
            return Err((
                format!("{key}.public_url"),
                format!("{u:?} is not an http:// or https:// URL"),
            ));
        }
        Ok(())
    }

    fn validate_media(&self) -> Result<(), Refusal> {
        let Some(m) = &self.media else { return Ok(()) };
        if m.rtp_port_min < 1024 || m.rtp_port_max < m.rtp_port_min.saturating_add(3) {
            return Err((
                "media.rtp_port_max".into(),
                format!(
                    "the range {}..={} must start at 1024 or above and hold at least two RTP ports",
                    m.rtp_port_min, m.rtp_port_max
                ),
            ));
        }
        if m.rtp_threads > MediaConfig::MAX_RTP_THREADS {
            return Err((
                "media.rtp_threads".into(),
                format!(
                    "{} threads: at most {} (0: one per core)",
                    m.rtp_threads,
                    MediaConfig::MAX_RTP_THREADS
                ),
            ));
        }
        if m.codecs.is_empty() {
            return Err((
                "media.codecs".into(),
                "needs at least one of \"PCMA\", \"PCMU\"".into(),
            ));
        }
        for (i, c) in m.codecs.iter().enumerate() {
            if crate::media::codec::Codec::from_name(c).is_none() {
                return Err((
                    format!("media.codecs[{i}]"),
                    format!("{c:?} is not \"PCMA\" or \"PCMU\""),
                ));
            }
        }
        for (i, line) in self.lines.iter().enumerate() {
            let path = self.welcome_prompt(line);
            check_prompt(&path).map_err(|why| (format!("lines[{i}].welcome"), why))?;
        }
        for (i, queue) in self.queues.iter().enumerate() {
            let path = self.music_prompt(queue);
            check_prompt(&path).map_err(|why| (format!("queues[{i}].music"), why))?;
            if let Some(path) = self.reject_prompt(queue) {
                check_prompt(&path).map_err(|why| (format!("queues[{i}].reject_prompt"), why))?;
            }
        }
        let announcing = self
            .queues
            .iter()
            .position(|q| q.announce_every_secs > 0 && (q.announce_position || q.announce_wait));
        if let Some(i) = announcing {
            for path in self.announcement_prompts() {
                check_prompt(&path).map_err(|why| {
                    (format!("queues[{i}].announce_every_secs"), format!("announcements need {why} (set announce_every_secs = 0 to turn them off)"))
                })?;
            }
        }
        if let Some(i) = self.lines.iter().position(|l| l.survey) {
            for path in self.survey_prompts() {
                check_prompt(&path).map_err(|why| {
                    (
                        format!("lines[{i}].survey"),
                        format!("the survey needs {why}"),
                    )
                })?;
            }
        }
        Ok(())
    }

    /// A prompt of the configured language: `<prompts_dir>/<language>/<name>.wav`.
    fn language_prompt(&self, name: &str) -> std::path::PathBuf {
        let m = self.media.as_ref();
        let dir = m.map(|m| m.prompts_dir.clone()).unwrap_or_default();
        let lang = m.map(|m| m.language.as_str()).unwrap_or("zh");
        dir.join(lang).join(format!("{name}.wav"))
    }

    /// `position-1` .. `position-10`, `position-many`, then `wait-1` ..
    /// `wait-10`, `wait-many` (see config/prompts/README.md).
    pub fn announcement_prompts(&self) -> Vec<std::path::PathBuf> {
        let mut names = Vec::new();
        for kind in ["position", "wait"] {
            names.extend((1..=10).map(|n| format!("{kind}-{n}")));
            names.push(format!("{kind}-many"));
        }
        names.iter().map(|n| self.language_prompt(n)).collect()
    }

    /// `survey` then `thanks`.
    pub fn survey_prompts(&self) -> [std::path::PathBuf; 2] {
        [
            self.language_prompt("survey"),
            self.language_prompt("thanks"),
        ]
    }

    /// The welcome prompt of a line (with [media]).
    pub fn welcome_prompt(&self, line: &LineConfig) -> std::path::PathBuf {
        let m = self.media.as_ref();
        let dir = m.map(|m| m.prompts_dir.clone()).unwrap_or_default();
        let lang = m.map(|m| m.language.as_str()).unwrap_or("zh");
        dir.join(
            line.welcome
                .clone()
                .unwrap_or_else(|| format!("{lang}/welcome.wav").into()),
        )
    }

    /// What a caller hears before the queue refuses the call: `None` when
    /// the queue never refuses.
    pub fn reject_prompt(&self, queue: &QueueConfig) -> Option<std::path::PathBuf> {
        let rejects = queue.when_no_agents == FallbackName::Reject
            || queue.when_timeout == FallbackName::Reject;
        rejects.then(|| match &queue.reject_prompt {
            Some(p) => self
                .media
                .as_ref()
                .map(|m| m.prompts_dir.clone())
                .unwrap_or_default()
                .join(p),
            None => self.language_prompt("busy"),
        })
    }

    /// The music of a queue (with [media]).
    pub fn music_prompt(&self, queue: &QueueConfig) -> std::path::PathBuf {
        let dir = self
            .media
            .as_ref()
            .map(|m| m.prompts_dir.clone())
            .unwrap_or_default();
        dir.join(
            queue
                .music
                .clone()
                .unwrap_or_else(|| "music/hold.wav".into()),
        )
    }

    fn validate_feature_codes(&self) -> Result<(), Refusal> {
        let fc = &self.feature_codes;
        let mut seen = HashSet::new();
        for (key, code) in [
            ("login", &fc.login),
            ("logout", &fc.logout),
            ("ready", &fc.ready),
            ("not_ready", &fc.not_ready),
        ] {
            if code.is_empty()
                || !code
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
            {
                return Err((
                    format!("feature_codes.{key}"),
                    format!("{code:?} must be digits, * and # only"),
                ));
            }
            if !seen.insert(code.as_str()) {
                return Err((
                    format!("feature_codes.{key}"),
                    format!("{code:?} is used twice"),
                ));
            }
        }
        // Not-ready takes a reason digit after its code: another code
        // beginning with it could not be told apart.
        for (key, code) in [
            ("login", &fc.login),
            ("logout", &fc.logout),
            ("ready", &fc.ready),
        ] {
            if code.starts_with(fc.not_ready.as_str()) {
                return Err((
                    format!("feature_codes.{key}"),
                    format!(
                        "{code:?} begins with the not_ready code {:?} (which takes a reason digit after it)",
                        fc.not_ready
                    ),
                ));
            }
        }
        for (digit, name) in &self.not_ready_reasons {
            if digit.is_empty() || !digit.chars().all(|c| c.is_ascii_digit()) || name.is_empty() {
                return Err((
                    format!("not_ready_reasons.{digit}"),
                    "keys must be digits and names non-empty".into(),
                ));
            }
        }
        Ok(())
    }

    fn validate_queues(&self) -> Result<(), Refusal> {
        let mut names = HashSet::new();
        for (i, q) in self.queues.iter().enumerate() {
            let key = |k: &str| format!("queues[{i}].{k}");
            if q.name.is_empty() || !names.insert(q.name.as_str()) {
                return Err((key("name"), format!("{:?} is empty or used twice", q.name)));
            }
            if q.ring_timeout_secs == 0 {
                return Err((key("ring_timeout_secs"), "must be at least 1".into()));
            }
            if q.max_wait_secs == Some(0) {
                return Err((
                    key("max_wait_secs"),
                    "must be at least 1 (omit it for no limit)".into(),
                ));
            }
            if !(400..=699).contains(&q.reject_code) {
                return Err((
                    key("reject_code"),
                    format!("{} is not a SIP failure code (400-699)", q.reject_code),
                ));
            }
            let wants_overflow = q.when_no_agents == FallbackName::Overflow
                || q.when_timeout == FallbackName::Overflow;
            match (&q.overflow_queue, wants_overflow) {
                (None, true) => {
                    return Err((
                        key("overflow_queue"),
                        "is required when a fallback is \"overflow\"".into(),
                    ));
                }
                (Some(target), _) => {
                    let Some(t) = self.queues.iter().find(|o| &o.name == target) else {
                        return Err((key("overflow_queue"), format!("no queue named {target:?}")));
                    };
                    if t.name == q.name {
                        return Err((
                            key("overflow_queue"),
                            "a queue cannot overflow into itself".into(),
                        ));
                    }
                    if t.class != q.class {
                        return Err((
                            key("overflow_queue"),
                            format!("{target:?} is {} but this queue is {}", t.class, q.class),
                        ));
                    }
                }
                (None, false) => {}
            }
        }
        Ok(())
    }

    fn validate_lines(&self) -> Result<(), Refusal> {
        let mut numbers = HashSet::new();
        for (i, line) in self.lines.iter().enumerate() {
            let key = |k: &str| format!("lines[{i}].{k}");
            if line.number.is_empty()
                || !line.number.chars().all(|c| c.is_ascii_digit() || c == '+')
            {
                return Err((key("number"), format!("{:?} must be digits", line.number)));
            }
            if !numbers.insert(line.number.as_str()) {
                return Err((key("number"), format!("{:?} is listed twice", line.number)));
            }
            let Some(queue) = self.queues.iter().find(|q| q.name == line.queue) else {
                return Err((key("queue"), format!("no queue named {:?}", line.queue)));
            };
            if queue.class != line.class {
                return Err((
                    key("class"),
                    format!(
                        "line is {} but queue {:?} is {}",
                        line.class, queue.name, queue.class
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_seats(&self) -> Result<(), Refusal> {
        let queues: HashSet<&str> = self.queues.iter().map(|q| q.name.as_str()).collect();
        let check_queues = |prefix: &str, members: &[QueueMembership]| -> Result<(), Refusal> {
            for (j, m) in members.iter().enumerate() {
                if !queues.contains(m.queue.as_str()) {
                    return Err((
                        format!("{prefix}.queues[{j}].queue"),
                        format!("no queue named {:?}", m.queue),
                    ));
                }
            }
            Ok(())
        };
        let mut owner: HashMap<String, String> = HashMap::new();
        let mut claim = |ext: String, key: String| -> Result<(), Refusal> {
            if let Some(first) = owner.insert(ext.clone(), key.clone()) {
                return Err((
                    key,
                    format!("extension {ext} is already defined by {first}"),
                ));
            }
            Ok(())
        };
        for (i, s) in self.seats.iter().enumerate() {
            let key = format!("seats[{i}]");
            if s.extension.is_empty() || !s.extension.chars().all(|c| c.is_ascii_digit()) {
                return Err((
                    format!("{key}.extension"),
                    format!("{:?} must be digits", s.extension),
                ));
            }
            if s.password.is_empty() {
                return Err((format!("{key}.password"), "must not be empty".into()));
            }
            check_queues(&key, &s.queues)?;
            claim(s.extension.clone(), key)?;
        }
        for (i, r) in self.seat_ranges.iter().enumerate() {
            let key = format!("seat_ranges[{i}]");
            if r.from > r.to || r.to - r.from >= 10_000 {
                return Err((
                    format!("{key}.to"),
                    "must be >= from and span at most 10000 seats".into(),
                ));
            }
            if r.password.is_empty() {
                return Err((format!("{key}.password"), "must not be empty".into()));
            }
            check_queues(&key, &r.queues)?;
            for ext in r.from..=r.to {
                claim(ext.to_string(), key.clone())?;
            }
        }
        if let Some(line) = self.lines.iter().find(|l| owner.contains_key(&l.number)) {
            return Err((
                "lines".into(),
                format!("number {} is also a seat extension", line.number),
            ));
        }
        Ok(())
    }
}

/// A dial pattern matched against the whole number.
pub(crate) fn anchored(pattern: &str) -> String {
    format!("^(?:{pattern})$")
}

/// A prompt must be an 8 kHz mono 16-bit WAV; only its header is read here.
fn check_prompt(path: &std::path::Path) -> Result<(), String> {
    let spec = hound::WavReader::open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .spec();
    if spec.sample_rate != 8000 || spec.channels != 1 || spec.bits_per_sample != 16 {
        return Err(format!(
            "{}: is {} Hz, {} channel(s), {}-bit; prompts must be 8000 Hz mono 16-bit PCM (convert with: sox in.wav -r 8000 -c 1 -b 16 out.wav)",
            path.display(),
            spec.sample_rate,
            spec.channels,
            spec.bits_per_sample
        ));
    }
    Ok(())
}
