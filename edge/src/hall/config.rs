//! `edge.toml`: how a hall node runs (its data, its web address, its devices).
//!
//! Every mistake is refused with the file, the place and what is wrong: unknown keys, a bad
//! listen address, a device without a path, a window the hall does not have.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The simulated input devices of the demo and the tests (with `simulate = true`): the
/// kiosk's card reader, window 1's staff card reader and its rating keypad.
pub const SIMULATED_INPUTS: &str = r#"
[[input]]
name = "kiosk-reader"
path = "/dev/input/by-id/simulated-kiosk-reader"
role = "kiosk-card"

[[input]]
name = "window-1-reader"
path = "/dev/input/by-id/simulated-window-1-reader"
role = "window-card"
window = 1

[[input]]
name = "window-1-keypad"
path = "/dev/input/by-id/simulated-window-1-keypad"
role = "rating-keypad"
window = 1
"#;

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// The node's data directory, made by `onestop-edge init`.
    pub data: PathBuf,
    /// Where the hall's pages are served, e.g. "0.0.0.0:8080".
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The public website, for the QR code on each ticket (e.g. "https://onestop.example.edu").
    #[serde(default)]
    pub website: Option<String>,
    /// Staff ids who may open the hall manager page.
    #[serde(default)]
    pub managers: Vec<String>,
    #[serde(default)]
    pub printer: PrinterConfig,
    #[serde(default)]
    pub voice: VoiceConfig,
    /// Card readers, kiosk buttons and rating keypads.
    #[serde(default)]
    pub input: Vec<InputConfig>,
    /// Simulated devices (the demo): card swipes and keypads driven from the pages.
    #[serde(default)]
    pub simulate: bool,
    /// How far the wall clock is believed.
    #[serde(default)]
    pub clock: ClockConfig,
}

/// How far the node believes its wall clock (see `onestop_model::bounded_time`).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockConfig {
    /// After a start, a reading up to this many days after the last time written is believed:
    /// more than the hall's longest closure.
    #[serde(default = "default_horizon_days")]
    pub horizon_days: u32,
    /// While running, a jump forward of more than this many minutes needs the cloud's time to
    /// confirm it.
    #[serde(default = "default_step_minutes")]
    pub step_minutes: u32,
}

fn default_horizon_days() -> u32 {
    60
}
fn default_step_minutes() -> u32 {
    5
}

impl Default for ClockConfig {
    fn default() -> ClockConfig {
        ClockConfig { horizon_days: default_horizon_days(), step_minutes: default_step_minutes() }
    }
}

impl ClockConfig {
    /// The bounds these settings stand for.
    pub fn bounds(self) -> onestop_model::clock::TimeBounds {
        onestop_model::clock::TimeBounds {
            step_ms: i64::from(self.step_minutes) * 60_000,
            horizon_ms: i64::from(self.horizon_days) * 86_400_000,
            ..Default::default()
        }
    }
}

fn default_listen() -> SocketAddr {
    "0.0.0.0:8080".parse().expect("a valid address")
}

/// The ticket printer.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
pub enum PrinterConfig {
    /// No printer: the kiosk shows the number on screen.
    #[default]
    None,
    /// ESC/POS over a serial line.
    Serial {
        path: PathBuf,
        #[serde(default = "default_baud")]
        baud: u32,
        #[serde(default)]
        footer: Option<String>,
    },
    /// ESC/POS to a USB printer device file (e.g. /dev/usb/lp0).
    Device {
        path: PathBuf,
        #[serde(default)]
        footer: Option<String>,
    },
    /// The simulated printer: a pseudo-terminal whose bytes are parsed back into receipts
    /// (text and PNG) in `dir`.
    Twin {
        dir: PathBuf,
        #[serde(default)]
        footer: Option<String>,
    },
}

fn default_baud() -> u32 {
    19200
}

/// The voice.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct VoiceConfig {
    /// "aplay" (the Pi's audio output), "wav" (the twin: one WAV file a call in `wav_dir`) or
    /// "none".
    #[serde(default)]
    pub output: VoiceOutput,
    /// The directory of clips made by deploy/voice/make-clips.sh.
    #[serde(default)]
    pub clips: Option<PathBuf>,
    #[serde(default)]
    pub wav_dir: Option<PathBuf>,
    /// Also speak each call in English, after Mandarin.
    #[serde(default = "yes")]
    pub english: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VoiceOutput {
    #[default]
    None,
    Aplay,
    Wav,
}

/// One input device.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// A name for logs and the manager page, e.g. "kiosk-reader".
    pub name: String,
    /// The evdev device, best a stable name such as /dev/input/by-id/… or a udev symlink.
    pub path: PathBuf,
    pub role: InputRoleConfig,
    /// The window of a staff card reader or a rating keypad.
    #[serde(default)]
    pub window: Option<u16>,
    /// Key name → action, for kiosk buttons ("service:ID", "priority:care") and keypads
    /// ("rate:1" … "rate:5"; by default KEY_1 … KEY_5 rate 1 … 5).
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    /// Take the device for this node alone (default true: keystrokes never reach a console).
    #[serde(default = "yes")]
    pub grab: bool,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum InputRoleConfig {
    /// The kiosk's card reader: a swipe identifies the visitor taking a ticket.
    KioskCard,
    /// A window's card reader: a staff card logs the staff member in at that window.
    WindowCard,
    /// The kiosk's service buttons.
    KioskButtons,
    /// A window's five-key rating pad.
    RatingKeypad,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("无法读取配置 / cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("配置有误 / {path} is not a valid configuration: {message}")]
    Invalid { path: String, message: String },
}

impl RunConfig {
    /// Reads and checks `path`. Relative paths in it are taken from the file's folder.
    pub fn load(path: &Path) -> Result<RunConfig, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        let mut config = RunConfig::parse(&text)
            .map_err(|message| ConfigError::Invalid { path: path.display().to_string(), message })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve(base);
        Ok(config)
    }

    /// Parses and checks a configuration text.
    pub fn parse(text: &str) -> Result<RunConfig, String> {
        let config: RunConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        if !(1..=3650).contains(&self.clock.horizon_days) {
            return Err(format!(
                "[clock] horizon_days = {} must be between 1 and 3650",
                self.clock.horizon_days
            ));
        }
        if !(1..=60).contains(&self.clock.step_minutes) {
            return Err(format!(
                "[clock] step_minutes = {} must be between 1 and 60",
                self.clock.step_minutes
            ));
        }
        if let Some(site) = &self.website
            && !(site.starts_with("https://") || site.starts_with("http://"))
        {
            return Err(format!("website = \"{site}\" must start with https:// or http://"));
        }
        match self.voice.output {
            VoiceOutput::None => {}
            VoiceOutput::Aplay | VoiceOutput::Wav if self.voice.clips.is_none() => {
                return Err("[voice] needs clips = \"DIR\" (made by deploy/voice/make-clips.sh)".into());
            }
            VoiceOutput::Wav if self.voice.wav_dir.is_none() => {
                return Err("[voice] output = \"wav\" needs wav_dir = \"DIR\"".into());
            }
            _ => {}
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, dev) in self.input.iter().enumerate() {
            let at = format!("[[input]] #{} ({})", i + 1, dev.name);
            if !names.insert(dev.name.as_str()) {
                return Err(format!("{at}: the name is used twice"));
            }
            let needs_window =
                matches!(dev.role, InputRoleConfig::WindowCard | InputRoleConfig::RatingKeypad);
            if needs_window && dev.window.is_none() {
                return Err(format!("{at}: a {:?} needs window = N", dev.role));
            }
            if !needs_window && dev.window.is_some() {
                return Err(format!(
                    "{at}: window = … only applies to window card readers and rating keypads"
                ));
            }
            if dev.role == InputRoleConfig::KioskButtons && dev.keys.is_empty() {
                return Err(format!("{at}: kiosk buttons need keys = {{ KEY_F1 = \"service:ID\", … }}"));
            }
            crate::devices::input::KeyMap::from_config(&dev.keys).map_err(|e| format!("{at}: {e}"))?;
            for action in dev.keys.values() {
                let ok = match dev.role {
                    InputRoleConfig::KioskButtons => {
                        action.strip_prefix("service:").is_some_and(|s| !s.is_empty())
                            || matches!(action.as_str(), "priority:care" | "priority:green")
                    }
                    InputRoleConfig::RatingKeypad => {
                        matches!(action.as_str(), "rate:1" | "rate:2" | "rate:3" | "rate:4" | "rate:5")
                    }
                    _ => false,
                };
                if !ok {
                    return Err(format!("{at}: '{action}' is not an action for a {:?}", dev.role));
                }
            }
        }
        Ok(())
    }

    fn resolve(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut self.data);
        match &mut self.printer {
            PrinterConfig::Twin { dir, .. } => fix(dir),
            PrinterConfig::Serial { path, .. } | PrinterConfig::Device { path, .. } => fix(path),
            PrinterConfig::None => {}
        }
        if let Some(c) = &mut self.voice.clips {
            fix(c);
        }
        if let Some(c) = &mut self.voice.wav_dir {
            fix(c);
        }
    }

    /// Problems a running hall survives but IT should hear of: devices not present now.
    pub fn missing_devices(&self) -> Vec<String> {
        let mut out = Vec::new();
        match &self.printer {
            PrinterConfig::Serial { path, .. } | PrinterConfig::Device { path, .. } if !path.exists() => {
                out.push(format!("printer {} is not connected", path.display()))
            }
            _ => {}
        }
        // Simulated input devices are fed from the pages, not from their paths.
        for dev in self.input.iter().filter(|_| !self.simulate) {
            if !dev.path.exists() {
                out.push(format!("input device '{}' ({}) is not connected", dev.name, dev.path.display()));
            }
        }
        if let Some(clips) = &self.voice.clips
            && self.voice.output != VoiceOutput::None
            && !clips.is_dir()
        {
            out.push(format!("voice clips folder {} does not exist", clips.display()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        RunConfig::parse(text).expect_err("should be refused")
    }

    #[test]
    fn a_full_file_reads() {
        let c = RunConfig::parse(
            r#"
            data = "/var/lib/onestop"
            listen = "127.0.0.1:8080"
            website = "https://onestop.example.edu"
            managers = ["wang"]
            [printer]
            kind = "serial"
            path = "/dev/ttyUSB0"
            [voice]
            output = "aplay"
            clips = "/usr/share/onestop/voice"
            [[input]]
            name = "kiosk-reader"
            path = "/dev/input/by-id/usb-reader-event-kbd"
            role = "kiosk-card"
            [[input]]
            name = "pad-3"
            path = "/dev/input/by-path/pad3"
            role = "rating-keypad"
            window = 3
            keys = { KEY_KP1 = "rate:1" }
            "#,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 8080);
        assert!(matches!(c.printer, PrinterConfig::Serial { baud: 19200, .. }));
        assert_eq!(c.input.len(), 2);
        assert!(c.voice.english);
    }

    #[test]
    fn mistakes_are_named() {
        assert!(err("data = \"x\"\nlisten = \"nowhere\"").contains("listen"));
        assert!(err("data = \"x\"\ncolour = 1").contains("colour"));
        assert!(err("data = \"x\"\n[printer]\nkind = \"serial\"").contains("path"));
        assert!(err("data = \"x\"\n[printer]\nkind = \"laser\"").contains("laser"));
        assert!(err("data = \"x\"\n[voice]\noutput = \"aplay\"").contains("clips"));
        assert!(
            err("data = \"x\"\n[[input]]\nname = \"p\"\npath = \"/d\"\nrole = \"rating-keypad\"")
                .contains("window")
        );
        assert!(
            err("data = \"x\"\n[[input]]\nname = \"b\"\npath = \"/d\"\nrole = \"kiosk-buttons\"\nkeys = { KEY_F1 = \"explode\" }")
                .contains("explode")
        );
        assert!(err("data = \"x\"\nwebsite = \"ftp://x\"").contains("https://"));
        assert!(
            err("data = \"x\"\n[[input]]\nname = \"b\"\npath = \"/d\"\nrole = \"kiosk-buttons\"\nkeys = { KEY_FLY = \"service:a\" }")
                .contains("KEY_FLY")
        );
        assert!(err("listen = \"0.0.0.0:1\"").contains("data"));
    }

    #[test]
    fn the_shipped_example_reads() {
        let text = include_str!("../../../deploy/edge/edge.toml");
        let c = RunConfig::parse(text).unwrap();
        assert_eq!(c.input.len(), 4);
        assert!(matches!(c.printer, PrinterConfig::Serial { .. }));
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("edge.toml");
        std::fs::write(&path, "data = \"hall\"\n[printer]\nkind = \"twin\"\ndir = \"receipts\"\n").unwrap();
        let c = RunConfig::load(&path).unwrap();
        assert_eq!(c.data, dir.path().join("hall"));
        assert!(
            matches!(&c.printer, PrinterConfig::Twin { dir: d, .. } if *d == dir.path().join("receipts"))
        );
        let missing = RunConfig::load(&dir.path().join("nope.toml")).unwrap_err().to_string();
        assert!(missing.contains("nope.toml"), "{missing}");
    }
}
