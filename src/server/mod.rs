//! `osprey serve` support: license acceptance at install.

pub mod license;
