//! The boot bundle for a new Pi, made by the real `onestop-provision bundle`: its `user-data`
//! passes cloud-init's own schema check (Debian's cloud-init package, which these tests need:
//! they fail without it, scripts/test installs it), it holds the enrolment and nothing more
//! (the token for root only, no private key), and `firstrun.sh` is valid bash.

use onestop_tests::{ok, run};
use std::path::{Path, PathBuf};
use std::process::Command;

const PASSPHRASE: &str = "correct horse battery";
const TOKEN: &str = "ostk_7k2m9p4q8r1s5t3v6w0x2y4z8a";

struct Made {
    _dir: tempfile::TempDir,
    ca_dir: PathBuf,
    out: PathBuf,
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A campus CA and a bundle for node main-pi-1 of hall main, with a stand-in package.
fn make_bundle() -> Made {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    let pass = dir.path().join("passphrase");
    std::fs::write(&pass, PASSPHRASE).unwrap();
    ok("onestop-provision", &["ca-init", "--dir", s(&ca_dir), "--passphrase-file", s(&pass)]);
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let deb = dir.path().join("onestop-edge_0.1.0-1_arm64.deb");
    std::fs::write(&deb, "a stand-in package").unwrap();
    let out = dir.path().join("bundle");
    let said = ok(
        "onestop-provision",
        &[
            "bundle",
            "--cloud",
            "10.0.0.5:4433",
            "--server-name",
            "cloud.example.edu",
            "--ca",
            s(&ca_dir),
            "--token-file",
            s(&token),
            "--hall",
            "main",
            "--node",
            "main-pi-1",
            "--deb",
            s(&deb),
            "--out",
            s(&out),
        ],
    );
    assert!(said.contains("boot bundle for node main-pi-1 of hall main"), "{said}");
    Made { _dir: dir, ca_dir, out }
}

/// `cloud-init schema --config-file FILE`: (passed, what it said).
fn cloud_init_schema(file: &Path) -> (bool, String) {
    let out = Command::new("cloud-init").args(["schema", "--config-file"]).arg(file).output().unwrap_or_else(
        |e| panic!("cloud-init is needed for this test (Debian package cloud-init; scripts/test installs it): {e}"),
    );
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), said)
}

/// The YAML document as JSON, read by the same YAML library cloud-init uses.
fn yaml(file: &Path) -> serde_json::Value {
    let out = Command::new("python3")
        .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"])
        .arg(file)
        .output()
        .expect("python3 runs (cloud-init needs it, with python3-yaml)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_boot_bundle_passes_cloud_init_schema() {
    let made = make_bundle();
    let user_data = made.out.join("user-data");
    let (valid, said) = cloud_init_schema(&user_data);
    assert!(valid && said.contains("Valid cloud-config"), "cloud-init schema:\n{said}");

    // The check has teeth: a mode as a YAML number, as a hand edit might leave it, fails.
    let text = std::fs::read_to_string(&user_data).unwrap();
    let broken = made.out.join("broken");
    std::fs::write(&broken, text.replace("permissions: '0600'", "permissions: 0600")).unwrap();
    let (valid, said) = cloud_init_schema(&broken);
    assert!(!valid && said.contains("permissions"), "{said}");
}

#[test]
fn the_boot_bundle_holds_only_the_enrolment() {
    let made = make_bundle();
    let doc = yaml(&made.out.join("user-data"));
    assert_eq!(doc["hostname"], "main-pi-1");
    let files = doc["write_files"].as_array().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/etc/onestop/enroll.env", "/etc/onestop/ca.pem", "/etc/onestop/join-token"]);
    let file = |path: &str| files.iter().find(|f| f["path"] == path).unwrap();

    let token = file("/etc/onestop/join-token");
    assert_eq!(token["permissions"], "0600");
    assert_eq!(token["owner"], "root:root");
    assert_eq!(token["content"], format!("{TOKEN}\n"));
    let ca = std::fs::read_to_string(made.ca_dir.join("ca.pem")).unwrap();
    assert_eq!(file("/etc/onestop/ca.pem")["content"].as_str().unwrap().trim(), ca.trim());
    assert_eq!(
        file("/etc/onestop/enroll.env")["content"],
        "ONESTOP_CLOUD=10.0.0.5:4433\nONESTOP_SERVER_NAME=cloud.example.edu\n"
    );
    let runcmd = serde_json::to_string(&doc["runcmd"]).unwrap();
    assert!(runcmd.contains("/boot/firmware/onestop-edge.deb"), "{runcmd}");
    assert!(
        runcmd.contains(
            r#"["systemctl","enable","--now","--no-block","onestop-edge-enroll.service","onestop-edge.service"]"#
        ),
        "{runcmd}"
    );

    // No private key anywhere in the bundle, not even the CA key's encrypted body.
    let key = std::fs::read_to_string(made.ca_dir.join("ca.key")).unwrap();
    let key_lines: Vec<&str> = key.lines().filter(|l| !l.starts_with("-----") && l.len() > 20).collect();
    assert!(!key_lines.is_empty());
    let mut names: Vec<String> = std::fs::read_dir(&made.out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["firstrun.sh", "meta-data", "onestop-edge.deb", "user-data"]);
    for name in ["firstrun.sh", "meta-data", "user-data"] {
        let text = std::fs::read_to_string(made.out.join(name)).unwrap();
        assert!(!text.contains("PRIVATE KEY"), "{name} holds a private key");
        assert!(key_lines.iter().all(|l| !text.contains(l)), "{name} holds the CA key");
        assert_eq!(text.matches(TOKEN).count(), usize::from(name != "meta-data"), "{name}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for name in ["user-data", "firstrun.sh"] {
            let mode = std::fs::metadata(made.out.join(name)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name} holds the token: for its owner only");
        }
    }
    assert_eq!(
        std::fs::read_to_string(made.out.join("meta-data")).unwrap(),
        "instance-id: 'onestop-main-pi-1'\nlocal-hostname: 'main-pi-1'\n"
    );
}

#[test]
fn the_first_run_script_is_valid_bash_and_writes_the_token_for_root_only() {
    let made = make_bundle();
    let script = made.out.join("firstrun.sh");
    let out = Command::new("bash").arg("-n").arg(&script).output().unwrap();
    assert!(out.status.success(), "bash -n firstrun.sh: {}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.starts_with("#!/bin/bash\n") && text.contains("\nset -eu\n"));
    assert!(text.contains(&format!(
        "umask 077\n    cat >/etc/onestop/join-token <<'ONESTOP_EOF'\n{TOKEN}\nONESTOP_EOF\n"
    )));
    assert!(text.contains("chmod 0600 /etc/onestop/join-token"));
    // It removes itself and its kernel command line entry, as Raspberry Pi Imager's does.
    assert!(text.contains("rm -f -- \"$0\" \"$BOOT/firstrun.sh\""));
    assert!(text.contains("sed -i 's| systemd.run.*||g' \"$BOOT/cmdline.txt\""));
    assert!(text.contains("systemctl enable onestop-edge-enroll.service onestop-edge.service"));
}

#[test]
fn the_first_run_script_sets_up_the_node_and_removes_itself() {
    // The script run for real in a folder standing for the Pi's root: its absolute paths moved
    // there, apt-get, systemctl and chown replaced by stubs that log their arguments.
    let made = make_bundle();
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let boot = r.join("boot/firmware");
    let stubs = r.join("stubs");
    for d in [&boot, &r.join("etc"), &stubs] {
        std::fs::create_dir_all(d).unwrap();
    }
    let log = r.join("commands.log");
    for tool in ["apt-get", "systemctl", "chown"] {
        let stub = stubs.join(tool);
        std::fs::write(&stub, format!("#!/bin/sh\necho \"{tool} $*\" >>'{}'\n", log.display())).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    std::fs::write(r.join("etc/hostname"), "raspberrypi\n").unwrap();
    std::fs::write(r.join("etc/hosts"), "127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n").unwrap();
    let cmdline = "console=serial0,115200 root=PARTUUID=1 rootwait systemd.run=/boot/firmware/firstrun.sh \
                   systemd.run_success_action=reboot systemd.unit=kernel-command-line.target\n";
    std::fs::write(boot.join("cmdline.txt"), cmdline).unwrap();
    let script = std::fs::read_to_string(made.out.join("firstrun.sh")).unwrap();
    let moved = script
        .replace("/boot", &format!("{}/boot", r.display()))
        .replace("/etc/", &format!("{}/etc/", r.display()))
        .replace("/usr/lib/raspberrypi-sys-mods", &format!("{}/none", r.display()));
    std::fs::write(boot.join("firstrun.sh"), moved).unwrap();

    let path = format!("{}:{}", stubs.display(), std::env::var("PATH").unwrap_or_default());
    let out = Command::new("bash").arg(boot.join("firstrun.sh")).env("PATH", path).output().unwrap();
    let said = std::fs::read_to_string(boot.join("onestop-firstrun.log")).unwrap_or_default();
    assert!(out.status.success() && said.contains("onestop firstrun: done"), "{said}");

    let token = r.join("etc/onestop/join-token");
    assert_eq!(std::fs::read_to_string(&token).unwrap(), format!("{TOKEN}\n"));
    let ca = std::fs::read_to_string(made.ca_dir.join("ca.pem")).unwrap();
    assert_eq!(std::fs::read_to_string(r.join("etc/onestop/ca.pem")).unwrap().trim(), ca.trim());
    assert_eq!(
        std::fs::read_to_string(r.join("etc/onestop/enroll.env")).unwrap(),
        "ONESTOP_CLOUD=10.0.0.5:4433\nONESTOP_SERVER_NAME=cloud.example.edu\n"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&token).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert_eq!(std::fs::read_to_string(r.join("etc/hostname")).unwrap(), "main-pi-1\n");
    assert!(std::fs::read_to_string(r.join("etc/hosts")).unwrap().contains("127.0.1.1\tmain-pi-1\n"));
    let commands = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        commands,
        format!(
            "chown root:root {}\napt-get install -y {}\nsystemctl enable onestop-edge-enroll.service onestop-edge.service\n",
            token.display(),
            boot.join("onestop-edge.deb").display()
        )
    );
    // Gone, with its part of the kernel command line: the next boot is an ordinary one.
    assert!(!boot.join("firstrun.sh").exists());
    assert_eq!(
        std::fs::read_to_string(boot.join("cmdline.txt")).unwrap(),
        "console=serial0,115200 root=PARTUUID=1 rootwait\n"
    );
}

#[test]
fn a_bundle_refuses_a_key_for_a_certificate_and_a_stray_token() {
    let made = make_bundle();
    let token = made.out.join("..").join("token");
    let out = made.out.join("..").join("bundle-2");
    let bundle = |ca: &Path, token: &Path| {
        run(
            "onestop-provision",
            &[
                "bundle",
                "--cloud",
                "10.0.0.5:4433",
                "--server-name",
                "cloud.example.edu",
                "--ca",
                s(ca),
                "--token-file",
                s(token),
                "--hall",
                "main",
                "--node",
                "main-pi-2",
                "--out",
                s(&out),
            ],
        )
    };
    let refused = bundle(&made.ca_dir.join("ca.key"), &token);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("holds a private key"));
    let not_a_token = made.out.join("..").join("passphrase");
    let refused = bundle(&made.ca_dir.join("ca.pem"), &not_a_token);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("does not hold a join token"));
    assert!(!out.exists(), "nothing is written for a refused bundle");
}
