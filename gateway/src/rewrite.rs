//! Request rewrites: header set/remove and URL path rewrite, applied to a
//! request (so to a WebSocket handshake) before it is forwarded. Nothing is
//! rewritten after a 101 (doc 000). Pure.

use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use regex::Regex;

use crate::config::RewriteSetConfig;

/// A compiled rewrite set.
#[derive(Debug, Clone)]
pub struct Rewrite {
    pub name: String,
    set: Vec<(HeaderName, HeaderValue)>,
    remove: Vec<HeaderName>,
    path: Option<(Regex, String)>,
}

impl Rewrite {
    /// Compiles a validated rewrite set; `None` if validation would have
    /// rejected it.
    pub fn compile(config: &RewriteSetConfig) -> Option<Rewrite> {
        let set = config
            .set_request_headers
            .iter()
            .map(|(n, v)| {
                Some((
                    HeaderName::from_bytes(n.as_bytes()).ok()?,
                    HeaderValue::from_str(v).ok()?,
                ))
            })
            .collect::<Option<Vec<_>>>()?;
        let remove = config
            .remove_request_headers
            .iter()
            .map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
            .collect::<Option<Vec<_>>>()?;
        let path = match &config.url_path {
            Some(p) => Some((Regex::new(&p.pattern).ok()?, p.replacement.clone())),
            None => None,
        };
        Some(Rewrite {
            name: config.name.clone(),
            set,
            remove,
            path,
        })
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
    use crate::config::UrlPathRewrite;

    fn set() -> Rewrite {
        Rewrite::compile(&RewriteSetConfig {
            name: "rs".into(),
            set_request_headers: [("x-via".to_string(), "wsgate".to_string())].into_iter().collect(),
            remove_request_headers: vec!["x-debug".into()],
            url_path: Some(UrlPathRewrite {
                pattern: "^/public/(.*)$".into(),
                replacement: "/internal/$1".into(),
            }),
        })
        .unwrap()
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
