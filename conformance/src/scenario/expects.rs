//! `[[expect]]` entries to typed expectations: exactly one subject, exactly
//! one assertion that belongs to it, a quantity that fits it, a window the
//! right way round.

use ::gateway::config::KeyPath;

use super::file::{ExpectEntry, HealthWord, Members, ScenarioFile};
use super::{unknown, ClientSpec, Issues, RequestSpec};
use crate::expect::{BackendCheck, ClientCheck, Expect, Group, Quantity, RequestCheck};

/// A group and its members, by every name an expectation may use: the
/// group's own, and each member's (`c1.2`).
fn groups<'a>(named: impl Iterator<Item = (&'a str, usize)>) -> Vec<Group> {
    let mut out = Vec::new();
    for (name, count) in named {
        let members: Vec<String> = if count == 1 {
            vec![name.to_string()]
        } else {
            (1..=count).map(|i| format!("{name}.{i}")).collect()
        };
        if count > 1 {
            out.extend(members.iter().map(|m| Group::single(m)));
        }
        out.push(Group {
            name: name.to_string(),
            members,
        });
    }
    out
}

type Problem = (Option<&'static str>, String);

pub(super) fn build(
    file: &ScenarioFile,
    clients: &[ClientSpec],
    requests: &[RequestSpec],
    instances: &[String],
    issues: &mut Issues,
) -> Vec<Expect> {
    let client_groups = groups(clients.iter().map(|c| (c.script.name.as_str(), c.script.count)));
    let request_groups = groups(requests.iter().map(|r| (r.script.name.as_str(), r.script.count)));
    let backends: Vec<&str> = file.backends.iter().map(|b| b.name.as_str()).collect();
    let mut out = Vec::new();
    for (i, e) in file.expect.iter().enumerate() {
        match expectation(e, &client_groups, &request_groups, &backends, instances) {
            Ok(x) => out.push(x),
            Err((key, message)) => {
                let mut path = KeyPath::item("expect", i);
                if let Some(k) = key {
                    path = path.key(k);
                }
                issues.push((path, message));
            }
        }
    }
    out
}

const CLIENT_KEYS: &str = "`closed`, `never_closed`, `handshake`, `upgraded`, `subprotocol`, `response_headers`, \
                           `cookies`, `echoed` or `reconnected_within`";
const BACKEND_KEYS: &str = "`no_new_sessions_after`, `sessions`, `sessions_at_least`, `requests`, `health`, \
                            `close_received`, `probes` or `request_path`/`request_headers`/`request_headers_absent`";

fn expectation(
    e: &ExpectEntry,
    clients: &[Group],
    requests: &[Group],
    backends: &[&str],
    instances: &[String],
) -> Result<Expect, Problem> {
    let subjects = [e.client.is_some(), e.backend.is_some(), e.request.is_some()];
    if subjects.iter().filter(|s| **s).count() != 1 {
        return Err((
            None,
            "expected exactly one of `client`, `request` or `backend`: what this is about".into(),
        ));
    }
    let window = match e.between {
        Some([a, b]) if a > b => {
            return Err((
                Some("between"),
                format!("the window ends ({b}) before it starts ({a}); expected [earlier, later]"),
            ))
        }
        Some([a, b]) => Some((a.get(), b.get())),
        None => None,
    };
    let quantity = quantity(e)?;
    if let Some(inst) = &e.instance {
        if !instances.contains(inst) {
            return Err((Some("instance"), unknown("gateway instance", inst, instances)));
        }
    }
    if let Some(name) = &e.client {
        let group = find(clients, name, "client")?;
        let check = client_check(e)?;
        if !matches!(quantity, Quantity::Every | Quantity::Any)
            && !matches!(check, ClientCheck::Closed(_) | ClientCheck::Handshake(_))
        {
            return Err((
                None,
                "`times`, `at_least` and `at_most` count closes and handshakes only".into(),
            ));
        }
        return Ok(Expect::Client {
            group,
            check,
            quantity,
            window,
        });
    }
    if let Some(name) = &e.request {
        let group = find(requests, name, "request")?;
        let kinds = client_kinds(e) + backend_kinds(e);
        let Some(status) = e.status.filter(|_| kinds == 0) else {
            return Err((None, "expected `status` (the only assertion about a request)".into()));
        };
        return Ok(Expect::Request {
            group,
            check: RequestCheck::Status(status),
            quantity,
            window,
        });
    }
    let name = e.backend.clone().unwrap_or_default();
    if !backends.contains(&name.as_str()) {
        return Err((Some("backend"), unknown("backend", &name, backends)));
    }
    if !matches!(quantity, Quantity::Every | Quantity::Any) {
        return Err((
            None,
            "`times`, `at_least` and `at_most` are for clients and requests; use `sessions` or `requests`".into(),
        ));
    }
    Ok(Expect::Backend {
        name,
        check: backend_check(e)?,
        quantity,
        window,
    })
}

fn find(groups: &[Group], name: &str, kind: &str) -> Result<Group, Problem> {
    match groups.iter().find(|g| g.name == name) {
        Some(g) => Ok(g.clone()),
        None => {
            let known: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
            Err((
                Some(if kind == "client" { "client" } else { "request" }),
                unknown(kind, name, &known),
            ))
        }
    }
}

fn quantity(e: &ExpectEntry) -> Result<Quantity, Problem> {
    let counts = [e.times, e.at_least, e.at_most];
    match (e.members, counts) {
        (Some(_), [None, None, None]) | (None, [None, None, None]) => Ok(match e.members {
            Some(Members::Any) => Quantity::Any,
            _ => Quantity::Every,
        }),
        (None, [Some(n), None, None]) => Ok(Quantity::Times(n)),
        (None, [None, Some(n), None]) => Ok(Quantity::AtLeast(n)),
        (None, [None, None, Some(n)]) => Ok(Quantity::AtMost(n)),
        _ => Err((
            None,
            "expected at most one of `members`, `times`, `at_least` or `at_most`".into(),
        )),
    }
}

fn client_kinds(e: &ExpectEntry) -> usize {
    [
        e.closed.is_some(),
        e.never_closed == Some(true),
        e.handshake.is_some(),
        e.upgraded == Some(true),
        e.subprotocol.is_some(),
        e.response_headers.is_some(),
        e.cookies.is_some(),
        e.echoed == Some(true),
        e.reconnected_within.is_some(),
    ]
    .iter()
    .filter(|k| **k)
    .count()
}

fn backend_kinds(e: &ExpectEntry) -> usize {
    [
        e.no_new_sessions_after.is_some(),
        e.sessions.is_some(),
        e.sessions_at_least.is_some(),
        e.requests.is_some(),
        e.health.is_some(),
        e.request_path.is_some() || e.request_headers.is_some() || e.request_headers_absent.is_some(),
        e.close_received.is_some(),
        e.probes.is_some(),
    ]
    .iter()
    .filter(|k| **k)
    .count()
}

fn client_check(e: &ExpectEntry) -> Result<ClientCheck, Problem> {
    if client_kinds(e) != 1 || backend_kinds(e) != 0 || e.status.is_some() {
        return Err((None, format!("expected exactly one of {CLIENT_KEYS} about a client")));
    }
    if let Some(code) = e.closed {
        if !(1000..=4999).contains(&code) {
            return Err((Some("closed"), format!("expected a close code 1000-4999, found {code}")));
        }
        return Ok(ClientCheck::Closed(code));
    }
    if e.never_closed == Some(true) {
        return Ok(ClientCheck::NeverClosed);
    }
    if let Some(status) = e.handshake {
        if !(100..=599).contains(&status) {
            return Err((Some("handshake"), format!("expected a status 100-599, found {status}")));
        }
        return Ok(ClientCheck::Handshake(status));
    }
    if e.upgraded == Some(true) {
        return Ok(ClientCheck::Upgraded);
    }
    if let Some(p) = &e.subprotocol {
        return Ok(ClientCheck::Subprotocol(p.clone()));
    }
    if let Some(h) = &e.response_headers {
        return Ok(ClientCheck::ResponseHeaders(h.clone()));
    }
    if let Some(c) = &e.cookies {
        return Ok(ClientCheck::Cookies(c.clone()));
    }
    if e.echoed == Some(true) {
        return Ok(ClientCheck::Echoed);
    }
    match e.reconnected_within {
        Some(d) => Ok(ClientCheck::ReconnectedWithin(d.get())),
        None => Err((None, format!("expected exactly one of {CLIENT_KEYS}"))),
    }
}

fn backend_check(e: &ExpectEntry) -> Result<BackendCheck, Problem> {
    if backend_kinds(e) != 1 || client_kinds(e) != 0 || e.status.is_some() {
        return Err((None, format!("expected exactly one of {BACKEND_KEYS} about a backend")));
    }
    if e.at.is_some() && e.health.is_none() {
        return Err((Some("at"), "`at` goes with `health`".into()));
    }
    if let Some(after) = e.no_new_sessions_after {
        return Ok(BackendCheck::NoNewSessionsAfter(after.get()));
    }
    if let Some(count) = e.sessions {
        return Ok(BackendCheck::Sessions { count, at_least: false });
    }
    if let Some(count) = e.sessions_at_least {
        return Ok(BackendCheck::Sessions { count, at_least: true });
    }
    if let Some(n) = e.requests {
        return Ok(BackendCheck::Requests(n));
    }
    if let Some(word) = e.health {
        let Some(at) = e.at else {
            return Err((None, "a `health` expectation needs `at`: when to check".into()));
        };
        return Ok(BackendCheck::Health {
            healthy: word == HealthWord::Healthy,
            at: at.get(),
            instance: e.instance.clone(),
        });
    }
    if let Some(code) = e.close_received {
        if !(1000..=4999).contains(&code) {
            return Err((
                Some("close_received"),
                format!("expected a close code 1000-4999, found {code}"),
            ));
        }
        return Ok(BackendCheck::CloseReceived(code));
    }
    if let Some(p) = &e.probes {
        if p.method.is_none() && p.path.is_none() && p.host.is_none() && p.count.is_none() {
            return Err((
                Some("probes"),
                "expected at least one of `method`, `path`, `host` or `count`".into(),
            ));
        }
        return Ok(BackendCheck::Probes {
            method: p.method.clone(),
            path: p.path.clone(),
            host: p.host.clone(),
            count: p.count,
        });
    }
    Ok(BackendCheck::Request {
        path: e.request_path.clone(),
        headers: e.request_headers.clone().unwrap_or_default(),
        absent: e.request_headers_absent.clone().unwrap_or_default(),
    })
}
