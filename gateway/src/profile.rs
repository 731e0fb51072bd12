//! The documented systems a gateway can behave like.
//!
//! Each profile names one of the source documents in `shared/seeds/`. The
//! behaviours a profile selects (session timers, probe defaults, what happens
//! when every backend is unhealthy) are looked up from the profile as typed
//! values, never by comparing names in the data path.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// A conformance profile: which document's behaviour the gateway follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileName {
    /// Azure Application Gateway, current text (docs 000 and 003).
    ApplicationGateway,
    /// Azure Application Gateway as published in 2016 (doc 001).
    ApplicationGateway2016,
    /// Azure Front Door WebSocket preview (doc 002).
    FrontDoor,
}

impl ProfileName {
    /// Every profile, in a stable order.
    pub const ALL: [ProfileName; 3] = [
        ProfileName::ApplicationGateway,
        ProfileName::ApplicationGateway2016,
        ProfileName::FrontDoor,
    ];

    /// The name used in config files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileName::ApplicationGateway => "application-gateway",
            ProfileName::ApplicationGateway2016 => "application-gateway-2016",
            ProfileName::FrontDoor => "front-door",
        }
    }
}

impl fmt::Display for ProfileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a name that is not a profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile `{0}`; expected one of application-gateway, application-gateway-2016, front-door")]
pub struct UnknownProfile(pub String);

impl FromStr for ProfileName {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProfileName::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProfile(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in ProfileName::ALL {
            assert_eq!(p.as_str().parse::<ProfileName>().unwrap(), p);
        }
        assert!("azure".parse::<ProfileName>().is_err());
    }
}
