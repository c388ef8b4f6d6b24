//! dpnode's TCP, sans-IO (RFC 9293 and friends): pure Rust, no DPDK, no
//! sockets, no threads, no clock.
//!
//! A [`Connection`] is a state machine driven by the worker: segments in
//! ([`Connection::input`]), segments out ([`Connection::poll_transmit`]),
//! timers ([`Connection::poll_timeout`] / [`Connection::on_timeout`]),
//! app notifications (`app_tx`, `app_rx`, `close`, `shutdown_write`,
//! `abort`) and events for the session layer ([`Connection::poll_event`]).
//! It owns no socket, thread or clock: time is a `u64` of nanoseconds, data
//! lives in buffers it is handed ([`buffer::SendBuffer`] and
//! [`buffer::RecvBuffer`], implemented by the session's shared-memory
//! fifos), and headers are [`wire::tcp::Repr`]s, so everything here is
//! tested with scripted segments and a virtual clock. The session layer's
//! TCP transport (`session::tcp_transport`) wires it to a worker.
//!
//! One concern per file: [`connection`] (control block, state, API,
//! timers), [`input`] and [`output`] (by direction), [`options`]
//! (negotiation, PAWS), [`rtt`] (RFC 6298), [`sack`] (RFC 2018 / 6675),
//! [`cc`] (NewReno, CUBIC), [`isn`] (RFC 6528), [`syncookie`], [`rst`]
//! (resets for closed ports, challenge ACK limit), [`listen`] (what a
//! listener does with a segment), [`backlog`] (listener half-open
//! accounting), [`stats`] (counters and the CLI snapshot), [`config`],
//! [`buffer`] (the buffer traits), [`timer_wheel`] (the worker's timers).
//!
//! Wiring it to a worker:
//! - Sizing: give `poll_transmit` a payload buffer of at least
//!   [`Connection::mss`] bytes (an mbuf's tailroom after the Ethernet, IPv4
//!   and `repr.header_len()` TCP headers; reserve 60 bytes for TCP). The
//!   worker emits `repr` with `Repr::emit`, then `fill_checksum`.
//! - Call `poll_transmit` until `None` after every `input`, app call and
//!   `on_timeout`, then drain `poll_event`.
//! - Timers: one timer-wheel entry per connection at `poll_timeout()`;
//!   after any call that may change it, cancel and re-insert if it moved.
//!   When the entry fires, call `on_timeout(now)` (it handles every due
//!   timer and ignores ones that are not).
//! - Call `app_rx` whenever the app has read from the rx fifo (the
//!   dequeue notification), so the window is reopened and a window update
//!   sent; `input` also refreshes the window.
//! - Listeners: [`listen::listen_action`] sorts a segment that matches no
//!   connection. A SYN goes to the listener's [`backlog::ListenBacklog`]:
//!   `Accept` => [`Connection::accept`] with an ISN from
//!   [`isn::IsnGenerator`]; `Cookie` => [`syncookie::SynCookies::syn_ack`].
//!   An ACK => [`Connection::from_cookie`] if it carries a good cookie, else
//!   [`rst::reset_for`]; anything else is dropped. No listener at all =>
//!   [`rst::reset_for`].
//! - Fifos must exist before the `input` that completes an accepted
//!   connection's handshake (that ACK may carry data), and only then:
//!   [`Connection::completes_handshake`] tells which segment it is.
//!   `poll_transmit` does not read the tx fifo before ESTABLISHED.
//! - Counters: call [`Connection::flush_counters`] into the worker's
//!   [`Counters`] (e.g. once per batch); the worker itself counts bad
//!   checksums, cookies sent and cookies failed.
//!
//! Not implemented (yet): ECN, urgent data (URG is ignored), TCP Fast Open,
//! D-SACK, RACK-TLP, pacing, path MTU discovery, IPv6, reuse of a TIME-WAIT
//! connection by a new SYN (the SYN is challenged), and data carried on a
//! SYN or SYN-ACK (dropped; the peer retransmits it after the handshake).

#![warn(missing_docs)]

pub mod backlog;
pub mod buffer;
pub mod cc;
pub mod config;
pub mod connection;
pub mod input;
pub mod isn;
pub mod listen;
pub mod options;
pub mod output;
mod recovery;
mod recv;
pub mod rst;
pub mod rtt;
pub mod sack;
mod send;
pub mod stats;
pub mod syncookie;
pub mod timer;
pub mod timer_wheel;

#[cfg(test)]
mod tests;

pub use cc::CcAlgorithm;
pub use config::{ConnOptions, Keepalive, TcpConfig, MSS_MAX, MSS_MIN};
pub use connection::{ConnectError, Connection, Event, State, Transmit};
pub use stats::{ConnStats, Counter, Counters};
pub use wire::tcp::Repr as TcpRepr;
