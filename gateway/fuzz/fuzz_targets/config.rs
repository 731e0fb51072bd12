//! Config files: any UTF-8 text through the TOML loader and `validate()`,
//! and any error through its rendering (which points into the text).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match gateway::Config::from_toml(text, "fuzz.toml", ".".into()) {
        Ok(config) => {
            // from_toml validated once; a second pass must agree.
            assert!(config.validate().is_ok(), "validate() disagrees with from_toml");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
