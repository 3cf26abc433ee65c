//! Headless Chromium for the page tests: finding it (skipping visibly, or failing under
//! CI=true), and dumping a page's DOM after its scripts ran.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

/// Returns the browser path, or None (after printing why) when the test should skip.
pub fn chromium() -> Option<&'static str> {
    if Path::new(CHROMIUM).exists() {
        return Some(CHROMIUM);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{CHROMIUM} is missing and CI=true: install Debian's chromium package");
    }
    super::common::skip(&format!(
        "{CHROMIUM} not found (apt-get install -y chromium); under CI=true this fails"
    ));
    None
}

/// Runs headless Chromium on `url` (a file:// URL, a query allowed) and returns the DOM
/// after scripts ran. The profile lives in `scratch`.
pub fn dump_dom(browser: &str, url: &str, scratch: &Path) -> String {
    let profile = scratch.join("chromium-profile");
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
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s on {url}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().unwrap()
}

/// Asserts the page's script ran to the end and recorded no error.
pub fn assert_script_clean(dom: &str) {
    assert!(
        dom.contains(r#"<span id="js-status">ok</span>"#),
        "the page's script did not finish"
    );
    let start = dom.find(r#"<ul id="js-errors">"#).expect("js-errors list");
    let rest = &dom[start..];
    let end = rest.find("</ul>").unwrap();
    assert_eq!(
        &rest[..end],
        r#"<ul id="js-errors">"#,
        "the page recorded script errors or broken links"
    );
}
