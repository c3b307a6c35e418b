//! The cloud's configuration and set-up refuse mistakes with a message that says what is
//! wrong, before anything is served: `onestop-cloud check-config` on a good file, an unknown
//! key, a wrong CA passphrase; `onestop-cloud init` with a hall id the halls' sync would refuse.

use onestop_tests::campus::Campus;
use onestop_tests::run;

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn check_config_and_init_refuse_mistakes_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let campus = Campus::start(dir.path());
    let good = dir.path().join("cloud.toml");
    let config = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let out = run("onestop-cloud", &["check-config", "--config", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("the configuration is good"), "{}", text(&out));

    let original = std::fs::read_to_string(&good).unwrap();
    let unknown = config("unknown.toml", &format!("colour = \"red\"\n{original}"));
    let out = run("onestop-cloud", &["check-config", "--config", &unknown]);
    assert!(!out.status.success());
    assert!(text(&out).contains("unknown field `colour`"), "{}", text(&out));

    std::fs::write(dir.path().join("wrong-passphrase"), "not the passphrase\n").unwrap();
    let wrong = config(
        "wrong.toml",
        &original.replace("passphrase_file = \"passphrase\"", "passphrase_file = \"wrong-passphrase\""),
    );
    let out = run("onestop-cloud", &["check-config", "--config", &wrong]);
    assert!(!out.status.success(), "a wrong CA passphrase is found before serving");
    assert!(!text(&out).contains("panicked"), "{}", text(&out));

    let missing = config("missing.toml", &original.replace("cert = \"cloud.pem\"", "cert = \"nowhere.pem\""));
    let out = run("onestop-cloud", &["check-config", "--config", &missing]);
    assert!(!out.status.success());
    assert!(text(&out).contains("nowhere.pem"), "the missing file is named: {}", text(&out));

    // A hall id the halls' sync would refuse never gets into the catalogue.
    let catalog = dir.path().join("bad-catalog.toml");
    let demo =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/demo/catalog.toml")).unwrap();
    let first_hall =
        demo.find("[[hall]]\nid = \"").expect("the demo catalogue has halls") + "[[hall]]\nid = \"".len();
    let end = first_hall + demo[first_hall..].find('"').unwrap();
    let bad = format!("{}east_wing{}", &demo[..first_hall], &demo[end..]);
    std::fs::write(&catalog, bad).unwrap();
    let data = dir.path().join("other-cloud");
    let out = run(
        "onestop-cloud",
        &["init", "--data", data.to_str().unwrap(), "--catalog", catalog.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("the hall id \"east_wing\" must be 1 to 32"), "{}", text(&out));
    drop(campus);
}
