//! Expectations: what must be true of a run, judged against its typed
//! trace. Pure: lines in, verdict out. A failure says what was expected,
//! what the trace shows, and carries the trace lines around it.
//!
//! | module | what it is |
//! |---|---|
//! | [`view`] | facts read off a trace: a client's events, each session's payload digests on both sides |
//! | [`judge`] | deciding one expectation |
//!
//! An expectation about a group of clients (`count = N`) holds for
//! **every** member unless it says `members = "any"`; with `times`,
//! `at_least` or `at_most` it counts matching events over the group
//! instead.

pub mod judge;
pub mod view;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use gateway::config::BackendAddr;
use sim::trace::TraceLine;

pub use judge::check;

/// An inclusive window of time from the start of the run.
pub type Window = (Duration, Duration);

/// How an expectation about a group is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// Every member meets it (and at least one has something to judge).
    Every,
    /// At least one member meets it.
    Any,
    /// Exactly this many matching events over the group.
    Times(usize),
    AtLeast(usize),
    AtMost(usize),
}

impl Quantity {
    /// Whether `n` matching events satisfy a counting quantity; `None` for
    /// the member quantities.
    pub fn counts(self, n: usize) -> Option<bool> {
        match self {
            Quantity::Every | Quantity::Any => None,
            Quantity::Times(k) => Some(n == k),
            Quantity::AtLeast(k) => Some(n >= k),
            Quantity::AtMost(k) => Some(n <= k),
        }
    }

    fn describe(self) -> String {
        match self {
            Quantity::Every => "every member".into(),
            Quantity::Any => "some member".into(),
            Quantity::Times(k) => format!("exactly {k} times"),
            Quantity::AtLeast(k) => format!("at least {k} times"),
            Quantity::AtMost(k) => format!("at most {k} times"),
        }
    }
}

/// A group of sessions (or requests) named in the scenario: `c1`, or `c1`
/// with members `c1.1` … `c1.N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    /// The trace sources of the members (just `name` for a single one).
    pub members: Vec<String>,
}

impl Group {
    pub fn single(name: &str) -> Group {
        Group {
            name: name.to_string(),
            members: vec![name.to_string()],
        }
    }
}

/// What a WebSocket client group must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCheck {
    /// Closed with this code.
    Closed(u16),
    /// Never closed.
    NeverClosed,
    /// A handshake was answered with this status (101: a session opened).
    Handshake(u16),
    /// Every session opened with a 101 carrying `Upgrade: websocket`,
    /// `Connection: Upgrade` and the `Sec-WebSocket-Accept` of its key.
    Upgraded,
    /// Every session opened with this subprotocol.
    Subprotocol(String),
    /// Every session's 101 carried these headers (names case-insensitive).
    ResponseHeaders(BTreeMap<String, String>),
    /// Every data message arrived byte for byte, in order, both ways: what
    /// the client sent is what the backend received, and what the backend
    /// sent is what the client received.
    Echoed,
    /// After every close the client did not ask for (a drop, 1006, or a
    /// close the server started), a new session opened within this.
    ReconnectedWithin(Duration),
    /// The cookies responses set for the client (in the window): exactly
    /// these names, each with these attributes; none for an empty map.
    Cookies(BTreeMap<String, String>),
}

/// What a plain HTTP request group must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestCheck {
    /// Answered with this status.
    Status(u16),
}

/// What a backend must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendCheck {
    /// No session opened after this moment.
    NoNewSessionsAfter(Duration),
    /// Exactly (or at least) this many sessions opened, in the window.
    Sessions { count: usize, at_least: bool },
    /// Exactly this many requests (probes excluded), in the window.
    Requests(usize),
    /// Its health at `at` as the gateway saw it (every instance, or one).
    Health {
        healthy: bool,
        at: Duration,
        instance: Option<String>,
    },
    /// Every session it opened in the window received a Close frame with
    /// this code.
    CloseReceived(u16),
    /// Every probe it received in the window had this method, path and
    /// Host; and (with `count`) exactly this many came.
    Probes {
        method: Option<String>,
        path: Option<String>,
        host: Option<String>,
        count: Option<usize>,
    },
    /// The requests it received (probes excluded; those for `path` when
    /// given) carried these headers and lacked those.
    Request {
        path: Option<String>,
        headers: BTreeMap<String, String>,
        absent: Vec<String>,
    },
}

/// What must be true of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    Client {
        group: Group,
        check: ClientCheck,
        quantity: Quantity,
        window: Option<Window>,
    },
    Request {
        group: Group,
        check: RequestCheck,
        quantity: Quantity,
        window: Option<Window>,
    },
    Backend {
        name: String,
        check: BackendCheck,
        quantity: Quantity,
        window: Option<Window>,
    },
}

impl Expect {
    /// Whether judging it needs the gateway's own trace lines, which a
    /// gateway other than wsgate does not give.
    pub fn needs_gateway_trace(&self) -> bool {
        matches!(
            self,
            Expect::Backend {
                check: BackendCheck::Health { .. },
                ..
            }
        )
    }

    /// The expectation with every time bound loosened by `tolerance`
    /// (windows widened on both sides, deadlines moved later): for runs on
    /// a real network, where timing is never exact.
    pub fn widened(&self, tolerance: Duration) -> Expect {
        let widen = |w: &Option<Window>| w.map(|(a, b)| (a.saturating_sub(tolerance), b + tolerance));
        let mut out = self.clone();
        match &mut out {
            Expect::Client { window, check, .. } => {
                *window = widen(window);
                if let ClientCheck::ReconnectedWithin(d) = check {
                    *d += tolerance;
                }
            }
            Expect::Request { window, .. } => *window = widen(window),
            Expect::Backend { window, check, .. } => {
                *window = widen(window);
                match check {
                    BackendCheck::NoNewSessionsAfter(t) => *t += tolerance,
                    // A health check at one moment becomes one at some
                    // moment of the window around it.
                    BackendCheck::Health { at, .. } => {
                        *window = Some((at.saturating_sub(tolerance), *at + tolerance));
                    }
                    _ => {}
                }
            }
        }
        out
    }
}

impl Expect {
    /// The expectation with its window narrowed by `tolerance` on both
    /// sides, or `None` when it has no window or the window would vanish.
    /// With [`Expect::widened`] it brackets a window whose edges are only
    /// known to the tolerance: a check of presence ("a session opened
    /// between ...") holds if it holds on the wider window, one of absence
    /// ("no request between ...") if it holds on the narrower, so a real
    /// run passes when either does.
    pub fn narrowed(&self, tolerance: Duration) -> Option<Expect> {
        let narrow = |w: &Option<Window>| -> Option<Option<Window>> {
            let (a, b) = (*w)?;
            let (a, b) = (a + tolerance, b.checked_sub(tolerance)?);
            (a <= b).then_some(Some((a, b)))
        };
        let mut out = self.clone();
        match &mut out {
            Expect::Client { window, .. } | Expect::Request { window, .. } => *window = narrow(window)?,
            Expect::Backend { window, check, .. } => {
                if matches!(check, BackendCheck::Health { .. }) {
                    return None;
                }
                *window = narrow(window)?;
            }
        }
        Some(out)
    }
}

pub(crate) fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

fn window_text(window: &Option<Window>) -> String {
    match window {
        Some((a, b)) => format!(" between {} and {}", secs(*a), secs(*b)),
        None => String::new(),
    }
}

fn who(group: &Group, quantity: Quantity) -> String {
    if group.members.len() == 1 {
        return group.name.clone();
    }
    match quantity {
        Quantity::Every => format!("every session of {}", group.name),
        Quantity::Any => format!("some session of {}", group.name),
        _ => group.name.clone(),
    }
}

fn count_text(quantity: Quantity) -> String {
    match quantity {
        Quantity::Every | Quantity::Any => String::new(),
        q => format!(" {}", q.describe()),
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Client {
                group,
                check,
                quantity,
                window,
            } => {
                let w = window_text(window);
                let n = count_text(*quantity);
                let who = who(group, *quantity);
                match check {
                    ClientCheck::Closed(code) => write!(f, "{who} closed with {code}{n}{w}"),
                    ClientCheck::NeverClosed => write!(f, "{who} never closed"),
                    ClientCheck::Handshake(101) => write!(f, "{who} opened a session{n}{w}"),
                    ClientCheck::Handshake(status) => write!(f, "{who}'s handshake answered {status}{n}{w}"),
                    ClientCheck::Upgraded => write!(
                        f,
                        "{who} got a 101 with Upgrade: websocket, Connection: Upgrade and the accept value of its key"
                    ),
                    ClientCheck::Subprotocol(p) => write!(f, "{who} opened with subprotocol {p}"),
                    ClientCheck::ResponseHeaders(h) => {
                        let list: Vec<String> = h.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                        write!(f, "{who}'s 101 carried {}", list.join(", "))
                    }
                    ClientCheck::Echoed => {
                        write!(f, "every message of {who} arrived byte for byte, in order, both ways")
                    }
                    ClientCheck::ReconnectedWithin(d) => {
                        write!(
                            f,
                            "{who} reconnected within {} after every close it did not ask for",
                            secs(*d)
                        )
                    }
                    ClientCheck::Cookies(c) if c.is_empty() => write!(f, "{who} was set no cookie{w}"),
                    ClientCheck::Cookies(c) => {
                        let list: Vec<String> = c.iter().map(|(k, v)| format!("{k} ({v})")).collect();
                        write!(f, "{who} was set exactly the cookies {}{w}", list.join(", "))
                    }
                }
            }
            Expect::Request {
                group,
                check: RequestCheck::Status(status),
                quantity,
                window,
            } => write!(
                f,
                "{} answered {status}{}{}",
                who(group, *quantity),
                count_text(*quantity),
                window_text(window)
            ),
            Expect::Backend {
                name, check, window, ..
            } => {
                let w = window_text(window);
                match check {
                    BackendCheck::NoNewSessionsAfter(t) => write!(f, "{name} opened no session after {}", secs(*t)),
                    BackendCheck::Sessions { count, at_least: false } => write!(f, "{name} opened {count} sessions{w}"),
                    BackendCheck::Sessions { count, at_least: true } => {
                        write!(f, "{name} opened at least {count} sessions{w}")
                    }
                    BackendCheck::Requests(n) => write!(f, "{name} received {n} requests (probes excluded){w}"),
                    BackendCheck::Health { healthy, at, instance } => {
                        let state = if *healthy { "healthy" } else { "unhealthy" };
                        let seen_by = instance.as_deref().unwrap_or("every instance");
                        write!(f, "{name} {state} at {} (seen by {seen_by})", secs(*at))
                    }
                    BackendCheck::CloseReceived(code) => {
                        write!(f, "every session of {name} received a Close frame with {code}{w}")
                    }
                    BackendCheck::Probes {
                        method,
                        path,
                        host,
                        count,
                    } => {
                        match count {
                            Some(n) => write!(f, "{name} received {n} probes")?,
                            None => write!(f, "{name} received probes")?,
                        }
                        if let Some(m) = method {
                            write!(f, ", each {m}")?;
                        }
                        if let Some(p) = path {
                            write!(f, " {p}")?;
                        }
                        if let Some(h) = host {
                            write!(f, " with Host: {h}")?;
                        }
                        write!(f, "{w}")
                    }
                    BackendCheck::Request { path, headers, absent } => {
                        write!(f, "{name} received requests")?;
                        if let Some(p) = path {
                            write!(f, " for {p}")?;
                        }
                        for (k, v) in headers {
                            write!(f, " with {k}: {v}")?;
                        }
                        for k in absent {
                            write!(f, " without {k}")?;
                        }
                        Ok(())
                    }
                }
            }
        }
    }
}

/// Why an expectation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub expected: String,
    pub actual: String,
    /// Trace lines around what the check looked at.
    pub context: Vec<TraceLine>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "expected: {}", self.expected)?;
        writeln!(f, "  actual: {}", self.actual)?;
        if !self.context.is_empty() {
            writeln!(f, "   trace:")?;
            let text = sim::trace::render(&self.context, &BTreeMap::new());
            for l in text.lines() {
                writeln!(f, "     {l}")?;
            }
        }
        Ok(())
    }
}

/// What a check needs besides the trace.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Gateway instance names (trace sources).
    pub instances: Vec<String>,
    /// Backend name → the address the gateway knows it by.
    pub backend_addrs: BTreeMap<String, BackendAddr>,
    /// Whether a backend is in the pool before its first probe (the
    /// profile's rule, or the probe's `initial_state`).
    pub initially_healthy: bool,
}
