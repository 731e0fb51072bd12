//! The HTML report and an SVG timeline, rendered by a real browser.
//!
//! Runs three scenarios from the library, writes the reports as
//! `wsgate run --out` does, and takes Chromium headless screenshots of
//! `index.html` and one timeline. Each PNG must exist, must not be blank,
//! and must show the colours the report promises (the timeline's 1006
//! bars, the matrix's pass cells). Skipped, with a message saying so, when
//! no Chromium is installed (`apt-get install chromium`, or set
//! `CHROMIUM=/path/to/chrome`).
//!
//! `docs/screenshot.sh` takes the README's screenshots the same way, from
//! the whole library.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use conformance::cli::run::write_reports;
use conformance::report::{self, MatrixScope};
use conformance::{catalogue, scenario, suite};

/// The browser: `$CHROMIUM`, or the first of the usual names on `PATH`.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let dirs = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
        .iter()
        .flat_map(|name| std::env::split_paths(&dirs).map(move |d| d.join(name)))
        .find(|p| p.is_file())
}

/// Screenshots `page` into `png` at 1400x1000, with the flags that keep a
/// headless Chromium off the network and out of the user's profile.
fn screenshot(browser: &Path, page: &Path, png: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1400,1000")
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium took more than 90 s to screenshot {}", page.display());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The screenshot's pixels as RGB triples.
fn pixels(png: &Path) -> Vec<[u8; 3]> {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    assert!(step >= 3, "an RGB screenshot, got {:?}", info.color_type);
    buf[..info.buffer_size()]
        .chunks(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect()
}

fn hex(colour: &str) -> [u8; 3] {
    let n = u32::from_str_radix(colour.trim_start_matches('#'), 16).unwrap();
    [(n >> 16) as u8, (n >> 8) as u8, n as u8]
}

/// Asserts that `png` shows something: a share of non-white pixels, more
/// than a handful of colours, and each of `colours` somewhere.
fn assert_rendered(png: &Path, colours: &[&str]) {
    assert!(png.exists(), "{} was not written", png.display());
    let px = pixels(png);
    let inked = px.iter().filter(|p| **p != [255, 255, 255]).count();
    assert!(
        inked * 100 > px.len(),
        "{} is blank: {inked} of {} pixels are not white",
        png.display(),
        px.len()
    );
    let mut distinct = px.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() > 16, "{} has {} colours", png.display(), distinct.len());
    for c in colours {
        assert!(px.contains(&hex(c)), "{} shows no {c}", png.display());
    }
}

#[test]
fn the_html_report_and_a_timeline_render_in_chromium() {
    let Some(browser) = chromium() else {
        eprintln!(
            "skipped: no chromium on PATH (apt-get install chromium, or set CHROMIUM=/path/to/chrome); \
             the reports were not checked in a browser"
        );
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let files = [
        "front-door/maintenance-drop-with-retry.toml",
        "application-gateway/failing-probes-take-a-backend-out.toml",
        "application-gateway/timeout-15s-vs-ping-20s-closes-with-1006.toml",
    ];
    let catalogue = catalogue::requirements();
    let options = suite::Options {
        seeds: Some(1),
        ..suite::Options::default()
    };
    let reports: Vec<_> = files
        .iter()
        .map(|f| suite::run_scenario(&scenario::load(&root.join(f)).unwrap(), &options))
        .collect();
    assert!(reports.iter().all(|r| r.passed()));
    let grades = vec![(
        conformance::target::Target::Sim,
        catalogue::grade(&catalogue, &suite::results(&reports)),
    )];
    let matrix = report::matrix(&catalogue, &reports, MatrixScope::Touched);
    let dir = tempfile::tempdir().unwrap();
    write_reports(dir.path(), &matrix, &grades, &reports, &catalogue).unwrap();

    let page = dir.path().join("index.html");
    let page_png = dir.path().join("report.png");
    screenshot(&browser, &page, &page_png);
    // The pass badge's green on its pale green.
    assert_rendered(&page_png, &["#dafbe1"]);

    let timeline = dir.path().join("timelines").join(format!("{}.svg", reports[0].slug()));
    let timeline_png = dir.path().join("timeline.png");
    screenshot(&browser, &timeline, &timeline_png);
    // The maintenance drop's 1006 bars and the reconnected sessions.
    assert_rendered(
        &timeline_png,
        &[
            report::svg::Mark::Abnormal.colour(),
            report::svg::Mark::StillOpen.colour(),
        ],
    );
}
