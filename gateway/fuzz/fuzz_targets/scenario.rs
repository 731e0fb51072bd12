//! Scenario files: any UTF-8 text through the scenario parser, and any
//! error through its rendering (which points into the text).

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Err(e) = conformance::scenario::parse(text, Path::new("fuzz.toml")) {
        let _ = e.to_string();
    }
});
