//! A client's cookie jar: what `Set-Cookie` headers gave it, sent back in
//! `Cookie` on its next requests, as a browser does for a WebSocket
//! handshake and for SignalR's and socket.io's requests. Pure.
//!
//! Only what affinity needs: names, values and the attributes as written
//! (for the trace); no domains, paths or expiry, since every request of a
//! scripted client goes to one site.

use std::collections::BTreeMap;

/// A cookie as a response set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    /// Everything after the value, as written (`Path=/; Secure`).
    pub attributes: String,
}

impl SetCookie {
    /// Parses a `Set-Cookie` value (RFC 6265 §5.2): `name=value` and then
    /// `;`-separated attributes. `None` without a `=` or with no name.
    pub fn parse(text: &str) -> Option<SetCookie> {
        let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
        let (name, value) = pair.split_once('=')?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        Some(SetCookie {
            name: name.to_string(),
            value: value.trim().to_string(),
            attributes: attributes
                .split(';')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .collect::<Vec<_>>()
                .join("; "),
        })
    }
}

/// Cookies by name, in name order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CookieJar {
    cookies: BTreeMap<String, String>,
}

impl CookieJar {
    pub fn new() -> CookieJar {
        CookieJar::default()
    }

    /// Stores every cookie among `headers` (`set-cookie` entries, names in
    /// any case) and returns them, in the order they came.
    pub fn store<'a>(&mut self, headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<SetCookie> {
        let set: Vec<SetCookie> = headers
            .into_iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| SetCookie::parse(v))
            .collect();
        for c in &set {
            self.cookies.insert(c.name.clone(), c.value.clone());
        }
        set
    }

    /// The `Cookie` header for the next request, if the jar holds any.
    pub fn header(&self) -> Option<String> {
        if self.cookies.is_empty() {
            return None;
        }
        Some(
            self.cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_cookie_values_parse_into_name_value_and_attributes() {
        let c = SetCookie::parse("ApplicationGatewayAffinityCORS=ab12; Path=/; SameSite=None; Secure").unwrap();
        assert_eq!(c.name, "ApplicationGatewayAffinityCORS");
        assert_eq!(c.value, "ab12");
        assert_eq!(c.attributes, "Path=/; SameSite=None; Secure");
        assert_eq!(SetCookie::parse("a=").unwrap().value, "");
        assert_eq!(SetCookie::parse("plain").map(|c| c.name), None);
        assert_eq!(SetCookie::parse("=v; Path=/"), None);
    }

    #[test]
    fn the_jar_sends_back_the_latest_value_of_each_cookie() {
        let mut jar = CookieJar::new();
        assert_eq!(jar.header(), None);
        let stored = jar.store([
            ("content-type", "text/plain"),
            ("set-cookie", "b=1; Path=/"),
            ("Set-Cookie", "a=2"),
        ]);
        assert_eq!(stored.len(), 2);
        assert_eq!(jar.header().as_deref(), Some("a=2; b=1"));
        jar.store([("set-cookie", "b=3")]);
        assert_eq!(jar.header().as_deref(), Some("a=2; b=3"), "replaced, not added");
    }
}
