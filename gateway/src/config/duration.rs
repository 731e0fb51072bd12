//! Durations written as strings (`"20s"`, `"5m"`, `"4h"`, `"1h 30m"`).

use std::fmt;

use serde::{Deserialize, Deserializer};

/// The longest duration a config or scenario file may give: a year (365.25
/// days, what `"1y"` means). Any
/// longer is as good as never, and the cap keeps every deadline the gateway
/// computes (`now + timeout`) far from overflowing.
pub const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(31_557_600);

/// A duration in a config or scenario file. Parsed with `humantime`, so the
/// usual units (`ms`, `s`, `m`, `h`, combinations) all work, and displayed
/// back the same way.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(std::time::Duration);

impl Duration {
    pub const fn from_secs(secs: u64) -> Duration {
        Duration(std::time::Duration::from_secs(secs))
    }

    pub const fn from_millis(ms: u64) -> Duration {
        Duration(std::time::Duration::from_millis(ms))
    }

    /// The value as a standard duration.
    pub const fn get(self) -> std::time::Duration {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    /// Whether it is above [`MAX_DURATION`].
    pub fn is_too_long(self) -> bool {
        self.0 > MAX_DURATION
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Duration(d)
    }
}

impl std::str::FromStr for Duration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(s.trim())
            .map(Duration)
            .map_err(|e| format!("expected a duration such as \"20s\", \"5m\" or \"4h\", found {s:?} ({e})"))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Duration({self})")
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documents_units() {
        assert_eq!("20s".parse::<Duration>().unwrap().get().as_secs(), 20);
        assert_eq!("5m".parse::<Duration>().unwrap().get().as_secs(), 300);
        assert_eq!("4h".parse::<Duration>().unwrap().get().as_secs(), 14_400);
        assert_eq!("1h 30m".parse::<Duration>().unwrap().get().as_secs(), 5_400);
        assert_eq!("250ms".parse::<Duration>().unwrap().get().as_millis(), 250);
    }

    #[test]
    fn rejects_numbers_without_units_and_garbage() {
        assert!("20".parse::<Duration>().is_err());
        assert!("soon".parse::<Duration>().is_err());
        assert!("".parse::<Duration>().is_err());
    }

    #[test]
    fn displays_round_trip() {
        for text in ["20s", "5m", "4h", "1h 30m", "250ms"] {
            let d: Duration = text.parse().unwrap();
            assert_eq!(d.to_string().parse::<Duration>().unwrap(), d);
        }
    }
}
