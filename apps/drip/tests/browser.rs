//! Drip end to end in headless Chromium (`web-tests/drip.mjs`, playwright-core on Debian's
//! chromium): sign-ups, an upload with its progress bar and live "upload done", a share seen
//! live in the other user's browser, a download identical to the original, and the node
//! dashboard for the admin only. Screenshots
//! are kept in `target/tmp/drip-screenshots/`.

mod support;

use std::path::PathBuf;
use std::process::Command;

#[test]
fn two_users_upload_share_and_download_in_chromium() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(
        root.join("web-tests/node_modules/playwright-core").exists(),
        "playwright-core is not installed: run ./test --setup"
    );
    let d = support::drip("browser", &[]);
    let invite = d.command(&["admin", "invite", "--admin"]);
    assert!(invite.status.success());
    let link = String::from_utf8_lossy(&invite.stdout).trim().to_owned();
    let token = link
        .split("invite=")
        .nth(1)
        .expect("an invite token")
        .to_owned();
    let artifacts = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("drip-screenshots");
    let out = Command::new("node")
        .current_dir(&root)
        .arg("web-tests/drip.mjs")
        .arg(format!("http://127.0.0.1:{}", d.http))
        .arg(&artifacts)
        .arg(&token)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        artifacts.join("downloaded.png").exists(),
        "the screenshots are kept"
    );
}
