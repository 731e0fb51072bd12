//! `wsgate import` and `wsgate lint` on the shipped fixtures
//! (tests/import/README.md says how each was made): golden TOML and lint
//! output, `wsgate check` on every import, located errors for bad input,
//! and `wsgate run --config` printing its matrix.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use conformance::cli::lint::lint_text;
use conformance::import::{self, ImportError};
use conformance::lint::{Client, Format, Options};

const WSGATE: &str = env!("CARGO_BIN_EXE_wsgate");

/// Every sample: its snapshot name, its files, the lint options it is
/// shown with.
fn samples() -> Vec<(&'static str, Vec<&'static str>, Options)> {
    let ping = |s| Options::new(Some(std::time::Duration::from_secs(s)), None);
    vec![
        (
            "agw-show",
            vec!["tests/import/agw/show.json", "tests/import/agw/public-ip.json"],
            ping(20),
        ),
        ("agw-template", vec!["tests/import/agw/template.json"], ping(20)),
        (
            "agw-terraform",
            vec!["tests/import/agw/terraform.json"],
            Options::new(None, Some(Client::Socketio)),
        ),
        ("frontdoor-show", vec!["tests/import/frontdoor/show.json"], ping(20)),
        (
            "frontdoor-terraform",
            vec!["tests/import/frontdoor/terraform.json"],
            Options::new(None, Some(Client::Signalr)),
        ),
        (
            "frontdoor-origins",
            vec!["tests/import/frontdoor/origins.json"],
            Options::new(Some(std::time::Duration::from_secs(20)), Some(Client::Signalr)),
        ),
        ("frontdoor-classic", vec!["tests/import/classic/show.json"], ping(20)),
    ]
}

fn import(files: &[&str]) -> Result<import::Imported, ImportError> {
    let paths: Vec<PathBuf> = files.iter().map(PathBuf::from).collect();
    import::import_files(&paths, &BTreeMap::new())
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ snapshot_path => "import/snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn each_sample_imports_to_golden_toml_that_loads_back_to_the_same_config() {
    for (name, files, _) in samples() {
        let imported = import(&files).unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = import::emit::toml(&imported);
        snapshot(&format!("{name}.toml"), &text);
        let back =
            gateway::Config::from_toml(&text, name, PathBuf::from(".")).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut expected = imported.config.clone();
        expected.base_dir = PathBuf::from(".");
        assert_eq!(back, expected, "{name}: the TOML is the typed config");
    }
}

#[test]
fn each_import_passes_wsgate_check() {
    let dir = tempfile::tempdir().unwrap();
    for (name, files, _) in samples() {
        let out = dir.path().join(format!("{name}.toml"));
        let mut args = vec!["import".to_string()];
        args.extend(files.iter().map(|f| f.to_string()));
        args.extend(["-o".to_string(), out.display().to_string()]);
        let imported = Command::new(WSGATE).args(&args).output().unwrap();
        assert!(
            imported.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&imported.stderr)
        );
        let check = Command::new(WSGATE).arg("check").arg(&out).output().unwrap();
        let stdout = String::from_utf8_lossy(&check.stdout);
        assert!(check.status.success(), "{name}: {stdout}");
        assert!(stdout.trim_end().ends_with(": ok"), "{name}: {stdout}");
    }
}

#[test]
fn front_door_origins_import_with_their_priority_weight_and_enabled_and_pass_check() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("origins.toml");
    let imported = Command::new(WSGATE)
        .args(["import", "tests/import/frontdoor/origins.json", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let stderr = String::from_utf8_lossy(&imported.stderr);
    assert!(
        stderr.contains("2 backend address(es) not reachable from here"),
        "the loopback origin is reachable, the other two are not: {stderr}"
    );
    // What the gateway will load, not what the text looks like.
    let text = std::fs::read_to_string(&out).unwrap();
    let config = gateway::Config::from_toml(&text, "origins.toml", dir.path().to_path_buf()).unwrap();
    let origin = |address: &str, priority, weight, enabled| gateway::config::OriginConfig {
        address: address.to_string(),
        priority: Some(priority),
        weight: Some(weight),
        enabled: Some(enabled),
    };
    let [pool] = config.backend_pools.as_slice() else {
        panic!("one origin group, one pool: {:?}", config.backend_pools)
    };
    assert_eq!(pool.name, "game-origins");
    assert!(pool.addresses.is_empty(), "{:?}", pool.addresses);
    assert_eq!(
        pool.origins,
        [
            origin("game-primary.example.net:80", 1, 30, true),
            origin("127.0.0.1:8082", 2, 70, true),
            origin("game-retired.example.net:80", 1, 50, false),
        ]
    );
    assert!(!text.contains("not carried over"), "{text}");
    let check = Command::new(WSGATE).arg("check").arg(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{stdout}");
    assert!(stdout.trim_end().ends_with(": ok"), "{stdout}");
}

#[test]
fn each_sample_has_golden_lint_output() {
    for (name, files, options) in samples() {
        let text = import::emit::toml(&import(&files).unwrap());
        let (lint, _) = lint_text(Path::new(&format!("{name}.toml")), &text, &options, Format::Text);
        snapshot(&format!("{name}.lint"), &lint);
    }
}

#[test]
fn lint_flags_each_listed_case_with_its_code() {
    let mut codes = std::collections::BTreeSet::new();
    for (name, files, options) in samples() {
        let text = import::emit::toml(&import(&files).unwrap());
        let (json, _) = lint_text(Path::new(name), &text, &options, Format::Json);
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        for f in doc["findings"].as_array().unwrap() {
            codes.insert(f["code"].as_str().unwrap().to_string());
        }
    }
    // The 2016 cases need the 2016 profile, which no Azure resource says:
    // the same import with the profile switched, as a user would.
    let text = import::emit::toml(&import(&["tests/import/agw/template.json"]).unwrap()).replace(
        "profile = \"application-gateway\"",
        "profile = \"application-gateway-2016\"",
    );
    let slow = Options::new(Some(std::time::Duration::from_secs(20 * 60)), None);
    let (json, failed) = lint_text(Path::new("t.toml"), &text, &slow, Format::Json);
    assert!(failed);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    for f in doc["findings"].as_array().unwrap() {
        codes.insert(f["code"].as_str().unwrap().to_string());
    }
    let all: Vec<&str> = conformance::lint::RULES.iter().map(|r| r.code).collect();
    assert_eq!(codes.iter().map(String::as_str).collect::<Vec<_>>(), all);
}

#[test]
fn lint_speaks_sarif_and_exits_non_zero_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fd.toml");
    std::fs::write(
        &out,
        import::emit::toml(&import(&["tests/import/frontdoor/show.json"]).unwrap()),
    )
    .unwrap();
    let lint = Command::new(WSGATE)
        .args(["lint", "--format", "sarif"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!lint.status.success(), "caching on a WebSocket route is an error");
    let sarif: serde_json::Value = serde_json::from_slice(&lint.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let caching = results.iter().find(|r| r["ruleId"] == "WSG006").unwrap();
    let region = &caching["locations"][0]["physicalLocation"]["region"];
    let line = region["startLine"].as_u64().unwrap() as usize;
    let source = std::fs::read_to_string(&out).unwrap();
    assert!(
        source.lines().nth(line - 1).unwrap().starts_with("caching = true"),
        "points at the value"
    );
    let clean = Command::new(WSGATE)
        .args(["lint", "--ping-interval", "10s"])
        .arg(dir.path().join("missing.toml"))
        .output()
        .unwrap();
    assert!(!clean.status.success());
}

#[test]
fn bad_input_is_a_located_error_never_a_panic() {
    let cases = [
        ("truncated", "tests/import/bad/truncated.json"),
        ("unknown-function", "tests/import/bad/unknown-function.json"),
        ("dangling", "tests/import/bad/dangling.json"),
        ("wrong-type", "tests/import/bad/wrong-type.json"),
    ];
    for (name, file) in cases {
        let e = import(&[file]).expect_err(name);
        let d = e.diagnostics();
        assert!(!d.is_empty(), "{name}: {e}");
        assert!(
            d.iter().all(|d| d.position.is_some()),
            "{name}: every error has line:col: {e}"
        );
        let positions: Vec<_> = d.iter().map(|d| d.position).collect();
        let mut sorted = positions.clone();
        sorted.sort();
        assert_eq!(positions, sorted, "{name}: in file order");
        snapshot(&format!("bad-{name}"), &e.to_string());
    }
    let e = import(&["tests/import/bad/unknown-function.json"])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`resourceGroup()` is not supported") && e.contains("`uniqueString()` is not supported"),
        "{e}"
    );
}

#[test]
fn parameters_come_from_defaults_or_the_command_line() {
    let params = BTreeMap::from([
        ("requestTimeout".to_string(), "90".to_string()),
        ("gatewayName".to_string(), "prod".to_string()),
    ]);
    let imported = import::import_files(&[PathBuf::from("tests/import/agw/template.json")], &params).unwrap();
    let s = &imported.config.backend_settings[0];
    assert_eq!(s.name, "prod-settings");
    assert_eq!(s.request_timeout, Some(gateway::config::Duration::from_secs(90)));
    assert_eq!(imported.config.backend_pools[0].name, "prod-pool");
    let bad = BTreeMap::from([("requestTimeout".to_string(), "soon".to_string())]);
    let e = import::import_files(&[PathBuf::from("tests/import/agw/template.json")], &bad).unwrap_err();
    assert!(e.to_string().contains("expected an integer"), "{e}");
}

#[test]
fn run_with_an_imported_config_prints_the_matrix() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(
        &config,
        import::emit::toml(&import(&["tests/import/agw/template.json"]).unwrap()),
    )
    .unwrap();
    let run = Command::new(WSGATE)
        .current_dir("..")
        .args(["run", "--config"])
        .arg(&config)
        .args([
            "scenarios/application-gateway/data-path-echo.toml",
            "scenarios/application-gateway/timeout-15s-vs-ping-20s-closes-with-1006.toml",
            "scenarios/front-door/caching-breaks-the-upgrade.toml",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("in place of each scenario's own config"), "{stdout}");
    assert!(
        stdout.contains("(scripted backends)"),
        "the pool's addresses are replaced: {stdout}"
    );
    assert!(stdout.contains("\nrequirement "), "a matrix: {stdout}");
    assert!(stdout.contains("scenario(s) of other profiles skipped"), "{stdout}");
    // The template's 30 s request timeout is above the scenario's 20 s
    // pings... and the scenario expects 15 s: the user's config decides.
    assert!(
        stdout.contains("FAIL  scenarios/application-gateway/timeout-15s-vs-ping-20s-closes-with-1006.toml"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("failed"), "{stdout}");
}
