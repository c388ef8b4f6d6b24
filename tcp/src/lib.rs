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
//! Two state machines: the [`Endpoint`] (the policy for a segment no
//! connection owns yet: it demuxes to a connection or listener and applies
//! listener, backlog, SYN-cookie and reset rules, returning an [`Action`])
//! and the [`Connection`], whose control block is parts with their own
//! invariants and methods: `send` (send sequence space, the peer's window,
//! send MSS and window scale, the tx buffer's position), `recv` (receive
//! sequence space, the advertised window, SACK blocks, the pending ACK),
//! `recovery` (RTT and RTO backoff, dup ACKs, fast retransmit and
//! recovery, the SACK scoreboard, the congestion controller) and [`timer`]
//! (one [`timer::TimerTable`] of deadlines by [`timer::Timer`] kind).
//!
//! One concern per file: [`endpoint`], [`connection`] (control block,
//! state, API, timer handling), [`input`] and [`output`] (by direction), [`options`]
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
//! - Segments: look the 4-tuple up, and the listener only if no connection
//!   has it, then ask [`Endpoint::input`] and do what the [`Action`] says:
//!   deliver to the connection (after giving a passive open its session,
//!   for [`Action::SessionThenDeliver`]), [`Connection::accept`] with the
//!   ISN given, send the cookie SYN-ACK or the RST, or rebuild the
//!   connection with [`Endpoint::connection_from_cookie`]. Tell the
//!   endpoint when a half-open connection leaves SYN-RECEIVED
//!   ([`Endpoint::half_open_done`]).
//! - Fifos must exist before the `input` that completes an accepted
//!   connection's handshake (that ACK may carry data), and only then:
//!   [`Connection::completes_handshake`] tells which segment it is.
//!   `poll_transmit` does not read the tx fifo before ESTABLISHED.
//! - Counters: call [`Connection::flush_counters`] and
//!   [`Endpoint::flush_counters`] into the worker's [`Counters`] (e.g. once
//!   per batch); the endpoint also keeps the [`endpoint::InputCounter`]s
//!   (the worker counts malformed segments and bad checksums there).
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
pub mod endpoint;
pub mod gro;
pub mod input;
pub mod isn;
pub mod listen;
pub mod options;
pub mod output;
pub mod pmtu;
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

pub use config::{ConnOptions, Keepalive, TcpConfig, MSS_MAX, MSS_MIN};
pub use connection::{ConnectError, Connection, Event, State, Transmit};
pub use endpoint::{Action, Demux, Endpoint};
pub use stats::{ConnStats, Counter, Counters};
pub use wire::tcp::Repr as TcpRepr;
