//! The page tests leave no browser behind: a driver dropped with its browser still open (as a
//! failing test's would be) stops that Chromium and every helper process it started.
//! (`scripts/test` also checks that no test browser outlives the whole suite.)

use onestop_tests::browser::{Driver, leftover_browsers};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_driver_leaves_no_browser_running() {
    let driver = Driver::start();
    let client = driver.browser("zh-CN").await;
    client.goto("about:blank").await.expect("the browser opens a page");
    let profiles = driver.profiles();
    assert_eq!(profiles.len(), 1);
    let profile = profiles[0].to_string_lossy().into_owned();
    let ours = || leftover_browsers().into_iter().filter(|(_, cmd)| cmd.contains(&profile)).count();
    assert!(ours() > 0, "the browser runs with its own profile folder {profile}");
    // Not closed by the test: the driver must close it.
    drop(client);
    drop(driver);
    // Processes already killed may take a moment to leave /proc.
    let started = std::time::Instant::now();
    while ours() > 0 && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ours(), 0, "browser processes outlived their driver: {:?}", leftover_browsers());
    assert!(!profiles[0].exists(), "the profile folder is removed");
}
