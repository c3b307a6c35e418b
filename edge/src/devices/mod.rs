//! The hall's devices: each a pure core (decoder, layout, spooler, script) and a thin adapter
//! to the real device, with a simulated twin that goes through the same adapter code.

pub mod input;
pub mod printer;
pub mod voice;
