//! Scripted tests, packetdrill style: one connection under test, the peer
//! played by hand-built segments, a virtual clock. Every segment the
//! connection produces is emitted to wire bytes and parsed back, so the
//! wire format is exercised on the way. `loopback` wires two connections
//! back to back through a lossy in-memory network instead.

use std::net::SocketAddr;

use wire::tcp::{Flags, Packet, Repr as TcpRepr, SeqNumber, Timestamp};

use super::config::{ConnOptions, TcpConfig};
use super::connection::{Connection, Event, State};
use shm::fifo::{FifoConsumer, FifoProducer, HeapFifo};

/// A heap-backed fifo for the scripted tests, handing out views on demand
/// (one per call; tests use them one at a time, which keeps the SPSC contract).
pub(crate) struct TestFifo(HeapFifo);

impl TestFifo {
    /// An empty fifo of `size` bytes whose indices start at `position`.
    pub(crate) fn new(size: u32, position: u32) -> Self {
        TestFifo(HeapFifo::new_at(size, position).expect("valid test fifo"))
    }

    /// The producer end (the connection's for rx, the app's for tx).
    pub(crate) fn producer(&self) -> FifoProducer<'_> {
        self.0.producer()
    }

    /// The consumer end (the app's for rx, the connection's for tx).
    pub(crate) fn consumer(&self) -> FifoConsumer<'_> {
        self.0.consumer()
    }
}

mod close;
mod gro;
mod handshake;
mod loopback;
mod loss;
mod options;
mod pmtu;
mod receive;
mod send;
mod timers;

pub(super) const MS: u64 = 1_000_000;
pub(super) const SEC: u64 = 1_000_000_000;
/// Our ISN in scripted tests.
pub(super) const ISS: u32 = 1000;
/// The scripted peer's ISN.
pub(super) const PEER_ISS: u32 = 5000;
/// Segment size used by scripted tests (both sides).
pub(super) const MSS: u16 = 1000;
/// Start of the virtual clock (not zero, so no deadline is accidentally 0).
pub(super) const T0: u64 = 10 * SEC;

pub(super) fn local() -> SocketAddr {
    "198.18.0.2:80".parse().unwrap()
}

pub(super) fn remote() -> SocketAddr {
    "198.18.0.1:40000".parse().unwrap()
}

/// A config for scripted tests: small MSS, everything else default.
pub(super) fn cfg() -> TcpConfig {
    TcpConfig { mss: MSS, ..TcpConfig::default() }
}

/// A segment from the scripted peer.
pub(super) fn peer(flags: Flags, seq: u32, ack: u32) -> TcpRepr {
    TcpRepr {
        src_port: remote().port(),
        dst_port: local().port(),
        seq_number: SeqNumber(seq),
        ack_number: SeqNumber(ack),
        flags,
        window_len: 65535,
        ..TcpRepr::default()
    }
}

/// The peer's SYN with a chosen set of options.
pub(super) fn peer_syn(ws: Option<u8>, sack: bool, ts: bool) -> TcpRepr {
    TcpRepr {
        max_seg_size: Some(MSS),
        window_scale: ws,
        sack_permitted: sack,
        timestamp: ts.then_some(Timestamp { tsval: 100, tsecr: 0 }),
        ..peer(Flags::SYN, PEER_ISS, 0)
    }
}

/// A segment the connection produced, with its payload.
#[derive(Debug, Clone)]
pub(super) struct Seg {
    pub repr: TcpRepr,
    pub payload: Vec<u8>,
}

impl Seg {
    pub fn seq(&self) -> u32 {
        self.repr.seq_number.0
    }
    pub fn ack(&self) -> u32 {
        self.repr.ack_number.0
    }
    pub fn flags(&self) -> Flags {
        self.repr.flags
    }
}

/// The connection under test with its fifos and clock.
pub(super) struct Host {
    pub now: u64,
    pub conn: Connection,
    pub rx: TestFifo,
    pub tx: TestFifo,
    buf: Vec<u8>,
}

pub(super) const FIFO: u32 = 1 << 16;

impl Host {
    fn with(conn: Connection, now: u64, fifo_size: u32) -> Host {
        Host { now, conn, rx: TestFifo::new(fifo_size, 0), tx: TestFifo::new(fifo_size, 0), buf: vec![0; 65536] }
    }

    /// An active open (SYN not yet polled).
    pub fn connect(cfg: &TcpConfig, opts: ConnOptions) -> Host {
        let conn = Connection::connect(cfg, local(), remote(), ISS, opts, T0);
        Host::with(conn, T0, opts.rx_fifo_size)
    }

    /// A passive open from `syn` (SYN-ACK not yet polled).
    pub fn accept(cfg: &TcpConfig, syn: &TcpRepr, opts: ConnOptions) -> Host {
        let conn = Connection::accept(cfg, syn, local(), remote(), ISS, opts, T0);
        Host::with(conn, T0, opts.rx_fifo_size)
    }

    /// Feeds one segment (payload filled with `payload`).
    pub fn input(&mut self, mut repr: TcpRepr, payload: &[u8]) {
        repr.payload_len = payload.len();
        let (rx, tx) = (self.rx.producer(), self.tx.consumer());
        self.conn.input(self.now, &repr, payload, &rx, &tx);
    }

    /// Feeds one segment and collects the output.
    pub fn send(&mut self, repr: TcpRepr, payload: &[u8]) -> Vec<Seg> {
        self.input(repr, payload);
        self.output()
    }

    /// Everything the connection wants to send now, each segment checked through the wire format.
    pub fn output(&mut self) -> Vec<Seg> {
        let mut out = Vec::new();
        loop {
            let tx = self.tx.consumer();
            let Some(t) = self.conn.poll_transmit(self.now, &tx, &mut self.buf) else { break };
            assert_eq!(t.repr.payload_len, t.payload_len);
            assert!(t.payload_len <= self.conn.mss(), "payload {} above mss {}", t.payload_len, self.conn.mss());
            let payload = self.buf[..t.payload_len].to_vec();
            let mut wire = vec![0u8; t.repr.buffer_len()];
            let mut p = Packet::new_unchecked(&mut wire[..]);
            t.repr.emit(&mut p);
            p.payload_mut().copy_from_slice(&payload);
            p.fill_checksum(v4(local()), v4(remote()));
            let parsed =
                TcpRepr::parse(&Packet::new_checked(&wire[..]).unwrap(), v4(local()), v4(remote()), true).unwrap();
            let mut expect = t.repr;
            if !expect.flags.ack() {
                expect.ack_number = SeqNumber(0);
            }
            assert_eq!(parsed, expect);
            out.push(Seg { repr: t.repr, payload });
            assert!(out.len() < 10_000, "runaway output");
        }
        out
    }

    /// Advances the clock to `to`, firing timers on the way; returns all output.
    pub fn tick(&mut self, to: u64) -> Vec<Seg> {
        let mut out = self.output();
        while let Some(d) = self.conn.poll_timeout().filter(|&d| d <= to) {
            self.now = self.now.max(d);
            self.conn.on_timeout(self.now);
            out.extend(self.output());
        }
        self.now = to;
        out
    }

    /// Advances the clock by `by`.
    pub fn wait(&mut self, by: u64) -> Vec<Seg> {
        self.tick(self.now + by)
    }

    /// Drains the events.
    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }

    /// The app writes `data` (as much as fits); returns bytes taken.
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = self.tx.producer().enqueue(data);
        self.conn.app_tx(self.now);
        n
    }

    /// The app reads everything available.
    pub fn read(&mut self) -> Vec<u8> {
        let (conn_rx, rx) = (self.rx.producer(), self.rx.consumer());
        let mut out = vec![0; rx.max_dequeue()];
        rx.dequeue(&mut out);
        self.conn.app_rx(self.now, &conn_rx);
        out
    }

    pub fn state(&self) -> State {
        self.conn.state()
    }

    pub fn close(&mut self) {
        let rx = self.rx.producer();
        self.conn.close(self.now, &rx);
    }
}

/// A passive connection established with a peer that offered `syn`'s
/// options; events and output drained. The peer's next sequence number is
/// `PEER_ISS + 1`, ours `ISS + 1`.
pub(super) fn established_with(cfg: &TcpConfig, syn: TcpRepr) -> Host {
    let mut h = Host::accept(cfg, &syn, ConnOptions::new(FIFO));
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].flags(), Flags::SYN | Flags::ACK);
    let mut ack = peer(Flags::ACK, PEER_ISS + 1, ISS + 1);
    ack.timestamp =
        syn.timestamp.map(|t| Timestamp { tsval: t.tsval + 1, tsecr: out[0].repr.timestamp.map_or(0, |t| t.tsval) });
    assert!(h.send(ack, b"").is_empty());
    assert_eq!(h.events(), [Event::Established]);
    assert_eq!(h.state(), State::Established);
    h
}

/// Established with no options but MSS (plain RFC 9293 TCP).
pub(super) fn established(cfg: &TcpConfig) -> Host {
    established_with(cfg, peer_syn(None, false, false))
}

/// Bytes `from..from + len` of a test stream.
pub(super) fn data(from: usize, len: usize) -> Vec<u8> {
    (from..from + len).map(|i| (i.wrapping_mul(131) >> 3) as u8 ^ i as u8).collect()
}

/// The IPv4 address of a test endpoint (every one here is IPv4).
#[allow(dead_code)]
pub(super) fn v4(a: std::net::SocketAddr) -> std::net::Ipv4Addr {
    match a.ip() {
        std::net::IpAddr::V4(ip) => ip,
        std::net::IpAddr::V6(_) => unreachable!("test endpoints are IPv4"),
    }
}
