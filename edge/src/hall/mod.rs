//! The hall node at work: the core around the node, the devices, and the pages on the hall's
//! LAN (kiosk, counter, display, rating, manager).

pub mod config;
pub mod core;
pub mod devices;
pub mod run;
pub mod view;
pub mod web;

pub use core::{Hall, HallError, Outputs, TicketFrame, TicketPrint};
pub use view::HallView;
