//! The thin adapters to real printers: a serial line (USB-serial adapter, or the simulated
//! printer's pseudo-terminal) and a USB printer-class device file such as /dev/usb/lp0.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serialport::{ClearBuffer, SerialPort, TTYPort};

use super::escpos::{PrinterStatus, parse_status, status_query};

/// A connection to a printer.
pub trait PrinterPort: Send {
    /// Sends all of `bytes`; an error means the printer may have received only part of them.
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Asks the printer for its status. An error means the printer cannot be reached.
    fn query_status(&mut self) -> io::Result<PrinterStatus>;
}

/// How long a serial read or write may take, and how long a status answer is awaited.
pub const SERIAL_TIMEOUT: Duration = Duration::from_millis(500);

/// The queries sent for a status: printer (1), offline cause (2), roll paper sensor (4).
const QUERIES: [u8; 3] = [1, 2, 4];

/// An ESC/POS printer on a serial line (8N1, no flow control).
pub struct SerialPrinter {
    port: TTYPort,
    path: PathBuf,
}

impl SerialPrinter {
    /// Opens the serial device at `path` (e.g. /dev/ttyUSB0) at `baud`, with reads and writes
    /// timing out after [`SERIAL_TIMEOUT`].
    pub fn open(path: &Path, baud: u32) -> io::Result<SerialPrinter> {
        let port =
            serialport::new(path.to_string_lossy(), baud).timeout(SERIAL_TIMEOUT).open_native().map_err(
                |e| io::Error::new(io::Error::from(e.clone()).kind(), format!("{}: {e}", path.display())),
            )?;
        Ok(SerialPrinter { port, path: path.to_path_buf() })
    }
}

impl Drop for SerialPrinter {
    /// Releases the exclusive lock taken at open, so that the port can be reopened (by a
    /// reconnect) even while another process, such as the simulated printer, holds it open.
    fn drop(&mut self) {
        let _ = self.port.set_exclusive(false);
    }
}

impl PrinterPort for SerialPrinter {
    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        Write::write_all(&mut self.port, bytes)?;
        self.port.flush()
    }

    /// Sends `DLE EOT 1`, `2` and `4`, reading each one-byte answer. No answer within
    /// [`SERIAL_TIMEOUT`] is an error of kind `TimedOut`: the printer is off or unplugged.
    fn query_status(&mut self) -> io::Result<PrinterStatus> {
        // Drop anything stale (a late answer to an earlier query).
        self.port.clear(ClearBuffer::Input).map_err(io::Error::from)?;
        let mut status = PrinterStatus::READY;
        for n in QUERIES {
            Write::write_all(&mut self.port, &status_query(n))?;
            self.port.flush()?;
            let mut byte = [0u8; 1];
            match self.port.read(&mut byte) {
                Ok(1) => {}
                Ok(_) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "serial port closed")),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("printer on {} did not answer DLE EOT {n}", self.path.display()),
                    ));
                }
                Err(e) => return Err(e),
            }
            let part = parse_status(n, byte[0]).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            status = status.merge(part);
        }
        Ok(status)
    }
}

/// How long [`DevicePrinter`] waits for a status answer before assuming none will come.
pub const DEVICE_STATUS_WAIT: Duration = Duration::from_millis(200);
/// How long [`DevicePrinter`] keeps retrying a write the device is too busy to take.
pub const DEVICE_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Linux `O_NONBLOCK` on the architectures a hall node runs on (arm, aarch64, x86, riscv).
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64"
    )
))]
const O_NONBLOCK: Option<i32> = Some(0o4000);
/// Elsewhere the device is opened blocking, and status reads are not attempted.
#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "x86",
        target_arch = "aarch64",
        target_arch = "arm",
        target_arch = "riscv64"
    )
)))]
const O_NONBLOCK: Option<i32> = None;

/// An ESC/POS printer behind a USB printer-class device file (/dev/usb/lp0), opened
/// non-blocking so that a status read cannot hang.
pub struct DevicePrinter {
    file: File,
    path: PathBuf,
}

impl DevicePrinter {
    /// Opens the device file for reading and writing.
    pub fn open(path: &Path) -> io::Result<DevicePrinter> {
        let mut opts = std::fs::OpenOptions::new();
        opts.read(true).write(true);
        if let Some(flag) = O_NONBLOCK {
            use std::os::unix::fs::OpenOptionsExt;
            opts.custom_flags(flag);
        }
        let file =
            opts.open(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(DevicePrinter { file, path: path.to_path_buf() })
    }

    /// Reads one answer byte, waiting up to [`DEVICE_STATUS_WAIT`]; `None` if none came or the
    /// device cannot be read.
    fn read_answer(&mut self) -> Option<u8> {
        let deadline = Instant::now() + DEVICE_STATUS_WAIT;
        let mut byte = [0u8; 1];
        loop {
            match self.file.read(&mut byte) {
                Ok(1) => return Some(byte[0]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {
                }
                // End of file, or a device that cannot be read (unidirectional printer).
                _ => return None,
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl PrinterPort for DevicePrinter {
    fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        let deadline = Instant::now() + DEVICE_WRITE_TIMEOUT;
        while !bytes.is_empty() {
            match self.file.write(bytes) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "printer took no bytes")),
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {
                    if Instant::now() >= deadline {
                        return Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!(
                                "printer {} took no data for {DEVICE_WRITE_TIMEOUT:?}",
                                self.path.display()
                            ),
                        ));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Best effort: sends `DLE EOT 1`, `2` and `4` and decodes the answers. A device that does
    /// not answer (many USB printers only report through the USB printer-class status) is
    /// reported online; a failed write is an error (the device is gone).
    fn query_status(&mut self) -> io::Result<PrinterStatus> {
        if O_NONBLOCK.is_none() {
            return Ok(PrinterStatus::READY);
        }
        // Drop stale answers.
        while self.read_answer_now().is_some() {}
        let mut status = PrinterStatus::READY;
        for n in QUERIES {
            PrinterPort::write_all(self, &status_query(n))?;
            let Some(byte) = self.read_answer() else { return Ok(PrinterStatus::READY) };
            match parse_status(n, byte) {
                Ok(part) => status = status.merge(part),
                Err(_) => return Ok(PrinterStatus::READY),
            }
        }
        Ok(status)
    }
}

impl DevicePrinter {
    fn read_answer_now(&mut self) -> Option<u8> {
        let mut byte = [0u8; 1];
        match self.file.read(&mut byte) {
            Ok(1) => Some(byte[0]),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::escpos;
    use super::super::twin::{PtyPrinter, parse};
    use super::*;

    #[test]
    fn serial_printer_over_a_pty() {
        let twin = PtyPrinter::start(None).unwrap();
        let mut p = SerialPrinter::open(twin.path(), 19200).unwrap();
        assert_eq!(p.query_status().unwrap(), PrinterStatus::READY);
        twin.set_paper_near_end(true);
        assert_eq!(p.query_status().unwrap(), PrinterStatus { paper_near_end: true, ..PrinterStatus::READY });
        twin.set_paper_near_end(false);
        twin.set_cover_open(true);
        let s = p.query_status().unwrap();
        assert!(s.cover_open && !s.online && !s.paper_out, "{s:?}");
        twin.set_cover_open(false);
        PrinterPort::write_all(&mut p, &escpos::ticket(&escpos::tests::sample())).unwrap();
        let r = twin.wait_for(1, Duration::from_secs(5));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].big_text(), Some("A023"));
        twin.set_silent(true);
        let e = p.query_status().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(e.to_string().contains("did not answer DLE EOT 1"), "{e}");
        twin.set_silent(false);
        // A late answer is not mistaken for the next one.
        assert_eq!(p.query_status().unwrap(), PrinterStatus::READY);
    }

    #[test]
    fn open_errors_name_the_path() {
        let e = SerialPrinter::open(Path::new("/dev/nonexistent-printer"), 19200).err().unwrap();
        assert!(e.to_string().contains("/dev/nonexistent-printer"), "{e}");
        let e = DevicePrinter::open(Path::new("/dev/usb/nonexistent-lp")).err().unwrap();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn device_printer_that_cannot_answer_is_online() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lp0");
        std::fs::write(&path, b"").unwrap();
        let mut p = DevicePrinter::open(&path).unwrap();
        let bytes = escpos::ticket(&escpos::tests::sample());
        PrinterPort::write_all(&mut p, &bytes).unwrap();
        assert_eq!(p.query_status().unwrap(), PrinterStatus::READY);
        let written = std::fs::read(&path).unwrap();
        assert!(written.starts_with(&bytes));
        let receipts = parse(&written);
        assert_eq!(receipts[0].big_text(), Some("A023"));
    }

    #[test]
    fn device_printer_that_answers_reports_its_status() {
        let twin = PtyPrinter::start(None).unwrap();
        let mut p = DevicePrinter::open(twin.path()).unwrap();
        twin.set_paper_out(true);
        let s = p.query_status().unwrap();
        assert!(s.paper_out && !s.online, "{s:?}");
        twin.set_paper_out(false);
        assert_eq!(p.query_status().unwrap(), PrinterStatus::READY);
    }
}
