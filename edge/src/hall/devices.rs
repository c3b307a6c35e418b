//! The devices of a running hall, made from `edge.toml`: the printer (real or its pty twin),
//! the voice (the Pi's audio output or WAV files), the input devices (evdev, or the twins fed
//! with key events), and how their events become hall requests.

use crate::devices::input::{self, InputDevice, InputEvent, InputRole, KeyMap};
use crate::devices::printer::escpos::TicketPrint;
use crate::devices::printer::twin::PtyPrinter;
use crate::devices::printer::{DevicePrinter, Printer, PrinterPort, PrinterState, SerialPrinter};
use crate::devices::voice::{Announcer, AplayOut, AudioOut, ClipLibrary, WavDirOut};
use crate::hall::Hall;
use crate::hall::config::{InputRoleConfig, PrinterConfig, RunConfig, VoiceOutput};
use crate::hall::core::{Outputs, TicketFrame};
use crate::hall::view::Incident;
use crate::hall::web::{DeviceControl, Web};
use crate::script::Request;
use anyhow::{Context, Result};
use onestop_engine::Command;
use onestop_model::{Level, Priority, Rating, ServiceId, Source, Text, TicketNo, WindowNo};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

const DEFAULT_FOOTER: &str =
    "请留意叫号，过号请到服务台\nListen for your number; if missed, ask at the help desk";

/// The devices, split by who uses them.
pub struct Devices {
    /// For the hall core: printing and speaking.
    pub outputs: Box<dyn Outputs>,
    /// For the pages: printer test, reprint, health, simulated swipes.
    pub control: Arc<dyn DeviceControl>,
    /// Events from card readers, buttons and keypads.
    pub inputs: mpsc::Receiver<InputEvent>,
    /// What must live as long as the hall (dropped at shutdown: the printer drains).
    pub keep: Keep,
    /// How input events become requests.
    pub router: InputRouter,
}

/// Routes input events (see [`route_inputs`]).
pub struct InputRouter {
    roles: BTreeMap<String, (InputRoleConfig, Option<u16>)>,
    shared: Arc<Shared>,
    refresh: RefreshSlot,
}

/// The hall to refresh when a device changes (set once the hall runs).
type RefreshSlot = Arc<Mutex<Option<Hall>>>;

/// Holds device workers; dropping it stops them (the printer first sends what it can).
pub struct Keep {
    shared: Arc<Shared>,
}

impl Drop for Keep {
    fn drop(&mut self) {
        if let Some(p) = self.shared.printer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            p.shutdown();
        }
    }
}

struct Shared {
    printer: Mutex<Option<Printer>>,
    /// The simulated printer, when the config asks for one.
    twin: Option<PtyPrinter>,
    twin_path: Option<String>,
    /// Each input device's last state.
    inputs: Mutex<BTreeMap<String, String>>,
    /// Twins of input devices: their event feeds, by device name.
    input_twins: BTreeMap<String, mpsc::Sender<(u16, u16, i32)>>,
    voice: Option<Announcer>,
}

struct HallOutputs {
    shared: Arc<Shared>,
    frame: TicketFrame,
}

impl Outputs for HallOutputs {
    fn print(&mut self, t: &TicketPrint) {
        let printer = self.shared.printer.lock().unwrap_or_else(|e| e.into_inner());
        let Some(p) = printer.as_ref() else { return };
        if let Err(error) = p.print(t.clone()) {
            tracing::error!(message = "The ticket could not be sent to the printer.", ticket = %t.number, %error);
        }
    }

    fn ticket_frame(&self) -> TicketFrame {
        self.frame.clone()
    }

    fn announce(&mut self, ticket: &TicketNo, window: WindowNo, repeat: bool) {
        if let Some(v) = &self.shared.voice {
            v.announce(&ticket.to_string(), u32::from(window), repeat);
        }
    }

    fn incidents(&self) -> Vec<Incident> {
        let mut out = Vec::new();
        if let Some(state) = self.shared.printer_state() {
            for text in printer_incidents(&state) {
                out.push(Incident { device: "printer".into(), text });
            }
        }
        for (name, state) in self.shared.inputs.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            if state != CONNECTED {
                out.push(Incident { device: name.clone(), text: state.clone() });
            }
        }
        out
    }
}

const CONNECTED: &str = "已连接 / connected";

fn printer_incidents(s: &PrinterState) -> Vec<String> {
    let mut out = Vec::new();
    if !s.connected {
        out.push(format!(
            "打印机未连接 / printer not connected{}",
            s.last_error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default()
        ));
    }
    if s.connected {
        out.extend(s.incidents().into_iter().map(str::to_string));
    }
    if s.queued > 0 && !out.is_empty() {
        out.push(format!("{} 张号票待打印 / {} tickets waiting to print", s.queued, s.queued));
    }
    out
}

impl Shared {
    fn printer_state(&self) -> Option<PrinterState> {
        self.printer.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(Printer::state)
    }
    fn with_printer<T>(&self, f: impl FnOnce(&Printer) -> Result<T, String>) -> Result<T, String> {
        match self.printer.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(p) => f(p),
            None => Err("本节点未配置打印机 / no printer is configured".into()),
        }
    }
}

struct Control {
    shared: Arc<Shared>,
    hall_name: String,
    utc_offset: i32,
    clock: Arc<dyn crate::clock::Clock>,
}

impl DeviceControl for Control {
    fn print_test(&self) -> Result<(), String> {
        let now = self.clock.now();
        let when = format!("{} {}", now.day(self.utc_offset), now.local_hm(self.utc_offset));
        self.shared.with_printer(|p| p.test_page(&self.hall_name, &when).map_err(|e| e.to_string()))
    }
    fn reprint(&self, ticket: &str) -> Result<(), String> {
        self.shared.with_printer(|p| p.reprint(ticket).map_err(|e| e.to_string()))
    }
    fn health(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(s) = self.shared.printer_state() {
            let mut text = printer_incidents(&s).join("; ");
            if text.is_empty() {
                text = format!("正常 / ready · {} printed", s.printed);
            }
            if let Some(path) = &self.shared.twin_path {
                text.push_str(&format!(" · simulated at {path}"));
            }
            out.push(("printer".to_string(), text));
        }
        if let Some(v) = &self.shared.voice {
            let s = v.stats();
            let mut text = format!("已播报 {} 次 / {} calls spoken", s.played, s.played);
            if let Some(e) = &s.last_error {
                text.push_str(&format!(" · {e}"));
            }
            if let Some(r) = s.max_ready {
                text.push_str(&format!(" · ready within {} ms", r.as_millis()));
            }
            out.push(("voice".to_string(), text));
        }
        for (name, state) in self.shared.inputs.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            out.push((name.clone(), state.clone()));
        }
        out
    }
    fn simulate_card(&self, reader: &str, card: &str) -> Result<(), String> {
        let feed =
            self.shared.input_twins.get(reader).ok_or_else(|| format!("no simulated reader '{reader}'"))?;
        for ev in input::typed(card) {
            feed.try_send(ev).map_err(|e| format!("the reader '{reader}' is busy: {e}"))?;
        }
        Ok(())
    }
    fn simulate_printer(&self, state: &str) -> Result<(), String> {
        let twin =
            self.shared.twin.as_ref().ok_or("本节点没有模拟打印机 / this node has no simulated printer")?;
        match state {
            "ok" => {
                twin.set_paper_out(false);
                twin.set_paper_near_end(false);
                twin.set_cover_open(false);
            }
            "paper-out" => twin.set_paper_out(true),
            "paper-near-end" => twin.set_paper_near_end(true),
            "cover-open" => twin.set_cover_open(true),
            other => return Err(format!("'{other}' is not ok, paper-out, paper-near-end or cover-open")),
        }
        Ok(())
    }
    fn simulate_key(&self, device: &str, key: &str) -> Result<(), String> {
        let feed =
            self.shared.input_twins.get(device).ok_or_else(|| format!("no simulated device '{device}'"))?;
        let code = input::key_code(key).map_err(|e| e.to_string())?;
        for ev in [(1u16, code, 1i32), (0, 0, 0), (1, code, 0), (0, 0, 0)] {
            feed.try_send(ev).map_err(|e| format!("the device '{device}' is busy: {e}"))?;
        }
        Ok(())
    }
}

/// Starts the configured devices.
pub fn start(
    config: &RunConfig,
    hall_name: &Text,
    utc_offset: i32,
    clock: Arc<dyn crate::clock::Clock>,
) -> Result<Devices> {
    let refresh: RefreshSlot = Arc::default();
    let footer;
    let mut twin = None;
    let mut twin_path = None;
    let printer = match &config.printer {
        PrinterConfig::None => {
            footer = None;
            None
        }
        PrinterConfig::Serial { path, baud, footer: f } => {
            footer = f.clone();
            let (path, baud) = (path.clone(), *baud);
            Some(spawn_printer(
                &refresh,
                Box::new(move || {
                    SerialPrinter::open(&path, baud).map(|p| Box::new(p) as Box<dyn PrinterPort>)
                }),
            ))
        }
        PrinterConfig::Device { path, footer: f } => {
            footer = f.clone();
            let path = path.clone();
            Some(spawn_printer(
                &refresh,
                Box::new(move || DevicePrinter::open(&path).map(|p| Box::new(p) as Box<dyn PrinterPort>)),
            ))
        }
        PrinterConfig::Twin { dir, footer: f } => {
            footer = f.clone();
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            let t = PtyPrinter::start(Some(dir.clone()))
                .context("cannot make the simulated printer's pseudo-terminal")?;
            let path = t.path().to_path_buf();
            twin_path = Some(path.display().to_string());
            tracing::info!(message = "Simulated printer.", tty = %path.display(), receipts = %dir.display());
            twin = Some(t);
            // The real serial adapter, on the twin's terminal.
            Some(spawn_printer(
                &refresh,
                Box::new(move || {
                    SerialPrinter::open(&path, 19200).map(|p| Box::new(p) as Box<dyn PrinterPort>)
                }),
            ))
        }
    };
    let voice = match config.voice.output {
        VoiceOutput::None => None,
        output => {
            let dir = config.voice.clips.as_ref().expect("checked by the configuration");
            match ClipLibrary::load(dir) {
                Ok(lib) => {
                    let out: Box<dyn AudioOut> = match output {
                        VoiceOutput::Wav => {
                            let wav = config.voice.wav_dir.as_ref().expect("checked by the configuration");
                            std::fs::create_dir_all(wav)
                                .with_context(|| format!("cannot create {}", wav.display()))?;
                            Box::new(
                                WavDirOut::new(wav.clone())
                                    .with_context(|| format!("cannot write calls to {}", wav.display()))?,
                            )
                        }
                        _ => Box::new(AplayOut::new()),
                    };
                    Some(Announcer::spawn(lib, out, config.voice.english))
                }
                Err(error) => {
                    tracing::error!(message = "Voice clips cannot be loaded; calls are shown but not spoken.", %error);
                    None
                }
            }
        }
    };
    let (tx, rx) = mpsc::channel(256);
    let mut input_twins = BTreeMap::new();
    let mut states = BTreeMap::new();
    for dev in &config.input {
        let role = match dev.role {
            InputRoleConfig::KioskCard | InputRoleConfig::WindowCard => InputRole::CardReader,
            InputRoleConfig::KioskButtons => InputRole::Keys(KeyMap::from_config(&dev.keys)?),
            InputRoleConfig::RatingKeypad => {
                let keys = if dev.keys.is_empty() {
                    (1..=5).map(|n| (format!("KEY_{n}"), format!("rate:{n}"))).collect()
                } else {
                    dev.keys.clone()
                };
                InputRole::Keys(KeyMap::from_config(&keys)?)
            }
        };
        let d = InputDevice { name: dev.name.clone(), path: dev.path.clone(), grab: dev.grab, role };
        states.insert(dev.name.clone(), "未连接 / not connected".to_string());
        if config.simulate {
            let (feed, events) = mpsc::channel(512);
            input_twins.insert(dev.name.clone(), feed);
            input::spawn_twin(d, events, tx.clone());
        } else {
            input::spawn(d, tx.clone());
        }
    }
    let shared = Arc::new(Shared {
        printer: Mutex::new(printer),
        twin,
        twin_path,
        inputs: Mutex::new(states),
        input_twins,
        voice,
    });
    let outputs = Box::new(HallOutputs {
        shared: shared.clone(),
        frame: TicketFrame {
            website: config.website.clone(),
            footer: footer.unwrap_or_else(|| DEFAULT_FOOTER.to_string()),
        },
    });
    let control =
        Arc::new(Control { shared: shared.clone(), hall_name: hall_name.zh.clone(), utc_offset, clock });
    let keep = Keep { shared: shared.clone() };
    let roles = config.input.iter().map(|d| (d.name.clone(), (d.role, d.window))).collect();
    let router = InputRouter { roles, shared, refresh };
    Ok(Devices { outputs, control, inputs: rx, keep, router })
}

fn spawn_printer(
    refresh: &RefreshSlot,
    connect: Box<dyn FnMut() -> std::io::Result<Box<dyn PrinterPort>> + Send>,
) -> Printer {
    let refresh = refresh.clone();
    Printer::spawn(
        connect,
        Box::new(move |s: &PrinterState| {
            for i in printer_incidents(s) {
                tracing::warn!(message = "Printer incident.", incident = %i);
            }
            if let Some(h) = refresh.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
                h.refresh();
            }
        }),
    )
}

/// Turns device events into hall requests: a kiosk card waits for the kiosk page, a staff card
/// logs in at its window, a kiosk button takes a ticket, a keypad key rates.
pub fn route_inputs(router: InputRouter, mut rx: mpsc::Receiver<InputEvent>, hall: Hall, web: Web) {
    let InputRouter { roles, shared, refresh } = router;
    refresh.lock().unwrap_or_else(|e| e.into_inner()).replace(hall.clone());
    tokio::spawn(async move {
        let mut priority = Priority::Normal;
        while let Some(ev) = rx.recv().await {
            let set_state = |device: &str, state: String| {
                shared.inputs.lock().unwrap_or_else(|e| e.into_inner()).insert(device.to_string(), state);
                hall.refresh();
            };
            match ev {
                InputEvent::Connected { device } => set_state(&device, CONNECTED.to_string()),
                InputEvent::Disconnected { device, error } => {
                    set_state(&device, format!("未连接 / not connected: {error}"))
                }
                InputEvent::Card { device, number } => match roles.get(&device) {
                    Some((InputRoleConfig::KioskCard, _)) => web.kiosk_card(number),
                    Some((InputRoleConfig::WindowCard, Some(w))) => web.window_card(*w, number),
                    _ => tracing::warn!(message = "A card from a device that is no card reader.", %device),
                },
                InputEvent::Key { device, action } => {
                    let role = roles.get(&device).copied();
                    let req = match (role, action.split_once(':')) {
                        (Some((InputRoleConfig::KioskButtons, _)), Some(("priority", p))) => {
                            priority = Priority::parse(p).unwrap_or(Priority::Normal);
                            continue;
                        }
                        (Some((InputRoleConfig::KioskButtons, _)), Some(("service", s))) => {
                            let p = std::mem::replace(&mut priority, Priority::Normal);
                            Request::Command(Command::Issue {
                                service: ServiceId::new(s),
                                source: Source::Anonymous,
                                priority: p,
                            })
                        }
                        (Some((InputRoleConfig::RatingKeypad, Some(w))), Some(("rate", n))) => {
                            let Some(level) = n.parse().ok().and_then(Level::from_score) else { continue };
                            Request::Command(Command::Rate { window: w, rating: Rating::overall(level) })
                        }
                        _ => {
                            tracing::warn!(message = "A key with no action here.", %device, %action);
                            continue;
                        }
                    };
                    match hall.run(req).await {
                        Ok(_) => {}
                        // No page to show it on: a refusal (a rating with no one to rate) is
                        // routine; anything else is the hall failing a device.
                        Err(error) if error.is_refusal() => {
                            tracing::info!(message = "A device request was refused.", %device, %action, %error)
                        }
                        Err(error) => {
                            tracing::error!(message = "A device request failed.", %device, %action, %error)
                        }
                    }
                }
            }
        }
    });
}
