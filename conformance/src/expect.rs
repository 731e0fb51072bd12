//! Expectations, checked against a run's trace. Pure: lines in, verdict
//! out. A failure says what was expected, what the trace shows, and carries
//! the trace lines around it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use gateway::echo::SeenRequest;
use sim::trace::TraceLine;

/// What must be true of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// A session of `client` closed with `code` (inside `window`, if given).
    Closed {
        client: String,
        code: u16,
        window: Option<(Duration, Duration)>,
    },
    /// No session of `client` closed.
    NeverClosed { client: String },
    /// A handshake of `client` was answered with `status` instead of 101.
    Handshake {
        client: String,
        status: u16,
        window: Option<(Duration, Duration)>,
    },
    /// `backend` opened no session after `after`.
    NoNewSessionsAfter { backend: String, after: Duration },
    /// `backend` opened exactly `count` sessions.
    Sessions { backend: String, count: usize },
    /// Every message `client` sent was echoed, in order.
    Echoed { client: String },
    /// After every abnormal close, `client` opened a new session within
    /// `within`.
    ReconnectedWithin { client: String, within: Duration },
    /// `backend`'s health at `at` as the gateway saw it (every instance, or
    /// one).
    Health {
        backend: String,
        healthy: bool,
        at: Duration,
        instance: Option<String>,
    },
    /// `backend` received a request with this path and these headers.
    Request {
        backend: String,
        path: Option<String>,
        headers: BTreeMap<String, String>,
    },
}

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

fn window_text(window: &Option<(Duration, Duration)>) -> String {
    match window {
        Some((a, b)) => format!(" between {} and {}", secs(*a), secs(*b)),
        None => String::new(),
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Closed { client, code, window } => write!(f, "{client} closed with {code}{}", window_text(window)),
            Expect::NeverClosed { client } => write!(f, "{client} never closed"),
            Expect::Handshake { client, status, window } => {
                write!(f, "{client}'s handshake answered {status}{}", window_text(window))
            }
            Expect::NoNewSessionsAfter { backend, after } => {
                write!(f, "{backend} opened no session after {}", secs(*after))
            }
            Expect::Sessions { backend, count } => write!(f, "{backend} opened {count} sessions"),
            Expect::Echoed { client } => write!(f, "every message {client} sent was echoed, in order"),
            Expect::ReconnectedWithin { client, within } => {
                write!(f, "{client} reconnected within {} after every drop", secs(*within))
            }
            Expect::Health {
                backend,
                healthy,
                at,
                instance,
            } => {
                let state = if *healthy { "healthy" } else { "unhealthy" };
                let seen_by = instance.as_deref().unwrap_or("every instance");
                write!(f, "{backend} {state} at {} (seen by {seen_by})", secs(*at))
            }
            Expect::Request { backend, path, headers } => {
                write!(f, "{backend} received a request")?;
                if let Some(p) = path {
                    write!(f, " for {p}")?;
                }
                for (k, v) in headers {
                    write!(f, " with {k}: {v}")?;
                }
                Ok(())
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
            write!(f, "{}", indent(&sim::trace::render(&self.context)))?;
        }
        Ok(())
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("     {l}\n")).collect()
}

/// What a check needs besides the trace.
#[derive(Debug, Clone, Default)]
pub struct World<'a> {
    /// Gateway instance names (trace sources).
    pub instances: &'a [String],
    /// Backend name → `host:port`, as gateway events print it.
    pub backend_addrs: BTreeMap<String, String>,
    /// Requests each backend received (probes excluded).
    pub requests: BTreeMap<String, Vec<SeenRequest>>,
}

fn is_client(source: &str, client: &str) -> bool {
    source == client || source.strip_prefix(client).is_some_and(|rest| rest.starts_with('.'))
}

fn in_window(at: Duration, window: &Option<(Duration, Duration)>) -> bool {
    window.is_none_or(|(a, b)| at >= a && at <= b)
}

/// Up to `radius` lines either side of the first line at or after `at`,
/// from `sources` only when given.
fn around(lines: &[TraceLine], at: Duration, radius: usize, keep: impl Fn(&TraceLine) -> bool) -> Vec<TraceLine> {
    let relevant: Vec<&TraceLine> = lines.iter().filter(|l| keep(l)).collect();
    let pos = relevant
        .iter()
        .position(|l| l.at >= at)
        .unwrap_or(relevant.len().saturating_sub(1));
    let from = pos.saturating_sub(radius);
    let to = (pos + radius + 1).min(relevant.len());
    relevant[from..to].iter().map(|l| (*l).clone()).collect()
}

/// The close code in a client's `closed code=N …` trace line.
pub(crate) fn code_of(event: &str) -> Option<u16> {
    event
        .strip_prefix("closed code=")?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Whether a client's `echoed N of M messages, …` summary says every
/// message came back in order.
pub(crate) fn echoed_all_in_order(event: &str) -> bool {
    let words: Vec<&str> = event.split_whitespace().collect();
    words.get(1) == words.get(3) && event.ends_with("in order")
}

fn describe(events: &[(Duration, String)]) -> String {
    if events.is_empty() {
        return "nothing".into();
    }
    let shown: Vec<String> = events
        .iter()
        .take(5)
        .map(|(at, e)| format!("{e} at {}", secs(*at)))
        .collect();
    let more = events.len().saturating_sub(5);
    if more > 0 {
        format!("{} (and {more} more)", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Checks one expectation.
pub fn check(expect: &Expect, lines: &[TraceLine], world: &World<'_>) -> Result<(), Failure> {
    let fail = |actual: String, at: Duration, keep: &dyn Fn(&TraceLine) -> bool| Failure {
        expected: expect.to_string(),
        actual,
        context: around(lines, at, 6, keep),
    };
    match expect {
        Expect::Closed { client, code, window } => {
            let closes: Vec<(Duration, u16)> = lines
                .iter()
                .filter(|l| is_client(&l.source, client))
                .filter_map(|l| code_of(&l.event).map(|c| (l.at, c)))
                .collect();
            if closes.iter().any(|(at, c)| c == code && in_window(*at, window)) {
                return Ok(());
            }
            let seen: Vec<(Duration, String)> = closes.iter().map(|(at, c)| (*at, format!("closed {c}"))).collect();
            let at = closes.first().map(|c| c.0).or(window.map(|w| w.0)).unwrap_or_default();
            Err(fail(describe(&seen), at, &|l| {
                is_client(&l.source, client) || l.source == "world"
            }))
        }
        Expect::NeverClosed { client } => {
            let closes: Vec<(Duration, String)> = lines
                .iter()
                .filter(|l| is_client(&l.source, client) && l.event.starts_with("closed"))
                .map(|l| (l.at, l.event.clone()))
                .collect();
            match closes.first() {
                None => Ok(()),
                Some((at, _)) => Err(fail(describe(&closes), *at, &|l| {
                    is_client(&l.source, client) || l.source == "world"
                })),
            }
        }
        Expect::Handshake { client, status, window } => {
            let answers: Vec<(Duration, u16)> = lines
                .iter()
                .filter(|l| is_client(&l.source, client))
                .filter_map(|l| Some((l.at, l.event.split(" answered ").nth(1)?.trim().parse().ok()?)))
                .collect();
            if answers.iter().any(|(at, s)| s == status && in_window(*at, window)) {
                return Ok(());
            }
            let seen: Vec<(Duration, String)> = answers.iter().map(|(at, s)| (*at, format!("answered {s}"))).collect();
            let at = answers.first().map(|a| a.0).or(window.map(|w| w.0)).unwrap_or_default();
            Err(fail(describe(&seen), at, &|l| is_client(&l.source, client)))
        }
        Expect::NoNewSessionsAfter { backend, after } => {
            let late: Vec<(Duration, String)> = lines
                .iter()
                .filter(|l| &l.source == backend && l.event.starts_with("session opened") && l.at > *after)
                .map(|l| (l.at, "session opened".to_string()))
                .collect();
            match late.first() {
                None => Ok(()),
                Some((at, _)) => Err(fail(describe(&late), *at, &|l| {
                    &l.source == backend || world.instances.contains(&l.source)
                })),
            }
        }
        Expect::Sessions { backend, count } => {
            let opened = lines
                .iter()
                .filter(|l| &l.source == backend && l.event.starts_with("session opened"))
                .count();
            if opened == *count {
                Ok(())
            } else {
                Err(fail(format!("{opened} sessions"), Duration::ZERO, &|l| {
                    &l.source == backend
                }))
            }
        }
        Expect::Echoed { client } => {
            let summaries: Vec<&TraceLine> = lines
                .iter()
                .filter(|l| is_client(&l.source, client) && l.event.starts_with("echoed "))
                .collect();
            let bad: Vec<(Duration, String)> = summaries
                .iter()
                .filter(|l| !echoed_all_in_order(&l.event))
                .map(|l| (l.at, format!("{}: {}", l.source, l.event)))
                .collect();
            if summaries.is_empty() {
                return Err(fail("no message exchange was recorded".into(), Duration::ZERO, &|l| {
                    is_client(&l.source, client)
                }));
            }
            match bad.first() {
                None => Ok(()),
                Some((at, _)) => Err(fail(describe(&bad), *at, &|l| is_client(&l.source, client))),
            }
        }
        Expect::ReconnectedWithin { client, within } => {
            let mut drops = 0;
            let sources: std::collections::BTreeSet<&str> = lines
                .iter()
                .filter(|l| is_client(&l.source, client))
                .map(|l| l.source.as_str())
                .collect();
            for source in sources {
                let mine: Vec<&TraceLine> = lines.iter().filter(|l| l.source == source).collect();
                for (i, l) in mine.iter().enumerate() {
                    if code_of(&l.event) != Some(1006) {
                        continue;
                    }
                    drops += 1;
                    let back = mine[i + 1..].iter().find(|n| n.event.starts_with("open "));
                    match back {
                        Some(n) if n.at - l.at <= *within => {}
                        Some(n) => {
                            return Err(fail(
                                format!(
                                    "{source} dropped at {} and reopened {} later",
                                    secs(l.at),
                                    secs(n.at - l.at)
                                ),
                                l.at,
                                &|x| x.source == source || x.source == "world",
                            ))
                        }
                        None => {
                            return Err(fail(
                                format!("{source} dropped at {} and never reopened", secs(l.at)),
                                l.at,
                                &|x| x.source == source || x.source == "world",
                            ))
                        }
                    }
                }
            }
            if drops == 0 {
                return Err(fail("no session was dropped (no 1006)".into(), Duration::ZERO, &|l| {
                    is_client(&l.source, client)
                }));
            }
            Ok(())
        }
        Expect::Health {
            backend,
            healthy,
            at,
            instance,
        } => {
            let addr = world
                .backend_addrs
                .get(backend)
                .cloned()
                .unwrap_or_else(|| backend.clone());
            let unhealthy = format!("backend {addr} unhealthy");
            let back = format!("backend {addr} healthy");
            let instances: Vec<&String> = match instance {
                Some(i) => vec![i],
                None => world.instances.iter().collect(),
            };
            for inst in instances {
                // Before any transition a backend is in the pool (the
                // default initial state), and a restarted instance starts
                // over.
                let mut state = true;
                let probe = format!("probe {addr}: ");
                for l in lines.iter().filter(|l| &l.source == inst && l.at <= *at) {
                    if l.event.starts_with(&unhealthy)
                        || (l.event.starts_with(&probe) && l.event.ends_with("(out of pool)"))
                    {
                        state = false;
                    } else if l.event.starts_with(&back)
                        || (l.event.starts_with(&probe) && l.event.ends_with("(in pool)"))
                        || (l.event.starts_with("listener ") && l.event.contains(" bound "))
                    {
                        state = true;
                    }
                }
                if state != *healthy {
                    let word = if state { "healthy" } else { "unhealthy" };
                    return Err(fail(
                        format!("{inst} had {backend} {word} at {}", secs(*at)),
                        *at,
                        &|l| &l.source == inst && l.event.contains(&addr),
                    ));
                }
            }
            Ok(())
        }
        Expect::Request { backend, path, headers } => {
            let seen = world.requests.get(backend).map(Vec::as_slice).unwrap_or(&[]);
            let hit = seen.iter().any(|r| {
                path.as_ref().is_none_or(|p| &r.uri == p)
                    && headers.iter().all(|(k, v)| r.header(k) == Some(v.as_str()))
            });
            if hit {
                return Ok(());
            }
            let actual = if seen.is_empty() {
                "no request".to_string()
            } else {
                seen.iter()
                    .take(3)
                    .map(|r| {
                        let hs: Vec<String> = headers
                            .keys()
                            .map(|k| format!("{k}: {}", r.header(k).unwrap_or("(absent)")))
                            .collect();
                        format!("{} {} [{}]", r.method, r.uri, hs.join(", "))
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            Err(fail(actual, Duration::ZERO, &|l| &l.source == backend))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(at_ms: u64, source: &str, event: &str) -> TraceLine {
        TraceLine {
            at: Duration::from_millis(at_ms),
            source: source.into(),
            event: event.into(),
        }
    }

    fn world() -> World<'static> {
        static INSTANCES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        World {
            instances: INSTANCES.get_or_init(|| vec!["gateway".to_string()]),
            backend_addrs: [("b2".to_string(), "b2:9001".to_string())].into_iter().collect(),
            requests: BTreeMap::new(),
        }
    }

    #[test]
    fn closed_in_window() {
        let lines = [
            line(1_000, "c1", "open /chat"),
            line(15_000, "c1", "closed code=1006 (no close frame)"),
        ];
        let ok = Expect::Closed {
            client: "c1".into(),
            code: 1006,
            window: Some((Duration::from_secs(15), Duration::from_secs(16))),
        };
        assert_eq!(check(&ok, &lines, &world()), Ok(()));
        let early = Expect::Closed {
            client: "c1".into(),
            code: 1006,
            window: Some((Duration::from_secs(20), Duration::from_secs(21))),
        };
        let failure = check(&early, &lines, &world()).unwrap_err();
        assert_eq!(failure.actual, "closed 1006 at 15.000s");
        assert!(failure
            .to_string()
            .contains("expected: c1 closed with 1006 between 20.000s and 21.000s"));
        assert!(!failure.context.is_empty());
    }

    #[test]
    fn groups_match_numbered_sessions() {
        let lines = [line(5, "c1.2", "closed code=1000")];
        let e = Expect::NeverClosed { client: "c1".into() };
        assert!(check(&e, &lines, &world()).is_err());
        let other = Expect::NeverClosed { client: "c".into() };
        assert_eq!(check(&other, &lines, &world()), Ok(()));
    }

    #[test]
    fn health_follows_the_last_transition() {
        let lines = [
            line(
                180_030,
                "gateway",
                "backend b2:9001 unhealthy after 3 failures (last: status 500)",
            ),
            line(270_030, "gateway", "backend b2:9001 healthy (last: status 200)"),
        ];
        let at = |s, healthy| Expect::Health {
            backend: "b2".into(),
            healthy,
            at: Duration::from_secs(s),
            instance: None,
        };
        assert_eq!(check(&at(100, true), &lines, &world()), Ok(()));
        assert_eq!(check(&at(200, false), &lines, &world()), Ok(()));
        assert!(check(&at(200, true), &lines, &world()).is_err());
        assert_eq!(check(&at(300, true), &lines, &world()), Ok(()));
    }

    #[test]
    fn echo_summaries() {
        let good = [line(1, "c1", "echoed 3 of 3 messages, in order")];
        let lost = [line(1, "c1", "echoed 2 of 3 messages, in order")];
        let e = Expect::Echoed { client: "c1".into() };
        assert_eq!(check(&e, &good, &world()), Ok(()));
        assert!(check(&e, &lost, &world()).is_err());
        assert!(check(&e, &[], &world()).is_err(), "no exchange is not a pass");
    }

    #[test]
    fn reconnects_are_timed_per_session() {
        let lines = [
            line(30_000, "c1", "closed code=1006 (no close frame)"),
            line(31_500, "c1", "open /chat"),
        ];
        let fast = Expect::ReconnectedWithin {
            client: "c1".into(),
            within: Duration::from_secs(2),
        };
        assert_eq!(check(&fast, &lines, &world()), Ok(()));
        let faster = Expect::ReconnectedWithin {
            client: "c1".into(),
            within: Duration::from_secs(1),
        };
        assert!(check(&faster, &lines, &world()).is_err());
        assert!(check(&fast, &[], &world()).is_err(), "no drop is not a pass");
    }

    #[test]
    fn no_new_sessions_after() {
        let lines = [
            line(100_000, "b2", "session opened /chat"),
            line(200_000, "b2", "session opened /chat"),
        ];
        let e = |after| Expect::NoNewSessionsAfter {
            backend: "b2".into(),
            after: Duration::from_secs(after),
        };
        assert_eq!(check(&e(200), &lines, &world()), Ok(()));
        assert!(check(&e(150), &lines, &world()).is_err());
    }
}
