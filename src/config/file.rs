//! The config file format: serde structs with their defaults.

use crate::model::LineClass;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    pub sip: SipConfig,
    pub http: HttpConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub recordings: RecordingsConfig,
    /// RTP through hotline: prompts, music, recording. Absent: SDP passes
    /// end to end and hotline never touches audio.
    #[serde(default)]
    pub media: Option<MediaConfig>,
    /// The ticket system (工单) hotline pushes call events to. Absent:
    /// events wait in the outbox (visible through the API) until it is set.
    #[serde(default)]
    pub tickets: Option<TicketsConfig>,
    /// Where the emergency calls' events go (never to `[tickets]`).
    /// Absent: nowhere; they wait in the outbox.
    #[serde(default)]
    pub emergency_tickets: Option<TicketsConfig>,
    /// Calls at once, and the share held back for emergency lines.
    /// Absent: no limit but the media ports.
    #[serde(default)]
    pub capacity: Option<CapacityConfig>,
    /// Outbound callbacks (回访) through the trunk. Absent: seats cannot
    /// dial out.
    #[serde(default)]
    pub outbound: Option<OutboundConfig>,
    /// How reports count (docs/metrics.md): time zone and thresholds.
    #[serde(default)]
    pub reports: ReportsConfig,
    #[serde(default)]
    pub feature_codes: FeatureCodes,
    /// Not-ready reason digit -> reason name.
    #[serde(default = "default_reasons")]
    pub not_ready_reasons: BTreeMap<String, String>,
    #[serde(default)]
    pub lines: Vec<LineConfig>,
    #[serde(default)]
    pub queues: Vec<QueueConfig>,
    #[serde(default)]
    pub seats: Vec<SeatConfig>,
    #[serde(default)]
    pub seat_ranges: Vec<SeatRange>,
    /// Desk-phone provisioning files over HTTP (`/provision/...`).
    /// Absent: not served (`hotline provision` still writes them).
    #[serde(default)]
    pub provisioning: Option<super::provisioning::ProvisioningConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_name")]
    pub name: String,
    /// Address written into Via and Contact when the listen address is a
    /// wildcard (0.0.0.0 or ::). Unset, the wildcard itself is written,
    /// which peers cannot route to: set it whenever a listener is a wildcard.
    #[serde(default)]
    pub advertise: Option<std::net::IpAddr>,
    /// On SIGTERM/SIGINT, how long calls in progress may go on while new
    /// ones get 503 (the trunk fails over); those left are then hung up.
    /// A second signal hangs them up at once. Keep the service manager's
    /// stop timeout above it (deploy/hotline.service).
    #[serde(default = "default_drain_secs")]
    pub drain_secs: u64,
}

fn default_drain_secs() -> u64 {
    120
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            name: default_name(),
            advertise: None,
            drain_secs: default_drain_secs(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    pub phones: PhonesConfig,
    pub trunk: TrunkConfig,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PhonesConfig {
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
    #[serde(default = "default_realm")]
    pub realm: String,
    #[serde(default = "default_min_expires")]
    pub min_expires: u32,
    #[serde(default = "default_max_expires")]
    pub max_expires: u32,
    /// Expiry granted when a REGISTER asks for none; `max_expires` if unset.
    #[serde(default)]
    pub default_expires: Option<u32>,
    #[serde(default = "default_nonce_ttl")]
    pub nonce_ttl_secs: u64,
    /// Digest algorithms offered, most preferred first: "MD5", "SHA-256".
    /// Many desk phones (and SIPp) answer only the first challenge and
    /// only know MD5, hence the default order.
    #[serde(default = "default_auth_algorithms")]
    pub auth_algorithms: Vec<String>,
    #[serde(default)]
    pub auto_ready: bool,
}

impl PhonesConfig {
    /// The expiry granted when a REGISTER asks for none.
    pub fn default_expires(&self) -> u32 {
        self.default_expires.unwrap_or(self.max_expires)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    pub udp: Option<SocketAddr>,
    pub tcp: Option<SocketAddr>,
    /// Networks allowed to send requests to the trunk side.
    pub allow: Vec<ipnet::IpNet>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// API tokens (`Authorization: Bearer <token>`). None: the API is open
    /// to whoever reaches `listen` (hotline warns).
    #[serde(default)]
    pub tokens: Vec<ApiToken>,
    /// What a request without a token may do when tokens are set: none,
    /// or ["read"] (the live and historical views, not recordings).
    #[serde(default)]
    pub anonymous: Vec<Access>,
    /// Signs the recording links in ticket events (`?expires=&sig=`), so
    /// the ticket system can embed them without a token.
    #[serde(default)]
    pub link_secret: Option<String>,
    /// How long a signed recording link works.
    #[serde(default = "default_link_ttl")]
    pub link_ttl_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    /// Who holds it: written to the logs and the recording audit log.
    pub name: String,
    pub token: String,
    /// What it may do.
    pub access: Vec<Access>,
    /// Whose calls it sees: `non_emergency` (12345, the default),
    /// `emergency` (110/119/122) or `admin` (both).
    #[serde(default)]
    pub scope: Scope,
}

/// Which side of the center a token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// 12345 and its merged lines only: any emergency call, recording or
    /// figure answers 403.
    #[default]
    NonEmergency,
    /// 110/119/122 only.
    Emergency,
    /// Both sides (supervisors of the shared center, operators).
    Admin,
}

impl Scope {
    /// Whether this scope sees calls, seats and queues of `class`.
    pub fn sees(self, class: LineClass) -> bool {
        match self {
            Scope::Admin => true,
            Scope::NonEmergency => class == LineClass::NonEmergency,
            Scope::Emergency => class == LineClass::Emergency,
        }
    }

    /// The one class this scope is limited to; `None` for admin.
    pub fn only(self) -> Option<LineClass> {
        match self {
            Scope::Admin => None,
            Scope::NonEmergency => Some(LineClass::NonEmergency),
            Scope::Emergency => Some(LineClass::Emergency),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::NonEmergency => "non_emergency",
            Scope::Emergency => "emergency",
        }
    }
}

/// What an API caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// GET the live and historical views (calls, events, queues, seats, tickets).
    Read,
    /// Download recordings and see their audit log.
    Recordings,
    /// Change things: agent states, ticket links, recording pause, outbox replay.
    Write,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    #[serde(default = "default_store_url")]
    pub url: String,
    /// How many records may wait in memory while the database is away.
    #[serde(default = "default_store_buffer")]
    pub buffer: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: default_store_url(),
            buffer: default_store_buffer(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingsConfig {
    /// Where the 12345 calls' recordings go (and the emergency ones',
    /// without `emergency_root`).
    #[serde(default = "default_recordings_root")]
    pub root: std::path::PathBuf,
    /// Where the emergency calls' recordings go: their own root, e.g.
    /// another disk with its own access rights.
    #[serde(default)]
    pub emergency_root: Option<std::path::PathBuf>,
    /// Days a 12345 recording is kept after its call ended; 0: for ever.
    #[serde(default)]
    pub retention_days: u32,
    /// Days an emergency recording is kept; 0: for ever.
    #[serde(default)]
    pub emergency_retention_days: u32,
}

impl Default for RecordingsConfig {
    fn default() -> Self {
        RecordingsConfig {
            root: default_recordings_root(),
            emergency_root: None,
            retention_days: 0,
            emergency_retention_days: 0,
        }
    }
}

impl RecordingsConfig {
    /// The root recordings of `class` go under (their path on the call
    /// record is relative to it).
    pub fn root_for(&self, class: LineClass) -> &std::path::Path {
        match (class, &self.emergency_root) {
            (LineClass::Emergency, Some(r)) => r,
            _ => &self.root,
        }
    }

    /// Every root, once.
    pub fn roots(&self) -> Vec<std::path::PathBuf> {
        let mut roots = vec![self.root.clone()];
        roots.extend(
            self.emergency_root
                .iter()
                .filter(|r| **r != self.root)
                .cloned(),
        );
        roots
    }

    /// How long recordings of `class` are kept; `None`: for ever.
    pub fn retention(&self, class: LineClass) -> Option<std::time::Duration> {
        let days = match class {
            LineClass::Emergency => self.emergency_retention_days,
            LineClass::NonEmergency => self.retention_days,
        };
        (days > 0).then(|| std::time::Duration::from_secs(u64::from(days) * 86_400))
    }
}

/// `[reports]`: the thresholds and local time of answer-rate reports.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReportsConfig {
    /// The center's UTC offset: where report days and hours begin.
    #[serde(default = "default_report_timezone")]
    pub timezone: String,
    /// A caller who hangs up before this has "short abandoned": counted
    /// apart, and not held against the answer rate.
    #[serde(default = "default_short_abandon")]
    pub short_abandon_secs: u64,
    /// Service level T: answered within this many seconds of the offer.
    /// A queue may set its own (`[[queues]] service_level_secs`).
    #[serde(default = "default_service_level")]
    pub service_level_secs: u64,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            timezone: default_report_timezone(),
            short_abandon_secs: default_short_abandon(),
            service_level_secs: default_service_level(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureCodes {
    #[serde(default = "fc_login")]
    pub login: String,
    #[serde(default = "fc_logout")]
    pub logout: String,
    #[serde(default = "fc_ready")]
    pub ready: String,
    #[serde(default = "fc_not_ready")]
    pub not_ready: String,
}

impl Default for FeatureCodes {
    fn default() -> Self {
        FeatureCodes {
            login: fc_login(),
            logout: fc_logout(),
            ready: fc_ready(),
            not_ready: fc_not_ready(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TicketsConfig {
    /// Where call events are POSTed (http:// or https://).
    pub url: String,
    /// Shared secret of the HMAC-SHA256 signature on every delivery.
    pub secret: String,
    /// One delivery attempt's time limit.
    #[serde(default = "default_ticket_timeout")]
    pub timeout_secs: u64,
    /// Attempts before an event is dead-lettered.
    #[serde(default = "default_ticket_attempts")]
    pub max_attempts: u32,
    /// Wait after the first failure; doubles each failure, with jitter...
    #[serde(default = "default_ticket_retry_min")]
    pub retry_min_secs: u64,
    /// ...up to this.
    #[serde(default = "default_ticket_retry_max")]
    pub retry_max_secs: u64,
    /// hotline's HTTP address as the ticket system reaches it, for the
    /// links in events; default `http://<[http] listen>`.
    #[serde(default)]
    pub public_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityConfig {
    /// Calls at once through the trunk, all classes (inbound and
    /// callbacks): the trunk's channels.
    pub max_calls: u32,
    /// Of those, held for emergency lines: non-emergency calls get at most
    /// `max_calls - reserved_emergency`, emergency calls all of them.
    #[serde(default)]
    pub reserved_emergency: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundConfig {
    /// The trunk's SIP address (UDP) outbound calls are sent to.
    pub trunk: SocketAddr,
    /// Dialled from a seat phone before the number: `9` + `13800138000`.
    pub prefix: String,
    /// The number the citizen sees (the From user); also the call
    /// record's line.
    pub caller_id: String,
    /// How long the citizen's phone may ring.
    #[serde(default = "default_outbound_ring")]
    pub ring_timeout_secs: u64,
    /// Named number patterns: regular expressions matched against the
    /// whole dialled number (after the prefix).
    #[serde(default)]
    pub patterns: BTreeMap<String, String>,
    /// The patterns a seat may dial unless its own `outbound` says otherwise.
    #[serde(default)]
    pub default_allow: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MediaConfig {
    /// RTP ports, bound at start: even ports carry RTP, the odd one above
    /// each its RTCP; each call uses two pairs (caller leg, agent leg).
    #[serde(default = "default_rtp_min")]
    pub rtp_port_min: u16,
    #[serde(default = "default_rtp_max")]
    pub rtp_port_max: u16,
    /// G.711 laws offered and accepted, preferred first: "PCMA", "PCMU".
    #[serde(default = "default_codecs")]
    pub codecs: Vec<String>,
    /// Prompt files are looked up here (relative to the working directory).
    #[serde(default = "default_prompts_dir")]
    pub prompts_dir: std::path::PathBuf,
    /// The prompt language folder: "zh" or "en".
    #[serde(default = "default_language")]
    pub language: String,
    /// How long the satisfaction survey waits for a digit after its
    /// prompt has played.
    #[serde(default = "default_survey_timeout")]
    pub survey_timeout_secs: u64,
    /// An answered call whose caller sent RTP and then stopped for this
    /// long is hung up (the trunk lost the call without a BYE); 0: never.
    #[serde(default = "default_rtp_timeout")]
    pub rtp_timeout_secs: u64,
    /// RTP worker threads relaying and recording the calls' media; 0: one
    /// per core.
    #[serde(default)]
    pub rtp_threads: usize,
}

impl MediaConfig {
    /// Most RTP worker threads `rtp_threads` may ask for.
    pub const MAX_RTP_THREADS: usize = 64;

    /// The RTP worker threads to start: `rtp_threads`, or one per core.
    pub fn rtp_threads(&self) -> usize {
        match self.rtp_threads {
            0 => std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(Self::MAX_RTP_THREADS),
            n => n,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    pub number: String,
    pub queue: String,
    #[serde(default)]
    pub class: LineClass,
    #[serde(default)]
    pub tag: Option<String>,
    /// With [media]: played first; default `<language>/welcome.wav`.
    #[serde(default)]
    pub welcome: Option<std::path::PathBuf>,
    /// With [media]: when the agent hangs up first, the caller is asked to
    /// rate the call (`<language>/survey.wav`, digits 1-3) before hotline
    /// hangs up.
    #[serde(default)]
    pub survey: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StrategyName {
    #[default]
    LongestIdle,
    RingAll,
    RoundRobin,
    FewestCalls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FallbackName {
    #[default]
    Wait,
    Overflow,
    Reject,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    pub name: String,
    #[serde(default)]
    pub class: LineClass,
    #[serde(default)]
    pub strategy: StrategyName,
    #[serde(default = "default_ring_timeout")]
    pub ring_timeout_secs: u64,
    #[serde(default = "default_retry")]
    pub retry_secs: u64,
    /// No limit when absent.
    #[serde(default)]
    pub max_wait_secs: Option<u64>,
    #[serde(default)]
    pub when_no_agents: FallbackName,
    #[serde(default)]
    pub when_timeout: FallbackName,
    #[serde(default)]
    pub overflow_queue: Option<String>,
    #[serde(default = "default_reject_code")]
    pub reject_code: u16,
    #[serde(default = "default_reject_reason")]
    pub reject_reason: String,
    #[serde(default)]
    pub wrapup_secs: u64,
    #[serde(default)]
    pub no_answer_not_ready: bool,
    #[serde(default)]
    pub priority: i32,
    /// Service level T for this queue's calls in reports; default
    /// `[reports] service_level_secs`.
    #[serde(default)]
    pub service_level_secs: Option<u64>,
    /// With [media]: music while waiting; default `music/hold.wav`.
    #[serde(default)]
    pub music: Option<std::path::PathBuf>,
    /// With [media]: seconds between announcements of a waiting caller's
    /// place in line and estimated wait (the first comes right after the
    /// welcome prompt); 0 turns them off.
    #[serde(default = "default_announce_every")]
    pub announce_every_secs: u64,
    /// Announcements say the caller's place in line.
    #[serde(default = "yes")]
    pub announce_position: bool,
    /// Announcements say the estimated wait (once the queue has answered
    /// a call to estimate from).
    #[serde(default = "yes")]
    pub announce_wait: bool,
    /// With [media]: record from the moment the call arrives, the wait
    /// included, not only from the answer.
    #[serde(default)]
    pub record_wait: bool,
    /// With [media]: what a caller hears before the queue refuses the call
    /// (`when_no_agents`/`when_timeout` = "reject"); default
    /// `<language>/busy.wav`.
    #[serde(default)]
    pub reject_prompt: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueMembership {
    pub queue: String,
    #[serde(default)]
    pub penalty: u32,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SeatConfig {
    pub extension: String,
    pub password: String,
    #[serde(default)]
    pub name: Option<String>,
    pub queues: Vec<QueueMembership>,
    /// The `[outbound.patterns]` this seat may dial; absent:
    /// `outbound.default_allow`, `[]`: none.
    #[serde(default)]
    pub outbound: Option<Vec<String>>,
    /// The desk phone's MAC address: its provisioning file is served
    /// under the name the phone asks for (`[provisioning]`).
    #[serde(default)]
    pub mac: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SeatRange {
    pub from: u32,
    pub to: u32,
    /// `{ext}` is replaced by the extension.
    pub password: String,
    pub queues: Vec<QueueMembership>,
    /// As a seat's `outbound`, for every seat of the range.
    #[serde(default)]
    pub outbound: Option<Vec<String>>,
}

fn default_outbound_ring() -> u64 {
    60
}
fn default_name() -> String {
    "hotline".into()
}
fn default_realm() -> String {
    "hotline".into()
}
fn default_min_expires() -> u32 {
    60
}
fn default_max_expires() -> u32 {
    3600
}
fn default_nonce_ttl() -> u64 {
    300
}
fn default_auth_algorithms() -> Vec<String> {
    vec!["MD5".into(), "SHA-256".into()]
}
fn default_rtp_min() -> u16 {
    20000
}
fn default_rtp_max() -> u16 {
    20999
}
fn default_codecs() -> Vec<String> {
    vec!["PCMA".into(), "PCMU".into()]
}
fn default_survey_timeout() -> u64 {
    8
}
fn default_link_ttl() -> u64 {
    7 * 24 * 3600
}
fn default_ticket_timeout() -> u64 {
    5
}
fn default_ticket_attempts() -> u32 {
    12
}
fn default_ticket_retry_min() -> u64 {
    1
}
fn default_ticket_retry_max() -> u64 {
    600
}
fn default_rtp_timeout() -> u64 {
    60
}
fn default_announce_every() -> u64 {
    30
}
fn yes() -> bool {
    true
}
fn default_prompts_dir() -> std::path::PathBuf {
    "config/prompts".into()
}
fn default_language() -> String {
    "zh".into()
}
fn default_store_url() -> String {
    "sqlite://hotline.db".into()
}
fn default_store_buffer() -> usize {
    100_000
}
fn default_recordings_root() -> std::path::PathBuf {
    "recordings".into()
}
fn fc_login() -> String {
    "*11".into()
}
fn fc_logout() -> String {
    "*12".into()
}
fn fc_ready() -> String {
    "*13".into()
}
fn fc_not_ready() -> String {
    "*14".into()
}
fn default_reasons() -> BTreeMap<String, String> {
    [("9", "other")]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}
fn default_report_timezone() -> String {
    "+08:00".into()
}
fn default_short_abandon() -> u64 {
    5
}
fn default_service_level() -> u64 {
    20
}
fn default_ring_timeout() -> u64 {
    15
}
fn default_retry() -> u64 {
    2
}
fn default_reject_code() -> u16 {
    486
}
fn default_reject_reason() -> String {
    "no agent available".into()
}
