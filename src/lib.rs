//! hotline: telephony core for citizen-service hotline call centers.
#![forbid(unsafe_code)]

pub mod config;
pub mod model;
pub mod sip;
