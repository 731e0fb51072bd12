//! `wsgate check` and `wsgate run` fed scenario files that a document rules
//! out or that cannot work: every case is a file, run through the real
//! binary, and the output must name the file, line and column, what was
//! expected, and (for limits) how to raise the limit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const WSGATE: &str = env!("CARGO_BIN_EXE_wsgate");

/// A minimal valid scenario head; tests append to it.
const HEAD: &str = "name = \"x\"\nprofile = \"application-gateway\"\nseed = 1\nduration = \"1m\"\n";

struct File {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn file(text: &str) -> File {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scenario.toml");
    std::fs::write(&path, text).unwrap();
    File { _dir: dir, path }
}

fn wsgate(args: &[&str], path: &Path) -> (Output, String) {
    let out = Command::new(WSGATE).args(args).arg(path).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

/// `check` fails and prints `expected` (with the file's path in front).
fn refused(text: &str, expected: &[&str]) -> String {
    let f = file(text);
    let (out, printed) = wsgate(&["check"], &f.path);
    assert!(!out.status.success(), "check must fail:\n{printed}");
    for e in expected {
        let line = format!("{}:{e}", f.path.display());
        assert!(printed.contains(&line), "missing `{line}` in:\n{printed}");
    }
    printed
}

/// `check` passes and warns with `expected`.
fn warned(text: &str, expected: &str) {
    let f = file(text);
    let (out, printed) = wsgate(&["check"], &f.path);
    assert!(out.status.success(), "a warning does not fail the check:\n{printed}");
    let line = format!("warning: {}:{expected}", f.path.display());
    assert!(printed.contains(&line), "missing `{line}` in:\n{printed}");
}

// --- warnings: what a document rules out ---

#[test]
fn an_https_probe_under_front_door_is_warned_with_its_sentence() {
    let text = "name = \"x\"\nprofile = \"front-door\"\nseed = 1\nduration = \"1m\"\n\
                [[gateway.backend_settings]]\nname = \"settings\"\nprotocol = \"https\"\nprobe = \"p\"\n\
                [[gateway.probes]]\nname = \"p\"\nprotocol = \"https\"\n\
                [[backends]]\nname = \"b1\"\ntls = true\n";
    warned(
        text,
        "11:12: gateway.probes[0].protocol: an https probe under front-door: doc 002 says \"Health probes to origins \
         are conducted using the HTTP protocol\"",
    );
}

#[test]
fn a_backend_port_other_than_80_or_443_under_2016_is_warned_at_the_backend() {
    let text = "name = \"x\"\nprofile = \"application-gateway-2016\"\nseed = 1\nduration = \"1m\"\n\
                [[backends]]\nname = \"b1\"\nport = 9001\n";
    warned(
        text,
        "7:8: backends[0].port: backend port 9001 under application-gateway-2016: doc 001 says \"BackendHttpSetting \
         should be defined with backend port 80/443 only\"",
    );
}

#[test]
fn caching_on_a_scenario_route_is_warned() {
    let text = format!(
        "{}[[gateway.rules]]\nname = \"r\"\nlistener = \"public\"\npool = \"pool\"\nsettings = \"settings\"\n\
         caching = true\n[[backends]]\nname = \"b1\"\n",
        HEAD.replace("application-gateway", "front-door")
    );
    warned(&text, "10:11: gateway.rules[0].caching: caching is on for route `r`");
}

#[test]
fn a_tick_coarser_than_latency_or_an_attempt_timeout_is_warned() {
    let text = format!(
        "{HEAD}tick = \"1s\"\nlatency = \"10ms\"\n[[backends]]\nname = \"b1\"\n[[clients]]\nname = \"c\"\n\
         retry = {{ initial = \"1s\", max = \"2s\", attempt_timeout = \"500ms\" }}\n"
    );
    warned(
        &text,
        "6:11: latency: the 1s tick is coarser than the 10ms link latency: every hop takes a whole tick",
    );
    warned(
        &text,
        "11:57: clients[0].retry.attempt_timeout: the 1s tick is coarser than this 500ms attempt timeout",
    );
}

// --- refusals: runs that cannot work ---

#[test]
fn a_million_clients_is_refused_before_anything_runs() {
    let text = format!("{HEAD}[[backends]]\nname = \"b1\"\n[[clients]]\nname = \"c\"\ncount = 1000000\n");
    refused(
        &text,
        &["9:9: clients[0].count: 1000000 sessions from one client host is over the limit of 10000"],
    );
}

#[test]
fn too_many_sessions_in_all_names_the_flag_that_raises_the_limit() {
    let mut text = format!("{HEAD}[[backends]]\nname = \"b1\"\n");
    for i in 0..3 {
        text.push_str(&format!("[[clients]]\nname = \"c{i}\"\ncount = 8000\n"));
    }
    let printed = refused(
        &text,
        &["7:1: clients: 24000 sessions in all is over the limit of 20000"],
    );
    assert!(printed.contains("pass --max-sessions N"), "{printed}");
    let f = file(&text);
    let (out, printed) = wsgate(&["check", "--max-sessions", "30000"], &f.path);
    assert!(out.status.success(), "a raised limit admits it:\n{printed}");
}

#[test]
fn ten_thousand_hours_at_a_millisecond_tick_is_refused() {
    let text = "name = \"x\"\nprofile = \"front-door\"\nseed = 1\nduration = \"10000h\"\ntick = \"1ms\"\n\
                [[backends]]\nname = \"b1\"\n";
    let printed = refused(
        text,
        &["4:12: duration: 1year 1month 20days 23h 26m 24s at a 1ms tick is 36000000000 simulator steps"],
    );
    assert!(printed.contains("--max-steps N"), "{printed}");
}

#[test]
fn a_reversed_window_is_refused() {
    let text = format!(
        "{HEAD}[[backends]]\nname = \"b1\"\n[[clients]]\nname = \"c\"\n\
         [[expect]]\nclient = \"c\"\nclosed = 1006\nbetween = [\"20s\", \"10s\"]\n"
    );
    refused(
        &text,
        &["12:11: expect[0].between: the window ends (10s) before it starts (20s); expected [earlier, later]"],
    );
}

#[test]
fn entries_after_the_end_of_the_run_are_refused() {
    let text = format!(
        "{HEAD}[[backends]]\nname = \"b1\"\n[[clients]]\nname = \"c\"\nstart = \"2m\"\n\
         [[timeline]]\nat = \"90s\"\naction = \"crash\"\ntarget = \"b1\"\n"
    );
    refused(
        &text,
        &[
            "9:9: clients[0].start: starts at 2m, after the run ends at 1m",
            "11:6: timeline[0].at: at 1m 30s, after the run ends at 1m",
        ],
    );
}

#[test]
fn an_unknown_or_foreign_requirement_id_is_an_error_and_fails_run() {
    let text = format!(
        "{HEAD}requirements = [\"AGW-TIMEOUT-1\", \"AGW-TIMEUOT-2\", \"FD-IDLE-1\"]\n[[backends]]\nname = \"b1\"\n"
    );
    refused(
        &text,
        &[
            "5:34: requirements[1]: unknown requirement id `AGW-TIMEUOT-2` (see `wsgate requirements`); did you mean \
             `AGW-TIMEOUT-2`?",
            "5:51: requirements[2]: requirement `FD-IDLE-1` belongs to front-door, not to this scenario's profile \
             application-gateway",
        ],
    );
    let f = file(&text);
    let (out, printed) = wsgate(&["run"], &f.path);
    assert!(
        !out.status.success(),
        "run must fail on a file that does not load:\n{printed}"
    );
    assert!(printed.contains("0 passed, 1 failed"), "{printed}");
}

#[test]
fn every_error_in_a_file_is_reported_in_file_order() {
    let text = format!(
        "{HEAD}requirements = [\"NOPE-1\"]\n[[backends]]\nname = \"b1\"\nbehaviour = \"sulk\"\n\
         [[clients]]\nname = \"c\"\ncount = 0\n[[expect]]\nbackend = \"b9\"\nsessions = 1\n"
    );
    let printed = refused(
        &text,
        &[
            "5:17: requirements[0]: unknown requirement id `NOPE-1`",
            "8:13: backends[0].behaviour:",
            "11:9: clients[0].count: expected at least 1",
            "13:11: expect[0].backend: unknown backend `b9`",
        ],
    );
    let at = |needle: &str| printed.find(needle).unwrap_or_else(|| panic!("{needle} in {printed}"));
    assert!(at(":5:17:") < at(":8:13:") && at(":8:13:") < at(":11:9:") && at(":11:9:") < at(":13:11:"));
}

// --- the language's own keys ---

#[test]
fn new_keys_refuse_bad_values() {
    let base = format!("{HEAD}[[backends]]\nname = \"b1\"\n[[clients]]\nname = \"c\"\n");
    refused(
        &format!("{base}[[expect]]\nclient = \"c\"\nclosed = 1006\ncatches = \" \"\n"),
        &["12:11: expect[0].catches: expected one line naming the wrong gateway this expectation catches"],
    );
    refused(&format!("seeds = 0\n{base}"), &["1:9: seeds: expected at least 1 seed"]);
    refused(
        &format!("{base}[[expect]]\nbackend = \"b1\"\nprobes = {{}}\n"),
        &["11:10: expect[0].probes: expected at least one of `method`, `path`, `host` or `count`"],
    );
    refused(
        &format!("{base}[[expect]]\nbackend = \"b1\"\nclose_received = 99\n"),
        &["11:18: expect[0].close_received: expected a close code 1000-4999, found 99"],
    );
    refused(
        &format!("{base}[[expect]]\nbackend = \"b1\"\nprobes = {{ verb = \"GET\" }}\n"),
        &["11:12: expect[0].probes.verb:"],
    );
}

#[test]
fn check_walks_folders() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("nested")).unwrap();
    std::fs::write(
        dir.path().join("nested/good.toml"),
        format!("{HEAD}[[backends]]\nname = \"b1\"\n"),
    )
    .unwrap();
    std::fs::write(dir.path().join("bad.toml"), format!("{HEAD}[[backends]]\nname = 7\n")).unwrap();
    let (out, printed) = wsgate(&["check"], dir.path());
    assert!(!out.status.success(), "{printed}");
    assert!(printed.contains("nested/good.toml: ok"), "{printed}");
    assert!(printed.contains("bad.toml:6:8: backends[0].name:"), "{printed}");
}

#[test]
fn a_raw_request_refuses_the_fields_it_replaces_and_an_oversized_filler() {
    let text = format!(
        "{HEAD}[[backends]]\nname = \"b1\"\n[[requests]]\nname = \"r\"\npath = \"/x\"\n\
         raw = \"GET / HTTP/1.1\\r\\n\"\nraw_filler = 2000000\n\
         [[requests]]\nname = \"s\"\nraw_filler = 10\n"
    );
    let printed = refused(
        &text,
        &[
            "9:8: requests[0].path: `raw` sends its bytes as they are: remove `path` or `raw`",
            "11:14: requests[0].raw_filler: expected at most 1048576 bytes, found 2000000",
            "14:14: requests[1].raw_filler: expected `raw` beside `raw_filler`",
        ],
    );
    // Every error, in file order.
    let first = printed.find("requests[0].path").unwrap();
    let second = printed.find("requests[0].raw_filler").unwrap();
    assert!(first < second, "{printed}");
}
