//! Turns a validated [`Config`] into the small typed configs the cores
//! take: the engine's (lines, seats, feature codes, registrar, digest
//! auth) and the ACD's (queues, seats with penalties).

use super::{Config, FallbackName, QueueConfig as FileQueue, StrategyName};
use crate::acd::{AcdConfig, Fallback, QueueConfig, SeatConfig, Strategy};
use crate::b2bua::{EngineConfig, FeatureCode, Line, SeatCredentials};
use crate::sip::auth::{Algorithm, DigestAuthConfig};
use crate::sip::registrar::RegistrarConfig;
use crate::sip::transaction::TimerConfig;
use crate::sip::{Proto, Side};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// The engine config; `bound` holds the addresses actually bound (which
/// differ from the file when it asks for port 0).
pub fn engine_config(
    c: &Config,
    bound: &HashMap<(Side, Proto), SocketAddr>,
) -> Result<EngineConfig, String> {
    let local = bound
        .iter()
        .map(|(k, addr)| {
            let ip = match c.server.advertise {
                Some(ip) if addr.ip().is_unspecified() => ip,
                _ => addr.ip(),
            };
            (*k, SocketAddr::new(ip, addr.port()))
        })
        .collect();
    let fc = &c.feature_codes;
    Ok(EngineConfig {
        name: c.server.name.clone(),
        local,
        trunk_allow: c.sip.trunk.allow.clone(),
        lines: c
            .lines
            .iter()
            .map(|l| {
                let line = Line {
                    number: l.number.clone(),
                    queue: l.queue.clone(),
                    class: l.class,
                    tag: l.tag.clone(),
                };
                (l.number.clone(), line)
            })
            .collect(),
        seats: c
            .all_seats()
            .into_iter()
            .map(|s| {
                (
                    s.extension,
                    SeatCredentials {
                        password: s.password,
                    },
                )
            })
            .collect(),
        feature_codes: vec![
            (fc.login.clone(), FeatureCode::Login),
            (fc.logout.clone(), FeatureCode::Logout),
            (fc.ready.clone(), FeatureCode::Ready),
            (fc.not_ready.clone(), FeatureCode::NotReady),
        ],
        not_ready_reasons: c.not_ready_reasons.clone().into_iter().collect(),
        auto_ready: c.sip.phones.auto_ready,
        registrar: RegistrarConfig {
            min_expires: c.sip.phones.min_expires,
            max_expires: c.sip.phones.max_expires,
            default_expires: c.sip.phones.default_expires(),
        },
        auth: DigestAuthConfig {
            realm: c.sip.phones.realm.clone(),
            nonce_ttl: Duration::from_secs(c.sip.phones.nonce_ttl_secs),
            algorithms: c
                .sip
                .phones
                .auth_algorithms
                .iter()
                .filter_map(|a| Algorithm::from_token(a))
                .collect(),
        },
        acd: acd_config(c),
        reject_codes: c
            .queues
            .iter()
            .map(|q| (q.name.clone(), q.reject_code))
            .collect(),
        timers: TimerConfig::default(),
        media: media_settings(c)?,
        outbound: outbound(c),
        capacity: c.capacity.as_ref().map(|k| crate::b2bua::Capacity {
            max_calls: k.max_calls as usize,
            reserved_emergency: k.reserved_emergency as usize,
        }),
    })
}

/// The engine's callback settings, with every seat's patterns compiled
/// (validation has checked that they compile); `None` without `[outbound]`.
pub fn outbound(c: &Config) -> Option<crate::b2bua::Outbound> {
    use crate::b2bua::{Outbound, SeatOutbound};
    let o = c.outbound.as_ref()?;
    let compiled: HashMap<&str, regex::Regex> = o
        .patterns
        .iter()
        .filter_map(|(name, p)| {
            Some((
                name.as_str(),
                regex::Regex::new(&super::validate::anchored(p)).ok()?,
            ))
        })
        .collect();
    let classes = c.seat_classes();
    let seats = c
        .all_seats()
        .into_iter()
        .map(|s| {
            let names = s.outbound.as_ref().unwrap_or(&o.default_allow);
            let allowed = names
                .iter()
                .filter_map(|n| Some((n.clone(), compiled.get(n.as_str())?.clone())))
                .collect();
            let class = classes.get(&s.extension).copied().unwrap_or_default();
            (s.extension, SeatOutbound { class, allowed })
        })
        .collect();
    Some(Outbound {
        trunk: o.trunk,
        prefix: o.prefix.clone(),
        caller_id: o.caller_id.clone(),
        ring_timeout: Duration::from_secs(o.ring_timeout_secs),
        seats,
    })
}

pub fn acd_config(c: &Config) -> AcdConfig {
    AcdConfig {
        queues: c.queues.iter().map(queue).collect(),
        seats: c
            .all_seats()
            .into_iter()
            .map(|s| SeatConfig {
                extension: s.extension,
                queues: s.queues.into_iter().map(|m| (m.queue, m.penalty)).collect(),
            })
            .collect(),
    }
}

fn queue(q: &FileQueue) -> QueueConfig {
    let fallback = |f: FallbackName| match f {
        FallbackName::Wait => Fallback::Wait,
        FallbackName::Overflow => Fallback::Overflow(q.overflow_queue.clone().unwrap_or_default()),
        FallbackName::Reject => Fallback::Reject(q.reject_reason.clone()),
    };
    QueueConfig {
        name: q.name.clone(),
        strategy: match q.strategy {
            StrategyName::LongestIdle => Strategy::LongestIdle,
            StrategyName::RingAll => Strategy::RingAll,
            StrategyName::RoundRobin => Strategy::RoundRobin,
            StrategyName::FewestCalls => Strategy::FewestCalls,
        },
        ring_timeout: Duration::from_secs(q.ring_timeout_secs),
        retry: Duration::from_secs(q.retry_secs),
        max_wait: q.max_wait_secs.map(Duration::from_secs),
        when_no_agents: fallback(q.when_no_agents),
        when_timeout: fallback(q.when_timeout),
        wrapup: Duration::from_secs(q.wrapup_secs),
        no_answer_not_ready: q.no_answer_not_ready,
        priority: q.priority,
        class: q.class,
    }
}

/// The engine's media settings, with every prompt loaded; `None` without
/// `[media]`.
pub fn media_settings(
    c: &Config,
) -> Result<Option<std::sync::Arc<crate::b2bua::MediaSettings>>, String> {
    use crate::b2bua::{Announcements, LineMedia, MediaSettings, QueueMedia};
    use crate::media::player::load_clip;
    let Some(m) = &c.media else { return Ok(None) };
    let load = |path: &std::path::Path| load_clip(path).map_err(|e| e.to_string());
    let mut lines = HashMap::new();
    for line in &c.lines {
        lines.insert(
            line.number.clone(),
            LineMedia {
                welcome: load(&c.welcome_prompt(line))?,
                survey: line.survey,
            },
        );
    }
    let mut queues = HashMap::new();
    for q in &c.queues {
        let announce = (q.announce_every_secs > 0 && (q.announce_position || q.announce_wait))
            .then(|| Duration::from_secs(q.announce_every_secs));
        let media = QueueMedia {
            music: load(&c.music_prompt(q))?,
            reject_prompt: c.reject_prompt(q).map(|p| load(&p)).transpose()?,
            announce_every: announce,
            announce_position: q.announce_position,
            announce_wait: q.announce_wait,
            record_wait: q.record_wait,
            wrapup: Duration::from_secs(q.wrapup_secs),
        };
        queues.insert(q.name.clone(), media);
    }
    let announcements = if queues.values().any(|q| q.announce_every.is_some()) {
        let clips = c
            .announcement_prompts()
            .iter()
            .map(|p| load(p))
            .collect::<Result<Vec<_>, _>>()?;
        let (position, wait) = clips.split_at(11);
        Some(Announcements {
            position: position.to_vec(),
            wait: wait.to_vec(),
        })
    } else {
        None
    };
    let survey = if c.lines.iter().any(|l| l.survey) {
        let [survey, thanks] = c.survey_prompts();
        Some((load(&survey)?, load(&thanks)?))
    } else {
        None
    };
    Ok(Some(std::sync::Arc::new(MediaSettings {
        ports: (m.rtp_port_min, m.rtp_port_max),
        codecs: m
            .codecs
            .iter()
            .filter_map(|n| crate::media::codec::Codec::from_name(n))
            .collect(),
        lines,
        queues,
        announcements,
        survey,
        survey_timeout: Duration::from_secs(m.survey_timeout_secs),
        rtp_timeout: (m.rtp_timeout_secs > 0).then(|| Duration::from_secs(m.rtp_timeout_secs)),
        recordings: c.recordings.clone(),
    })))
}

/// The settings reports are computed with: `[reports]`, the queues' own
/// service levels and each seat's class ([`Config::seat_classes`]).
pub fn report_settings(c: &Config) -> crate::reports::ReportSettings {
    crate::reports::ReportSettings {
        // Validated: the fallback never applies.
        tz: crate::reports::Tz::parse(&c.reports.timezone).unwrap_or(crate::reports::Tz::CHINA),
        short_abandon_ms: (c.reports.short_abandon_secs * 1000) as i64,
        service_level_ms: (c.reports.service_level_secs * 1000) as i64,
        queue_service_level_ms: c
            .queues
            .iter()
            .filter_map(|q| {
                q.service_level_secs
                    .map(|s| (q.name.clone(), (s * 1000) as i64))
            })
            .collect(),
        seat_class: c.seat_classes().into_iter().collect(),
    }
}
