//! `hotline simulate`: seat phones and callers made of code, driving a
//! running hotline over real SIP, and what queueing theory predicts for
//! the same load (`erlang.rs`).

pub mod erlang;
