//! The boot bundle for a new Pi: the files campus IT copies onto a freshly flashed SD card's
//! boot partition so that the node installs Onestop and enrols itself at first boot.
//!
//! - `user-data` (cloud-init, for current Raspberry Pi OS, which reads `user-data` and
//!   `meta-data` from the boot partition as cloud-init's NoCloud source) and `meta-data`.
//! - `firstrun.sh`, the same steps for older images without cloud-init: the kernel command line
//!   runs it once, as it runs Raspberry Pi Imager's own `firstrun.sh`, and it removes itself.
//!
//! The Onestop package comes from the boot partition too: the arm64 `onestop-edge` .deb, copied
//! next to `user-data` as [`DEB_NAME`]. No apt repository is involved, and first boot needs the
//! network only to reach the cloud.
//!
//! Guarantees: a bundle holds the cloud's address and certificate name, the campus CA
//! certificate and the one-time join token, and nothing else. The token is written on the node
//! for root only (mode 0600, [`TOKEN_PATH`]); `onestop-edge-enroll.service` hands it to the
//! enrolment and removes it once enrolled. No private key is ever in a bundle: the node makes
//! its own at first boot, and a CA "certificate" holding a key is refused.

use crate::token;
use std::fmt::Write as _;
use std::net::SocketAddr;

/// On the node: the cloud's address and certificate name, as `KEY=value` lines for systemd's
/// `EnvironmentFile=` (`ONESTOP_CLOUD`, `ONESTOP_SERVER_NAME`).
pub const ENROLL_ENV: &str = "/etc/onestop/enroll.env";
/// On the node: the campus CA certificate (PEM).
pub const CA_PATH: &str = "/etc/onestop/ca.pem";
/// On the node: the one-time join token, root only (0600); removed once the node is enrolled.
pub const TOKEN_PATH: &str = "/etc/onestop/join-token";
/// The arm64 `onestop-edge` package's name on the boot partition, next to `user-data`.
pub const DEB_NAME: &str = "onestop-edge.deb";
/// Where current Raspberry Pi OS mounts the boot partition.
pub const BOOT: &str = "/boot/firmware";

/// The systemd units the bundle enables: enrolment first (skipped once enrolled), then the hall.
pub const UNITS: [&str; 2] = ["onestop-edge-enroll.service", "onestop-edge.service"];

/// What a new node is told: where the cloud is, how to recognise it, and its join token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setup {
    /// The cloud's sync address (UDP).
    pub cloud: SocketAddr,
    /// The name in the cloud's certificate.
    pub server_name: String,
    /// The campus CA certificate, PEM.
    pub ca_pem: String,
    /// The one-time join token (`ostk_…`), for this hall and node.
    pub token: String,
    /// The hall the token is for (shown in the files; the cloud takes it from the token).
    pub hall: String,
    /// The node's name: its hostname too.
    pub node: String,
}

/// The rendered files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// cloud-init `user-data` (`#cloud-config`).
    pub user_data: String,
    /// cloud-init `meta-data` for the NoCloud source.
    pub meta_data: String,
    /// `firstrun.sh` for images without cloud-init (bash).
    pub firstrun: String,
}

/// Why a bundle cannot be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BundleError {
    #[error("节点名无效 / '{0}' is not a node name: 1-63 of a-z, 0-9 and -, not starting or ending with -")]
    Node(String),
    #[error("大厅编号无效 / '{0}' is not a hall id: 1-32 of a-z, 0-9 and -")]
    Hall(String),
    #[error("服务器名称无效 / '{0}' is not a DNS name or an IP address")]
    ServerName(String),
    #[error("这不是加入令牌 / the token file does not hold a join token (ostk_ and 26 characters)")]
    Token,
    #[error("CA 证书无效 / the CA file is not a usable campus CA certificate: {0}")]
    Ca(String),
    #[error("拒绝打包私钥 / the CA file holds a private key: give the certificate (ca.pem), never a key")]
    PrivateKey,
}

impl Setup {
    /// Checks every field; the rendered files hold only checked values.
    pub fn check(&self) -> Result<(), BundleError> {
        if !crate::valid_node_name(&self.node) || self.node.ends_with('-') {
            return Err(BundleError::Node(self.node.clone()));
        }
        if !crate::valid_hall_id(&self.hall) {
            return Err(BundleError::Hall(self.hall.clone()));
        }
        if !valid_server_name(&self.server_name) {
            return Err(BundleError::ServerName(self.server_name.clone()));
        }
        if !token::looks_like_token(&self.token) || self.token.trim().contains(char::is_whitespace) {
            return Err(BundleError::Token);
        }
        check_ca(&self.ca_pem)
    }
}

/// Whether `name` is a DNS name (letters, digits, `-` and `.`, labels of 1-63) or an IP address.
fn valid_server_name(name: &str) -> bool {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// The CA file must be one or more certificates, the first a CA, and no key.
fn check_ca(pem: &str) -> Result<(), BundleError> {
    if pem.contains("PRIVATE KEY") {
        return Err(BundleError::PrivateKey);
    }
    let mut first = true;
    for block in x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes()) {
        let block = block.map_err(|e| BundleError::Ca(format!("not PEM: {e}")))?;
        if block.label != "CERTIFICATE" {
            return Err(BundleError::Ca(format!("a '{}' block where a certificate belongs", block.label)));
        }
        let cert = block.parse_x509().map_err(|e| BundleError::Ca(format!("not a certificate: {e}")))?;
        if first && !cert.is_ca() {
            return Err(BundleError::Ca(
                "the certificate is not a CA (is this the cloud's certificate?)".into(),
            ));
        }
        first = false;
    }
    if first {
        return Err(BundleError::Ca("no certificate in it".into()));
    }
    Ok(())
}

/// The CA's PEM lines, normalised: no blank lines, no carriage returns.
fn pem_lines(pem: &str) -> impl Iterator<Item = &str> {
    pem.lines().map(str::trim_end).filter(|l| !l.is_empty())
}

/// Renders the bundle after [`Setup::check`].
pub fn render(setup: &Setup) -> Result<Bundle, BundleError> {
    setup.check()?;
    Ok(Bundle { user_data: user_data(setup), meta_data: meta_data(setup), firstrun: firstrun(setup) })
}

/// The lines of the enrolment environment file.
fn enroll_env(setup: &Setup) -> [String; 2] {
    [format!("ONESTOP_CLOUD={}", setup.cloud), format!("ONESTOP_SERVER_NAME={}", setup.server_name)]
}

fn user_data(s: &Setup) -> String {
    let mut y = String::new();
    let _ = writeln!(y, "#cloud-config");
    let _ = writeln!(
        y,
        "# Onestop boot bundle: node '{}' of hall '{}' (made by onestop-provision bundle).",
        s.node, s.hall
    );
    let _ = writeln!(y, "# Copy user-data, meta-data and {DEB_NAME} onto the SD card's boot partition;");
    let _ = writeln!(
        y,
        "# see deploy/README.md. It holds a one-time join token: keep the card safe until first boot."
    );
    let _ = writeln!(y, "hostname: '{}'", s.node);
    let _ = writeln!(y, "preserve_hostname: false");
    let _ = writeln!(y, "manage_etc_hosts: true");
    let _ = writeln!(y, "write_files:");
    let mut file = |path: &str, mode: &str, lines: &mut dyn Iterator<Item = &str>| {
        let _ = writeln!(y, "  - path: {path}");
        let _ = writeln!(y, "    owner: 'root:root'");
        let _ = writeln!(y, "    permissions: '{mode}'");
        let _ = writeln!(y, "    content: |");
        for line in lines {
            let _ = writeln!(y, "      {line}");
        }
    };
    let env = enroll_env(s);
    file(ENROLL_ENV, "0644", &mut env.iter().map(String::as_str));
    file(CA_PATH, "0644", &mut pem_lines(&s.ca_pem));
    file(TOKEN_PATH, "0600", &mut std::iter::once(s.token.trim()));
    let _ = writeln!(y, "runcmd:");
    let _ = writeln!(y, "  - [apt-get, install, -y, -o, 'DPkg::Lock::Timeout=600', '{BOOT}/{DEB_NAME}']");
    let _ = writeln!(y, "  - [systemctl, enable, --now, --no-block, {}]", UNITS.join(", "));
    y
}

fn meta_data(s: &Setup) -> String {
    format!("instance-id: 'onestop-{node}'\nlocal-hostname: '{node}'\n", node = s.node)
}

/// A here-document's end marker that no line of the content can be.
const EOF: &str = "ONESTOP_EOF";

fn firstrun(s: &Setup) -> String {
    let node = &s.node;
    let mut sh = String::new();
    let _ = write!(
        sh,
        r#"#!/bin/bash
# Onestop first-run script: node '{node}' of hall '{hall}' (made by onestop-provision bundle).
#
# For Raspberry Pi OS images without cloud-init. Copy this file and {DEB_NAME} onto the SD
# card's boot partition and append to the one line of cmdline.txt (bookworm images mount the
# partition at /boot/firmware: use /boot/firmware/firstrun.sh there):
#   systemd.run=/boot/firstrun.sh systemd.run_success_action=reboot systemd.unit=kernel-command-line.target
# It runs once, as Raspberry Pi Imager's own firstrun.sh does: whatever happens it removes itself
# (it holds the join token) and its part of cmdline.txt, logs to onestop-firstrun.log on the boot
# partition, and the Pi reboots into the installed node.
set -eu

BOOT={BOOT}
[ -f "$BOOT/cmdline.txt" ] || BOOT=/boot

finish() {{
    status=$?
    rm -f -- "$0" "$BOOT/firstrun.sh"
    sed -i 's| systemd.run.*||g' "$BOOT/cmdline.txt"
    if [ "$status" -eq 0 ]; then
        echo "onestop firstrun: done"
    else
        echo "onestop firstrun: FAILED (exit status $status); see the lines above"
    fi
    exit 0
}}
trap finish EXIT
exec >>"$BOOT/onestop-firstrun.log" 2>&1
echo "onestop firstrun: node {node} of hall {hall}, $(date)"

install -d -m 0755 /etc/onestop
cat >{ENROLL_ENV} <<'{EOF}'
"#,
        hall = s.hall,
    );
    for line in enroll_env(s) {
        let _ = writeln!(sh, "{line}");
    }
    let _ = writeln!(sh, "{EOF}\nchmod 0644 {ENROLL_ENV}\ncat >{CA_PATH} <<'{EOF}'");
    for line in pem_lines(&s.ca_pem) {
        let _ = writeln!(sh, "{line}");
    }
    let _ = write!(
        sh,
        r#"{EOF}
chmod 0644 {CA_PATH}
(
    umask 077
    cat >{TOKEN_PATH} <<'{EOF}'
{token}
{EOF}
)
chown root:root {TOKEN_PATH}
chmod 0600 {TOKEN_PATH}

# The hostname is the node's name.
if [ -x /usr/lib/raspberrypi-sys-mods/imager_custom ]; then
    /usr/lib/raspberrypi-sys-mods/imager_custom set_hostname '{node}'
else
    current=$(tr -d ' \t\n\r' </etc/hostname)
    echo '{node}' >/etc/hostname
    sed -i "s/127\.0\.1\.1.*$current/127.0.1.1\t{node}/g" /etc/hosts
fi

apt-get install -y "$BOOT/{DEB_NAME}"
# Started at the next boot, which follows at once: enrolment, then the hall.
systemctl enable {units}
"#,
        token = s.token.trim(),
        units = UNITS.join(" "),
    );
    sh
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CampusCa;

    fn setup() -> Setup {
        let ca =
            CampusCa::create("Test campus CA", 30, onestop_model::clock::SystemClock.system_time()).unwrap();
        Setup {
            cloud: "10.0.0.5:4433".parse().unwrap(),
            server_name: "cloud.example.edu".into(),
            ca_pem: ca.cert_pem().to_string(),
            token: token::new_token(),
            hall: "main".into(),
            node: "main-pi-1".into(),
        }
    }

    /// The `write_files` entry for `path`: its lines up to the next entry.
    fn entry<'a>(user_data: &'a str, path: &str) -> Vec<&'a str> {
        let start = format!("  - path: {path}");
        user_data
            .lines()
            .skip_while(|l| *l != start)
            .enumerate()
            .take_while(|(i, l)| *i == 0 || l.starts_with("    "))
            .map(|(_, l)| l)
            .collect()
    }

    #[test]
    fn the_token_is_for_root_only_and_appears_once() {
        let s = setup();
        let b = render(&s).unwrap();
        assert!(b.user_data.starts_with("#cloud-config\n"));
        assert_eq!(b.user_data.matches(&s.token).count(), 1);
        let token = entry(&b.user_data, TOKEN_PATH);
        assert_eq!(
            token,
            [
                "  - path: /etc/onestop/join-token",
                "    owner: 'root:root'",
                "    permissions: '0600'",
                "    content: |",
                &format!("      {}", s.token),
            ]
        );
        let env = entry(&b.user_data, ENROLL_ENV);
        assert!(env.contains(&"      ONESTOP_CLOUD=10.0.0.5:4433"), "{env:?}");
        assert!(env.contains(&"      ONESTOP_SERVER_NAME=cloud.example.edu"), "{env:?}");
        let ca = entry(&b.user_data, CA_PATH);
        assert_eq!(ca[4], "      -----BEGIN CERTIFICATE-----");
        assert_eq!(ca.last(), Some(&"      -----END CERTIFICATE-----"));
    }

    #[test]
    fn the_bundle_holds_only_the_enrolment() {
        let s = setup();
        let b = render(&s).unwrap();
        for text in [&b.user_data, &b.meta_data, &b.firstrun] {
            assert!(!text.contains("PRIVATE KEY"), "{text}");
        }
        // Three files on the node, nothing else.
        let paths: Vec<&str> = b.user_data.lines().filter(|l| l.starts_with("  - path: ")).collect();
        assert_eq!(paths.len(), 3, "{paths:?}");
        assert!(b.user_data.contains("hostname: 'main-pi-1'"));
        assert!(b.user_data.contains("'/boot/firmware/onestop-edge.deb'"));
        assert!(b.user_data.contains(
            "  - [systemctl, enable, --now, --no-block, onestop-edge-enroll.service, onestop-edge.service]"
        ));
        assert_eq!(b.meta_data, "instance-id: 'onestop-main-pi-1'\nlocal-hostname: 'main-pi-1'\n");
    }

    #[test]
    fn the_first_run_script_does_the_same_steps_and_removes_itself() {
        let s = setup();
        let sh = render(&s).unwrap().firstrun;
        assert!(sh.starts_with("#!/bin/bash\n"));
        assert!(sh.contains("\nset -eu\n"));
        assert!(sh.contains("rm -f -- \"$0\" \"$BOOT/firstrun.sh\""));
        assert!(sh.contains("sed -i 's| systemd.run.*||g' \"$BOOT/cmdline.txt\""));
        assert!(sh.contains(&format!(
            "    cat >/etc/onestop/join-token <<'ONESTOP_EOF'\n{}\nONESTOP_EOF\n",
            s.token
        )));
        assert!(sh.contains("chmod 0600 /etc/onestop/join-token"));
        assert!(
            sh.contains("ONESTOP_CLOUD=10.0.0.5:4433\nONESTOP_SERVER_NAME=cloud.example.edu\nONESTOP_EOF\n")
        );
        assert!(sh.contains("apt-get install -y \"$BOOT/onestop-edge.deb\""));
        assert!(sh.contains("systemctl enable onestop-edge-enroll.service onestop-edge.service"));
        // Every here-document ends: as many end markers as openings.
        assert_eq!(sh.matches("<<'ONESTOP_EOF'").count(), 3);
        assert_eq!(sh.lines().filter(|l| *l == "ONESTOP_EOF").count(), 3);
    }

    #[test]
    fn values_that_yaml_would_retype_stay_strings() {
        let mut s = setup();
        s.node = "1234".into();
        s.cloud = "[::1]:4433".parse().unwrap();
        let b = render(&s).unwrap();
        assert!(b.user_data.contains("hostname: '1234'\n"));
        assert!(b.user_data.contains("      ONESTOP_CLOUD=[::1]:4433\n"));
    }

    #[test]
    fn bad_input_is_refused() {
        let check = |f: &dyn Fn(&mut Setup)| {
            let mut s = setup();
            f(&mut s);
            render(&s).unwrap_err()
        };
        assert!(matches!(check(&|s| s.node = "Main Pi".into()), BundleError::Node(_)));
        assert!(matches!(check(&|s| s.node = "pi-".into()), BundleError::Node(_)));
        assert!(matches!(check(&|s| s.hall = "Main".into()), BundleError::Hall(_)));
        assert!(matches!(check(&|s| s.server_name = "cloud example".into()), BundleError::ServerName(_)));
        assert!(matches!(check(&|s| s.server_name = "x'; rm -rf /".into()), BundleError::ServerName(_)));
        assert_eq!(check(&|s| s.token = "hunter2".into()), BundleError::Token);
        assert_eq!(check(&|s| s.token = format!("{}\nruncmd: [reboot]", s.token)), BundleError::Token);
        let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        assert_eq!(check(&|s| s.ca_pem = key.clone()), BundleError::PrivateKey);
        assert_eq!(check(&|s| s.ca_pem = format!("{}{key}", s.ca_pem)), BundleError::PrivateKey);
        assert!(matches!(check(&|s| s.ca_pem = "hello".into()), BundleError::Ca(_)));
        // The cloud's own certificate is not the CA.
        let server = CampusCa::create("Test campus CA", 30, onestop_model::clock::SystemClock.system_time())
            .unwrap()
            .server_cert(
                &["cloud.example.edu".to_string()],
                30,
                onestop_model::clock::SystemClock.system_time(),
            )
            .unwrap();
        assert!(matches!(check(&|s| s.ca_pem = server.cert_pem.clone()), BundleError::Ca(_)));
        // An IP address is a valid server name; a trimmed token with a newline is fine.
        let mut s = setup();
        s.server_name = "10.0.0.5".into();
        s.token = format!("{}\n", s.token);
        assert!(render(&s).is_ok());
    }
}
