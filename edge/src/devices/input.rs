//! Card readers, kiosk buttons and rating keypads (evdev).
//!
//! The pure part decodes key events: [`CardDecoder`] turns the keystrokes a USB HID card reader
//! "types" into card numbers, and [`KeyMap`] turns button and keypad presses into configured
//! action names. Neither does I/O or reads a clock: time is a parameter.
//!
//! The thin adapter, [`spawn`], opens one evdev device, grabs it, feeds its events to the pure
//! part and reports [`InputEvent`]s on a channel; it survives unplugging by re-opening the device
//! every second. Architecture invariant: the adapter only moves events, all decoding is in the
//! pure part (and tested on recorded event sequences in `testdata/`).

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use evdev::{EventType, KeyCode, SynchronizationCode};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// A partial card number whose last key is older than this (in milliseconds) is discarded when
/// the next key arrives, so a stray key press never prefixes the next card.
pub const STALE_AFTER_MS: u64 = 500;

/// The lengths of card number that [`CardDecoder`] accepts.
pub const CARD_LEN: RangeInclusive<usize> = 4..=32;

/// How often [`spawn`] tries to (re-)open a device that is missing or failed.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);

const DIGITS: [(KeyCode, char); 20] = [
    (KeyCode::KEY_0, '0'),
    (KeyCode::KEY_1, '1'),
    (KeyCode::KEY_2, '2'),
    (KeyCode::KEY_3, '3'),
    (KeyCode::KEY_4, '4'),
    (KeyCode::KEY_5, '5'),
    (KeyCode::KEY_6, '6'),
    (KeyCode::KEY_7, '7'),
    (KeyCode::KEY_8, '8'),
    (KeyCode::KEY_9, '9'),
    (KeyCode::KEY_KP0, '0'),
    (KeyCode::KEY_KP1, '1'),
    (KeyCode::KEY_KP2, '2'),
    (KeyCode::KEY_KP3, '3'),
    (KeyCode::KEY_KP4, '4'),
    (KeyCode::KEY_KP5, '5'),
    (KeyCode::KEY_KP6, '6'),
    (KeyCode::KEY_KP7, '7'),
    (KeyCode::KEY_KP8, '8'),
    (KeyCode::KEY_KP9, '9'),
];

const LETTERS: [(KeyCode, char); 26] = [
    (KeyCode::KEY_A, 'a'),
    (KeyCode::KEY_B, 'b'),
    (KeyCode::KEY_C, 'c'),
    (KeyCode::KEY_D, 'd'),
    (KeyCode::KEY_E, 'e'),
    (KeyCode::KEY_F, 'f'),
    (KeyCode::KEY_G, 'g'),
    (KeyCode::KEY_H, 'h'),
    (KeyCode::KEY_I, 'i'),
    (KeyCode::KEY_J, 'j'),
    (KeyCode::KEY_K, 'k'),
    (KeyCode::KEY_L, 'l'),
    (KeyCode::KEY_M, 'm'),
    (KeyCode::KEY_N, 'n'),
    (KeyCode::KEY_O, 'o'),
    (KeyCode::KEY_P, 'p'),
    (KeyCode::KEY_Q, 'q'),
    (KeyCode::KEY_R, 'r'),
    (KeyCode::KEY_S, 's'),
    (KeyCode::KEY_T, 't'),
    (KeyCode::KEY_U, 'u'),
    (KeyCode::KEY_V, 'v'),
    (KeyCode::KEY_W, 'w'),
    (KeyCode::KEY_X, 'x'),
    (KeyCode::KEY_Y, 'y'),
    (KeyCode::KEY_Z, 'z'),
];

/// Modifier keys other than shift: pressing them neither adds to nor spoils a card number.
const OTHER_MODIFIERS: [KeyCode; 9] = [
    KeyCode::KEY_LEFTCTRL,
    KeyCode::KEY_RIGHTCTRL,
    KeyCode::KEY_LEFTALT,
    KeyCode::KEY_RIGHTALT,
    KeyCode::KEY_LEFTMETA,
    KeyCode::KEY_RIGHTMETA,
    KeyCode::KEY_CAPSLOCK,
    KeyCode::KEY_NUMLOCK,
    KeyCode::KEY_SCROLLLOCK,
];

/// Decodes the keystrokes of a USB HID card reader (which "types" the card number followed by
/// Enter) into card numbers.
///
/// Guarantees:
/// - digits of the top row and of the keypad are decoded; letters are lower case, or upper case
///   while a shift key is held; Enter or keypad Enter ends a number;
/// - key-up and auto-repeat events never add characters (only shift's key-up is noticed);
/// - a partial number whose last key is more than [`STALE_AFTER_MS`] old when the next key
///   arrives is discarded, so a stray key press never prefixes the next card;
/// - a number is returned only if it has [`CARD_LEN`] characters and no other key (such as a
///   minus sign) was typed within it; a rejected number logs a warning (with its length, never
///   its characters) and returns `None`. A lone Enter is ignored silently.
#[derive(Debug, Default, Clone)]
pub struct CardDecoder {
    chars: String,
    /// Time of the last key-down of the partial number; `None` when no number is in progress.
    last_ms: Option<u64>,
    /// More than `CARD_LEN.end()` characters were typed (the excess is not kept).
    overflow: bool,
    /// The first key of the partial number that is neither a character nor a modifier.
    foreign_key: Option<KeyCode>,
    left_shift: bool,
    right_shift: bool,
}

impl CardDecoder {
    /// A decoder with no partial number and no shift key held.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one key event: `code` is the evdev key code, `value` 0 (up), 1 (down) or 2
    /// (auto-repeat), `at_ms` a monotonic time in milliseconds. Returns the card number when
    /// this event ends a valid one.
    pub fn feed(&mut self, code: u16, value: i32, at_ms: u64) -> Option<String> {
        let key = KeyCode::new(code);
        match key {
            KeyCode::KEY_LEFTSHIFT => {
                self.left_shift = value != 0;
                return None;
            }
            KeyCode::KEY_RIGHTSHIFT => {
                self.right_shift = value != 0;
                return None;
            }
            _ => {}
        }
        if value != 1 || OTHER_MODIFIERS.contains(&key) {
            return None;
        }
        if let Some(last) = self.last_ms
            && at_ms.saturating_sub(last) > STALE_AFTER_MS
        {
            debug!(
                message = "Discarded a stale partial card number.",
                chars = self.chars.len(),
                age_ms = at_ms.saturating_sub(last)
            );
            self.clear_partial();
        }
        if matches!(key, KeyCode::KEY_ENTER | KeyCode::KEY_KPENTER) {
            return self.finish();
        }
        self.last_ms = Some(at_ms);
        match self.char_for(key) {
            Some(c) if self.chars.len() < *CARD_LEN.end() => self.chars.push(c),
            Some(_) => self.overflow = true,
            None => {
                self.foreign_key.get_or_insert(key);
            }
        }
        None
    }

    /// Forgets the partial number and the shift state (used when events were lost, e.g. after
    /// the kernel's `SYN_DROPPED`, or when the device was re-plugged).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    fn char_for(&self, key: KeyCode) -> Option<char> {
        if let Some(&(_, c)) = DIGITS.iter().find(|(k, _)| *k == key) {
            return Some(c);
        }
        let &(_, c) = LETTERS.iter().find(|(k, _)| *k == key)?;
        Some(if self.left_shift || self.right_shift { c.to_ascii_uppercase() } else { c })
    }

    fn clear_partial(&mut self) {
        self.chars.clear();
        self.last_ms = None;
        self.overflow = false;
        self.foreign_key = None;
    }

    fn finish(&mut self) -> Option<String> {
        let chars = std::mem::take(&mut self.chars);
        let (overflow, foreign_key) = (self.overflow, self.foreign_key);
        self.clear_partial();
        if let Some(key) = foreign_key {
            warn!(message = "Rejected a card number: it contains a key that is not a letter or digit.", key = ?key);
            return None;
        }
        if chars.is_empty() && !overflow {
            debug!(message = "Ignored a lone Enter from the card reader.");
            return None;
        }
        if overflow || !CARD_LEN.contains(&chars.len()) {
            warn!(
                message = "Rejected a card number of unexpected length.",
                chars = if overflow { format!("more than {}", CARD_LEN.end()) } else { chars.len().to_string() },
                expected = ?CARD_LEN
            );
            return None;
        }
        Some(chars)
    }
}

/// Why a key map from the configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyMapError {
    /// The name is not an evdev key name.
    #[error(
        "unknown key name {name:?} in a key map (expected an evdev key name such as KEY_F1, KEY_1 or KEY_KP5)"
    )]
    UnknownKey {
        /// The name as written in the configuration.
        name: String,
    },
    /// The key maps to an empty action name.
    #[error("key {name:?} has an empty action in a key map")]
    EmptyAction {
        /// The key name as written in the configuration.
        name: String,
    },
    /// Two names of the map denote the same key code (evdev has a few aliases).
    #[error("key names {first:?} and {second:?} in a key map are the same key")]
    DuplicateKey {
        /// One of the names.
        first: String,
        /// The other name.
        second: String,
    },
}

/// Maps the keys of kiosk buttons and rating keypads to action names from the configuration.
///
/// Guarantees: every key of the map was a valid evdev key name; [`KeyMap::on_key`] answers only
/// key-down events (never key-up or auto-repeat), so one press gives exactly one action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyMap {
    actions: HashMap<KeyCode, (String, String)>,
}

impl KeyMap {
    /// Builds a map from `(key name, action)` pairs, key names as evdev spells them ("KEY_F1",
    /// "KEY_1", "KEY_KP5", "BTN_0"). Fails naming the first unknown key name, a key with an
    /// empty action, or two names for one key.
    pub fn from_config<K: AsRef<str>, V: AsRef<str>>(
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, KeyMapError> {
        let mut actions = HashMap::new();
        for (name, action) in entries {
            let (name, action) = (name.as_ref(), action.as_ref());
            let key =
                KeyCode::from_str(name).map_err(|_| KeyMapError::UnknownKey { name: name.to_string() })?;
            if action.trim().is_empty() {
                return Err(KeyMapError::EmptyAction { name: name.to_string() });
            }
            if let Some((first, _)) = actions.insert(key, (name.to_string(), action.to_string())) {
                return Err(KeyMapError::DuplicateKey { first, second: name.to_string() });
            }
        }
        Ok(Self { actions })
    }

    /// The action of `code` (an evdev key code) if `value` is a key-down (1) and the key is
    /// mapped; `None` otherwise.
    pub fn on_key(&self, code: u16, value: i32) -> Option<&str> {
        if value != 1 {
            return None;
        }
        self.actions.get(&KeyCode::new(code)).map(|(_, action)| action.as_str())
    }

    /// How many keys are mapped.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether no key is mapped.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// What an input device is used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputRole {
    /// A USB HID card reader: its keystrokes are decoded into card numbers.
    CardReader,
    /// Buttons or a keypad: each mapped key-down is reported as its action.
    Keys(KeyMap),
}

/// One input device from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputDevice {
    /// The name from the configuration (e.g. "kiosk-reader"); every [`InputEvent`] carries it.
    pub name: String,
    /// The device node, preferably a stable one (e.g. `/dev/input/by-id/usb-…-event-kbd`).
    pub path: PathBuf,
    /// Whether to grab the device exclusively, so its keystrokes never reach a console or
    /// another program.
    pub grab: bool,
    /// How its events are decoded.
    pub role: InputRole,
}

/// What an input device reports to the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputEvent {
    /// A card reader read a valid card number.
    Card {
        /// The device's configured name.
        device: String,
        /// The card number, 4 to 32 letters and digits.
        number: String,
    },
    /// A mapped key was pressed.
    Key {
        /// The device's configured name.
        device: String,
        /// The configured action.
        action: String,
    },
    /// The device was opened (and grabbed if configured): events flow from now on.
    Connected {
        /// The device's configured name.
        device: String,
    },
    /// The device could not be opened or was lost (unplugged); it is retried every second.
    Disconnected {
        /// The device's configured name.
        device: String,
        /// Why, naming the device path.
        error: String,
    },
}

/// What the pure part made of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decoded {
    Card(String),
    Key(String),
}

/// The pure per-device state the adapter feeds: raw `(type, code, value)` events in, decoded
/// cards and actions out.
#[derive(Debug)]
enum Decoder {
    Card(CardDecoder),
    Keys(KeyMap),
}

impl Decoder {
    fn new(role: InputRole) -> Self {
        match role {
            InputRole::CardReader => Self::Card(CardDecoder::new()),
            InputRole::Keys(map) => Self::Keys(map),
        }
    }

    fn on_event(&mut self, ty: EventType, code: u16, value: i32, at_ms: u64) -> Option<Decoded> {
        match (self, ty) {
            (Self::Card(cards), EventType::KEY) => cards.feed(code, value, at_ms).map(Decoded::Card),
            (Self::Keys(map), EventType::KEY) => map.on_key(code, value).map(|a| Decoded::Key(a.to_string())),
            (Self::Card(cards), EventType::SYNCHRONIZATION)
                if SynchronizationCode(code) == SynchronizationCode::SYN_DROPPED =>
            {
                warn!(
                    message = "Input events were dropped by the kernel; discarding the partial card number."
                );
                cards.reset();
                None
            }
            _ => None,
        }
    }

    fn reset(&mut self) {
        if let Self::Card(cards) = self {
            cards.reset();
        }
    }
}

/// A raw input event as the kernel reports it: `(type, code, value)`, e.g. `(1, 2, 1)` for
/// "key 1 down" and `(0, 0, 0)` for `SYN_REPORT`.
pub type RawEvent = (u16, u16, i32);

/// Runs one input device until the receiver of `tx` is dropped.
///
/// Guarantees: sends [`InputEvent::Connected`] each time the device is opened (and grabbed, if
/// `dev.grab`); decoded cards and key actions as they come; [`InputEvent::Disconnected`] with a
/// reason naming the path when opening fails or the device is lost, once per outage (again only
/// if the reason changes); re-tries opening every [`RETRY_EVERY`] forever, so a re-plugged
/// device comes back by itself. A partial card number never spans a reconnection. The task ends
/// soon after the receiver is dropped. Must be called within a tokio runtime.
pub fn spawn(dev: InputDevice, tx: mpsc::Sender<InputEvent>) -> JoinHandle<()> {
    tokio::spawn(run_evdev(dev, tx, RETRY_EVERY))
}

/// The simulated twin of [`spawn`]: the device's raw events come from `events` instead of
/// evdev (see [`typed`] for a card swipe), and go through the same decoding and reporting.
///
/// Guarantees: sends [`InputEvent::Connected`] at once; then reports exactly what [`spawn`]
/// would report for the same events; when every sender of `events` is dropped, reports
/// [`InputEvent::Disconnected`] ("removed") once. The task ends soon after the receiver of
/// `tx` is dropped. `dev.path` and `dev.grab` are not used. Must be called within a tokio
/// runtime.
pub fn spawn_twin(
    dev: InputDevice,
    events: mpsc::Receiver<RawEvent>,
    tx: mpsc::Sender<InputEvent>,
) -> JoinHandle<()> {
    let mut events = Some(events);
    let removed = format!("the simulated input device {} was removed", dev.name);
    let open = move || events.take().map(Source::Twin).ok_or_else(|| removed.clone());
    tokio::spawn(run(dev.name, dev.role, tx, RETRY_EVERY, open))
}

/// The raw key events a card reader sends for `card`: for each character a key-down, `SYN`,
/// key-up and `SYN` (letters in upper case wrapped in left shift), then Enter. Characters that
/// are neither ASCII letters nor digits are typed as `KEY_MINUS` (for '-') or `KEY_UNKNOWN`, so
/// the decoder rejects such a number as a real reader's would be.
pub fn typed(card: &str) -> Vec<RawEvent> {
    let mut events = Vec::new();
    for c in card.chars() {
        let lower = c.to_ascii_lowercase();
        let code = DIGITS
            .iter()
            .chain(&LETTERS)
            .find(|(_, ch)| *ch == lower)
            .map(|&(code, _)| code)
            .unwrap_or(if c == '-' { KeyCode::KEY_MINUS } else { KeyCode::KEY_UNKNOWN });
        if c.is_ascii_uppercase() {
            key_event(&mut events, KeyCode::KEY_LEFTSHIFT, 1);
            press(&mut events, code);
            key_event(&mut events, KeyCode::KEY_LEFTSHIFT, 0);
        } else {
            press(&mut events, code);
        }
    }
    press(&mut events, KeyCode::KEY_ENTER);
    events
}

fn key_event(events: &mut Vec<RawEvent>, key: KeyCode, value: i32) {
    events.push((EventType::KEY.0, key.code(), value));
    events.push((EventType::SYNCHRONIZATION.0, SynchronizationCode::SYN_REPORT.0, 0));
}

fn press(events: &mut Vec<RawEvent>, key: KeyCode) {
    key_event(events, key, 1);
    key_event(events, key, 0);
}

/// The evdev key code of a key name as evdev spells it ("KEY_F1", "KEY_KP5", "BTN_0").
pub fn key_code(name: &str) -> Result<u16, KeyMapError> {
    KeyCode::from_str(name).map(|k| k.code()).map_err(|_| KeyMapError::UnknownKey { name: name.to_string() })
}

/// Where the adapter reads raw events from.
enum Source {
    Evdev { stream: Box<evdev::raw_stream::EventStream>, path: PathBuf },
    Twin(mpsc::Receiver<RawEvent>),
}

impl Source {
    async fn next(&mut self) -> Result<RawEvent, String> {
        match self {
            Source::Evdev { stream, path } => match stream.next_event().await {
                Ok(e) => Ok((e.event_type().0, e.code(), e.value())),
                Err(e) => Err(format!("lost input device {}: {e}", path.display())),
            },
            Source::Twin(events) => {
                events.recv().await.ok_or_else(|| "the simulated input device was removed".into())
            }
        }
    }
}

async fn run_evdev(dev: InputDevice, tx: mpsc::Sender<InputEvent>, retry_every: Duration) {
    let InputDevice { name, path, grab, role } = dev;
    let open = move || {
        let stream = open(&path, grab)?;
        Ok(Source::Evdev { stream: Box::new(stream), path: path.clone() })
    };
    run(name, role, tx, retry_every, open).await
}

/// The adapter: opens, reads, decodes, reports, and re-opens after every error.
async fn run(
    name: String,
    role: InputRole,
    tx: mpsc::Sender<InputEvent>,
    retry_every: Duration,
    mut open: impl FnMut() -> Result<Source, String>,
) {
    let mut decoder = Decoder::new(role);
    let started = tokio::time::Instant::now();
    let mut reported: Option<String> = None;
    loop {
        let error = match open() {
            Ok(mut source) => {
                info!(message = "Input device connected.", device = %name);
                reported = None;
                decoder.reset();
                if tx.send(InputEvent::Connected { device: name.clone() }).await.is_err() {
                    return;
                }
                loop {
                    let event = tokio::select! {
                        _ = tx.closed() => return,
                        event = source.next() => event,
                    };
                    let (ty, code, value) = match event {
                        Ok(event) => event,
                        Err(error) => break error,
                    };
                    let at_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                    let message = match decoder.on_event(EventType(ty), code, value, at_ms) {
                        None => continue,
                        Some(Decoded::Card(number)) => InputEvent::Card { device: name.clone(), number },
                        Some(Decoded::Key(action)) => InputEvent::Key { device: name.clone(), action },
                    };
                    if tx.send(message).await.is_err() {
                        return;
                    }
                }
            }
            Err(error) => error,
        };
        if reported.as_ref() != Some(&error) {
            warn!(message = "Input device unavailable; retrying every second.", device = %name, error = %error);
            let event = InputEvent::Disconnected { device: name.clone(), error: error.clone() };
            if tx.send(event).await.is_err() {
                return;
            }
            reported = Some(error);
        } else {
            debug!(message = "Input device still unavailable.", device = %name);
        }
        tokio::select! {
            _ = tx.closed() => return,
            _ = tokio::time::sleep(retry_every) => {}
        }
    }
}

fn open(path: &Path, grab: bool) -> Result<evdev::raw_stream::EventStream, String> {
    let mut device = evdev::raw_stream::RawDevice::open(path)
        .map_err(|e| format!("cannot open input device {}: {e}", path.display()))?;
    if grab {
        device.grab().map_err(|e| format!("cannot grab input device {}: {e}", path.display()))?;
    }
    device.into_event_stream().map_err(|e| format!("cannot read input device {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a recording: one event a line, `ms type code value`, type and code as evdev names
    /// (`EV_KEY KEY_2`, `EV_SYN SYN_REPORT`, `EV_MSC MSC_SCAN`) or numbers; `#` starts a comment.
    fn parse(recording: &str) -> Vec<(u64, EventType, u16, i32)> {
        recording
            .lines()
            .map(|line| line.split('#').next().unwrap().trim())
            .filter(|line| !line.is_empty())
            .map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                assert_eq!(f.len(), 4, "bad recording line {line:?}");
                let ty = match f[1] {
                    "EV_SYN" => EventType::SYNCHRONIZATION,
                    "EV_KEY" => EventType::KEY,
                    "EV_MSC" => EventType::MISC,
                    n => EventType(n.parse().unwrap_or_else(|_| panic!("bad type in {line:?}"))),
                };
                let code = f[2].parse::<u16>().ok().unwrap_or_else(|| match ty {
                    EventType::KEY => KeyCode::from_str(f[2]).expect(line).code(),
                    EventType::SYNCHRONIZATION => SynchronizationCode::from_str(f[2]).expect(line).0,
                    EventType::MISC => evdev::MiscCode::from_str(f[2]).expect(line).0,
                    _ => panic!("bad code in {line:?}"),
                });
                (f[0].parse().expect(line), ty, code, f[3].parse().expect(line))
            })
            .collect()
    }

    fn replay(role: InputRole, recording: &str) -> Vec<Decoded> {
        let mut decoder = Decoder::new(role);
        parse(recording)
            .into_iter()
            .filter_map(|(ms, ty, code, value)| decoder.on_event(ty, code, value, ms))
            .collect()
    }

    fn check(recording: &str, expected: &[&str]) {
        let cards = replay(InputRole::CardReader, recording);
        let expected: Vec<Decoded> = expected.iter().map(|c| Decoded::Card(c.to_string())).collect();
        assert_eq!(cards, expected);
    }

    /// Types `text` as a reader would: MSC_SCAN, key down, SYN, key up, SYN; 4 ms a key.
    fn recording_of(start_ms: u64, text: &str) -> String {
        let mut out = String::new();
        let mut ms = start_ms;
        for c in text.chars() {
            let name = match c {
                '\n' => "KEY_ENTER".to_string(),
                c => format!("KEY_{}", c.to_ascii_uppercase()),
            };
            let shift = c.is_ascii_uppercase();
            if shift {
                out += &format!("{ms} EV_KEY KEY_LEFTSHIFT 1\n{ms} EV_SYN SYN_REPORT 0\n");
            }
            out += &format!("{ms} EV_MSC MSC_SCAN 458783\n{ms} EV_KEY {name} 1\n{ms} EV_SYN SYN_REPORT 0\n");
            ms += 2;
            out += &format!("{ms} EV_KEY {name} 0\n{ms} EV_SYN SYN_REPORT 0\n");
            if shift {
                out += &format!("{ms} EV_KEY KEY_LEFTSHIFT 0\n{ms} EV_SYN SYN_REPORT 0\n");
            }
            ms += 2;
        }
        out
    }

    #[test]
    fn recorded_plain_swipe() {
        check(include_str!("testdata/reader-plain.txt"), &["20230001"]);
    }

    #[test]
    fn recorded_shift_for_upper_case() {
        check(include_str!("testdata/reader-shift.txt"), &["AB12cd34"]);
    }

    #[test]
    fn recorded_stray_key_before_swipe() {
        check(include_str!("testdata/reader-stray.txt"), &["20230001"]);
    }

    #[test]
    fn recorded_auto_repeat_is_ignored() {
        check(include_str!("testdata/reader-repeat.txt"), &["20230001"]);
    }

    #[test]
    fn recorded_keypad_digits_and_two_cards() {
        check(include_str!("testdata/reader-keypad.txt"), &["4711", "20230002"]);
    }

    #[test]
    fn typed_cards() {
        check(&recording_of(0, "20230001\n"), &["20230001"]);
        check(&recording_of(0, "S2023x01\n"), &["S2023x01"]);
        check(&(recording_of(0, "12\n") + &recording_of(1000, "1234\n")), &["1234"]);
        check(&recording_of(0, &format!("{}\n", "9".repeat(32))), &[&"9".repeat(32)]);
        check(&recording_of(0, &format!("{}\n", "9".repeat(33))), &[]);
        check(&recording_of(0, &format!("{}\n", "9".repeat(100))), &[]);
        check(&recording_of(0, "123\n"), &[]);
        check(&recording_of(0, "\n\n1234\n"), &["1234"]);
    }

    #[test]
    fn slow_typing_is_discarded_fast_kept() {
        // 400 ms between keys is still one number; 600 ms between keys is not.
        let slow = |gap: u64| {
            (0..4u64).map(|i| format!("{} EV_KEY KEY_{i} 1\n", i * gap)).collect::<String>()
                + &format!("{} EV_KEY KEY_ENTER 1\n", 4 * gap)
        };
        check(&slow(400), &["0123"]);
        check(&slow(600), &[]);
    }

    #[test]
    fn stale_partial_before_enter_is_discarded() {
        // A stray "1234" then Enter 2 s later: the Enter ends nothing.
        check(&(recording_of(0, "1234") + "2000 EV_KEY KEY_ENTER 1\n"), &[]);
    }

    #[test]
    fn foreign_key_spoils_the_number_but_not_the_next() {
        let recording = recording_of(0, "1234")
            + "16 EV_KEY KEY_MINUS 1\n"
            + &recording_of(18, "5678\n")
            + &recording_of(100, "4321\n");
        check(&recording, &["4321"]);
        // Modifiers other than shift are harmless.
        check(
            "0 EV_KEY KEY_LEFTCTRL 1\n1 EV_KEY KEY_1 1\n2 EV_KEY KEY_2 1\n3 EV_KEY KEY_3 1\n4 EV_KEY KEY_4 1\n5 EV_KEY KEY_KPENTER 1\n",
            &["1234"],
        );
    }

    #[test]
    fn dropped_events_discard_the_partial_number() {
        let recording = recording_of(0, "1234") + "10 EV_SYN SYN_DROPPED 0\n" + &recording_of(12, "5678\n");
        check(&recording, &["5678"]);
    }

    #[test]
    fn decoder_feed_directly() {
        let mut d = CardDecoder::new();
        for (i, key) in
            [KeyCode::KEY_4, KeyCode::KEY_2, KeyCode::KEY_4, KeyCode::KEY_2].into_iter().enumerate()
        {
            assert_eq!(d.feed(key.code(), 1, i as u64), None);
            assert_eq!(d.feed(key.code(), 2, i as u64), None);
            assert_eq!(d.feed(key.code(), 0, i as u64), None);
        }
        assert_eq!(d.feed(KeyCode::KEY_ENTER.code(), 0, 5), None);
        assert_eq!(d.feed(KeyCode::KEY_ENTER.code(), 1, 5), Some("4242".to_string()));
        assert_eq!(d.feed(KeyCode::KEY_ENTER.code(), 1, 6), None);
    }

    #[test]
    fn key_map_actions_on_key_down_only() {
        let map =
            KeyMap::from_config([("KEY_F1", "take:A"), ("KEY_1", "rate:1"), ("KEY_KP5", "rate:5")]).unwrap();
        assert_eq!(map.len(), 3);
        assert_eq!(map.on_key(KeyCode::KEY_F1.code(), 1), Some("take:A"));
        assert_eq!(map.on_key(KeyCode::KEY_F1.code(), 0), None);
        assert_eq!(map.on_key(KeyCode::KEY_F1.code(), 2), None);
        assert_eq!(map.on_key(KeyCode::KEY_KP5.code(), 1), Some("rate:5"));
        assert_eq!(map.on_key(KeyCode::KEY_5.code(), 1), None);
        let presses = replay(
            InputRole::Keys(map),
            "0 EV_KEY KEY_1 1\n0 EV_SYN SYN_REPORT 0\n50 EV_KEY KEY_1 2\n90 EV_KEY KEY_1 0\n900 EV_KEY KEY_KP5 1\n",
        );
        assert_eq!(presses, vec![Decoded::Key("rate:1".into()), Decoded::Key("rate:5".into())]);
    }

    #[test]
    fn key_map_from_a_config_map() {
        let config: std::collections::BTreeMap<String, String> =
            toml::from_str("KEY_F1 = \"take:A\"\nBTN_0 = \"take:B\"\n").unwrap();
        let map = KeyMap::from_config(&config).unwrap();
        assert_eq!(map.on_key(KeyCode::BTN_0.code(), 1), Some("take:B"));
    }

    #[test]
    fn key_map_errors_name_the_key() {
        let err = KeyMap::from_config([("KEY_F1", "a"), ("KEY_FOO", "b")]).unwrap_err();
        assert_eq!(err, KeyMapError::UnknownKey { name: "KEY_FOO".into() });
        assert!(err.to_string().contains("\"KEY_FOO\""), "{err}");
        let err = KeyMap::from_config([("f1", "a")]).unwrap_err();
        assert!(err.to_string().contains("unknown key name \"f1\""), "{err}");
        let err = KeyMap::from_config([("KEY_F2", " ")]).unwrap_err();
        assert_eq!(err, KeyMapError::EmptyAction { name: "KEY_F2".into() });
        let err = KeyMap::from_config([("KEY_ZOOM", "a"), ("KEY_FULL_SCREEN", "b")]).unwrap_err();
        assert!(matches!(err, KeyMapError::DuplicateKey { .. }), "{err}");
    }

    async fn next(rx: &mut mpsc::Receiver<InputEvent>) -> InputEvent {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("an event in time")
            .expect("open channel")
    }

    #[tokio::test]
    async fn missing_device_is_reported_once_and_retried() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("usb-reader-event-kbd");
        let dev = InputDevice {
            name: "kiosk-reader".into(),
            path: path.clone(),
            grab: true,
            role: InputRole::CardReader,
        };
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(run_evdev(dev, tx, Duration::from_millis(20)));

        let InputEvent::Disconnected { device, error } = next(&mut rx).await else {
            panic!("expected Disconnected")
        };
        assert_eq!(device, "kiosk-reader");
        assert!(error.contains(&path.display().to_string()) && error.contains("No such file"), "{error}");

        // Retries with the same reason are not reported again.
        let quiet = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await;
        assert!(quiet.is_err(), "unexpected {quiet:?}");

        // Something appears at the path that is not an input device: the retry notices.
        std::fs::write(&path, b"not a device").unwrap();
        let InputEvent::Disconnected { error, .. } = next(&mut rx).await else {
            panic!("expected Disconnected")
        };
        assert!(error.contains("cannot open input device") && !error.contains("No such file"), "{error}");

        // And it goes away again.
        std::fs::remove_file(&path).unwrap();
        let InputEvent::Disconnected { error, .. } = next(&mut rx).await else {
            panic!("expected Disconnected")
        };
        assert!(error.contains("No such file"), "{error}");

        // Dropping the receiver ends the task.
        drop(rx);
        tokio::time::timeout(Duration::from_secs(2), task).await.expect("task ends").unwrap();
    }

    #[tokio::test]
    async fn spawn_reports_on_the_channel_and_ends_with_it() {
        let dev = InputDevice {
            name: "rating-pad".into(),
            path: "/nonexistent/input/event-kbd".into(),
            grab: false,
            role: InputRole::Keys(KeyMap::from_config([("KEY_KP1", "rate:1")]).unwrap()),
        };
        let (tx, mut rx) = mpsc::channel(1);
        let task = spawn(dev, tx);
        assert!(
            matches!(next(&mut rx).await, InputEvent::Disconnected { device, .. } if device == "rating-pad")
        );
        drop(rx);
        tokio::time::timeout(Duration::from_secs(2), task).await.expect("task ends").unwrap();
    }

    #[test]
    fn typed_swipes_decode() {
        let decode = |card: &str| {
            let mut decoder = Decoder::new(InputRole::CardReader);
            typed(card)
                .into_iter()
                .filter_map(|(ty, code, value)| decoder.on_event(EventType(ty), code, value, 0))
                .collect::<Vec<_>>()
        };
        assert_eq!(decode("20230001"), [Decoded::Card("20230001".into())]);
        assert_eq!(decode("Ab12"), [Decoded::Card("Ab12".into())]);
        assert_eq!(decode("12-34"), []);
        assert_eq!(decode("12 34"), []);
        assert_eq!(key_code("KEY_KP5"), Ok(KeyCode::KEY_KP5.code()));
        assert_eq!(key_code("KP5"), Err(KeyMapError::UnknownKey { name: "KP5".into() }));
    }

    #[tokio::test]
    async fn twin_goes_through_the_adapter() {
        let (tx, mut rx) = mpsc::channel(8);
        let (feed, events) = mpsc::channel(512);
        let reader = InputDevice {
            name: "window-3-reader".into(),
            path: "/unused".into(),
            grab: true,
            role: InputRole::CardReader,
        };
        let task = spawn_twin(reader, events, tx.clone());
        assert_eq!(next(&mut rx).await, InputEvent::Connected { device: "window-3-reader".into() });
        for ev in typed("20230001").into_iter().chain(typed("12")).chain(typed("S7788")) {
            feed.send(ev).await.unwrap();
        }
        assert_eq!(
            next(&mut rx).await,
            InputEvent::Card { device: "window-3-reader".into(), number: "20230001".into() }
        );
        assert_eq!(
            next(&mut rx).await,
            InputEvent::Card { device: "window-3-reader".into(), number: "S7788".into() }
        );

        let (key_feed, key_events) = mpsc::channel(8);
        let pad = InputDevice {
            name: "pad".into(),
            path: "/unused".into(),
            grab: false,
            role: InputRole::Keys(KeyMap::from_config([("KEY_KP3", "rate:3")]).unwrap()),
        };
        let pad_task = spawn_twin(pad, key_events, tx);
        assert_eq!(next(&mut rx).await, InputEvent::Connected { device: "pad".into() });
        let code = key_code("KEY_KP3").unwrap();
        for ev in [(1u16, code, 1i32), (0, 0, 0), (1, code, 2), (1, code, 0), (0, 0, 0)] {
            key_feed.send(ev).await.unwrap();
        }
        assert_eq!(next(&mut rx).await, InputEvent::Key { device: "pad".into(), action: "rate:3".into() });

        drop(feed);
        let InputEvent::Disconnected { device, error } = next(&mut rx).await else {
            panic!("expected Disconnected")
        };
        assert_eq!(device, "window-3-reader");
        assert!(error.contains("removed"), "{error}");

        drop(rx);
        tokio::time::timeout(Duration::from_secs(2), task).await.expect("task ends").unwrap();
        tokio::time::timeout(Duration::from_secs(2), pad_task).await.expect("task ends").unwrap();
    }
}
