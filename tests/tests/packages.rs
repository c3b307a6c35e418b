//! The Debian packages build and hold what a node and the cloud need: the binaries, the systemd
//! units, the udev rules, the configuration and the maintainer scripts.
//!
//! To stay fast these package the binaries this test run already built (`cargo deb --no-build`
//! with the test's own profile; cargo-deb warns that it is meant for release builds, and strips
//! them as for a release). The release packages for amd64 and the Pi's arm64, with the arm64
//! self-test under qemu, are made by hand with deploy/package.sh. Needs cargo-deb (scripts/test
//! installs it) and dpkg-deb.

use onestop_tests::bin;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

/// Builds `package`'s .deb from the binaries of this test run into a temporary folder.
fn build_deb(package: &str, binaries: &[&str], out: &Path) -> PathBuf {
    let mut profile = "dev";
    for b in binaries {
        let path = bin(b);
        if path.parent().and_then(|d| d.file_name()).is_some_and(|n| n == "release") {
            profile = "release";
        }
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let result = Command::new(cargo)
        .args(["deb", "--no-build", "--fast", "--profile", profile, "-p", package, "-o"])
        .arg(out)
        .current_dir(workspace())
        .output()
        .expect("cargo runs");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        result.status.success(),
        "cargo deb -p {package} failed (cargo-deb is needed: `cargo install cargo-deb --locked`, as scripts/test does):\n{stderr}"
    );
    let debs: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("{package}_")))
        .collect();
    assert_eq!(debs.len(), 1, "{debs:?}");
    debs[0].clone()
}

fn dpkg_deb(args: &[&str], deb: &Path) -> String {
    let out = Command::new("dpkg-deb").args(args).arg(deb).output().expect("dpkg-deb runs");
    assert!(out.status.success(), "dpkg-deb {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The package's files, as absolute paths.
fn contents(deb: &Path) -> Vec<String> {
    dpkg_deb(&["-c"], deb)
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(|p| p.trim_start_matches('.').to_string())
        .collect()
}

fn deploy(path: &str) -> String {
    std::fs::read_to_string(workspace().join("deploy").join(path)).unwrap()
}

#[test]
fn the_edge_package_holds_the_node() {
    let dir = tempfile::tempdir().unwrap();
    let deb = build_deb("onestop-edge", &["onestop-edge"], dir.path());
    let files = contents(&deb);
    for path in [
        "/usr/bin/onestop-edge",
        "/usr/lib/systemd/system/onestop-edge.service",
        "/usr/lib/systemd/system/onestop-edge-enroll.service",
        "/usr/lib/systemd/system/onestop-kiosk@.service",
        "/usr/lib/udev/rules.d/60-onestop.rules",
        "/etc/onestop/edge.toml",
        "/usr/share/onestop/make-clips.sh",
        "/usr/lib/onestop/onestop-kiosk",
        "/usr/sbin/onestop-kiosk-setup",
        "/etc/pam.d/onestop-kiosk",
    ] {
        assert!(files.iter().any(|f| f == path), "{path} is not in the package: {files:#?}");
    }
    assert_eq!(
        dpkg_deb(&["-f"], &deb).lines().find(|l| l.starts_with("Package:")),
        Some("Package: onestop-edge")
    );
    let depends = dpkg_deb(&["-f"], &deb).lines().find(|l| l.starts_with("Depends:")).unwrap().to_string();
    assert!(depends.contains("adduser") && depends.contains("libc6"), "{depends}");

    // The configuration is a conffile; the maintainer scripts make the user and handle the units.
    let control = tempfile::tempdir().unwrap();
    let out = Command::new("dpkg-deb").arg("-e").arg(&deb).arg(control.path()).output().unwrap();
    assert!(out.status.success());
    let conffiles = std::fs::read_to_string(control.path().join("conffiles")).unwrap();
    assert!(conffiles.lines().any(|l| l == "/etc/onestop/edge.toml"), "{conffiles}");
    let postinst = std::fs::read_to_string(control.path().join("postinst")).unwrap();
    assert!(postinst.contains("adduser --system --group --home /var/lib/onestop --no-create-home onestop"));
    assert!(postinst.contains("for group in dialout input audio lp; do"));
    assert!(postinst.contains("deb-systemd-helper update-state onestop-edge.service"), "{postinst}");
    assert!(postinst.contains("deb-systemd-invoke try-restart onestop-edge.service"), "{postinst}");
    assert!(!postinst.contains("#DEBHELPER#"));

    // What is installed is what deploy/ holds, and the binary runs.
    let root = tempfile::tempdir().unwrap();
    let out = Command::new("dpkg-deb").arg("-x").arg(&deb).arg(root.path()).output().unwrap();
    assert!(out.status.success());
    let installed = |p: &str| std::fs::read_to_string(root.path().join(p)).unwrap();
    assert_eq!(
        installed("usr/lib/systemd/system/onestop-edge.service"),
        deploy("systemd/onestop-edge.service")
    );
    assert_eq!(
        installed("usr/lib/systemd/system/onestop-edge-enroll.service"),
        deploy("systemd/onestop-edge-enroll.service")
    );
    assert_eq!(installed("usr/lib/udev/rules.d/60-onestop.rules"), deploy("udev/60-onestop.rules"));
    assert_eq!(installed("etc/onestop/edge.toml"), deploy("edge/edge.toml"));
    let version = Command::new(root.path().join("usr/bin/onestop-edge")).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("onestop-edge "));
}

#[test]
fn the_cloud_package_holds_the_cloud_and_the_provisioning_tool() {
    let dir = tempfile::tempdir().unwrap();
    let deb = build_deb("onestop-cloud", &["onestop-cloud", "onestop-provision"], dir.path());
    let files = contents(&deb);
    for path in [
        "/usr/bin/onestop-cloud",
        "/usr/bin/onestop-provision",
        "/usr/lib/systemd/system/onestop-cloud.service",
        "/usr/lib/systemd/system/onestop-cloud-backup.service",
        "/usr/lib/systemd/system/onestop-cloud-backup.timer",
        "/usr/share/doc/onestop-cloud/examples/cloud.toml",
    ] {
        assert!(files.iter().any(|f| f == path), "{path} is not in the package: {files:#?}");
    }
    let control = tempfile::tempdir().unwrap();
    let out = Command::new("dpkg-deb").arg("-e").arg(&deb).arg(control.path()).output().unwrap();
    assert!(out.status.success());
    let postinst = std::fs::read_to_string(control.path().join("postinst")).unwrap();
    assert!(
        postinst.contains(
            "adduser --system --group --home /var/lib/onestop-cloud --no-create-home onestop-cloud"
        )
    );
    assert!(postinst.contains("deb-systemd-helper enable onestop-cloud.service"), "{postinst}");
    assert!(postinst.contains("deb-systemd-helper enable onestop-cloud-backup.timer"), "{postinst}");
    assert!(postinst.contains("deb-systemd-invoke start onestop-cloud-backup.timer"), "{postinst}");
}
