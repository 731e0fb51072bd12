//! The admin router: `METHOD /path?query` text, as the corpus files read,
//! through `admin::route`.

#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let (method, target) = text.split_once(' ').unwrap_or((text, "/"));
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return;
    };
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    let _ = gateway::admin::route(&method, path, query);
});
