//! Targets: what sits between a scenario's clients and backends.
//!
//! | module | what it is |
//! |---|---|
//! | [`sim`] | the reference gateway in the turmoil simulator, in virtual time |
//! | [`real`] | a real network on loopback, in wall-clock time: wsgate in this process, nginx or HAProxy as processes, or a gateway already running |
//! | [`needs`] | pure: what a scenario needs of a target, and the skip reason when the target lacks it |
//! | [`timing`] | pure: the time scale a real run uses, its wall-clock limit, and the tolerance its expectations get |
//!
//! A target runs a [`Scenario`](crate::scenario::Scenario) and returns
//! what was observed: the typed trace and the host names it mentions.
//! Judging is the same on every target; only which expectations can be
//! judged differs (a gateway that is not wsgate gives no gateway trace).

pub mod needs;
pub mod real;
pub mod sim;
pub mod timing;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ::sim::trace::TraceLine;

use crate::peer::PeerKind;

/// What a run produced.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub lines: Vec<TraceLine>,
    /// Host names by address, for renderings.
    pub names: BTreeMap<IpAddr, String>,
    /// Set when the run itself failed (a client script error, or the run
    /// outlived its time limit).
    pub error: Option<String>,
}

/// A gateway the scenarios can run against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Target {
    /// The reference gateway in the simulator (the default).
    #[default]
    Sim,
    /// The reference gateway on real loopback sockets.
    Real,
    /// nginx or HAProxy, configured from the scenario's gateway section.
    Peer(PeerKind),
    /// A gateway already running at an address the user gives.
    External,
}

impl Target {
    /// Every target, in the order the matrix shows them.
    pub const ALL: [Target; 5] = [
        Target::Sim,
        Target::Real,
        Target::Peer(PeerKind::Nginx),
        Target::Peer(PeerKind::Haproxy),
        Target::External,
    ];

    /// The name on the command line, in test names and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Sim => "sim",
            Target::Real => "real",
            Target::Peer(p) => p.as_str(),
            Target::External => "external",
        }
    }

    /// Whether the gateway is wsgate itself, whose trace holds the
    /// gateway's own lines and whose failures are bugs. On any other
    /// gateway a failure is a finding: where it differs from the
    /// documents.
    pub fn is_wsgate(self) -> bool {
        matches!(self, Target::Sim | Target::Real)
    }

    /// Whether the run is on a real network, in wall-clock time.
    pub fn is_real_network(self) -> bool {
        !matches!(self, Target::Sim)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a name that is not a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown target `{0}`; expected sim, real, nginx, haproxy or external")]
pub struct UnknownTarget(pub String);

impl FromStr for Target {
    type Err = UnknownTarget;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTarget(s.to_string()))
    }
}

/// Parses `sim,real,nginx`: each name once, in the order given.
pub fn parse_list(text: &str) -> Result<Vec<Target>, UnknownTarget> {
    let mut out = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let t: Target = name.parse()?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.is_empty() {
        return Err(UnknownTarget(text.to_string()));
    }
    Ok(out)
}

/// Where an external gateway is, and where its backends must listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    /// The gateway's address (from `--url ws://host:port`).
    pub addr: SocketAddr,
    /// One address per scenario backend, in order (`--backend-listen`).
    pub backends: Vec<SocketAddr>,
}

/// Reads `ws://host:port[/]` into an address; the host must resolve
/// (`localhost` does). `wss://` is refused: the harness's clients would
/// need to trust the gateway's certificate.
pub fn parse_url(url: &str) -> Result<SocketAddr, String> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| match url.strip_prefix("wss://") {
            Some(_) => format!("`{url}`: wss:// is not supported yet; give the gateway's ws:// listener"),
            None => format!("`{url}`: expected ws://host:port"),
        })?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("`{url}`: expected ws://host:port"));
    }
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    use std::net::ToSocketAddrs;
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("`{url}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{url}`: the host has no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_lists_parse_in_order_without_repeats() {
        assert_eq!(
            parse_list("sim,real, nginx,haproxy,sim").unwrap(),
            vec![
                Target::Sim,
                Target::Real,
                Target::Peer(PeerKind::Nginx),
                Target::Peer(PeerKind::Haproxy)
            ]
        );
        assert_eq!(parse_list("external").unwrap(), vec![Target::External]);
        assert_eq!(parse_list("envoy").unwrap_err(), UnknownTarget("envoy".into()));
        assert!(parse_list(",").is_err());
        for t in Target::ALL {
            assert_eq!(t.as_str().parse::<Target>().unwrap(), t);
        }
        assert!(Target::Real.is_wsgate() && !Target::External.is_wsgate());
    }

    #[test]
    fn urls_name_an_address() {
        assert_eq!(
            parse_url("ws://127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(parse_url("ws://127.0.0.1:8080/chat").unwrap().port(), 8080);
        assert_eq!(parse_url("ws://127.0.0.1").unwrap().port(), 80);
        assert!(parse_url("wss://127.0.0.1:443")
            .unwrap_err()
            .contains("wss:// is not supported"));
        assert!(parse_url("http://x").unwrap_err().contains("expected ws://host:port"));
        assert!(parse_url("ws://").is_err());
    }
}
