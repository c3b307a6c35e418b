//! The printer service end to end: over a real pseudo-terminal with the simulated printer,
//! and with an in-memory port that can be unplugged.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::escpos::{Cut, tests::sample_numbered};
use super::twin::{PtyPrinter, Receipt, parse};
use super::*;

/// Polls `f` until it holds or `timeout` passes.
fn until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn numbers(receipts: &[Receipt]) -> Vec<String> {
    receipts.iter().map(|r| r.big_text().unwrap_or("-").to_owned()).collect()
}

type States = Arc<Mutex<Vec<PrinterState>>>;

fn recorder() -> (States, OnState) {
    let states: States = Arc::default();
    let s = states.clone();
    (states, Box::new(move |st: &PrinterState| s.lock().unwrap().push(st.clone())))
}

fn serial_connect(path: PathBuf) -> Connect {
    Box::new(move || Ok(Box::new(SerialPrinter::open(&path, 19200)?) as Box<dyn PrinterPort>))
}

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn end_to_end_over_a_pseudo_terminal() {
    let out = tempfile::tempdir().unwrap();
    let twin = PtyPrinter::start(Some(out.path().to_path_buf())).unwrap();
    let (states, on_state) = recorder();
    let printer = Printer::spawn(serial_connect(twin.path().to_path_buf()), on_state);

    for n in ["A001", "A002", "A003"] {
        printer.print(sample_numbered(n)).unwrap();
    }
    let r = twin.wait_for(3, WAIT);
    assert_eq!(numbers(&r), ["A001", "A002", "A003"]);
    for (r, n) in r.iter().zip(["A001", "A002", "A003"]) {
        assert!(r.unknown.is_empty(), "{:?}", r.unknown);
        assert_eq!(r.cut, Some(Cut::Partial));
        assert_eq!(r.qr, [format!("https://onestop.example.edu/t/east/2026-11-26/{n}")]);
        assert!(r.text().contains("东区一站式服务大厅"));
    }
    assert!(until(WAIT, || printer.state().printed == 3));
    let s = printer.state();
    assert!(s.connected && s.queued == 0 && s.last_error.is_none(), "{s:?}");
    assert!(s.incidents().is_empty());
    // The twin kept a transcript and a picture of each receipt.
    let txt = std::fs::read_to_string(out.path().join("0001-A001.txt")).unwrap();
    assert!(txt.contains("A001") && txt.contains("[QR] https://") && txt.contains("[partial cut]"), "{txt}");
    assert!(out.path().join("0003-A003.png").exists(), "PNG written (is fonts-wqy-microhei installed?)");

    // Paper runs out: the next tickets wait in the queue, nothing is sent into the void.
    twin.set_paper_out(true);
    printer.print(sample_numbered("A004")).unwrap();
    printer.print(sample_numbered("A005")).unwrap();
    assert!(
        until(WAIT, || printer.state().queued == 2 && printer.state().status.is_some_and(|s| s.paper_out))
    );
    std::thread::sleep(Duration::from_millis(300));
    let s = printer.state();
    assert_eq!(s.queued, 2, "{s:?}");
    assert_eq!(s.incidents(), ["打印机缺纸 / printer out of paper"]);
    assert_eq!(twin.receipts().len(), 3);
    assert!(twin.lost().is_empty(), "tickets were sent to a printer without paper");
    assert!(states.lock().unwrap().iter().any(|s| s.status.is_some_and(|s| s.paper_out)));

    // Paper is back: they print, in order, within a poll interval.
    twin.set_paper_out(false);
    let r = twin.wait_for(5, WAIT);
    assert_eq!(numbers(&r), ["A001", "A002", "A003", "A004", "A005"]);
    assert!(until(WAIT, || printer.state().incidents().is_empty() && printer.state().queued == 0));

    // Reprint: the same ticket again; an unknown number is refused.
    printer.reprint("A002").unwrap();
    let r = twin.wait_for(6, WAIT);
    assert_eq!(r.len(), 6);
    assert_eq!(r[5], r[1], "a reprint is the same ticket");
    assert_eq!(printer.reprint("Z999"), Err(PrintError::Reprint(ReprintError::Unknown("Z999".into()))));

    // Test page.
    printer.test_page("东区大厅", "2026-11-26 10:00").unwrap();
    let r = twin.wait_for(7, WAIT);
    assert_eq!(r.len(), 7);
    assert!(r[6].text().contains("打印测试"));
    assert_eq!(r[6].qr, [escpos::test_page_qr("2026-11-26 10:00")]);
    assert_eq!(r[6].cut, Some(Cut::Partial));

    let started = Instant::now();
    printer.shutdown();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(twin.lost().is_empty());
    assert_eq!(twin.receipts().len(), 7);
}

#[test]
fn printer_switched_off_and_on_again_over_a_pseudo_terminal() {
    let twin = PtyPrinter::start(None).unwrap();
    let fast = PrinterConfig {
        poll_every: Duration::from_millis(100),
        reconnect_first: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(400),
        drain_for: Duration::from_secs(2),
    };
    let (_, on_state) = recorder();
    let printer = Printer::spawn_with(fast, serial_connect(twin.path().to_path_buf()), on_state);
    assert!(until(WAIT, || printer.state().connected));

    twin.set_silent(true);
    assert!(until(WAIT, || !printer.state().connected));
    printer.print(sample_numbered("B001")).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let s = printer.state();
    assert_eq!((s.connected, s.queued), (false, 1), "{s:?}");
    assert_eq!(s.incidents(), ["打印机未连接 / printer not connected"]);
    assert!(s.last_error.as_deref().is_some_and(|e| e.contains("did not answer")), "{s:?}");
    assert!(twin.receipts().is_empty());

    twin.set_silent(false);
    let r = twin.wait_for(1, WAIT);
    assert_eq!(numbers(&r), ["B001"]);
    assert!(until(WAIT, || printer.state()
        == PrinterState {
            status: Some(PrinterStatus::READY),
            connected: true,
            queued: 0,
            printed: 1,
            last_error: None,
        }));
}

/// An in-memory printer that can be unplugged, and whose writes can be made to fail.
#[derive(Default)]
struct Device {
    plugged: bool,
    status: Option<PrinterStatus>,
    fail_writes: u32,
    written: Vec<u8>,
    connects: u32,
}

struct FakePort(Arc<Mutex<Device>>);

impl PrinterPort for FakePort {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut d = self.0.lock().unwrap();
        if !d.plugged {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "unplugged"));
        }
        if d.fail_writes > 0 {
            d.fail_writes -= 1;
            return Err(io::Error::other("write failed"));
        }
        d.written.extend_from_slice(bytes);
        Ok(())
    }

    fn query_status(&mut self) -> io::Result<PrinterStatus> {
        let d = self.0.lock().unwrap();
        if !d.plugged {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "unplugged"));
        }
        Ok(d.status.unwrap_or(PrinterStatus::READY))
    }
}

fn fake(plugged: bool) -> (Arc<Mutex<Device>>, Printer, States) {
    let dev = Arc::new(Mutex::new(Device { plugged, ..Device::default() }));
    let d = dev.clone();
    let connect: Connect = Box::new(move || {
        let mut g = d.lock().unwrap();
        g.connects += 1;
        if g.plugged {
            Ok(Box::new(FakePort(d.clone())) as Box<dyn PrinterPort>)
        } else {
            Err(io::Error::new(io::ErrorKind::NotFound, "/dev/ttyUSB0: no such device"))
        }
    });
    let config = PrinterConfig {
        poll_every: Duration::from_millis(50),
        reconnect_first: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(160),
        drain_for: Duration::from_secs(2),
    };
    let (states, on_state) = recorder();
    (dev, Printer::spawn_with(config, connect, on_state), states)
}

fn printed(dev: &Mutex<Device>) -> Vec<String> {
    numbers(&parse(&dev.lock().unwrap().written))
}

#[test]
fn unplugged_printer_holds_tickets_until_replugged() {
    let (dev, printer, states) = fake(false);
    printer.print(sample_numbered("A001")).unwrap();
    assert!(until(WAIT, || printer.state().queued == 1));
    std::thread::sleep(Duration::from_millis(300));
    let s = printer.state();
    assert!(!s.connected && s.queued == 1, "{s:?}");
    assert!(s.last_error.as_deref().is_some_and(|e| e.contains("no such device")), "{s:?}");
    // Back-off: a handful of attempts in 300 ms (20, 40, 80, 160 ms ...), not hundreds.
    let connects = dev.lock().unwrap().connects;
    assert!((2..=8).contains(&connects), "{connects} connects");

    dev.lock().unwrap().plugged = true;
    assert!(until(WAIT, || printed(&dev) == ["A001"]));

    // Unplugged while idle: noticed by the status poll; tickets wait, then print in order.
    dev.lock().unwrap().plugged = false;
    assert!(until(WAIT, || !printer.state().connected));
    printer.print(sample_numbered("A002")).unwrap();
    printer.print(sample_numbered("A003")).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(printed(&dev), ["A001"]);
    dev.lock().unwrap().plugged = true;
    assert!(until(WAIT, || printed(&dev) == ["A001", "A002", "A003"]));
    assert!(until(WAIT, || printer.state().printed == 3 && printer.state().last_error.is_none()));

    // The observer saw the disconnection and the recovery.
    let seen = states.lock().unwrap().clone();
    assert!(seen.iter().any(|s| !s.connected && s.queued == 2));
    assert!(seen.last().is_some_and(|s| s.connected && s.queued == 0 && s.printed == 3));
    for pair in seen.windows(2) {
        assert_ne!(pair[0], pair[1], "on_state is called on changes only");
    }
}

#[test]
fn a_failed_write_is_retried_and_the_ticket_prints_once() {
    let (dev, printer, _) = fake(true);
    dev.lock().unwrap().fail_writes = 2;
    for n in ["C001", "C002"] {
        printer.print(sample_numbered(n)).unwrap();
    }
    assert!(until(WAIT, || printed(&dev).len() == 2));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(printed(&dev), ["C001", "C002"]);
    assert_eq!(printer.state().printed, 2);
}

#[test]
fn cover_open_holds_and_shutdown_drains_the_queue() {
    let (dev, printer, _) = fake(true);
    dev.lock().unwrap().status =
        Some(PrinterStatus { cover_open: true, online: false, ..PrinterStatus::READY });
    printer.print(sample_numbered("D001")).unwrap();
    assert!(until(WAIT, || printer.state().incidents() == ["打印机盖未合上 / printer cover open"]));
    std::thread::sleep(Duration::from_millis(150));
    assert!(printed(&dev).is_empty());
    dev.lock().unwrap().status = Some(PrinterStatus::READY);
    printer.print(sample_numbered("D002")).unwrap();
    printer.print(sample_numbered("D003")).unwrap();
    // Dropping sends what is queued before the thread ends.
    drop(printer);
    assert_eq!(printed(&dev), ["D001", "D002", "D003"]);
}

#[test]
fn shutdown_while_unplugged_ends_within_the_drain_time() {
    let (_dev, printer, _) = fake(false);
    printer.print(sample_numbered("E001")).unwrap();
    let started = Instant::now();
    printer.shutdown();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(3), "{took:?}");
}
