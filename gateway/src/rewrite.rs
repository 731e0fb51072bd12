//! Request rewrites: header set/remove and URL path rewrite, applied to a
//! request (so to a WebSocket handshake) before it is forwarded. Nothing is
//! rewritten after a 101 (doc 000). Pure.

use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use regex::Regex;

/// A compiled rewrite set.
#[derive(Debug, Clone)]
pub struct Rewrite {
    pub name: String,
    set: Vec<(HeaderName, HeaderValue)>,
    remove: Vec<HeaderName>,
    path: Option<(Regex, String)>,
}

impl Rewrite {
    /// A compiled set; config validation builds it, compiling the path
    /// pattern once.
    pub fn new(
        name: String,
        set: Vec<(HeaderName, HeaderValue)>,
        remove: Vec<HeaderName>,
        path: Option<(Regex, String)>,
    ) -> Rewrite {
        Rewrite {
            name,
            set,
            remove,
            path,
        }
    }

    /// Applies the set to a request's path-and-query and headers. Removals
    /// run before sets, so a set header always ends up present.
    pub fn apply(&self, uri: &Uri, headers: &mut HeaderMap) -> Uri {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value) in &self.set {
            headers.insert(name.clone(), value.clone());
        }
        let Some((pattern, replacement)) = &self.path else {
            return uri.clone();
        };
        let path = uri.path();
        if !pattern.is_match(path) {
            return uri.clone();
        }
        let new_path = pattern.replace(path, replacement.as_str());
        let rebuilt = match uri.query() {
            Some(q) => format!("{new_path}?{q}"),
            None => new_path.into_owned(),
        };
        // A replacement that yields an invalid URI leaves the request as it
        // was rather than failing it.
        rebuilt.parse().unwrap_or_else(|_| uri.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> Rewrite {
        Rewrite::new(
            "rs".into(),
            vec![(HeaderName::from_static("x-via"), HeaderValue::from_static("wsgate"))],
            vec![HeaderName::from_static("x-debug")],
            Some((Regex::new("^/public/(.*)$").unwrap(), "/internal/$1".into())),
        )
    }

    #[test]
    fn rewrites_path_keeps_query_and_edits_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-debug", "1".parse().unwrap());
        let uri = set().apply(&"/public/chat?room=1".parse().unwrap(), &mut h);
        assert_eq!(uri, "/internal/chat?room=1");
        assert_eq!(h["x-via"], "wsgate");
        assert!(h.get("x-debug").is_none());
    }

    #[test]
    fn paths_that_do_not_match_are_kept() {
        let uri = set().apply(&"/other".parse().unwrap(), &mut HeaderMap::new());
        assert_eq!(uri, "/other");
    }
}
