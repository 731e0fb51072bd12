//! Deciding one expectation against a typed trace. Pure.

use std::time::Duration;

use backend::BackendEvent;
use gateway::handshake;
use sim::client::ClientEvent;
use sim::trace::{TraceEvent, TraceLine};

use super::view::{self, client_events, first_mismatch, session_data};
use super::{secs, BackendCheck, ClientCheck, Context, Expect, Failure, Group, Quantity, RequestCheck, Window};

/// How one member fared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Pass,
    Fail(String),
    /// Nothing to judge for this member (it never dropped, say).
    Vacuous,
}

fn in_window(at: Duration, window: &Option<Window>) -> bool {
    window.is_none_or(|(a, b)| at >= a && at <= b)
}

/// Up to `radius` lines either side of the first kept line at or after `at`.
fn around(lines: &[TraceLine], at: Duration, radius: usize, keep: impl Fn(&TraceLine) -> bool) -> Vec<TraceLine> {
    let relevant: Vec<&TraceLine> = lines.iter().filter(|l| keep(l) && !l.event.is_chatter()).collect();
    let pos = relevant
        .iter()
        .position(|l| l.at >= at)
        .unwrap_or(relevant.len().saturating_sub(1));
    let from = pos.saturating_sub(radius);
    let to = (pos + radius + 1).min(relevant.len());
    relevant[from..to].iter().map(|l| (*l).clone()).collect()
}

fn listing(items: &[(Duration, String)]) -> String {
    if items.is_empty() {
        return "nothing".into();
    }
    let shown: Vec<String> = items
        .iter()
        .take(5)
        .map(|(at, e)| format!("{e} at {}", secs(*at)))
        .collect();
    let more = items.len().saturating_sub(5);
    if more > 0 {
        format!("{} (and {more} more)", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// The trace lines an expectation is about (its clients, requests or
/// backend, with the gateway's and the world's lines for a backend), around
/// the start of its window: what a reader compares when two runs disagree.
pub fn context_lines(expect: &Expect, lines: &[TraceLine], ctx: &Context) -> Vec<TraceLine> {
    type Keep<'a> = Box<dyn Fn(&TraceLine) -> bool + 'a>;
    let (window, keep): (&Option<Window>, Keep<'_>) = match expect {
        Expect::Client { group, window, .. } => (
            window,
            Box::new(move |l: &TraceLine| group.members.contains(&l.source) || l.source == "world"),
        ),
        Expect::Request { group, window, .. } => {
            (window, Box::new(move |l: &TraceLine| group.members.contains(&l.source)))
        }
        Expect::Backend { name, window, .. } => (
            window,
            Box::new(move |l: &TraceLine| {
                &l.source == name || ctx.instances.contains(&l.source) || l.source == "world"
            }),
        ),
    };
    let at = match window {
        Some((a, _)) => *a,
        None => lines.iter().find(|l| keep(l)).map(|l| l.at).unwrap_or_default(),
    };
    around(lines, at, 6, keep)
}

/// Checks one expectation.
pub fn check(expect: &Expect, lines: &[TraceLine], ctx: &Context) -> Result<(), Failure> {
    let fail = |actual: String, at: Duration, keep: &dyn Fn(&TraceLine) -> bool| Failure {
        expected: expect.to_string(),
        actual,
        context: around(lines, at, 6, keep),
    };
    match expect {
        Expect::Client {
            group,
            check,
            quantity,
            window,
        } => {
            let keep = |l: &TraceLine| group.members.contains(&l.source) || l.source == "world";
            if quantity.counts(0).is_some() {
                // The loader allows counts only on closes and handshakes.
                let Some(needed) = counted(check) else {
                    return Err(fail("this expectation cannot be counted".into(), Duration::ZERO, &keep));
                };
                let events = matching_events(lines, group, window, &needed);
                return judge_count(*quantity, &events).map_err(|actual| {
                    let at = events.first().map(|e| e.0).or(window.map(|w| w.0)).unwrap_or_default();
                    fail(actual, at, &keep)
                });
            }
            let verdicts: Vec<(String, Verdict)> = group
                .members
                .iter()
                .map(|m| (m.clone(), client_verdict(check, lines, m, window)))
                .collect();
            judge_members(*quantity, &verdicts).map_err(|actual| fail(actual, first_time(lines, group), &keep))
        }
        Expect::Request {
            group,
            check: RequestCheck::Status(status),
            quantity,
            window,
        } => {
            let keep = |l: &TraceLine| group.members.contains(&l.source);
            let events = status_events(lines, group, window);
            if quantity.counts(0).is_some() {
                let matching: Vec<(Duration, String)> = events
                    .iter()
                    .filter(|(_, s)| s == status)
                    .map(|(at, s)| (*at, format!("answered {s}")))
                    .collect();
                return judge_count(*quantity, &matching)
                    .map_err(|actual| fail(actual, first_time(lines, group), &keep));
            }
            let verdicts: Vec<(String, Verdict)> = group
                .members
                .iter()
                .map(|m| {
                    // Every request of the member, in the window, got
                    // `status`; one that got no answer is a wrong answer.
                    let mine: Vec<Option<u16>> = view::client_events(lines, m)
                        .filter(|(at, _)| in_window(*at, window))
                        .filter_map(|(_, e)| match e {
                            ClientEvent::Response { status } => Some(Some(*status)),
                            ClientEvent::RequestFailed { .. } => Some(None),
                            _ => None,
                        })
                        .collect();
                    let v = if !mine.is_empty() && mine.iter().all(|s| *s == Some(*status)) {
                        Verdict::Pass
                    } else if mine.is_empty() {
                        Verdict::Fail(format!("{m} got no answer"))
                    } else {
                        let got: Vec<String> = mine
                            .iter()
                            .map(|s| s.map_or("no answer".to_string(), |s| s.to_string()))
                            .collect();
                        Verdict::Fail(format!("{m} got {}", got.join(", ")))
                    };
                    (m.clone(), v)
                })
                .collect();
            judge_members(*quantity, &verdicts).map_err(|actual| fail(actual, first_time(lines, group), &keep))
        }
        Expect::Backend {
            name, check, window, ..
        } => {
            let keep = |l: &TraceLine| &l.source == name || ctx.instances.contains(&l.source) || l.source == "world";
            backend_check(name, check, window, lines, ctx).map_err(|(actual, at)| fail(actual, at, &keep))
        }
    }
}

fn first_time(lines: &[TraceLine], group: &Group) -> Duration {
    lines
        .iter()
        .find(|l| group.members.contains(&l.source))
        .map(|l| l.at)
        .unwrap_or_default()
}

/// For a counted client check, what counts as a matching event.
enum Needed {
    Closed(u16),
    Handshake(u16),
}

fn counted(check: &ClientCheck) -> Option<Needed> {
    match check {
        ClientCheck::Closed(code) => Some(Needed::Closed(*code)),
        ClientCheck::Handshake(status) => Some(Needed::Handshake(*status)),
        _ => None,
    }
}

/// Events of the group that match, in the window. Used both for counting
/// and, per member, for the member quantities.
fn matching_events(
    lines: &[TraceLine],
    group: &Group,
    window: &Option<Window>,
    needed: &Needed,
) -> Vec<(Duration, String)> {
    lines
        .iter()
        .filter(|l| group.members.contains(&l.source) && in_window(l.at, window))
        .filter_map(|l| match (&l.event, needed) {
            (TraceEvent::Client(ClientEvent::Closed { code, .. }), Needed::Closed(want)) if code == want => {
                Some((l.at, format!("{} closed {code}", l.source)))
            }
            (TraceEvent::Client(ClientEvent::Opened { .. }), Needed::Handshake(101)) => {
                Some((l.at, format!("{} opened", l.source)))
            }
            (TraceEvent::Client(ClientEvent::Refused { status, .. }), Needed::Handshake(want)) if status == want => {
                Some((l.at, format!("{} answered {status}", l.source)))
            }
            _ => None,
        })
        .collect()
}

/// A counting quantity over matching events (the caller passes only
/// counting quantities).
fn judge_count(quantity: Quantity, events: &[(Duration, String)]) -> Result<(), String> {
    if quantity.counts(events.len()) == Some(true) {
        Ok(())
    } else {
        Err(format!("{} matching: {}", events.len(), listing(events)))
    }
}

fn judge_members(quantity: Quantity, verdicts: &[(String, Verdict)]) -> Result<(), String> {
    let failures: Vec<&str> = verdicts
        .iter()
        .filter_map(|(_, v)| match v {
            Verdict::Fail(why) => Some(why.as_str()),
            _ => None,
        })
        .collect();
    let passes = verdicts.iter().filter(|(_, v)| *v == Verdict::Pass).count();
    match quantity {
        Quantity::Any if passes > 0 => Ok(()),
        Quantity::Any => Err(if failures.is_empty() {
            "no member had anything to judge".into()
        } else {
            failures.join("; ")
        }),
        _ if !failures.is_empty() => Err(failures.join("; ")),
        _ if passes == 0 => Err("no member had anything to judge".into()),
        _ => Ok(()),
    }
}

fn client_verdict(check: &ClientCheck, lines: &[TraceLine], member: &str, window: &Option<Window>) -> Verdict {
    let events: Vec<(Duration, &ClientEvent)> = client_events(lines, member).collect();
    let opened: Vec<&ClientEvent> = events
        .iter()
        .filter(|(at, e)| matches!(e, ClientEvent::Opened { .. }) && in_window(*at, window))
        .map(|(_, e)| *e)
        .collect();
    let closes: Vec<(Duration, u16)> = events
        .iter()
        .filter_map(|(at, e)| match e {
            ClientEvent::Closed { code, .. } => Some((*at, *code)),
            _ => None,
        })
        .collect();
    match check {
        // A member that reconnects closes, and is answered, more than once:
        // every close (every answer) in the window must be the one expected,
        // so one good session cannot hide a bad one.
        ClientCheck::Closed(code) => {
            let inside: Vec<&(Duration, u16)> = closes.iter().filter(|(at, _)| in_window(*at, window)).collect();
            if !inside.is_empty() && inside.iter().all(|(_, c)| c == code) {
                Verdict::Pass
            } else {
                let seen: Vec<(Duration, String)> = closes.iter().map(|(at, c)| (*at, format!("closed {c}"))).collect();
                Verdict::Fail(format!("{member}: {}", listing(&seen)))
            }
        }
        ClientCheck::NeverClosed => match closes.first() {
            None if events.iter().any(|(_, e)| matches!(e, ClientEvent::Opened { .. })) => Verdict::Pass,
            None => Verdict::Fail(format!("{member} never opened a session")),
            Some((at, c)) => Verdict::Fail(format!("{member} closed {c} at {}", secs(*at))),
        },
        ClientCheck::Handshake(status) => {
            let answers: Vec<(Duration, u16)> = events
                .iter()
                .filter_map(|(at, e)| match e {
                    ClientEvent::Opened { .. } => Some((*at, 101)),
                    ClientEvent::Refused { status, .. } => Some((*at, *status)),
                    _ => None,
                })
                .collect();
            // Attempts that got no status at all are wrong answers too.
            let unanswered = events.iter().any(|(at, e)| {
                in_window(*at, window)
                    && matches!(
                        e,
                        ClientEvent::HandshakeFailed { .. }
                            | ClientEvent::ConnectFailed { .. }
                            | ClientEvent::TlsFailed { .. }
                            | ClientEvent::TimedOut { .. }
                    )
            });
            let inside: Vec<&(Duration, u16)> = answers.iter().filter(|(at, _)| in_window(*at, window)).collect();
            if !unanswered && !inside.is_empty() && inside.iter().all(|(_, s)| s == status) {
                Verdict::Pass
            } else {
                let seen: Vec<(Duration, String)> =
                    answers.iter().map(|(at, s)| (*at, format!("answered {s}"))).collect();
                let other: Vec<(Duration, String)> = events
                    .iter()
                    .filter(|(_, e)| {
                        matches!(
                            e,
                            ClientEvent::HandshakeFailed { .. }
                                | ClientEvent::ConnectFailed { .. }
                                | ClientEvent::TlsFailed { .. }
                                | ClientEvent::TimedOut { .. }
                        )
                    })
                    .map(|(at, e)| (*at, e.to_string()))
                    .collect();
                let all = [seen, other].concat();
                Verdict::Fail(format!("{member}: {}", listing(&all)))
            }
        }
        ClientCheck::Upgraded => every_open(member, &opened, |e| match e {
            ClientEvent::Opened { key, headers, .. } => upgrade_problem(key, headers),
            _ => None,
        }),
        ClientCheck::Subprotocol(want) => every_open(member, &opened, |e| match e {
            ClientEvent::Opened { subprotocol, .. } if subprotocol.as_deref() == Some(want.as_str()) => None,
            ClientEvent::Opened { subprotocol, .. } => Some(format!("subprotocol {subprotocol:?}")),
            _ => None,
        }),
        ClientCheck::ResponseHeaders(want) => every_open(member, &opened, |e| match e {
            ClientEvent::Opened { headers, .. } => want.iter().find_map(|(k, v)| {
                let got = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v);
                (got.map(String::as_str) != Some(v.as_str())).then(|| format!("{k}: {}", got.map_or("(absent)", |g| g)))
            }),
            _ => None,
        }),
        ClientCheck::Echoed => echoed(lines, member, &events),
        ClientCheck::Cookies(want) => cookies(member, &events, want, window),
        ClientCheck::ReconnectedWithin(within) => {
            let drops = unasked_closes(&events);
            if drops.is_empty() {
                return Verdict::Vacuous;
            }
            for drop in drops {
                let back = events
                    .iter()
                    .find(|(at, e)| *at >= drop && matches!(e, ClientEvent::Opened { .. }));
                match back {
                    Some((at, _)) if *at - drop <= *within => {}
                    Some((at, _)) => {
                        return Verdict::Fail(format!(
                            "{member} dropped at {} and reopened {} later",
                            secs(drop),
                            secs(*at - drop)
                        ))
                    }
                    None => return Verdict::Fail(format!("{member} dropped at {} and never reopened", secs(drop))),
                }
            }
            Verdict::Pass
        }
    }
}

/// When the member's sessions ended without the client asking: a drop
/// (1006), or a close the server started. A close that follows the client's
/// own Close frame is the client's doing and not counted.
fn unasked_closes(events: &[(Duration, &ClientEvent)]) -> Vec<Duration> {
    let mut asked = false;
    let mut out = Vec::new();
    for (at, e) in events {
        match e {
            ClientEvent::Opened { .. } => asked = false,
            ClientEvent::CloseSent { .. } => asked = true,
            ClientEvent::Closed { .. } if !asked => out.push(*at),
            _ => {}
        }
    }
    out
}

/// Passes when the member opened at least once and `problem` finds nothing
/// wrong with any of its opens.
/// The cookies set for `member` in the window are exactly `want`: every
/// name in it was set, with those attributes each time, and no other. A
/// member that made no request has nothing to judge and fails.
fn cookies(
    member: &str,
    events: &[(Duration, &ClientEvent)],
    want: &std::collections::BTreeMap<String, String>,
    window: &Option<Window>,
) -> Verdict {
    let asked = events.iter().any(|(at, e)| {
        in_window(*at, window)
            && matches!(
                e,
                ClientEvent::Opened { .. } | ClientEvent::Refused { .. } | ClientEvent::AppStep { .. }
            )
    });
    if !asked {
        return Verdict::Fail(format!("{member} got no answer to judge"));
    }
    let mut got: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> = Default::default();
    for (at, e) in events {
        if let ClientEvent::CookieStored { name, attributes } = e {
            if in_window(*at, window) {
                got.entry(name).or_default().insert(attributes);
            }
        }
    }
    let matches = got.len() == want.len()
        && want.iter().all(|(n, a)| {
            got.get(n.as_str())
                .is_some_and(|set| set.len() == 1 && set.contains(a.as_str()))
        });
    if matches {
        return Verdict::Pass;
    }
    let seen: Vec<String> = got
        .iter()
        .flat_map(|(n, set)| set.iter().map(move |a| format!("{n} ({a})")))
        .collect();
    Verdict::Fail(if seen.is_empty() {
        format!("{member} was set no cookie")
    } else {
        format!("{member} was set {}", seen.join(", "))
    })
}

fn every_open(member: &str, opened: &[&ClientEvent], problem: impl Fn(&ClientEvent) -> Option<String>) -> Verdict {
    if opened.is_empty() {
        return Verdict::Fail(format!("{member} never opened a session"));
    }
    match opened.iter().find_map(|e| problem(e)) {
        None => Verdict::Pass,
        Some(why) => Verdict::Fail(format!("{member}: {why}")),
    }
}

/// What is wrong with a 101, judged independently of the client library:
/// RFC 6455 §4.1's checks on the server's handshake.
fn upgrade_problem(key: &str, headers: &[(String, String)]) -> Option<String> {
    let get = |name: &str| {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    let upgrade = get("upgrade");
    if upgrade.len() != 1 || !upgrade[0].trim().eq_ignore_ascii_case("websocket") {
        return Some(format!("Upgrade: {upgrade:?}"));
    }
    let connection = get("connection");
    if !connection
        .iter()
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
    {
        return Some(format!("Connection: {connection:?}"));
    }
    let expected = handshake::accept_key(key.as_bytes());
    match get("sec-websocket-accept").as_slice() {
        [one] if one.trim() == expected => None,
        other => Some(format!("Sec-WebSocket-Accept {other:?}, expected {expected}")),
    }
}

fn echoed(lines: &[TraceLine], member: &str, events: &[(Duration, &ClientEvent)]) -> Verdict {
    let keys: Vec<&std::sync::Arc<str>> = events
        .iter()
        .filter_map(|(_, e)| match e {
            ClientEvent::Opened { key, .. } => Some(key),
            _ => None,
        })
        .collect();
    if keys.is_empty() {
        return Verdict::Fail(format!("{member} never opened a session"));
    }
    let data = session_data(lines);
    let mut exchanged = 0;
    for key in keys {
        let Some(d) = data.get(key) else { continue };
        exchanged += d.client_sent.len() + d.backend_sent.len();
        if let Some((i, sent, got)) = first_mismatch(&d.client_sent, &d.backend_received) {
            return Verdict::Fail(format!(
                "{member}: client to backend, message {i}: sent {}, the backend got {}",
                show(sent),
                show(got)
            ));
        }
        if let Some((i, sent, got)) = first_mismatch(&d.backend_sent, &d.client_received) {
            return Verdict::Fail(format!(
                "{member}: backend to client, message {i}: sent {}, the client got {}",
                show(sent),
                show(got)
            ));
        }
    }
    if exchanged == 0 {
        return Verdict::Fail(format!("{member}: no message exchange was recorded"));
    }
    Verdict::Pass
}

fn show(seen: Option<view::Seen>) -> String {
    match seen {
        None => "nothing".into(),
        Some(s) => format!(
            "{} {}B (digest {:016x})",
            if s.binary { "binary" } else { "text" },
            s.len,
            s.digest
        ),
    }
}

fn status_events(lines: &[TraceLine], group: &Group, window: &Option<Window>) -> Vec<(Duration, u16)> {
    lines
        .iter()
        .filter(|l| group.members.contains(&l.source) && in_window(l.at, window))
        .filter_map(|l| match &l.event {
            TraceEvent::Client(ClientEvent::Response { status }) => Some((l.at, *status)),
            _ => None,
        })
        .collect()
}

fn backend_check(
    name: &str,
    check: &BackendCheck,
    window: &Option<Window>,
    lines: &[TraceLine],
    ctx: &Context,
) -> Result<(), (String, Duration)> {
    let events: Vec<(Duration, &BackendEvent)> = view::backend_events(lines, name).collect();
    let opened: Vec<Duration> = events
        .iter()
        .filter(|(at, e)| matches!(e, BackendEvent::SessionOpened { .. }) && in_window(*at, window))
        .map(|(at, _)| *at)
        .collect();
    let requests: Vec<(Duration, &backend::SeenRequest)> = events
        .iter()
        .filter_map(|(at, e)| match e {
            BackendEvent::Request(r) if !r.is_probe() && in_window(*at, window) => Some((*at, r)),
            _ => None,
        })
        .collect();
    match check {
        BackendCheck::NoNewSessionsAfter(after) => match opened.iter().find(|t| *t > after) {
            None => Ok(()),
            Some(t) => {
                let late: Vec<(Duration, String)> = opened
                    .iter()
                    .filter(|t| *t > after)
                    .map(|t| (*t, "session opened".to_string()))
                    .collect();
                Err((listing(&late), *t))
            }
        },
        BackendCheck::Sessions { count, at_least } => {
            let n = opened.len();
            if n == *count || (*at_least && n >= *count) {
                Ok(())
            } else {
                Err((format!("{n} sessions"), window.map(|w| w.0).unwrap_or_default()))
            }
        }
        BackendCheck::Requests(count) => {
            if requests.len() == *count {
                Ok(())
            } else {
                let seen: Vec<(Duration, String)> = requests
                    .iter()
                    .map(|(at, r)| (*at, format!("{} {}", r.method, r.uri)))
                    .collect();
                Err((
                    format!("{} requests: {}", requests.len(), listing(&seen)),
                    requests.first().map(|r| r.0).unwrap_or_default(),
                ))
            }
        }
        BackendCheck::Health { healthy, at, instance } => {
            let Some(addr) = ctx.backend_addrs.get(name) else {
                return Err((format!("no address known for {name}"), *at));
            };
            let instances: Vec<&String> = match instance {
                Some(i) => vec![i],
                None => ctx.instances.iter().collect(),
            };
            for inst in instances {
                let state = view::healthy_at(lines, inst, addr, *at, ctx.initially_healthy);
                // On a real network the check is widened to a window around
                // `at` (see `Expect::widened`): the state must hold at some
                // moment of it, since a transition's time is only known to
                // the tolerance.
                let held_in_window = |(from, to): Window| {
                    let changes = view::gateway_events(lines, inst)
                        .map(|(t, _)| t)
                        .filter(|t| *t >= from && *t <= to);
                    std::iter::once(from)
                        .chain(changes)
                        .chain(std::iter::once(to))
                        .any(|t| view::healthy_at(lines, inst, addr, t, ctx.initially_healthy) == *healthy)
                };
                if state != *healthy && !window.is_some_and(held_in_window) {
                    let word = if state { "healthy" } else { "unhealthy" };
                    return Err((format!("{inst} had {name} {word} at {}", secs(*at)), *at));
                }
            }
            Ok(())
        }
        BackendCheck::CloseReceived(code) => {
            let sessions: Vec<(Duration, &std::sync::Arc<str>)> = events
                .iter()
                .filter_map(|(at, e)| match e {
                    BackendEvent::SessionOpened { key, .. } if in_window(*at, window) => Some((*at, key)),
                    _ => None,
                })
                .collect();
            if sessions.is_empty() {
                return Err((
                    format!("{name} opened no session"),
                    window.map(|w| w.0).unwrap_or_default(),
                ));
            }
            for (at, key) in sessions {
                let got = events.iter().find_map(|(_, e)| match e {
                    BackendEvent::CloseReceived { key: k, code } if k == key => Some(*code),
                    _ => None,
                });
                match got {
                    Some(Some(c)) if c == *code => {}
                    Some(Some(c)) => {
                        return Err((format!("the session opened at {} received close {c}", secs(at)), at))
                    }
                    Some(None) => {
                        return Err((
                            format!(
                                "the session opened at {} received a Close frame without a code",
                                secs(at)
                            ),
                            at,
                        ))
                    }
                    None => {
                        return Err((
                            format!("the session opened at {} received no Close frame", secs(at)),
                            at,
                        ))
                    }
                }
            }
            Ok(())
        }
        BackendCheck::Probes {
            method,
            path,
            host,
            count,
        } => {
            let probes: Vec<(Duration, &backend::SeenRequest)> = events
                .iter()
                .filter_map(|(at, e)| match e {
                    BackendEvent::Request(r) if r.is_probe() && in_window(*at, window) => Some((*at, r)),
                    _ => None,
                })
                .collect();
            let start = window.map(|w| w.0).unwrap_or_default();
            if let Some(n) = count {
                if probes.len() != *n {
                    let seen: Vec<(Duration, String)> = probes
                        .iter()
                        .map(|(at, r)| (*at, format!("{} {}", r.method, r.uri)))
                        .collect();
                    return Err((format!("{} probes: {}", probes.len(), listing(&seen)), start));
                }
            } else if probes.is_empty() {
                return Err((format!("{name} received no probe"), start));
            }
            for (at, r) in probes {
                let wrong = method.as_ref().is_some_and(|m| &r.method != m)
                    || path.as_ref().is_some_and(|p| &r.uri != p)
                    || host.as_ref().is_some_and(|h| r.header("host") != Some(h.as_str()));
                if wrong {
                    return Err((
                        format!(
                            "a probe was {} {} with Host: {}",
                            r.method,
                            r.uri,
                            r.header("host").unwrap_or("(absent)")
                        ),
                        at,
                    ));
                }
            }
            Ok(())
        }
        BackendCheck::Request { path, headers, absent } => {
            let considered: Vec<&(Duration, &backend::SeenRequest)> = requests
                .iter()
                .filter(|(_, r)| path.as_ref().is_none_or(|p| &r.uri == p))
                .collect();
            if considered.is_empty() {
                let seen: Vec<(Duration, String)> = requests
                    .iter()
                    .map(|(at, r)| (*at, format!("{} {}", r.method, r.uri)))
                    .collect();
                return Err((format!("no such request; it got {}", listing(&seen)), Duration::ZERO));
            }
            for (at, r) in considered {
                for (k, v) in headers {
                    if r.header(k) != Some(v.as_str()) {
                        return Err((
                            format!("{} {} had {k}: {}", r.method, r.uri, r.header(k).unwrap_or("(absent)")),
                            *at,
                        ));
                    }
                }
                for k in absent {
                    if let Some(v) = r.header(k) {
                        return Err((format!("{} {} had {k}: {v}", r.method, r.uri), *at));
                    }
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests;
