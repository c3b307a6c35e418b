//! What the hall's pages show: the engine's views ([`onestop_engine::view`]), which the
//! campus cloud builds too, so the website shows exactly what the hall shows.

pub use onestop_engine::view::*;
