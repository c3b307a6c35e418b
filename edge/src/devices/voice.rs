//! Spoken calls: clip scripts, joined audio, the announcer.
//!
//! A call is spoken by joining short pre-recorded clips ("chime", "zh-qing", "zh-A", "zh-0", …)
//! that `deploy/voice/make-clips.sh` generates. The pure part is [`script`] (which clips, in
//! which order) and [`join`] (the samples); [`Announcer`] is the shell: a worker thread that
//! plays queued calls one at a time through an [`AudioOut`], either the Pi's sound output
//! ([`AplayOut`]) or its simulated twin ([`WavDirOut`]), which writes each call to a file.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

/// The silence between two clips of a call, in milliseconds.
pub const CLIP_GAP_MS: u32 = 80;

/// How long dropping an [`Announcer`] waits for its queue before giving up on the rest.
pub const DROP_GRACE: Duration = Duration::from_secs(10);

/// How much longer than the audio itself `aplay` may take before it is killed.
const APLAY_MARGIN: Duration = Duration::from_secs(10);

const LETTERS: std::ops::RangeInclusive<char> = 'A'..='Z';
const ZH_WORDS: [&str; 6] = ["zh-qing", "zh-hao", "zh-dao", "zh-chuangkou", "zh-banli", "zh-shi"];
const EN_WORDS: [&str; 2] = ["en-number", "en-please-go-to-window"];
/// English numbers with a clip of their own: 0–19 and the tens.
const EN_NUMBERS: [u32; 28] =
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 30, 40, 50, 60, 70, 80, 90];

/// The clip names of the call for `ticket` to `window`: "chime, 请 A023 号到 5 号窗口办理",
/// then, if `english`, "Number A023, please go to window 5".
///
/// Guarantees: every name is in [`all_clips`]. The ticket is read character by character
/// (letters upper-cased, e.g. A 零 二 三 / A zero two three); characters other than ASCII
/// letters and digits are not read. The window is read as a number: in Chinese 五, 十, 十一,
/// 二十, 九十九; in English five, twelve, twenty one. Windows above 99 are read digit by digit.
pub fn script(ticket: &str, window: u32, english: bool) -> Vec<String> {
    let chars: Vec<char> =
        ticket.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_uppercase()).collect();
    let mut names = vec!["chime".to_string(), "zh-qing".to_string()];
    names.extend(chars.iter().map(|c| format!("zh-{c}")));
    names.extend(["zh-hao", "zh-dao"].map(String::from));
    names.extend(zh_number(window));
    names.extend(["zh-hao", "zh-chuangkou", "zh-banli"].map(String::from));
    if english {
        names.push("en-number".to_string());
        names.extend(chars.iter().map(|c| format!("en-{c}")));
        names.push("en-please-go-to-window".to_string());
        names.extend(en_number(window));
    }
    names
}

fn digits(prefix: &str, n: u32) -> Vec<String> {
    n.to_string().chars().map(|d| format!("{prefix}-{d}")).collect()
}

fn zh_number(n: u32) -> Vec<String> {
    match n {
        0..=9 => digits("zh", n),
        10..=99 => {
            let (tens, ones) = (n / 10, n % 10);
            let mut names = Vec::new();
            if tens > 1 {
                names.push(format!("zh-{tens}"));
            }
            names.push("zh-shi".to_string());
            if ones > 0 {
                names.push(format!("zh-{ones}"));
            }
            names
        }
        _ => digits("zh", n),
    }
}

fn en_number(n: u32) -> Vec<String> {
    match n {
        0..=19 => vec![format!("en-{n}")],
        20..=99 => {
            let (tens, ones) = (n / 10 * 10, n % 10);
            let mut names = vec![format!("en-{tens}")];
            if ones > 0 {
                names.push(format!("en-{ones}"));
            }
            names
        }
        _ => digits("en", n),
    }
}

/// Every clip name that [`script`] can use, each once: "chime", the Mandarin words, digits and
/// letters A–Z, the English words, numbers 0–19, the tens 20–90 and letters A–Z.
/// `deploy/voice/make-clips.sh --list` prints the same list.
pub fn all_clips() -> Vec<String> {
    let mut names = vec!["chime".to_string()];
    names.extend(ZH_WORDS.map(String::from));
    names.extend((0..10).map(|d| format!("zh-{d}")));
    names.extend(LETTERS.map(|c| format!("zh-{c}")));
    names.extend(EN_WORDS.map(String::from));
    names.extend(EN_NUMBERS.map(|n| format!("en-{n}")));
    names.extend(LETTERS.map(|c| format!("en-{c}")));
    names
}

/// Why clips could not be loaded or joined, or audio not written.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// A clip that [`all_clips`] lists has no file.
    #[error("voice clip {name:?} is missing: expected {}", path.display())]
    MissingClip {
        /// The clip name.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A clip file is not a readable WAV file.
    #[error("cannot read voice clip {}: {source}", path.display())]
    BadClip {
        /// The file.
        path: PathBuf,
        /// What hound said.
        source: hound::Error,
    },
    /// A clip differs in format from the others.
    #[error("voice clip {} is {found}; every clip must be {expected}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// Its format, e.g. "stereo, 16-bit int, 44100 Hz".
        found: String,
        /// The format required, e.g. "mono, 16-bit int, 22050 Hz (as chime.wav)".
        expected: String,
    },
    /// A clip file holds no samples.
    #[error("voice clip {} is empty", path.display())]
    EmptyClip {
        /// The file.
        path: PathBuf,
    },
    /// [`join`] was asked for a clip the library does not have.
    #[error("no voice clip named {name:?} in the library")]
    UnknownClip {
        /// The clip name.
        name: String,
    },
    /// Audio could not be written as WAV.
    #[error("cannot write audio to {}: {source}", path.display())]
    Write {
        /// The file (or "-" for memory).
        path: PathBuf,
        /// What hound said.
        source: hound::Error,
    },
}

/// The clips of [`all_clips`], loaded into memory.
///
/// Guarantees: holds every clip of [`all_clips`], each non-empty, all mono 16-bit integer PCM
/// at one sample rate.
#[derive(Debug, Clone)]
pub struct ClipLibrary {
    sample_rate: u32,
    clips: HashMap<String, Vec<i16>>,
}

impl ClipLibrary {
    /// Loads `<dir>/<name>.wav` for every name of [`all_clips`] (other files are ignored).
    /// Fails naming the first missing, unreadable, empty or differently formatted clip; the
    /// format of `chime.wav` sets the sample rate of the library.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, VoiceError> {
        let dir = dir.as_ref();
        let mut sample_rate = None;
        let mut clips = HashMap::new();
        for name in all_clips() {
            let path = dir.join(format!("{name}.wav"));
            if !path.is_file() {
                return Err(VoiceError::MissingClip { name, path });
            }
            let reader = hound::WavReader::open(&path)
                .map_err(|source| VoiceError::BadClip { path: path.clone(), source })?;
            let spec = reader.spec();
            let rate = *sample_rate.get_or_insert(spec.sample_rate);
            if spec.channels != 1
                || spec.bits_per_sample != 16
                || spec.sample_format != hound::SampleFormat::Int
                || spec.sample_rate != rate
            {
                return Err(VoiceError::Format {
                    path,
                    found: describe(spec),
                    expected: format!("mono, 16-bit int, {rate} Hz (as chime.wav)"),
                });
            }
            let samples = reader
                .into_samples::<i16>()
                .collect::<Result<Vec<_>, _>>()
                .map_err(|source| VoiceError::BadClip { path: path.clone(), source })?;
            if samples.is_empty() {
                return Err(VoiceError::EmptyClip { path });
            }
            clips.insert(name, samples);
        }
        Ok(Self { sample_rate: sample_rate.unwrap_or_default(), clips })
    }

    /// The sample rate shared by all clips, in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The samples of one clip, if the library has it.
    pub fn clip(&self, name: &str) -> Option<&[i16]> {
        self.clips.get(name).map(Vec::as_slice)
    }
}

fn describe(spec: hound::WavSpec) -> String {
    let channels = match spec.channels {
        1 => "mono".to_string(),
        2 => "stereo".to_string(),
        n => format!("{n} channels"),
    };
    let format = match spec.sample_format {
        hound::SampleFormat::Int => "int",
        hound::SampleFormat::Float => "float",
    };
    format!("{channels}, {}-bit {format}, {} Hz", spec.bits_per_sample, spec.sample_rate)
}

/// Mono 16-bit PCM audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audio {
    /// Samples per second.
    pub sample_rate: u32,
    /// The samples, one channel.
    pub samples: Vec<i16>,
}

impl Audio {
    /// How long the audio plays (zero if the sample rate is zero).
    pub fn duration(&self) -> Duration {
        if self.sample_rate == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64(self.samples.len() as f64 / f64::from(self.sample_rate))
    }

    /// Writes the audio as a mono 16-bit WAV file, replacing `path`.
    pub fn write_wav(&self, path: impl AsRef<Path>) -> Result<(), VoiceError> {
        let path = path.as_ref();
        let err = |source| VoiceError::Write { path: path.to_path_buf(), source };
        let mut writer = hound::WavWriter::create(path, self.spec()).map_err(err)?;
        self.write_samples(&mut writer).map_err(err)?;
        writer.finalize().map_err(err)
    }

    /// The audio as the bytes of a mono 16-bit WAV file.
    pub fn to_wav_bytes(&self) -> Result<Vec<u8>, VoiceError> {
        let err = |source| VoiceError::Write { path: PathBuf::from("-"), source };
        let mut bytes = io::Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut bytes, self.spec()).map_err(err)?;
        self.write_samples(&mut writer).map_err(err)?;
        writer.finalize().map_err(err)?;
        Ok(bytes.into_inner())
    }

    fn spec(&self) -> hound::WavSpec {
        hound::WavSpec {
            channels: 1,
            sample_rate: self.sample_rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        }
    }

    fn write_samples<W: io::Write + io::Seek>(&self, writer: &mut hound::WavWriter<W>) -> hound::Result<()> {
        let mut samples = writer.get_i16_writer(self.samples.len() as u32);
        for &s in &self.samples {
            samples.write_sample(s);
        }
        samples.flush()
    }
}

/// Joins the clips `names` of `lib` in order, with `gap_ms` of silence between two clips (none
/// before the first or after the last). Fails naming the first clip the library lacks.
///
/// Guarantees: the result has the library's sample rate and exactly the clips' samples plus
/// the gaps, so its duration is the sum of the clips' durations plus `names.len() - 1` gaps.
pub fn join(lib: &ClipLibrary, names: &[String], gap_ms: u32) -> Result<Audio, VoiceError> {
    let gap = (u64::from(lib.sample_rate) * u64::from(gap_ms) / 1000) as usize;
    let mut samples = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let clip = lib.clip(name).ok_or_else(|| VoiceError::UnknownClip { name: name.clone() })?;
        if i > 0 {
            samples.resize(samples.len() + gap, 0);
        }
        samples.extend_from_slice(clip);
    }
    Ok(Audio { sample_rate: lib.sample_rate, samples })
}

/// Where announcements are played.
pub trait AudioOut: Send {
    /// Plays `audio`, returning when it has been played (or failed). `label` names the
    /// announcement, e.g. "A023-w5" or "A023-w5-recall".
    fn play(&mut self, audio: &Audio, label: &str) -> io::Result<()>;
}

/// Plays through the Pi's sound output by piping WAV to `aplay -q -` (Debian's alsa-utils).
///
/// Guarantees: `play` blocks until aplay has finished; it fails with a clear error if aplay is
/// missing, exits unsuccessfully (its message is included), or takes more than ten seconds
/// longer than the audio (aplay is then killed), so a stuck sound device never blocks the
/// announcer for ever.
#[derive(Debug, Clone)]
pub struct AplayOut {
    program: PathBuf,
    device: Option<String>,
    /// How much longer than the audio aplay may take.
    margin: Duration,
}

impl AplayOut {
    /// Plays on ALSA's default device.
    pub fn new() -> Self {
        Self { program: PathBuf::from("aplay"), device: None, margin: APLAY_MARGIN }
    }

    /// Plays on an ALSA device given as aplay's `-D` takes it (e.g. "plughw:1,0").
    pub fn with_device(device: impl Into<String>) -> Self {
        Self { device: Some(device.into()), ..Self::new() }
    }

    /// Checks that aplay can be run (at start-up, so a missing alsa-utils shows early).
    pub fn check(&self) -> io::Result<()> {
        let output = Command::new(&self.program)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| self.spawn_error(e))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!("`{} --version` failed: {}", self.program.display(), output.status)))
        }
    }

    fn spawn_error(&self, e: io::Error) -> io::Error {
        if e.kind() == io::ErrorKind::NotFound {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} not found: install alsa-utils (apt-get install alsa-utils) to play announcements",
                    self.program.display()
                ),
            )
        } else {
            io::Error::new(e.kind(), format!("cannot run {}: {e}", self.program.display()))
        }
    }
}

impl Default for AplayOut {
    fn default() -> Self {
        Self::new()
    }
}

impl AudioOut for AplayOut {
    fn play(&mut self, audio: &Audio, label: &str) -> io::Result<()> {
        let bytes = audio.to_wav_bytes().map_err(io::Error::other)?;
        let mut command = Command::new(&self.program);
        command.arg("-q");
        if let Some(device) = &self.device {
            command.arg("-D").arg(device);
        }
        let mut child = command
            .arg("-")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.spawn_error(e))?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        // Written by another thread so that a stuck aplay cannot block this one past the deadline.
        let writer = thread::spawn(move || stdin.write_all(&bytes));
        let deadline = Instant::now() + audio.duration() + self.margin;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("aplay did not finish playing {label} in time and was killed"),
                ));
            }
            thread::sleep(Duration::from_millis(20));
        };
        let written = writer.join().unwrap_or_else(|_| Err(io::Error::other("writer panicked")));
        if !status.success() {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            return Err(io::Error::other(format!(
                "aplay failed playing {label} ({status}): {}",
                stderr.trim()
            )));
        }
        written.map_err(|e| io::Error::new(e.kind(), format!("cannot pipe {label} to aplay: {e}")))
    }
}

/// The simulated twin of [`AplayOut`]: writes each announcement to `<dir>/NNNN-<label>.wav`.
///
/// Guarantees: numbers start after the highest `NNNN-` already in the directory and increase
/// by one per announcement, so file names sort in the order played; `play` returns once the
/// file is complete. Characters of the label other than ASCII letters, digits, `-` and `_` are
/// written as `_`.
#[derive(Debug)]
pub struct WavDirOut {
    dir: PathBuf,
    next: u32,
}

impl WavDirOut {
    /// Writes into `dir`, creating it if needed; fails if it cannot be created or read.
    pub fn new(dir: impl Into<PathBuf>) -> io::Result<Self> {
        let dir = dir.into();
        let context =
            |e: io::Error| io::Error::new(e.kind(), format!("cannot use {} for calls: {e}", dir.display()));
        std::fs::create_dir_all(&dir).map_err(context)?;
        let mut highest = 0;
        for entry in std::fs::read_dir(&dir).map_err(context)? {
            let name = entry.map_err(context)?.file_name();
            let name = name.to_string_lossy();
            if let Some((number, _)) = name.split_once('-')
                && name.ends_with(".wav")
                && let Ok(n) = number.parse::<u32>()
            {
                highest = highest.max(n);
            }
        }
        Ok(Self { dir, next: highest + 1 })
    }

    /// The directory written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl AudioOut for WavDirOut {
    fn play(&mut self, audio: &Audio, label: &str) -> io::Result<()> {
        let label: String = label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
            .collect();
        let path = self.dir.join(format!("{:04}-{label}.wav", self.next));
        audio.write_wav(&path).map_err(io::Error::other)?;
        self.next += 1;
        Ok(())
    }
}

/// What the announcer has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnnouncerStats {
    /// Announcements accepted and not yet finished (waiting or playing).
    pub queued: usize,
    /// Announcements played successfully.
    pub played: u64,
    /// Announcements that failed to play (see `last_error`).
    pub failed: u64,
    /// Announcements dropped unplayed because the announcer was shut down.
    pub dropped: u64,
    /// The most recent error, if any.
    pub last_error: Option<String>,
    /// Time from `announce` to its audio being joined and ready to play, for the most recent
    /// announcement (includes waiting behind earlier announcements).
    pub last_ready: Option<Duration>,
    /// The largest such time so far.
    pub max_ready: Option<Duration>,
}

struct Job {
    ticket: String,
    window: u32,
    recall: bool,
    at: Instant,
}

impl Job {
    fn label(&self) -> String {
        format!("{}-w{}{}", self.ticket, self.window, if self.recall { "-recall" } else { "" })
    }
}

#[derive(Default)]
struct State {
    /// Announcements waiting, oldest first.
    queue: VecDeque<Job>,
    /// Whether the worker is joining or playing one.
    playing: bool,
    /// No more announcements are accepted; the worker ends when the queue is empty.
    closed: bool,
    /// `queued` is filled in by [`Announcer::stats`].
    stats: AnnouncerStats,
}

impl State {
    fn idle(&self) -> bool {
        self.queue.is_empty() && !self.playing
    }
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let result = f(&mut self.lock());
        self.changed.notify_all();
        result
    }

    /// Waits until `done` holds or `timeout` passes; returns whether `done` holds.
    fn wait_until(&self, timeout: Duration, done: impl Fn(&State) -> bool) -> bool {
        let guard = self.lock();
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |state| !done(state))
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        done(&guard)
    }

    /// The next job for the worker, marking it playing; `None` once closed and empty.
    fn next_job(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.queue.pop_front() {
                state.playing = true;
                return Some(job);
            }
            if state.closed {
                return None;
            }
            state = self.changed.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

/// Marks the worker idle even if it panics, so waiting for it never hangs.
struct IdleGuard(Arc<Shared>);

impl Drop for IdleGuard {
    fn drop(&mut self) {
        self.0.update(|state| state.playing = false);
    }
}

/// Speaks calls, one at a time, in the order announced.
///
/// Guarantees: announcements are played first in, first out, by one worker thread, so two
/// never overlap; [`Announcer::announce`] never blocks on audio; [`Announcer::shutdown`] (and
/// drop, with [`DROP_GRACE`]) returns within its grace period, playing what was queued until
/// then and dropping (and counting) what had not started.
pub struct Announcer {
    shared: Arc<Shared>,
}

impl Announcer {
    /// Starts the worker thread. Calls are spoken in Mandarin, then in English if `english`.
    pub fn spawn(lib: ClipLibrary, mut out: Box<dyn AudioOut>, english: bool) -> Announcer {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        thread::Builder::new()
            .name("announcer".to_string())
            .spawn(move || {
                while let Some(job) = worker.next_job() {
                    let _idle = IdleGuard(Arc::clone(&worker));
                    let label = job.label();
                    let audio = join(&lib, &script(&job.ticket, job.window, english), CLIP_GAP_MS);
                    let ready = job.at.elapsed();
                    worker.update(|s| {
                        s.stats.last_ready = Some(ready);
                        s.stats.max_ready = Some(s.stats.max_ready.map_or(ready, |m| m.max(ready)));
                    });
                    let result = audio.map_err(|e| io::Error::other(e.to_string())).and_then(|audio| {
                        debug!(message = "Playing an announcement.", label = %label, seconds = audio.duration().as_secs_f32());
                        out.play(&audio, &label)
                    });
                    if let Err(e) = &result {
                        warn!(message = "Announcement failed.", label = %label, error = %e);
                    }
                    worker.update(|s| match result {
                        Ok(()) => s.stats.played += 1,
                        Err(e) => {
                            s.stats.failed += 1;
                            s.stats.last_error = Some(format!("{label}: {e}"));
                        }
                    });
                }
            })
            .expect("spawn the announcer thread");
        Announcer { shared }
    }

    /// Queues the call of `ticket` to `window`; `repeat` marks a recall, which speaks the same
    /// call again (its label ends in "-recall"). Returns at once.
    pub fn announce(&self, ticket: &str, window: u32, repeat: bool) {
        let job = Job { ticket: ticket.to_string(), window, recall: repeat, at: Instant::now() };
        self.shared.update(|s| {
            if s.closed {
                s.stats.failed += 1;
                s.stats.last_error = Some(format!("{}: the announcer has stopped", job.label()));
            } else {
                s.queue.push_back(job);
            }
        });
    }

    /// A snapshot of what the announcer has done.
    pub fn stats(&self) -> AnnouncerStats {
        let state = self.shared.lock();
        AnnouncerStats { queued: state.queue.len() + usize::from(state.playing), ..state.stats.clone() }
    }

    /// Waits until nothing is queued or playing, at most `timeout`; returns whether it is idle.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        self.shared.wait_until(timeout, State::idle)
    }

    /// Stops accepting announcements, plays what is queued for at most `grace`, drops what has
    /// not started by then, and returns the final stats. Returns within `grace` (an
    /// announcement still playing then finishes in the background and is not in the stats).
    pub fn shutdown(mut self, grace: Duration) -> AnnouncerStats {
        self.stop(grace);
        self.stats()
    }

    fn stop(&mut self, grace: Duration) {
        if self.shared.update(|s| std::mem::replace(&mut s.closed, true)) {
            return;
        }
        if !self.shared.wait_until(grace, State::idle) {
            let dropped = self.shared.update(|s| {
                let dropped = s.queue.len();
                s.queue.clear();
                s.stats.dropped += dropped as u64;
                dropped
            });
            warn!(message = "The announcer did not finish its queue in time.", dropped);
        }
    }
}

impl Drop for Announcer {
    fn drop(&mut self) {
        self.stop(DROP_GRACE);
    }
}

impl std::fmt::Debug for Announcer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Announcer").field("stats", &self.stats()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn script_a023_window_5() {
        assert_eq!(
            script("A023", 5, false),
            names(&[
                "chime",
                "zh-qing",
                "zh-A",
                "zh-0",
                "zh-2",
                "zh-3",
                "zh-hao",
                "zh-dao",
                "zh-5",
                "zh-hao",
                "zh-chuangkou",
                "zh-banli"
            ])
        );
        let both = script("a023", 5, true);
        assert_eq!(both[..12], script("A023", 5, false)[..]);
        assert_eq!(
            both[12..],
            names(&["en-number", "en-A", "en-0", "en-2", "en-3", "en-please-go-to-window", "en-5"])[..]
        );
    }

    #[test]
    fn script_window_numbers() {
        let check = |window: u32, zh: &[&str], en: &[&str]| {
            let s = script("B1", window, true);
            let zh_part: Vec<String> = s[6..s.len() - 3 - 4 - en.len()].to_vec();
            assert_eq!(zh_part, names(zh), "window {window} in Mandarin");
            assert_eq!(s[s.len() - en.len()..], names(en)[..], "window {window} in English");
        };
        check(5, &["zh-5"], &["en-5"]);
        check(10, &["zh-shi"], &["en-10"]);
        check(11, &["zh-shi", "zh-1"], &["en-11"]);
        check(12, &["zh-shi", "zh-2"], &["en-12"]);
        check(20, &["zh-2", "zh-shi"], &["en-20"]);
        check(21, &["zh-2", "zh-shi", "zh-1"], &["en-20", "en-1"]);
        check(99, &["zh-9", "zh-shi", "zh-9"], &["en-90", "en-9"]);
        check(0, &["zh-0"], &["en-0"]);
        check(105, &["zh-1", "zh-0", "zh-5"], &["en-1", "en-0", "en-5"]);
    }

    #[test]
    fn script_reads_only_letters_and_digits() {
        assert_eq!(script("A-0 2", 1, false)[2..5], names(&["zh-A", "zh-0", "zh-2"])[..]);
    }

    #[test]
    fn all_clips_cover_every_script_once() {
        let all = all_clips();
        let set: std::collections::HashSet<&String> = all.iter().collect();
        assert_eq!(set.len(), all.len(), "duplicate clip names");
        let tickets: Vec<String> = LETTERS.map(|c| format!("{c}0123456789")).collect();
        for window in 0..=150 {
            for ticket in &tickets {
                for name in script(ticket, window, true) {
                    assert!(set.contains(&name), "{name} (window {window}) is not in all_clips()");
                }
            }
        }
    }

    #[test]
    fn make_clips_lists_all_clips() {
        let output = Command::new("bash").arg(make_clips_script()).arg("--list").output().unwrap();
        assert!(output.status.success(), "{output:?}");
        let listed: Vec<String> =
            String::from_utf8(output.stdout).unwrap().lines().map(String::from).collect();
        assert_eq!(listed, all_clips(), "deploy/voice/make-clips.sh is out of sync with all_clips()");
    }

    const RATE: u32 = 8000;

    fn wav_spec(channels: u16, rate: u32, bits: u16, format: hound::SampleFormat) -> hound::WavSpec {
        hound::WavSpec { channels, sample_rate: rate, bits_per_sample: bits, sample_format: format }
    }

    /// A sine tone of `len` samples (frequency varying with `len`).
    fn tone(len: usize) -> Vec<i16> {
        let hz = 200.0 + len as f64;
        (0..len)
            .map(|i| (8000.0 * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(RATE)).sin()) as i16)
            .collect()
    }

    /// Writes every clip of all_clips() into `dir`, clip i being a tone of 40 + 3·i samples.
    fn synthetic_library(dir: &Path) -> HashMap<String, usize> {
        let spec = wav_spec(1, RATE, 16, hound::SampleFormat::Int);
        let mut lengths = HashMap::new();
        for (i, name) in all_clips().into_iter().enumerate() {
            let len = 40 + 3 * i;
            let mut w = hound::WavWriter::create(dir.join(format!("{name}.wav")), spec).unwrap();
            for s in tone(len) {
                w.write_sample(s).unwrap();
            }
            w.finalize().unwrap();
            lengths.insert(name, len);
        }
        lengths
    }

    fn rewrite(path: &Path, spec: hound::WavSpec, frames: usize) {
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for _ in 0..frames * usize::from(spec.channels) {
            match (spec.sample_format, spec.bits_per_sample) {
                (hound::SampleFormat::Float, _) => w.write_sample(0.1f32).unwrap(),
                (_, 8) => w.write_sample(3i8).unwrap(),
                _ => w.write_sample(3i16).unwrap(),
            }
        }
        w.finalize().unwrap();
    }

    #[test]
    fn join_gives_clips_and_gaps_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let lengths = synthetic_library(dir.path());
        let lib = ClipLibrary::load(dir.path()).unwrap();
        assert_eq!(lib.sample_rate(), RATE);

        let call = script("A023", 5, true);
        let audio = join(&lib, &call, 50).unwrap();
        let gap = (RATE * 50 / 1000) as usize;
        let clip_samples: usize = call.iter().map(|n| lengths[n]).sum();
        assert_eq!(audio.samples.len(), clip_samples + gap * (call.len() - 1));
        let expected =
            Duration::from_secs_f64((clip_samples + gap * (call.len() - 1)) as f64 / f64::from(RATE));
        assert_eq!(audio.duration(), expected);

        let mut at = 0;
        for (i, name) in call.iter().enumerate() {
            if i > 0 {
                assert!(audio.samples[at..at + gap].iter().all(|&s| s == 0), "gap before {name}");
                at += gap;
            }
            assert_eq!(&audio.samples[at..at + lengths[name]], lib.clip(name).unwrap(), "clip {name}");
            at += lengths[name];
        }
        assert_eq!(at, audio.samples.len());

        assert_eq!(join(&lib, &[], 50).unwrap().samples.len(), 0);
        let err = join(&lib, &names(&["chime", "zh-nope"]), 50).unwrap_err();
        assert!(err.to_string().contains("\"zh-nope\""), "{err}");
    }

    #[test]
    fn audio_round_trips_through_wav() {
        let audio = Audio { sample_rate: RATE, samples: tone(800) };
        assert_eq!(audio.duration(), Duration::from_millis(100));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        audio.write_wav(&path).unwrap();
        let mut r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.spec(), wav_spec(1, RATE, 16, hound::SampleFormat::Int));
        assert_eq!(r.samples::<i16>().map(Result::unwrap).collect::<Vec<_>>(), audio.samples);
        assert_eq!(std::fs::read(&path).unwrap(), audio.to_wav_bytes().unwrap());
    }

    #[test]
    fn missing_clip_is_named() {
        let dir = tempfile::tempdir().unwrap();
        synthetic_library(dir.path());
        std::fs::remove_file(dir.path().join("zh-chuangkou.wav")).unwrap();
        let err = ClipLibrary::load(dir.path()).unwrap_err();
        assert!(matches!(&err, VoiceError::MissingClip { name, .. } if name == "zh-chuangkou"), "{err}");
        assert!(err.to_string().contains("zh-chuangkou.wav"), "{err}");
    }

    #[test]
    fn mismatched_formats_are_named() {
        let cases = [
            ("zh-5", wav_spec(1, 16000, 16, hound::SampleFormat::Int), "mono, 16-bit int, 16000 Hz"),
            ("en-A", wav_spec(2, RATE, 16, hound::SampleFormat::Int), "stereo, 16-bit int, 8000 Hz"),
            ("en-7", wav_spec(1, RATE, 8, hound::SampleFormat::Int), "mono, 8-bit int, 8000 Hz"),
            ("zh-qing", wav_spec(1, RATE, 32, hound::SampleFormat::Float), "mono, 32-bit float, 8000 Hz"),
        ];
        for (name, spec, found) in cases {
            let dir = tempfile::tempdir().unwrap();
            synthetic_library(dir.path());
            rewrite(&dir.path().join(format!("{name}.wav")), spec, 100);
            let err = ClipLibrary::load(dir.path()).unwrap_err().to_string();
            assert!(err.contains(&format!("{name}.wav is {found}")), "{err}");
            assert!(err.contains("must be mono, 16-bit int, 8000 Hz"), "{err}");
        }
    }

    #[test]
    fn unreadable_and_empty_clips_are_named() {
        let dir = tempfile::tempdir().unwrap();
        synthetic_library(dir.path());
        std::fs::write(dir.path().join("en-9.wav"), b"not a wav").unwrap();
        let err = ClipLibrary::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("cannot read voice clip") && err.contains("en-9.wav"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        synthetic_library(dir.path());
        rewrite(&dir.path().join("zh-banli.wav"), wav_spec(1, RATE, 16, hound::SampleFormat::Int), 0);
        let err = ClipLibrary::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("zh-banli.wav is empty"), "{err}");
    }

    fn wav_files(dir: &Path) -> Vec<String> {
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        files
    }

    #[test]
    fn announcer_writes_one_file_per_announcement_in_order() {
        let clips = tempfile::tempdir().unwrap();
        synthetic_library(clips.path());
        let lib = ClipLibrary::load(clips.path()).unwrap();
        let out = tempfile::tempdir().unwrap();
        let announcer =
            Announcer::spawn(lib.clone(), Box::new(WavDirOut::new(out.path().join("calls")).unwrap()), true);
        announcer.announce("A023", 5, false);
        announcer.announce("B101", 12, false);
        announcer.announce("A023", 5, true);
        assert!(announcer.wait_idle(Duration::from_secs(10)));
        let stats = announcer.shutdown(Duration::from_secs(5));
        assert_eq!((stats.queued, stats.played, stats.failed, stats.dropped), (0, 3, 0, 0), "{stats:?}");
        assert_eq!(stats.last_error, None);
        let max_ready = stats.max_ready.expect("a ready time");
        assert!(stats.last_ready.unwrap() <= max_ready && max_ready < Duration::from_secs(2), "{stats:?}");

        let calls = out.path().join("calls");
        assert_eq!(wav_files(&calls), ["0001-A023-w5.wav", "0002-B101-w12.wav", "0003-A023-w5-recall.wav"]);
        for (file, ticket, window) in
            [("0001-A023-w5.wav", "A023", 5), ("0003-A023-w5-recall.wav", "A023", 5)]
        {
            let samples: Vec<i16> = hound::WavReader::open(calls.join(file))
                .unwrap()
                .samples::<i16>()
                .map(Result::unwrap)
                .collect();
            assert_eq!(samples, join(&lib, &script(ticket, window, true), CLIP_GAP_MS).unwrap().samples);
        }

        // A new twin on the same directory continues the numbering.
        let mut again = WavDirOut::new(&calls).unwrap();
        again.play(&Audio { sample_rate: RATE, samples: tone(10) }, "C7-w3/x").unwrap();
        assert_eq!(wav_files(&calls).last().unwrap(), "0004-C7-w3_x.wav");
    }

    /// An output that takes `each` per announcement and records start and end, checking that
    /// no two plays overlap.
    struct SlowOut {
        each: Duration,
        log: Arc<Mutex<Vec<String>>>,
        playing: Arc<std::sync::atomic::AtomicBool>,
        fail_on: Option<&'static str>,
    }

    impl AudioOut for SlowOut {
        fn play(&mut self, _audio: &Audio, label: &str) -> io::Result<()> {
            use std::sync::atomic::Ordering;
            assert!(!self.playing.swap(true, Ordering::SeqCst), "overlapping plays");
            thread::sleep(self.each);
            self.log.lock().unwrap().push(label.to_string());
            self.playing.store(false, Ordering::SeqCst);
            if self.fail_on == Some(label) { Err(io::Error::other("speaker on fire")) } else { Ok(()) }
        }
    }

    fn slow_announcer(each: Duration, fail_on: Option<&'static str>) -> (Announcer, Arc<Mutex<Vec<String>>>) {
        let clips = tempfile::tempdir().unwrap();
        synthetic_library(clips.path());
        let lib = ClipLibrary::load(clips.path()).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let out = SlowOut { each, log: Arc::clone(&log), playing: Default::default(), fail_on };
        (Announcer::spawn(lib, Box::new(out), false), log)
    }

    #[test]
    fn announcements_are_fifo_and_failures_are_counted() {
        let (announcer, log) = slow_announcer(Duration::from_millis(20), Some("A2-w1"));
        for i in 1..=5 {
            announcer.announce(&format!("A{i}"), 1, false);
        }
        assert!(announcer.stats().queued > 0);
        assert!(announcer.wait_idle(Duration::from_secs(10)));
        let stats = announcer.stats();
        assert_eq!((stats.played, stats.failed), (4, 1));
        assert_eq!(stats.last_error.as_deref(), Some("A2-w1: speaker on fire"));
        assert_eq!(*log.lock().unwrap(), ["A1-w1", "A2-w1", "A3-w1", "A4-w1", "A5-w1"]);
    }

    #[test]
    fn shutdown_is_bounded_and_counts_the_dropped() {
        let (announcer, log) = slow_announcer(Duration::from_millis(100), None);
        for i in 1..=20 {
            announcer.announce(&format!("A{i}"), 1, false);
        }
        let started = Instant::now();
        let stats = announcer.shutdown(Duration::from_millis(350));
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        assert!(stats.dropped >= 14, "{stats:?}");
        // The announcement playing at the deadline finishes in the background; the rest are
        // dropped, so every announcement is either played or counted as dropped.
        thread::sleep(Duration::from_millis(300));
        let played = log.lock().unwrap().len() as u64;
        assert!((1..=6).contains(&played), "played {played}");
        assert_eq!(played + stats.dropped, 20, "{stats:?}");
    }

    #[test]
    fn drop_finishes_a_short_queue() {
        let (announcer, log) = slow_announcer(Duration::from_millis(10), None);
        for i in 1..=3 {
            announcer.announce(&format!("A{i}"), 2, true);
        }
        drop(announcer);
        assert_eq!(*log.lock().unwrap(), ["A1-w2-recall", "A2-w2-recall", "A3-w2-recall"]);
    }

    #[test]
    fn missing_aplay_is_a_clear_error() {
        let mut out = AplayOut { program: PathBuf::from("aplay-not-installed-here"), ..AplayOut::new() };
        let err = out.check().unwrap_err();
        assert!(err.to_string().contains("install alsa-utils"), "{err}");
        let err = out.play(&Audio { sample_rate: RATE, samples: tone(80) }, "A1-w1").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("install alsa-utils"), "{err}");
    }

    /// A stand-in for aplay: a shell script in `dir` running `body`.
    fn fake_aplay(dir: &Path, body: &str) -> AplayOut {
        use std::os::unix::fs::PermissionsExt;
        let program = dir.join("aplay");
        std::fs::write(&program, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        AplayOut { program, ..AplayOut::new() }
    }

    #[test]
    fn aplay_gets_the_wav_and_its_failures_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let audio = Audio { sample_rate: RATE, samples: tone(80) };
        let mut out = fake_aplay(
            dir.path(),
            &format!("echo \"$@\" > {0}/args; cat > {0}/got.wav", dir.path().display()),
        );
        out.check().unwrap();
        out.play(&audio, "A1-w1").unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("args")).unwrap(), "-q -\n");
        assert_eq!(std::fs::read(dir.path().join("got.wav")).unwrap(), audio.to_wav_bytes().unwrap());

        out.device = Some("plughw:1,0".into());
        out.play(&audio, "A1-w1").unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("args")).unwrap(), "-q -D plughw:1,0 -\n");

        let mut out = fake_aplay(
            dir.path(),
            "echo 'aplay: main:831: audio open error: No such file or directory' >&2; exit 1",
        );
        let err = out.play(&audio, "A1-w1").unwrap_err().to_string();
        assert!(err.contains("aplay failed playing A1-w1") && err.contains("audio open error"), "{err}");

        // A stuck sound device: aplay is killed once the audio's time and the margin are over.
        let mut out = fake_aplay(dir.path(), "exec sleep 10");
        out.margin = Duration::from_millis(200);
        let started = Instant::now();
        let err = out.play(&audio, "A1-w1").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }

    fn make_clips_script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/voice/make-clips.sh")
    }

    /// Needs espeak-ng and sox (`scripts/test` installs them): fails without them, never skips.
    #[test]
    fn generated_clips_make_a_plausible_call() {
        let missing: Vec<&str> = ["espeak-ng", "sox"]
            .into_iter()
            .filter(|tool| Command::new(tool).arg("--version").output().is_err())
            .collect();
        if !missing.is_empty() {
            panic!(
                "needs {} (apt-get install -y espeak-ng sox; scripts/test installs them)",
                missing.join(" and ")
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new("bash").arg(make_clips_script()).arg(dir.path()).output().unwrap();
        assert!(output.status.success(), "make-clips.sh failed: {}", String::from_utf8_lossy(&output.stderr));
        let lib = ClipLibrary::load(dir.path()).unwrap();
        assert_eq!(lib.sample_rate(), 22050);
        let audio = join(&lib, &script("A023", 5, false), CLIP_GAP_MS).unwrap();
        let seconds = audio.duration().as_secs_f64();
        assert!((2.0..=12.0).contains(&seconds), "call lasts {seconds} s");
        let both = join(&lib, &script("A023", 5, true), CLIP_GAP_MS).unwrap().duration().as_secs_f64();
        assert!(both > seconds + 1.0 && both <= 20.0, "bilingual call lasts {both} s");
    }
}
