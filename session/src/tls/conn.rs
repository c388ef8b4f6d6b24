//! One TLS connection: the engine (rustls) between the TCP connection's
//! ciphertext fifos and the session's plaintext fifos.
//!
//! The TCP connection under a TLS session runs on two heap fifos of this
//! struct (allocated once, when the connection is made) instead of the
//! session's: it enqueues the peer's records into `crx` and sends what is
//! in `ctx`. [`TlsConn::pump`] moves bytes through the engine: records from
//! `crx` are decrypted into the app's rx fifo as far as it has room (so a
//! slow app closes the TCP window instead of growing memory), and the app's
//! tx fifo is encrypted into `ctx` as far as `ctx` has room. It is called
//! on every event of either side (segment in, ACK, app write, app read,
//! close), on the worker that owns the TCP connection.

use std::io::{self, Read, Write};

use rustls::{CertificateError, Connection, Error as TlsError};
use shm::fifo::{FifoConsumer, FifoProducer, HeapFifo};

use super::{TlsCounter, TlsCounters};

/// Room kept per record for header, padding and tag (TLS 1.2 GCM needs 29).
const RECORD_OVERHEAD: usize = 64;
/// Most plaintext per record (RFC 8446 §5.1).
pub const MAX_RECORD: usize = 16384;

/// A TLS connection's engine and ciphertext fifos.
pub struct TlsConn {
    engine: Connection,
    /// Records from the peer (the TCP connection's rx fifo).
    pub crx: HeapFifo,
    /// Records to the peer (the TCP connection's tx fifo).
    pub ctx: HeapFifo,
    /// The handshake finished and the app was told (accepted or connected).
    pub established: bool,
    /// The handshake or a record failed: nothing more goes through.
    pub failed: bool,
    /// The app closed: close_notify follows its last data, then the TCP close.
    pub app_closing: bool,
    /// The app shut its writing side: close_notify follows its last data,
    /// then the FIN, and records are still read.
    pub app_shut: bool,
    /// The TCP connection was asked to half-close (after close_notify).
    pub tcp_shut: bool,
    /// close_notify is queued; the TCP connection may send its FIN.
    pub close_sent: bool,
    /// The app was told the peer closed.
    pub peer_closed_told: bool,
    /// The TCP connection was asked to close (after close_notify).
    pub tcp_closed: bool,
    /// The peer sent close_notify.
    pub peer_close_notify: bool,
    /// When the handshake must have finished (set when the TCP connection is established).
    pub handshake_deadline: Option<u64>,
}

/// What one [`TlsConn::pump`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pumped {
    /// Plaintext bytes put into the app's rx fifo.
    pub plain_in: usize,
    /// Plaintext bytes taken from the app's tx fifo.
    pub plain_out: usize,
    /// Ciphertext bytes taken from `crx` (the TCP window may open).
    pub cipher_in: usize,
    /// Ciphertext bytes put into `ctx` (the TCP connection has data to send).
    pub cipher_out: usize,
    /// The handshake finished in this call.
    pub handshake_done: bool,
    /// It failed in this call, for this reason.
    pub failed: Option<TlsCounter>,
}

struct In<'a>(&'a FifoConsumer<'a>);

impl Read for In<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.0.dequeue(buf))
    }
}

struct Out<'a>(&'a FifoProducer<'a>);

impl Write for Out<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.enqueue(buf) {
            0 if !buf.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The counter for a handshake or record failure.
pub fn failure_reason(e: &TlsError) -> TlsCounter {
    use CertificateError as C;
    match e {
        TlsError::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            TlsCounter::FailWrongName
        }
        TlsError::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => TlsCounter::FailExpired,
        TlsError::InvalidCertificate(_) => TlsCounter::FailUntrusted,
        TlsError::AlertReceived(_) => TlsCounter::FailAlert,
        TlsError::NoApplicationProtocol => TlsCounter::FailAlpn,
        TlsError::PeerIncompatible(_) => TlsCounter::FailIncompatible,
        _ => TlsCounter::FailProtocol,
    }
}

/// Writes what `engine` has queued (records, alerts) into `ctx`, as far as it has room.
fn flush(engine: &mut Connection, ctx: &HeapFifo) -> usize {
    let out = ctx.producer();
    let mut n = 0;
    while engine.wants_write() {
        match engine.write_tls(&mut Out(&out)) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// Moves decrypted plaintext into `app_rx`, as far as it has room.
fn drain(engine: &mut Connection, app_rx: &FifoProducer<'_>, scratch: &mut [u8]) -> usize {
    let mut n = 0;
    loop {
        let room = app_rx.max_enqueue().min(scratch.len());
        if room == 0 {
            return n;
        }
        match engine.reader().read(&mut scratch[..room]) {
            Ok(0) | Err(_) => return n,
            Ok(k) => n += app_rx.enqueue(&scratch[..k]),
        }
    }
}

impl TlsConn {
    /// A connection around `engine` with ciphertext fifos of `size` bytes each (a power of two).
    pub fn new(engine: Connection, size: u32) -> Option<TlsConn> {
        Some(TlsConn {
            engine,
            crx: HeapFifo::new(size).ok()?,
            ctx: HeapFifo::new(size).ok()?,
            established: false,
            failed: false,
            app_closing: false,
            app_shut: false,
            tcp_shut: false,
            close_sent: false,
            peer_closed_told: false,
            tcp_closed: false,
            peer_close_notify: false,
            handshake_deadline: None,
        })
    }

    /// Whether this side is the server.
    pub fn is_server(&self) -> bool {
        matches!(self.engine, Connection::Server(_))
    }

    /// Negotiated version, cipher suite and ALPN protocol, for `show session verbose`.
    pub fn describe(&self) -> (String, String, String) {
        let version = self.engine.protocol_version().and_then(|v| v.as_str()).unwrap_or("-").to_string();
        let suite = self.engine.negotiated_cipher_suite().and_then(|s| s.suite().as_str()).unwrap_or("-").to_string();
        let alpn = self.engine.alpn_protocol().map_or("-".to_string(), |a| String::from_utf8_lossy(a).into_owned());
        (version, suite, alpn)
    }

    /// Moves bytes both ways as far as the fifos allow; see the module doc.
    pub fn pump(
        &mut self,
        app_rx: &FifoProducer<'_>,
        app_tx: &FifoConsumer<'_>,
        scratch: &mut [u8],
        counters: &TlsCounters,
    ) -> Pumped {
        let mut p = Pumped::default();
        if self.failed {
            // Nothing more goes through; what the peer sends is dropped.
            let crx = self.crx.consumer();
            p.cipher_in = crx.dequeue_drop(crx.max_dequeue());
            p.cipher_out += flush(&mut self.engine, &self.ctx);
            return p;
        }
        p.plain_in += drain(&mut self.engine, app_rx, scratch);
        loop {
            let before = p.cipher_in;
            let crx = self.crx.consumer();
            while crx.max_dequeue() > 0 && self.engine.wants_read() && app_rx.max_enqueue() > 0 {
                match self.engine.read_tls(&mut In(&crx)) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => p.cipher_in += k,
                }
                match self.engine.process_new_packets() {
                    Ok(st) => self.peer_close_notify |= st.peer_has_closed(),
                    Err(e) => {
                        let why = failure_reason(&e);
                        tracing::debug!("tls: {e}");
                        counters.inc(why);
                        self.failed = true;
                        p.failed = Some(why);
                        p.cipher_in += crx.dequeue_drop(crx.max_dequeue());
                        p.cipher_out += flush(&mut self.engine, &self.ctx);
                        return p;
                    }
                }
                p.plain_in += drain(&mut self.engine, app_rx, scratch);
            }
            // Handshake messages the engine queued must go before it reads on.
            p.cipher_out += flush(&mut self.engine, &self.ctx);
            if p.cipher_in == before {
                break;
            }
        }
        if !self.established && !self.engine.is_handshaking() {
            self.established = true;
            p.handshake_done = true;
            counters.inc(if self.is_server() { TlsCounter::HandshakeServer } else { TlsCounter::HandshakeClient });
            if self.engine.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                counters.inc(if self.is_server() { TlsCounter::ResumedServer } else { TlsCounter::ResumedClient });
            }
        }
        p.cipher_out += flush(&mut self.engine, &self.ctx);
        if self.established && !self.close_sent {
            let ctx = self.ctx.producer();
            while !self.engine.wants_write() {
                let room = ctx.max_enqueue().saturating_sub(RECORD_OVERHEAD);
                let n = app_tx.max_dequeue().min(room).min(MAX_RECORD).min(scratch.len());
                if n == 0 {
                    break;
                }
                let n = app_tx.dequeue(&mut scratch[..n]);
                // The engine takes it all: it holds no unsent records (checked above).
                let _ = self.engine.writer().write_all(&scratch[..n]);
                p.plain_out += n;
                p.cipher_out += flush(&mut self.engine, &self.ctx);
            }
            if (self.app_closing || self.app_shut) && app_tx.max_dequeue() == 0 {
                self.engine.send_close_notify();
                self.close_sent = true;
                p.cipher_out += flush(&mut self.engine, &self.ctx);
            }
        }
        counters.add(TlsCounter::PlainRxBytes, p.plain_in as u64);
        counters.add(TlsCounter::PlainTxBytes, p.plain_out as u64);
        counters.add(TlsCounter::CipherRxBytes, p.cipher_in as u64);
        counters.add(TlsCounter::CipherTxBytes, p.cipher_out as u64);
        p
    }

    /// Whether every queued record has gone into `ctx`.
    pub fn flushed(&self) -> bool {
        !self.engine.wants_write()
    }
}
