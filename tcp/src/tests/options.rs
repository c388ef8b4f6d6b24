//! Options used only when both sides offered them, and SYN cookies end to end.

use super::*;
use crate::syncookie::{CookieOptions, SynCookies};

/// Establishes with the peer offering `syn`'s options and checks what our segments carry.
fn check(syn: TcpRepr, ws: bool, sack: bool, ts: bool) {
    let c = cfg();
    let mut h = Host::accept(&c, &syn, ConnOptions::new(1 << 20));
    let sa = h.output().remove(0).repr;
    assert_eq!(sa.window_scale.is_some(), ws);
    assert_eq!(sa.sack_permitted, sack);
    assert_eq!(sa.timestamp.is_some(), ts);
    let mut ack = peer(Flags::ACK, PEER_ISS + 1, ISS + 1);
    if ts {
        ack.timestamp = Some(Timestamp { tsval: 101, tsecr: sa.timestamp.unwrap().tsval });
    }
    h.send(ack, b"");
    assert_eq!(h.state(), State::Established);
    let n = h.conn.negotiated();
    assert_eq!((n.snd_wscale > 0 || n.rcv_wscale > 0, n.sack, n.timestamps), (ws, sack, ts));
    // An out-of-order segment: SACK blocks only with SACK, TS only with TS.
    let mut seg = peer(Flags::ACK, PEER_ISS + 1 + 100, ISS + 1);
    if ts {
        seg.timestamp = Some(Timestamp { tsval: 102, tsecr: 0 });
    }
    let out = h.send(seg, b"later");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].repr.sack_blocks.is_empty(), !sack);
    assert_eq!(out[0].repr.timestamp.is_some(), ts);
    // A 1 MiB fifo: 65535 << 5 is the most a scaled window can say; unscaled it is capped at 65535.
    let wnd = u32::from(out[0].repr.window_len) << n.rcv_wscale;
    if ws {
        assert_eq!(n.rcv_wscale, 5);
        assert!(wnd > 65535);
    } else {
        assert_eq!(wnd, 65535);
    }
}

#[test]
fn all_options_when_both_offer() {
    check(peer_syn(Some(7), true, true), true, true, true);
}

#[test]
fn no_window_scale_when_peer_does_not_offer_it() {
    check(peer_syn(None, true, true), false, true, true);
}

#[test]
fn no_sack_when_peer_does_not_offer_it() {
    check(peer_syn(Some(7), false, true), true, false, true);
}

#[test]
fn no_timestamps_when_peer_does_not_offer_them() {
    check(peer_syn(Some(7), true, false), true, true, false);
}

#[test]
fn nothing_when_we_do_not_offer() {
    let c = TcpConfig { sack: false, window_scale: false, timestamps: false, ..cfg() };
    let mut h = Host::connect(&c, ConnOptions::new(1 << 20));
    let syn = h.output().remove(0).repr;
    assert!(syn.window_scale.is_none() && !syn.sack_permitted && syn.timestamp.is_none());
    let mut sa = peer_syn(Some(7), true, true);
    sa.flags = Flags::SYN | Flags::ACK;
    sa.ack_number = SeqNumber(ISS + 1);
    h.send(sa, b"");
    let n = h.conn.negotiated();
    assert!(!n.sack && !n.timestamps && n.snd_wscale == 0);
}

#[test]
fn syn_cookie_handshake_end_to_end() {
    let c = cfg();
    let jar = SynCookies::new(*b"0123456789abcdef");
    let syn = peer_syn(Some(7), true, true);
    let enable = CookieOptions { timestamps: true, window_scale: true, sack: true };
    let sa = jar.syn_ack(T0, local(), remote(), &syn, FIFO, MSS, enable);
    // The peer's ACK (with data) a little later.
    let mut ack = peer(Flags::ACK | Flags::PSH, PEER_ISS + 1, sa.seq_number.0 + 1);
    ack.window_len = 1000;
    ack.timestamp = Some(Timestamp { tsval: 101, tsecr: sa.timestamp.unwrap().tsval });
    ack.payload_len = 5;
    let now = T0 + 50 * MS;
    let opts = ConnOptions::new(FIFO);
    let conn = Connection::from_cookie(&c, &jar, &ack, local(), remote(), opts, now).expect("valid cookie");
    let mut h = Host { now, conn, rx: TestFifo::new(FIFO, 0), tx: TestFifo::new(FIFO, 0), buf: vec![0; 65536] };
    assert_eq!(h.state(), State::Established);
    assert_eq!(h.events(), [Event::Established]);
    let n = h.conn.negotiated();
    // The cookie carries the largest table MSS not above the peer's 1000:
    // 960 (it was 536 with the old four-entry table, issue 9 item 9).
    assert_eq!((n.snd_mss, n.snd_wscale, n.rcv_wscale, n.sack, n.timestamps), (960, 7, 1, true, true));
    assert_eq!(sa.max_seg_size, Some(MSS), "the SYN-ACK advertises our MSS");
    // The worker passes the same segment on: its data is received.
    let out = h.send(ack, b"hello");
    assert_eq!(h.read(), b"hello");
    h.write(b"reply");
    let out2 = h.output();
    let seg = out.iter().chain(&out2).find(|s| !s.payload.is_empty()).unwrap();
    assert_eq!(seg.seq(), sa.seq_number.0 + 1);
    assert_eq!(seg.ack(), PEER_ISS + 1 + 5);
    // Our TSval does not go back from the cookie's (the peer's PAWS would drop us).
    assert!(SeqNumber(seg.repr.timestamp.unwrap().tsval) >= SeqNumber(sa.timestamp.unwrap().tsval));
    // A forged ACK yields nothing.
    let mut forged = ack;
    forged.ack_number += 1;
    assert!(Connection::from_cookie(&c, &jar, &forged, local(), remote(), opts, now).is_none());
}

/// Found by the `tcp_connection` fuzz target: an MSS cap of 0 (a connect's
/// or listener's `mss 0`, or `[tcp] mss = 0`) made the send MSS 0, so
/// nothing could ever be sent, and CUBIC was built for 0-byte segments.
/// The cap is floored at the smallest MSS the connection ever sends with.
#[test]
fn zero_mss_cap_is_floored() {
    for (cfg_mss, cap) in [(MSS, Some(0)), (0, None), (0, Some(0)), (MSS, Some(1))] {
        let c = TcpConfig { mss: cfg_mss, ..cfg() };
        let mut h = Host::connect(&c, ConnOptions { mss: cap, ..ConnOptions::new(FIFO) });
        assert!(h.conn.mss() >= 64, "send MSS {} with cap {cap:?}, config {cfg_mss}", h.conn.mss());
        let syn = h.output().remove(0).repr;
        assert!(syn.max_seg_size.is_some_and(|m| m >= 64), "SYN offers {:?}", syn.max_seg_size);
        let mut synack = peer(Flags::SYN | Flags::ACK, PEER_ISS, ISS + 1);
        synack.max_seg_size = Some(MSS);
        h.send(synack, b"");
        assert_eq!(h.state(), State::Established);
        assert!(h.conn.mss() >= 64);
        // Data flows in segments of the floor, and ACKs grow the window without a panic.
        assert_eq!(h.write(&data(0, 1000)), 1000);
        let mut sent = 0;
        for _ in 0..100 {
            let out = h.output();
            for s in &out {
                assert!(!s.payload.is_empty() && s.payload.len() <= h.conn.mss());
                sent = sent.max(s.seq() + s.payload.len() as u32 - (ISS + 1));
            }
            if sent >= 1000 {
                break;
            }
            h.input(peer(Flags::ACK, PEER_ISS + 1, ISS + 1 + sent), b"");
        }
        assert_eq!(sent, 1000, "all data sent with cap {cap:?}, config {cfg_mss}");
    }
}
