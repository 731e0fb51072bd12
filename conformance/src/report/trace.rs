//! The readable trace: the trace without chatter, with host names, and
//! each client's 1006 followed by a line saying what caused it.
//!
//! ```text
//!     16.005s  gateway  #1 session closed by gateway (idle timeout: ...) ...
//!     16.006s  c1       closed code=1006 (no close frame)
//!                       cause: gateway #1 idle timeout (backend_settings[0].request_timeout = 15s); predicted by AGW-TIMEOUT-1
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use gateway::ProfileName;
use sim::trace::TraceLine;

use crate::catalogue::Requirement;
use crate::explain;

/// The readable rendering of `lines`. Pure.
pub fn readable(
    lines: &[TraceLine],
    names: &BTreeMap<IpAddr, String>,
    profile: ProfileName,
    catalogue: &[Requirement],
) -> String {
    let notes: BTreeMap<usize, String> = explain::explain_closes(lines, profile, catalogue)
        .into_iter()
        .map(|(i, e)| (i, e.to_string()))
        .collect();
    let kept: Vec<usize> = (0..lines.len()).filter(|&i| !lines[i].event.is_chatter()).collect();
    with_notes(lines, &kept, names, &notes)
}

/// Renders the lines at `kept` (indices into `lines`), each followed by
/// its note, if any, indented to the event column. Pure.
pub fn with_notes(
    lines: &[TraceLine],
    kept: &[usize],
    names: &BTreeMap<IpAddr, String>,
    notes: &BTreeMap<usize, String>,
) -> String {
    let shown: Vec<TraceLine> = kept.iter().filter_map(|&i| lines.get(i).cloned()).collect();
    let text = sim::trace::render(&shown, names);
    let mut out = String::with_capacity(text.len());
    for ((rendered, &i), line) in text.lines().zip(kept).zip(&shown) {
        let _ = writeln!(out, "{rendered}");
        if let Some(note) = notes.get(&i) {
            let event = sim::trace::describe(&line.event, names);
            let indent = rendered.len().saturating_sub(event.len());
            let _ = writeln!(out, "{:indent$}{note}", "");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::catalogue;
    use crate::explain::sessions::tests::{client_close, gateway_close, line, open};
    use gateway::event::{CloseReason, Side};
    use gateway::session::Timer;
    use sim::client::{ClientEvent, Control};

    #[test]
    fn a_1006_is_followed_by_its_cause_under_the_event_column() {
        let mut lines = open(1000, "gateway", 1, "b1", "c1", "k1");
        lines.push(line(6000, "c1", ClientEvent::ControlSent(Control::Ping)));
        let idle = CloseReason::IdleTimeout(Timer::key(
            Duration::from_secs(15),
            "backend_settings[0].request_timeout",
        ));
        lines.push(gateway_close(21_003, "gateway", 1, Side::Gateway, idle));
        lines.push(client_close(21_004, "c1", 1006));
        let text = readable(
            &lines,
            &BTreeMap::new(),
            ProfileName::ApplicationGateway,
            &catalogue::requirements(),
        );
        assert!(!text.contains("ping"), "chatter is left out:\n{text}");
        let rows: Vec<&str> = text.lines().collect();
        let closed = rows
            .iter()
            .position(|r| r.ends_with("closed code=1006 (no close frame)"))
            .expect("the close is shown");
        let note = rows[closed + 1];
        assert_eq!(
            note.trim_start(),
            "cause: gateway #1 idle timeout (backend_settings[0].request_timeout = 15s); predicted by AGW-TIMEOUT-1"
        );
        let column = rows[closed].find("closed code").expect("event text");
        assert_eq!(note.len() - note.trim_start().len(), column, "aligned under the event");
    }
}
