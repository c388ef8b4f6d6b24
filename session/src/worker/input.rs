//! Packet input: TCP segments go through the endpoint's demux policy
//! (existing connection, listener, cookie, reset), UDP datagrams to their
//! connection or a listener (accepting a new peer), with data enqueued
//! into the sessions' rx fifos.

use net::device::PacketBuf;
use net::l3::{Ip4Delivery, Ip6Delivery, LargeDelivery};
use net::seam::Seam;
use net::tables::NetTables;
use shm::types::{Proto, TransportProto};
use wire::{icmp, icmpv6};

use crate::app_worker::AppWorkerKind;
use crate::segment::fifo_pair_footprint;
use crate::session::{dgram_enqueue, DgramHeader, SessionFifos};
use crate::tcp_transport::TcpInput;
use crate::transport::{EventKind, SessionEvent};
use crate::udp::{Tuple, UdpCounter, UdpInput};
use smallvec::SmallVec;
use tcp::buffer::{Payload, PayloadIn};
use tcp::endpoint::{Action, InputCounter};
use tcp::gro::{candidate, mergeable, Segment};
use tcp::input::TRAIN_MAX;
use wire::ipv4::Protocol;

/// A capture's reason for an ACK to a listener that was no valid cookie (answered with a reset).
const LISTENER_ACK_RESET: &str = "tcp ack to a listener (reset)";

use super::{SessionCounter, SessionShared, SessionWorker};

/// Segments of one rx burst waiting to go to their connection as a train.
type Train<B> = SmallVec<[(Ip4Delivery<B>, TcpInput); TRAIN_MAX]>;

/// A parsed segment's payload in `frame` (clamped to the frame).
#[inline]
fn payload_of<'a>(seg: &TcpInput, frame: &'a [u8]) -> &'a [u8] {
    let end = (seg.payload_offset + seg.repr.payload_len).min(frame.len());
    &frame[seg.payload_offset.min(end)..end]
}

impl<S: Seam> SessionWorker<S> {
    /// TCP input: the endpoint's policy ([`TcpTransport::demux`]) says
    /// where a segment goes: an existing connection (giving a half-open
    /// one its session when its handshake completes), else a listener
    /// (SYN: half-open or cookie; bare ACK: maybe a cookie), else a RST.
    pub(super) fn tcp_input(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, d: Ip4Delivery<S::Buf>) {
        let seg = match self.tcp.parse(io, &d) {
            Ok(seg) => seg,
            Err(reason) => return io.capture_drop(&d, reason),
        };
        self.tcp_deliver_parsed(io, net, shared, &d, &seg);
    }

    /// [`Self::tcp_deliver`] of a parsed segment, its payload contiguous in
    /// the frame or, for a chained packet, in the pieces the segments hold.
    fn tcp_deliver_parsed(
        &mut self,
        io: &mut S,
        net: &NetTables,
        shared: &SessionShared,
        d: &Ip4Delivery<S::Buf>,
        seg: &TcpInput,
    ) {
        let frame = d.buf.data();
        if !seg.chained {
            return self.tcp_deliver(io, net, shared, seg, d.iface, frame, payload_of(seg, frame));
        }
        let head = frame.get(seg.payload_offset..).unwrap_or_default();
        let Some(p) = Payload::from_parts(std::iter::once(head).chain(d.buf.tail_segments())) else {
            return io.capture_drop(d, "tcp segment in too many pieces");
        };
        let payload = p.slice(0, seg.repr.payload_len);
        self.tcp_deliver(io, net, shared, seg, d.iface, frame, &payload);
    }

    /// A burst's IPv4 UDP/TCP packets ([`Stack::ip4_input_burst`]): with
    /// `[tcp] gro`, runs of mergeable TCP segments of one connection
    /// ([`tcp::gro::mergeable`], same 4-tuple) go to it as one train;
    /// everything else, in its place in the order, as [`Self::tcp_input`]
    /// and [`Self::udp_input`] take it.
    pub(super) fn ip4_burst(
        &mut self,
        io: &mut S,
        net: &NetTables,
        shared: &SessionShared,
        ds: impl Iterator<Item = Ip4Delivery<S::Buf>>,
    ) {
        if !self.tcp.gro() {
            for d in ds {
                self.ip4_one(io, net, shared, d);
            }
            return;
        }
        let mut train: Train<S::Buf> = SmallVec::new();
        for d in ds {
            if d.protocol != Protocol::Tcp {
                self.tcp_train_flush(io, net, shared, &mut train);
                self.ip4_one(io, net, shared, d);
                continue;
            }
            let seg = match self.tcp.parse(io, &d) {
                Ok(seg) => seg,
                Err(reason) => {
                    io.capture_drop(&d, reason);
                    continue;
                }
            };
            let joins = train.len() < TRAIN_MAX
                && train.last().is_some_and(|(_, last)| last.tuple == seg.tuple && mergeable(&last.repr, &seg.repr));
            if !joins {
                self.tcp_train_flush(io, net, shared, &mut train);
            }
            if candidate(&seg.repr) && !seg.chained {
                train.push((d, seg));
            } else {
                self.tcp_deliver_parsed(io, net, shared, &d, &seg);
            }
        }
        self.tcp_train_flush(io, net, shared, &mut train);
    }

    /// Delivers (and empties) a train: to its connection as one when it has
    /// two or more segments and the connection takes trains, else each
    /// segment as [`Self::tcp_input`] would.
    fn tcp_train_flush(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, train: &mut Train<S::Buf>) {
        let conn = match train.as_slice() {
            [] => return,
            [_] => None,
            [(_, first), ..] => self.tcp.train_conn(&first.tuple),
        };
        match conn {
            Some(c) => {
                let segs: SmallVec<[Segment<'_>; TRAIN_MAX]> = train
                    .iter()
                    .map(|(d, seg)| Segment { repr: &seg.repr, payload: payload_of(seg, d.buf.data()) })
                    .collect();
                let worker = self.index;
                let mut cx = Self::cx(&mut self.sessions, &mut self.events, io, net, worker);
                self.tcp.input_train(&mut cx, c, &segs);
            }
            None => {
                for (d, seg) in train.iter() {
                    self.tcp_deliver_parsed(io, net, shared, d, seg);
                }
            }
        }
        train.clear();
    }

    /// [`Self::tcp_input`] over IPv6.
    pub(super) fn tcp_input6(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, d: Ip6Delivery<S::Buf>) {
        let Some(seg) = self.tcp.parse6(io, &d) else { return };
        let frame = d.buf.data();
        let end = (seg.payload_offset + seg.repr.payload_len).min(frame.len());
        let payload = &frame[seg.payload_offset.min(end)..end];
        self.tcp_deliver(io, net, shared, &seg, d.iface, frame, payload);
    }

    /// A parsed segment (`frame`, received on `iface`, holds its headers,
    /// `payload` its data) where the endpoint's policy says; a refused one
    /// (reset or dropped) goes to the packet capture with its reason.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn tcp_deliver<P: PayloadIn + ?Sized>(
        &mut self,
        io: &mut S,
        net: &NetTables,
        shared: &SessionShared,
        seg: &TcpInput,
        iface: usize,
        frame: &[u8],
        payload: &P,
    ) {
        let worker = self.index;
        let (ip, port) = (seg.tuple.local.ip(), seg.tuple.local.port());
        // Whether a listener had the address (a reset then refuses a bad ACK, not a closed port).
        let mut listened = false;
        let action = self.tcp.demux(io.now_ns(), seg, payload.len(), || {
            let l = shared.control.lookup_listener(0, 0, Proto::Tcp, ip, port, false)?;
            listened = true;
            let options = shared.control.listener(l).map(|x| x.options).unwrap_or_default();
            Some((
                l,
                Self::listener_rx_fifo_size(shared, l).unwrap_or(65536),
                options,
                io.path_mtu(net, seg.tuple.remote.ip()),
            ))
        });
        match action {
            Action::Deliver { conn } => {
                let mut cx = Self::cx(&mut self.sessions, &mut self.events, io, net, worker);
                self.tcp.input(&mut cx, conn, seg, payload);
            }
            Action::SessionThenDeliver { conn, listener } => {
                let tls = Self::listener_tls(shared, listener);
                let proto = if tls.is_some() { TransportProto::Tls } else { TransportProto::Tcp };
                let Some(s) = self.session_accept_alloc(io, shared, listener, proto, seg.tuple.local, seg.tuple.remote)
                else {
                    // No app or no fifo memory: drop it; the peer retransmits.
                    return;
                };
                let tls = match tls.map(|t| self.tls_server_conn(s, &t)) {
                    Some(None) => return self.session_free(s),
                    Some(Some(t)) => Some(t),
                    None => None,
                };
                let mut cx = Self::cx(&mut self.sessions, &mut self.events, io, net, worker);
                self.tcp.give_session(&mut cx, conn, s);
                if let Some(t) = tls {
                    self.tcp.set_tls(conn, t);
                }
                self.tcp.input(&mut cx, conn, seg, payload);
            }
            Action::Accept { listener, iss, opts } => {
                let mut cx = Self::cx(&mut self.sessions, &mut self.events, io, net, worker);
                self.tcp.accept(&mut cx, listener, iss, seg, opts);
            }
            Action::CookieAccept { listener, opts } => {
                let tls = Self::listener_tls(shared, listener);
                let proto = if tls.is_some() { TransportProto::Tls } else { TransportProto::Tcp };
                let Some(s) = self.session_accept_alloc(io, shared, listener, proto, seg.tuple.local, seg.tuple.remote)
                else {
                    return;
                };
                let tls = match tls.map(|t| self.tls_server_conn(s, &t)) {
                    Some(None) => return self.session_free(s),
                    Some(Some(t)) => Some(t),
                    None => None,
                };
                let mut cx = Self::cx(&mut self.sessions, &mut self.events, io, net, worker);
                if !self.tcp.accept_cookie(&mut cx, s, listener, seg, payload, opts, tls) {
                    self.session_free(s);
                }
            }
            Action::SendCookie(repr) => self.tcp.send_segment(io, net, &repr, seg),
            Action::Reset(repr) => {
                let reason = if listened { LISTENER_ACK_RESET } else { InputCounter::NoListener.name() };
                io.capture_drop_frame(iface, frame, reason);
                self.tcp.send_segment(io, net, &repr, seg)
            }
            Action::Drop(why) => io.capture_drop_frame(iface, frame, why.name()),
        }
    }

    /// UDP input: existing connection, else a listener (new session, if
    /// admitted), else ICMP port unreachable.
    pub(super) fn udp_input(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, d: Ip4Delivery<S::Buf>) {
        let u = match self.udp.parse(io, &d) {
            Ok(u) => u,
            Err(reason) => return io.capture_drop(&d, reason),
        };
        if !self.udp_deliver(io, net, shared, &u, d.buf.data()) {
            io.capture_drop(&d, UdpCounter::NoListener.name());
            io.icmp_unreachable(net, &d, icmp::PORT_UNREACHABLE);
        }
    }

    /// [`Self::udp_input`] over IPv6 (a closed port gets ICMPv6 port
    /// unreachable, rate limited, never for a packet to a group).
    pub(super) fn udp_input6(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, d: Ip6Delivery<S::Buf>) {
        let Some(u) = self.udp.parse6(io, &d) else { return };
        if !self.udp_deliver(io, net, shared, &u, d.buf.data()) {
            let datagram = &d.buf.data()[wire::ethernet::HEADER_LEN..];
            io.icmp6_unreachable(net, d.iface, datagram, icmpv6::unreachable::PORT);
        }
    }

    /// A reassembled UDP datagram too large for one buffer (the seam's
    /// heap copy): like [`Self::udp_input`]; a closed port gets port
    /// unreachable over IPv6 (over IPv4 it is only counted).
    pub(super) fn udp_input_large(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, d: &LargeDelivery) {
        let Some(u) = self.udp.parse_large(d) else { return };
        if !self.udp_deliver(io, net, shared, &u, &d.data) && d.dst.is_ipv6() {
            io.icmp6_unreachable(net, d.iface, &d.data, icmpv6::unreachable::PORT);
        }
    }

    /// A parsed datagram (`frame` holds it) to its session: existing
    /// connection, else a listener (new session, if admitted). False when
    /// nobody listens (counted; the caller answers port unreachable).
    /// QUIC connections' datagrams, and new peers' of `quic://` listeners,
    /// go to the QUIC transport instead.
    #[inline]
    fn udp_deliver(&mut self, io: &mut S, net: &NetTables, shared: &SessionShared, u: &UdpInput, frame: &[u8]) -> bool {
        self.udp.counters.inc(UdpCounter::RxDatagrams);
        let session = match self.udp.lookup(&u.tuple, io.now_ns()) {
            Some((s, promoted)) => {
                if promoted {
                    self.udp_grow(s);
                }
                s
            }
            None => {
                let payload = &frame[u.payload_offset..u.payload_offset + u.payload_len];
                if self.quic_claims(&u.tuple) {
                    self.quic_input(io, net, shared, &u.tuple, payload, None);
                    return true;
                }
                let Some(l) =
                    shared.control.lookup_listener(0, 0, Proto::Udp, u.tuple.local.ip(), u.tuple.local.port(), false)
                else {
                    self.udp.counters.inc(UdpCounter::NoListener);
                    return false;
                };
                if let Some(q) = Self::listener_quic(shared, l) {
                    self.quic_input(io, net, shared, &u.tuple, payload, Some((l, q)));
                    return true;
                }
                let Some(s) = self.udp_accept(io, shared, l, u.tuple) else { return true };
                s
            }
        };
        self.udp_enqueue(session, &u.tuple, &frame[u.payload_offset..u.payload_offset + u.payload_len]);
        true
    }

    /// Session `index` received its second datagram: a builtin app's small
    /// fifos are swapped for the app's own sizes, contents and event flags
    /// carried over. Builtin apps touch fifos only from their callbacks on
    /// this thread, so no view of the old pair survives. Kept small (and
    /// counted) when fifo memory cannot take the difference.
    pub(super) fn udp_grow(&mut self, index: u32) {
        let Some(s) = self.sessions.get(index) else { return };
        let Some(old) = s.fifos.as_ref() else { return };
        if s.app.kind != AppWorkerKind::Builtin {
            return;
        }
        let (rx, tx) = {
            let sm = old.owner.segments();
            let c = sm.config();
            (c.rx_fifo_size, c.tx_fifo_size)
        };
        let (old_rx, old_tx) = (old.pair.rx.size, old.pair.tx.size);
        if old_rx >= rx && old_tx >= tx {
            return;
        }
        let footprint = |a, b| fifo_pair_footprint(a, b).map_or(u64::MAX, |v| v as u64);
        let (before, after) = (footprint(old_rx, old_tx), footprint(rx, tx));
        if !self.udp.fifo_fits(after.saturating_sub(before)) {
            self.udp.counters.inc(UdpCounter::FifoGrowFailed);
            return;
        }
        let new = match SessionFifos::alloc(&old.owner) {
            Ok(f) => f,
            Err(_) => {
                self.udp.counters.inc(UdpCounter::FifoGrowFailed);
                return;
            }
        };
        let scratch = &mut self.scratch;
        // Out of each old fifo's consumer end into the new one's producer end.
        for (from, to) in [(&old.app_rx, &new.rx), (&old.tx, &new.app_tx)] {
            let n = from.max_dequeue().min(scratch.len());
            from.peek(0, &mut scratch[..n]);
            to.enqueue(&scratch[..n]);
            if from.has_event() {
                to.set_event();
            }
        }
        let Some(s) = self.sessions.get_mut(index) else { return };
        if let Some(old) = s.fifos.replace(new) {
            old.free();
        }
        self.udp.fifo_release(before);
        self.udp.fifo_add(after);
        self.udp.counters.inc(UdpCounter::FifoGrown);
    }

    pub(super) fn udp_enqueue(&mut self, index: u32, tuple: &Tuple, payload: &[u8]) {
        let Some(s) = self.sessions.get_mut(index) else { return };
        let hdr = DgramHeader::new(payload.len() as u32, tuple.remote, tuple.local);
        let Some(f) = s.fifos.as_mut() else { return };
        if !f.rx.with_view_mut(|rx| dgram_enqueue(rx, &hdr, payload)) {
            s.rx_dropped += 1;
            self.stats.session.inc(SessionCounter::RxFifoFull);
            return;
        }
        s.rx_bytes += payload.len() as u64;
        if f.rx.set_event() {
            let g = s.generation;
            self.events.push(SessionEvent { session: index, generation: g, kind: EventKind::Rx });
        }
    }
}
