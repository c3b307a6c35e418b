//! The deployment files in deploy/: the systemd units pass `systemd-analyze verify` and say
//! what the node needs (watchdog, restart, dedicated user, read-only system); the udev rules
//! follow udev's rule syntax and name every device path of the shipped edge.toml.
//!
//! udev rules: `udevadm verify` exists from systemd 254; where the machine's udevadm is older
//! (Debian 12 has 252) the rules are checked by the parser below alone, which follows udev's
//! rule syntax (systemd's udev-rules.c): keys, attributes, operators, quoted values, one rule a
//! line with `\` continuations, comments only on lines of their own.

use onestop_tests::bin;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy(path)).unwrap_or_else(|e| panic!("deploy/{path}: {e}"))
}

/// The values of `key` in a unit file's lines (`Key=value`), in order.
fn unit_values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines().filter_map(|l| l.strip_prefix(key)?.strip_prefix('=')).collect()
}

/// Runs `systemd-analyze verify` on unit files copied into a temporary folder, with the
/// installed programs' paths pointing at this build's (systemd checks they are executable).
/// `units` are (file name in deploy/, name to verify as).
fn verify_units(units: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    let edge = bin("onestop-edge");
    let cloud = bin("onestop-cloud");
    let kiosk = deploy("kiosk/onestop-kiosk").canonicalize().unwrap();
    let mut names = Vec::new();
    for (file, verify_as) in units {
        let text = read(file)
            .replace("/usr/bin/onestop-edge", edge.to_str().unwrap())
            .replace("/usr/bin/onestop-cloud", cloud.to_str().unwrap())
            .replace("/usr/lib/onestop/onestop-kiosk", kiosk.to_str().unwrap());
        let name = Path::new(file).file_name().unwrap();
        std::fs::write(dir.path().join(name), text).unwrap();
        names.push(dir.path().join(verify_as));
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&names)
        .current_dir(dir.path())
        .output()
        .unwrap_or_else(|e| {
            panic!("systemd-analyze is needed for this test (Debian package systemd; scripts/test installs it): {e}")
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    // It warns without failing (an unknown key is "ignoring"): any word from it is a failure.
    assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify {units:?}:\n{stderr}");
}

#[test]
fn the_systemd_units_verify() {
    verify_units(&[
        ("systemd/onestop-edge.service", "onestop-edge.service"),
        ("systemd/onestop-edge-enroll.service", "onestop-edge-enroll.service"),
        ("systemd/onestop-cloud.service", "onestop-cloud.service"),
        ("systemd/onestop-cloud-backup.service", "onestop-cloud-backup.service"),
        ("systemd/onestop-cloud-backup.timer", "onestop-cloud-backup.timer"),
        ("kiosk/onestop-kiosk@.service", "onestop-kiosk@display.service"),
        ("kiosk/onestop-kiosk@.service", "onestop-kiosk@kiosk.service"),
    ]);
}

#[test]
fn the_edge_unit_is_watched_restarted_and_confined() {
    let unit = read("systemd/onestop-edge.service");
    let one = |key: &str| {
        let v = unit_values(&unit, key);
        assert_eq!(v.len(), 1, "{key}: {v:?}");
        v[0]
    };
    assert_eq!(one("Type"), "notify");
    assert_eq!(one("WatchdogSec"), "30");
    assert_eq!(one("Restart"), "always");
    assert_eq!(one("ExecStart"), "/usr/bin/onestop-edge run --config /etc/onestop/edge.toml");
    assert_eq!(one("User"), "onestop");
    let groups: BTreeSet<&str> = one("SupplementaryGroups").split(' ').collect();
    assert_eq!(groups, BTreeSet::from(["dialout", "input", "audio", "lp"]));
    assert_eq!(one("ProtectSystem"), "strict");
    assert_eq!(one("ReadWritePaths"), "/var/lib/onestop");
    assert_eq!(one("PrivateTmp"), "yes");
    assert_eq!(one("NoNewPrivileges"), "yes");
    assert_eq!(one("ProtectHome"), "yes");
    assert!(unit_values(&unit, "After")[0].contains("onestop-edge-enroll.service"));

    let cloud = read("systemd/onestop-cloud.service");
    for (key, value) in [
        ("ExecStart", "/usr/bin/onestop-cloud serve --config /etc/onestop/cloud.toml"),
        ("User", "onestop-cloud"),
        ("StateDirectory", "onestop-cloud"),
        ("ProtectSystem", "strict"),
        ("PrivateTmp", "yes"),
        ("Restart", "always"),
    ] {
        assert_eq!(unit_values(&cloud, key), [value], "onestop-cloud.service {key}");
    }
}

/// The cloud's backup runs daily as the cloud's user, into dated folders of which it keeps
/// the newest, with a missed day made up at boot.
#[test]
fn the_cloud_is_backed_up_daily_as_its_own_user() {
    let service = read("systemd/onestop-cloud-backup.service");
    for (key, value) in [
        ("Type", "oneshot"),
        (
            "ExecStart",
            "/usr/bin/onestop-cloud backup --config /etc/onestop/cloud.toml --into /var/backups/onestop --keep 14",
        ),
        ("User", "onestop-cloud"),
        ("UMask", "0077"),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/onestop-cloud /var/backups/onestop"),
    ] {
        assert_eq!(unit_values(&service, key), [value], "onestop-cloud-backup.service {key}");
    }
    let timer = read("systemd/onestop-cloud-backup.timer");
    assert_eq!(unit_values(&timer, "OnCalendar"), ["*-*-* 03:30:00"]);
    assert_eq!(unit_values(&timer, "Persistent"), ["true"]);
    assert_eq!(unit_values(&timer, "WantedBy"), ["timers.target"]);
    // The folder it writes to is made by the package, for the cloud's user only.
    let postinst = read("debian/cloud/postinst");
    assert!(
        postinst.contains("install -d -o onestop-cloud -g onestop-cloud -m 0700 /var/backups/onestop"),
        "{postinst}"
    );
}

#[test]
fn enrolment_runs_once_before_the_hall_from_the_bundles_files() {
    let unit = read("systemd/onestop-edge-enroll.service");
    assert_eq!(unit_values(&unit, "Type"), ["oneshot"]);
    assert_eq!(
        unit_values(&unit, "ConditionPathExists"),
        ["!/var/lib/onestop/node.pem", "/etc/onestop/join-token"]
    );
    assert_eq!(unit_values(&unit, "Before"), ["onestop-edge.service"]);
    assert_eq!(unit_values(&unit, "User"), ["onestop"]);
    // The files the boot bundle writes (provisioning/src/bundle.rs).
    assert_eq!(unit_values(&unit, "EnvironmentFile"), ["/etc/onestop/enroll.env"]);
    assert_eq!(unit_values(&unit, "LoadCredential"), ["join-token:/etc/onestop/join-token"]);
    let exec = unit_values(&unit, "ExecStart");
    assert_eq!(
        exec,
        ["/usr/bin/onestop-edge enroll --data /var/lib/onestop --cloud ${ONESTOP_CLOUD} \
          --server-name ${ONESTOP_SERVER_NAME} --ca /etc/onestop/ca.pem --token-file %d/join-token"]
    );
    assert_eq!(unit_values(&unit, "ExecStartPost"), ["+/bin/rm -f /etc/onestop/join-token"]);
}

#[test]
fn the_kiosk_shows_the_page_full_screen() {
    let unit = read("kiosk/onestop-kiosk@.service");
    assert_eq!(unit_values(&unit, "ExecStart"), ["/usr/lib/onestop/onestop-kiosk %i"]);
    assert_eq!(unit_values(&unit, "User"), ["onestop-kiosk"]);
    assert_eq!(unit_values(&unit, "Restart"), ["always"]);
    let script = read("kiosk/onestop-kiosk");
    assert!(script.contains("exec cage -- \"$chromium\" \"$@\" \"$url\""), "{script}");
    for flag in ["--kiosk", "--noerrdialogs", "--disable-translate", "--no-first-run"] {
        assert!(script.contains(flag), "{flag}");
    }
    assert!(script.contains("url=\"${ONESTOP_URL:-http://127.0.0.1:8080}/$page\""));
    for file in ["kiosk/onestop-kiosk", "kiosk/onestop-kiosk-setup", "package.sh", "voice/make-clips.sh"] {
        let out = Command::new("bash").arg("-n").arg(deploy(file)).output().unwrap();
        assert!(out.status.success(), "bash -n deploy/{file}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let bad = Command::new("bash").arg(deploy("kiosk/onestop-kiosk")).arg("tv").output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "an unknown page is refused");
}

#[test]
fn the_example_cloud_configuration_reads() {
    // With its files moved to an empty folder, the cloud reads the example and stops at the
    // first missing certificate, past the configuration's own checks.
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    let config = dir.path().join("cloud.toml");
    std::fs::write(&config, read("cloud/cloud.toml").replace("/etc/onestop", etc.to_str().unwrap())).unwrap();
    let out = onestop_tests::run("onestop-cloud", &["serve", "--config", config.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("not a valid cloud configuration"), "{stderr}");
    assert!(stderr.contains(&format!("{}/ca/ca.pem", etc.display())), "{stderr}");
}

// ---- udev rules ------------------------------------------------------------------------------

/// One `KEY{attr}OP"value"` of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pair {
    key: String,
    attr: Option<String>,
    op: &'static str,
    value: String,
}

/// udev's keys: whether each takes an attribute (`Some(true)` required, `None` optional), and
/// whether it can be matched, assigned, or both.
fn key_kind(key: &str) -> Option<(Option<bool>, bool, bool)> {
    Some(match key {
        "ACTION" | "DEVPATH" | "KERNEL" | "SUBSYSTEM" | "DRIVER" | "KERNELS" | "SUBSYSTEMS" | "DRIVERS"
        | "TAGS" | "RESULT" | "PROGRAM" => (Some(false), true, false),
        "ATTRS" | "CONST" | "IMPORT" => (Some(true), true, false),
        "TEST" => (None, true, false),
        "SYMLINK" | "NAME" | "TAG" => (Some(false), true, true),
        "ENV" | "ATTR" | "SYSCTL" => (Some(true), true, true),
        "OWNER" | "GROUP" | "MODE" | "OPTIONS" | "GOTO" | "LABEL" => (Some(false), false, true),
        "SECLABEL" => (Some(true), false, true),
        "RUN" => (None, false, true),
        _ => return None,
    })
}

/// Parses a rules file: one rule a logical line. Errors name the line.
fn parse_rules(text: &str) -> Result<Vec<Vec<Pair>>, String> {
    let mut rules = Vec::new();
    let mut logical = String::new();
    let mut first_line = 0;
    for (i, line) in text.lines().enumerate() {
        if logical.is_empty() {
            first_line = i + 1;
            let t = line.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
        }
        match line.strip_suffix('\\') {
            Some(part) => logical.push_str(part),
            None => {
                logical.push_str(line);
                let rule = parse_rule(&logical).map_err(|e| format!("line {first_line}: {e}: {logical}"))?;
                rules.push(rule);
                logical.clear();
            }
        }
    }
    if !logical.is_empty() {
        return Err(format!("line {first_line}: the file ends inside a continued line"));
    }
    Ok(rules)
}

fn parse_rule(line: &str) -> Result<Vec<Pair>, String> {
    let mut rest = line.trim();
    let mut pairs = Vec::new();
    loop {
        let key_len = rest.find(|c: char| !(c.is_ascii_uppercase() || c == '_')).unwrap_or(rest.len());
        let key = &rest[..key_len];
        let (needs_attr, can_match, can_assign) =
            key_kind(key).ok_or_else(|| format!("unknown key '{key}'"))?;
        rest = &rest[key_len..];
        let attr = match rest.strip_prefix('{') {
            Some(r) => {
                let end = r.find('}').ok_or("an attribute without '}'")?;
                if end == 0 {
                    return Err(format!("{key}{{}} with an empty attribute"));
                }
                rest = &r[end + 1..];
                Some(r[..end].to_string())
            }
            None => None,
        };
        match (needs_attr, &attr) {
            (Some(true), None) => return Err(format!("{key} needs an attribute, {key}{{...}}")),
            (Some(false), Some(_)) => return Err(format!("{key} takes no attribute")),
            _ => {}
        }
        let op = ["==", "!=", "+=", "-=", ":=", "="]
            .into_iter()
            .find(|op| rest.starts_with(op))
            .ok_or_else(|| format!("no operator after {key}"))?;
        rest = &rest[op.len()..];
        let matching = op == "==" || op == "!=";
        if matching && !can_match {
            return Err(format!("{key} cannot be matched ({op})"));
        }
        if !matching && !can_assign {
            return Err(format!("{key} cannot be assigned ({op})"));
        }
        if op == "-=" && !matches!(key, "SYMLINK" | "TAG" | "RUN") {
            return Err(format!("{key} cannot be removed from (-=)"));
        }
        let r =
            rest.strip_prefix('"').ok_or_else(|| format!("the value of {key} is not in double quotes"))?;
        let mut end = None;
        let mut escaped = false;
        for (i, c) in r.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => {
                    end = Some(i);
                    break;
                }
                _ => escaped = false,
            }
        }
        let end = end.ok_or_else(|| format!("the value of {key} has no closing quote"))?;
        pairs.push(Pair { key: key.to_string(), attr, op, value: r[..end].to_string() });
        rest = r[end + 1..].trim_start();
        if rest.is_empty() {
            break;
        }
        rest = rest
            .strip_prefix(',')
            .ok_or_else(|| format!("'{rest}' after {key}: rules separate pairs with commas, comments need a line of their own"))?
            .trim_start();
        if rest.is_empty() {
            return Err("a comma at the end of the rule".into());
        }
    }
    Ok(pairs)
}

#[test]
fn the_rules_parser_refuses_what_udev_refuses() {
    let bad = [
        ("SUBSYSTEM==\"tty\", FOO==\"x\"", "unknown key 'FOO'"),
        ("SUBSYSTEM==\"tty\", ATTRS{idVendor}=\"0403\"", "cannot be assigned"),
        ("SUBSYSTEM==\"tty\", GROUP==\"lp\"", "cannot be matched"),
        ("SUBSYSTEM==\"tty\" SYMLINK+=\"x\"", "commas"),
        ("SUBSYSTEM==\"tty\", SYMLINK+=\"x\" # printer", "comments need a line"),
        ("SUBSYSTEM==tty", "double quotes"),
        ("SUBSYSTEM==\"tty, MODE=\"0660\"", "after"),
        ("ATTRS==\"x\"", "needs an attribute"),
        ("SUBSYSTEM==\"tty\",", "comma at the end"),
    ];
    for (rule, why) in bad {
        let err = parse_rules(rule).unwrap_err();
        assert!(err.contains(why), "{rule}: {err}");
    }
    let ok = parse_rules("# a comment\n\nKERNEL==\"lp*\", \\\n  SYMLINK+=\"a\", ENV{X}=\"a \\\"b\\\"\"\n")
        .unwrap();
    assert_eq!(ok.len(), 1);
    assert_eq!(
        ok[0][2],
        Pair { key: "ENV".into(), attr: Some("X".into()), op: "=", value: "a \\\"b\\\"".into() }
    );
}

#[test]
fn the_udev_rules_name_every_device_of_the_shipped_config() {
    let text = read("udev/60-onestop.rules");
    let rules = parse_rules(&text).unwrap_or_else(|e| panic!("deploy/udev/60-onestop.rules, {e}"));
    assert!(rules.len() >= 6, "{rules:?}");
    let mut names = BTreeSet::new();
    for rule in &rules {
        let get = |key: &str| rule.iter().find(|p| p.key == key).map(|p| p.value.as_str());
        // Each rule names a device and lets the service's groups open it, no wider.
        let link = get("SYMLINK").unwrap_or_else(|| panic!("a rule without a name: {rule:?}"));
        assert!(link.starts_with("onestop-") || link.starts_with("input/onestop-"), "{link}");
        let group = get("GROUP").unwrap_or_else(|| panic!("{link}: no GROUP"));
        assert!(["dialout", "lp", "input"].contains(&group), "{link}: group {group}");
        assert_eq!(get("MODE"), Some("0660"), "{link}");
        assert!(rule.iter().any(|p| p.key == "SUBSYSTEM" && p.op == "=="), "{link}: matches no subsystem");
        names.insert(format!("/dev/{link}"));
    }
    // Every device path of the shipped edge.toml with a name of ours has a rule making it.
    let config = read("edge/edge.toml");
    let paths: Vec<&str> = config
        .lines()
        .filter_map(|l| l.trim().strip_prefix("path = \"")?.split('"').next())
        .filter(|p| p.starts_with("/dev/onestop-") || p.starts_with("/dev/input/onestop-"))
        .collect();
    assert!(paths.contains(&"/dev/onestop-printer"), "{paths:?}");
    assert!(paths.len() >= 4, "{paths:?}");
    for path in &paths {
        assert!(names.contains(*path), "edge.toml names {path}, which no udev rule makes: {names:?}");
    }

    // udev's own check, where this machine's udevadm has it (systemd 254 and later).
    let has_verify =
        Command::new("udevadm").args(["verify", "--help"]).output().is_ok_and(|o| o.status.success());
    if has_verify {
        let out =
            Command::new("udevadm").arg("verify").arg(deploy("udev/60-onestop.rules")).output().unwrap();
        assert!(
            out.status.success(),
            "udevadm verify:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
