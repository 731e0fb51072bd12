//! Facts read off a typed trace, shared by expectations, invariants and
//! reports. Pure.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use backend::{BackendEvent, Direction};
use gateway::config::BackendAddr;
use gateway::Event;
use sim::client::ClientEvent;
use sim::trace::{TraceEvent, TraceLine};

/// A client's events, in order, with their times.
pub fn client_events<'a>(lines: &'a [TraceLine], source: &'a str) -> impl Iterator<Item = (Duration, &'a ClientEvent)> {
    lines.iter().filter_map(move |l| match &l.event {
        TraceEvent::Client(e) if l.source == source => Some((l.at, e)),
        _ => None,
    })
}

/// A backend's events, in order, with their times.
pub fn backend_events<'a>(
    lines: &'a [TraceLine],
    backend: &'a str,
) -> impl Iterator<Item = (Duration, &'a BackendEvent)> {
    lines.iter().filter_map(move |l| match &l.event {
        TraceEvent::Backend(e) if l.source == backend => Some((l.at, e)),
        _ => None,
    })
}

/// A gateway instance's events, in order, with their times.
pub fn gateway_events<'a>(lines: &'a [TraceLine], instance: &'a str) -> impl Iterator<Item = (Duration, &'a Event)> {
    lines.iter().filter_map(move |l| match &l.event {
        TraceEvent::Gateway(e) if l.source == instance => Some((l.at, e)),
        _ => None,
    })
}

/// One data message as seen on one side: its kind, length and digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    pub binary: bool,
    pub len: usize,
    pub digest: u64,
}

/// Both sides of one session's data, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionData {
    pub client_sent: Vec<Seen>,
    pub client_received: Vec<Seen>,
    pub backend_received: Vec<Seen>,
    pub backend_sent: Vec<Seen>,
}

/// Every session's data, by its `Sec-WebSocket-Key`.
pub fn session_data(lines: &[TraceLine]) -> BTreeMap<Arc<str>, SessionData> {
    let mut out: BTreeMap<Arc<str>, SessionData> = BTreeMap::new();
    for l in lines {
        match &l.event {
            TraceEvent::Client(ClientEvent::Sent {
                key,
                binary,
                len,
                digest,
            }) => out.entry(Arc::clone(key)).or_default().client_sent.push(Seen {
                binary: *binary,
                len: *len,
                digest: *digest,
            }),
            TraceEvent::Client(ClientEvent::Received {
                key,
                binary,
                len,
                digest,
            }) => out.entry(Arc::clone(key)).or_default().client_received.push(Seen {
                binary: *binary,
                len: *len,
                digest: *digest,
            }),
            TraceEvent::Backend(BackendEvent::Message {
                key,
                direction,
                binary,
                len,
                digest,
            }) => {
                let data = out.entry(Arc::clone(key)).or_default();
                let seen = Seen {
                    binary: *binary,
                    len: *len,
                    digest: *digest,
                };
                match direction {
                    Direction::In => data.backend_received.push(seen),
                    Direction::Out => data.backend_sent.push(seen),
                }
            }
            _ => {}
        }
    }
    out
}

/// Where two message sequences first differ: the 1-based index of the
/// message, and what each side had there (`None` past its end).
pub fn first_mismatch(sent: &[Seen], received: &[Seen]) -> Option<(usize, Option<Seen>, Option<Seen>)> {
    (0..sent.len().max(received.len()))
        .find(|&i| sent.get(i) != received.get(i))
        .map(|i| (i + 1, sent.get(i).copied(), received.get(i).copied()))
}

/// Whether `backend` was in `instance`'s pool at `at`: the state after the
/// last probe that instance completed at or before `at`, since it last
/// (re)started; `initially` before any.
pub fn healthy_at(lines: &[TraceLine], instance: &str, backend: &BackendAddr, at: Duration, initially: bool) -> bool {
    let mut state = initially;
    for (t, e) in gateway_events(lines, instance) {
        if t > at {
            break;
        }
        match e {
            Event::ListenerBound { .. } => state = initially,
            Event::ProbeCompleted {
                backend: b, healthy, ..
            } if b == backend => state = *healthy,
            _ => {}
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(d: u64) -> Seen {
        Seen {
            binary: true,
            len: 8,
            digest: d,
        }
    }

    #[test]
    fn the_first_mismatch_names_its_message() {
        assert_eq!(first_mismatch(&[seen(1), seen(2)], &[seen(1), seen(2)]), None);
        assert_eq!(
            first_mismatch(&[seen(1), seen(2)], &[seen(1), seen(9)]),
            Some((2, Some(seen(2)), Some(seen(9))))
        );
        assert_eq!(
            first_mismatch(&[seen(1), seen(2)], &[seen(1)]),
            Some((2, Some(seen(2)), None)),
            "a lost message"
        );
        assert_eq!(
            first_mismatch(&[], &[seen(3)]),
            Some((1, None, Some(seen(3)))),
            "an extra one"
        );
    }
}
