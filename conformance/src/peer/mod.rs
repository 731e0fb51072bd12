//! nginx and HAProxy as conformance targets: a [`gateway::Plan`] rendered
//! into each peer's own config, and the peer run as a real process in front
//! of real backends.
//!
//! | module | what it is |
//! |---|---|
//! | [`nginx`] | pure: a plan as `nginx.conf`, and what nginx cannot express |
//! | [`haproxy`] | pure: a plan as `haproxy.cfg`, and what HAProxy cannot express |
//! | [`policy`] | the WAF policies and rewrite sets the renderers read, taken from the config |
//! | [`process`] | runs a peer binary in a temporary directory: start, wait for its ports, stop, restart |
//!
//! ```text
//! Config ─▶ validate ─▶ Plan ─┐
//! Config ─▶ Policies ─────────┼─▶ nginx::render / haproxy::render ─▶ Rendered { config, files, unsupported }
//! Ports (listener → port, ────┘                                        │
//!        backend → 127.0.0.1:port)                                     ▼
//!                                                  process::PeerProcess: write files, spawn, wait for ports
//! ```
//!
//! Rendering is pure, so every config is an insta snapshot
//! (`src/peer/snapshots/`). What a peer cannot express is returned as
//! [`Unsupported`] records with short, stable [`feature`] names: a scenario
//! that needs one is graded `skip: <peer> cannot express <feature>`, never
//! a silent pass. `README.md` beside this file records what was learned of
//! each peer.

pub mod haproxy;
pub mod nginx;
pub mod policy;
pub mod process;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use gateway::config::BackendAddr;
use gateway::plan::{BackendSetPlan, ListenerPlan, RoutePlan};
use gateway::Plan;

pub use policy::{Policies, RewriteSet, RuleMatch, RuleTarget, WafRule};
pub use process::{which, PeerError, PeerProcess};

/// The peers wsgate can run scenarios against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeerKind {
    Nginx,
    Haproxy,
}

impl PeerKind {
    /// Every peer, in a stable order.
    pub const ALL: [PeerKind; 2] = [PeerKind::Nginx, PeerKind::Haproxy];

    /// The name used on the command line (`--target nginx,haproxy`) and in
    /// skip reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerKind::Nginx => "nginx",
            PeerKind::Haproxy => "haproxy",
        }
    }

    /// The executable looked up with [`which`].
    pub fn binary(self) -> &'static str {
        self.as_str()
    }

    /// The config file's name inside the run directory.
    pub fn config_file(self) -> &'static str {
        match self {
            PeerKind::Nginx => "nginx.conf",
            PeerKind::Haproxy => "haproxy.cfg",
        }
    }

    /// Renders `input` in this peer's config language.
    pub fn render(self, input: &Input<'_>) -> Result<Rendered, RenderError> {
        match self {
            PeerKind::Nginx => nginx::render(input),
            PeerKind::Haproxy => haproxy::render(input),
        }
    }
}

impl fmt::Display for PeerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a name that is not a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown peer `{0}`; expected nginx or haproxy")]
pub struct UnknownPeer(pub String);

impl FromStr for PeerKind {
    type Err = UnknownPeer;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PeerKind::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPeer(s.to_string()))
    }
}

/// Short, stable names of what a peer may be unable to express. The
/// harness matches scenarios' needs against these, so they never change
/// wording.
pub mod feature {
    /// Probing backends and taking failing ones out (open-source nginx has
    /// only passive checks).
    pub const ACTIVE_HEALTH_PROBES: &str = "active health probes";
    /// Closing a session a fixed time after it opened, whatever its
    /// traffic (Front Door's 4 h).
    pub const SESSION_LIFETIME_CAP: &str = "session lifetime cap";
    /// Refusing new requests with 503 for a while, then dropping what is
    /// still open (`POST /maintenance?drain=`).
    pub const MAINTENANCE_DRAIN: &str = "maintenance drain";
    /// Health decided over the last N probe results (Front Door's 2 of 4).
    pub const PROBE_SAMPLE_WINDOW: &str = "probe sample window";
    /// A timeout for the backend's answer to a WebSocket upgrade that
    /// differs from both the session idle timer and the peer's other
    /// timers.
    pub const UPGRADE_RESPONSE_TIMEOUT: &str = "upgrade response timeout";
    /// One client connection limit across several listeners.
    pub const CONNECTION_LIMIT: &str = "connection limit";
    /// A rewrite (path replacement or header value) the peer's syntax has
    /// no equivalent for.
    pub const REWRITE_EXPRESSION: &str = "rewrite expression";
    /// A timer longer than the peer's largest timeout.
    pub const LONG_TIMER: &str = "long timer";
    /// Application Gateway's affinity cookie (`ApplicationGatewayAffinity`,
    /// its CORS twin) or Front Door's, issued and honoured per member.
    pub const COOKIE_AFFINITY: &str = "cookie affinity";
    /// Front Door's origin selection: priority, then the latency window over
    /// probe round trips, then weight, shared exactly.
    pub const ORIGIN_ROUTING: &str = "origin routing";
}

/// Something a plan asks for that the peer cannot do, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// One of the [`feature`] names.
    pub feature: &'static str,
    pub reason: String,
}

/// Where a peer must listen and where the plan's backends really are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ports {
    /// Listener name → the 127.0.0.1 port the peer listens on.
    pub listeners: BTreeMap<String, u16>,
    /// A plan's backend address (`b1:9001`) → where that backend really
    /// listens (`127.0.0.1:41234`).
    pub backends: BTreeMap<BackendAddr, SocketAddr>,
}

/// What a renderer needs to know.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub plan: &'a Plan,
    pub policies: &'a Policies,
    pub ports: &'a Ports,
    /// The run directory: pid file, logs, temp paths and generated files
    /// are named inside it.
    pub dir: &'a Path,
}

/// A rendered config and everything that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The config file's text.
    pub config: String,
    /// Further files the config names, to write into the run directory
    /// before the peer starts.
    pub files: Vec<RunFile>,
    /// What the plan asks for that this config does not do, one record per
    /// feature, sorted by feature.
    pub unsupported: Vec<Unsupported>,
}

/// A file the config names, relative to the run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFile {
    pub name: String,
    pub content: FileContent,
}

/// How a [`RunFile`] is made. Rendering stays pure: files are only named
/// here and read when the run directory is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileContent {
    Text(String),
    /// These files, one after the other (HAProxy wants a certificate and
    /// its key in one PEM).
    Concat(Vec<PathBuf>),
}

/// Why a plan could not be rendered: the caller's inputs disagree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    #[error("no port for listener `{0}`")]
    NoListenerPort(String),
    #[error("no address for backend {0}")]
    NoBackendAddr(BackendAddr),
    #[error("rule `{rule}` names {what} `{name}`, which the policies do not hold")]
    UnknownPolicy {
        rule: String,
        what: &'static str,
        name: String,
    },
    #[error("the plan refers to {what} {index}, which it does not have")]
    BadIndex { what: &'static str, index: usize },
}

/// One listener with everything its traffic passes through, resolved for
/// rendering.
struct Site<'a> {
    listener: &'a ListenerPlan,
    port: u16,
    route: &'a RoutePlan,
    set_index: usize,
    set: &'a BackendSetPlan,
    waf: Option<(&'a str, &'a [WafRule])>,
    rewrite: Option<(&'a str, &'a RewriteSet)>,
}

impl Input<'_> {
    /// Every listener with its route, backend set and policies.
    fn sites(&self) -> Result<Vec<Site<'_>>, RenderError> {
        self.plan
            .listeners
            .iter()
            .map(|listener| {
                let port = *self
                    .ports
                    .listeners
                    .get(&listener.name)
                    .ok_or_else(|| RenderError::NoListenerPort(listener.name.clone()))?;
                let route = self.plan.routes.get(listener.route).ok_or(RenderError::BadIndex {
                    what: "route",
                    index: listener.route,
                })?;
                let set = self.set(route.backends)?;
                let waf = match &route.waf {
                    Some(w) => Some((
                        w.name.as_str(),
                        self.policies.waf(&w.name).ok_or_else(|| RenderError::UnknownPolicy {
                            rule: route.rule.clone(),
                            what: "WAF policy",
                            name: w.name.clone(),
                        })?,
                    )),
                    None => None,
                };
                let rewrite = match &route.rewrite {
                    Some(r) => Some((
                        r.name.as_str(),
                        self.policies
                            .rewrite(&r.name)
                            .ok_or_else(|| RenderError::UnknownPolicy {
                                rule: route.rule.clone(),
                                what: "rewrite set",
                                name: r.name.clone(),
                            })?,
                    )),
                    None => None,
                };
                Ok(Site {
                    listener,
                    port,
                    route,
                    set_index: route.backends,
                    set,
                    waf,
                    rewrite,
                })
            })
            .collect()
    }

    fn set(&self, index: usize) -> Result<&BackendSetPlan, RenderError> {
        self.plan.backend_sets.get(index).ok_or(RenderError::BadIndex {
            what: "backend set",
            index,
        })
    }

    /// Where a member really lives.
    fn backend(&self, addr: &BackendAddr) -> Result<SocketAddr, RenderError> {
        self.ports
            .backends
            .get(addr)
            .copied()
            .ok_or_else(|| RenderError::NoBackendAddr(addr.clone()))
    }

    /// The first route that uses backend set `index`: routes sharing a set
    /// share its settings, and so its timers.
    fn route_of_set(&self, index: usize) -> Option<&RoutePlan> {
        self.plan.routes.iter().find(|r| r.backends == index)
    }

    /// A path inside the run directory, as the config names it.
    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

/// The one idle timer a peer runs for a session: the earlier of the
/// session's own idle timer and its listener's frontend idle timeout
/// (Application Gateway's frontend IP). Both close a session after that
/// long with no byte either way, so the earlier one is the one that
/// fires. Pure.
pub fn idle_timer(session: &gateway::session::SessionPolicy) -> Option<Duration> {
    [&session.idle, &session.frontend_idle]
        .into_iter()
        .flatten()
        .map(|t| t.after)
        .min()
}

/// Whether any backend set of `plan` binds clients with an affinity cookie.
fn uses_affinity(plan: &Plan) -> bool {
    plan.backend_sets.iter().any(|s| s.affinity.is_some())
}

/// Whether `plan` routes by Front Door's origin rules: a latency window, or
/// a member whose priority, weight or enabled state is not the default.
fn uses_origin_routing(plan: &Plan) -> bool {
    use gateway::config::routing::{DEFAULT_PRIORITY, DEFAULT_WEIGHT};
    plan.backend_sets.iter().any(|s| {
        s.latency_sensitivity.is_some()
            || s.members
                .iter()
                .any(|m| m.priority != DEFAULT_PRIORITY || m.weight != DEFAULT_WEIGHT || !m.enabled)
    })
}

/// Collects [`Unsupported`] records, one per feature (the first reason
/// wins), sorted by feature.
#[derive(Debug, Default)]
struct Gaps(BTreeMap<&'static str, String>);

impl Gaps {
    fn add(&mut self, feature: &'static str, reason: impl Into<String>) {
        self.0.entry(feature).or_insert_with(|| reason.into());
    }

    fn into_vec(self) -> Vec<Unsupported> {
        self.0
            .into_iter()
            .map(|(feature, reason)| Unsupported { feature, reason })
            .collect()
    }
}

/// A duration in the largest unit that states it exactly; nginx and
/// HAProxy both read `ms`, `s`, `m`, `h` and `d`.
fn duration_text(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms >= size && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// A name made of `[A-Za-z0-9_-]` only, for upstream, frontend, backend
/// and server names.
fn ident(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `text` as a regular expression that matches it literally. Escapes
/// every ASCII punctuation character, which PCRE (nginx, HAProxy) reads
/// as the literal character.
fn regex_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One piece of a `regex`-crate replacement string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Group(usize),
    Named(String),
}

/// Splits a replacement (`/internal/$1`, `${name}x`, `$$`) into text and
/// group references, as the `regex` crate reads it: `$name` takes the
/// longest run of `[_0-9A-Za-z]`, a number is a group index.
fn replacement_pieces(replacement: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = replacement;
    while let Some(at) = rest.find('$') {
        text.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        let (name, after) = if let Some(inner) = rest.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => (&inner[..end], &inner[end + 1..]),
                None => ("", rest),
            }
        } else if let Some(after) = rest.strip_prefix('$') {
            text.push('$');
            rest = after;
            continue;
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        if name.is_empty() {
            // A lone `$` is literal in the regex crate.
            text.push('$');
            continue;
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(std::mem::take(&mut text)));
        }
        pieces.push(match name.parse::<usize>() {
            Ok(n) => Piece::Group(n),
            Err(_) => Piece::Named(name.to_string()),
        });
        rest = after;
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_timer_is_the_earlier_of_the_session_and_frontend_timers() {
        use gateway::session::{SessionPolicy, Timer};
        let t = |s: u64| Some(Timer::key(Duration::from_secs(s), "k"));
        let policy = |idle, frontend_idle| SessionPolicy {
            idle,
            lifetime: t(1),
            frontend_idle,
        };
        assert_eq!(idle_timer(&policy(t(20), t(240))), Some(Duration::from_secs(20)));
        assert_eq!(idle_timer(&policy(t(1200), t(240))), Some(Duration::from_secs(240)));
        assert_eq!(idle_timer(&policy(None, t(240))), Some(Duration::from_secs(240)));
        assert_eq!(idle_timer(&policy(t(300), None)), Some(Duration::from_secs(300)));
        assert_eq!(idle_timer(&policy(None, None)), None, "a lifetime is not an idle timer");
    }

    #[test]
    fn durations_use_the_largest_exact_unit() {
        assert_eq!(duration_text(Duration::from_millis(250)), "250ms");
        assert_eq!(duration_text(Duration::from_millis(1500)), "1500ms");
        assert_eq!(duration_text(Duration::from_secs(20)), "20s");
        assert_eq!(duration_text(Duration::from_secs(300)), "5m");
        assert_eq!(duration_text(Duration::from_secs(4 * 3600)), "4h");
        assert_eq!(duration_text(Duration::from_secs(365 * 86_400)), "365d");
    }

    #[test]
    fn replacements_split_like_the_regex_crate() {
        assert_eq!(
            replacement_pieces("/internal/$1"),
            vec![Piece::Text("/internal/".into()), Piece::Group(1)]
        );
        assert_eq!(
            replacement_pieces("/a/${1}x/$name/$$/${n}"),
            vec![
                Piece::Text("/a/".into()),
                Piece::Group(1),
                Piece::Text("x/".into()),
                Piece::Named("name".into()),
                Piece::Text("/$/".into()),
                Piece::Named("n".into()),
            ]
        );
        assert_eq!(replacement_pieces("/cost$"), vec![Piece::Text("/cost$".into())]);
    }

    #[test]
    fn literals_are_escaped_for_pcre() {
        assert_eq!(regex_literal("/admin.php?x"), r"\/admin\.php\?x");
    }

    #[test]
    fn peer_names_round_trip() {
        for p in PeerKind::ALL {
            assert_eq!(p.as_str().parse::<PeerKind>().unwrap(), p);
        }
        assert!("envoy".parse::<PeerKind>().is_err());
    }
}
