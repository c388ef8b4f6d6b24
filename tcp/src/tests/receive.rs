//! Receiving: reassembly of out-of-order, overlapping and duplicate
//! segments, trimming beyond the window, zero window and window updates,
//! delayed ACKs, PAWS, RST and SYN validation with challenge ACKs.

use super::*;
use crate::stats::{Counter, Counters};

/// A data segment from the peer at stream offset `k` (acking our ISS + 1).
fn seg_at(k: u32) -> TcpRepr {
    peer(Flags::ACK, PEER_ISS + 1 + k, ISS + 1)
}

fn counters(h: &mut Host) -> Counters {
    let mut c = Counters::default();
    h.conn.flush_counters(&mut c);
    c
}

#[test]
fn out_of_order_overlapping_and_duplicate_segments_arrive_in_order() {
    let c = cfg();
    let mut h = established_with(&c, peer_syn(None, true, false));
    let d = data(0, 5000);
    // [2000,3000) first: ACK at once with a SACK block, nothing readable.
    let out = h.send(seg_at(2000), &d[2000..3000]);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack(), PEER_ISS + 1);
    let blocks = out[0].repr.sack_blocks;
    assert_eq!(blocks.as_slice()[0].left.0, PEER_ISS + 1 + 2000);
    assert_eq!(blocks.as_slice()[0].right.0, PEER_ISS + 1 + 3000);
    // [4000,5000), then a duplicate of it, then [2500,4200) overlapping both runs.
    h.send(seg_at(4000), &d[4000..5000]);
    let out = h.send(seg_at(4000), &d[4000..5000]);
    assert_eq!(out[0].repr.sack_blocks.as_slice()[0].left.0, PEER_ISS + 1 + 4000, "most recent block first");
    let out = h.send(seg_at(2500), &d[2500..4200]);
    assert_eq!(out[0].repr.sack_blocks.len(), 1);
    assert!(h.read().is_empty());
    // [0,1500) then [1000,2000) (overlapping the first) fill the hole.
    h.send(seg_at(0), &d[0..1500]);
    let out = h.send(seg_at(1000), &d[1000..2000]);
    assert_eq!(out.last().unwrap().ack(), PEER_ISS + 1 + 5000, "hole filled: immediate ACK of everything");
    assert!(out.last().unwrap().repr.sack_blocks.is_empty());
    assert_eq!(h.read(), d);
    // An old duplicate is acknowledged and dropped.
    let out = h.send(seg_at(1000), &d[1000..2000]);
    assert_eq!(out[0].ack(), PEER_ISS + 1 + 5000);
    assert!(h.read().is_empty());
    let k = counters(&mut h);
    assert!(k.get(Counter::OutOfOrder) >= 3);
}

#[test]
fn data_beyond_the_window_is_trimmed() {
    let c = cfg();
    let syn = peer_syn(None, false, false);
    let mut h = Host::accept(&c, &syn, ConnOptions::new(4096));
    h.output();
    h.send(peer(Flags::ACK, PEER_ISS + 1, ISS + 1), b"");
    let d = data(0, 6000);
    // 4096 fits; the rest of a 5000-byte segment (and its FIN) is dropped.
    let out = h.send(peer(Flags::ACK | Flags::FIN, PEER_ISS + 1, ISS + 1), &d[..5000]);
    let last = out.last().unwrap();
    assert_eq!(last.ack(), PEER_ISS + 1 + 4096);
    assert_eq!(last.repr.window_len, 0);
    assert_eq!(h.state(), State::Established, "the FIN was beyond the window");
    assert_eq!(h.read(), &d[..4096]);
    // Out of order beyond the window: trimmed to the window too.
    let out = h.send(peer(Flags::ACK, PEER_ISS + 1 + 4096 + 1000, ISS + 1), &d[5096..6000]);
    assert_eq!(out.last().unwrap().ack(), PEER_ISS + 1 + 4096);
    assert!(h.read().is_empty());
}

#[test]
fn zero_window_then_window_update_when_the_app_reads() {
    let c = cfg();
    let mut h = Host::accept(&c, &peer_syn(None, false, false), ConnOptions::new(4096));
    h.output();
    h.send(peer(Flags::ACK, PEER_ISS + 1, ISS + 1), b"");
    let d = data(0, 4096);
    let mut out = Vec::new();
    for k in 0..4 {
        out.extend(h.send(seg_at(k * 1024), &d[k as usize * 1024..(k as usize + 1) * 1024]));
    }
    out.extend(h.wait(c.delayed_ack));
    let last = out.last().unwrap();
    assert_eq!((last.ack(), last.repr.window_len), (PEER_ISS + 1 + 4096, 0));
    // A zero-window probe (one byte) is not accepted, but answered.
    let out = h.send(seg_at(4096), b"x");
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].ack(), out[0].repr.window_len), (PEER_ISS + 1 + 4096, 0));
    // Reading a little is not worth an update (receiver SWS avoidance) ...
    {
        let (conn_rx, rx) = (h.rx.producer(), h.rx.consumer());
        let mut small = [0u8; 100];
        rx.dequeue(&mut small);
        h.conn.app_rx(h.now, &conn_rx);
    }
    assert!(h.output().is_empty());
    // ... reading the rest is: a window update goes out.
    h.read();
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].repr.window_len, 4096);
}

#[test]
fn delayed_ack_every_second_segment_or_timeout() {
    let c = cfg();
    let mut h = established(&c);
    let d = data(0, 3000);
    assert!(h.send(seg_at(0), &d[..1000]).is_empty(), "first segment: ACK delayed");
    let out = h.send(seg_at(1000), &d[1000..2000]);
    assert_eq!(out.len(), 1, "second segment: ACK now");
    assert_eq!(out[0].ack(), PEER_ISS + 1 + 2000);
    assert!(h.send(seg_at(2000), &d[2000..3000]).is_empty());
    let t = h.now;
    assert!(h.tick(t + c.delayed_ack - 1).is_empty());
    let out = h.tick(t + c.delayed_ack);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack(), PEER_ISS + 1 + 3000);
    // A reply piggybacks the ACK: no separate pure ACK.
    assert!(h.send(seg_at(3000), b"ping").is_empty());
    h.write(b"pong");
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].payload.as_slice(), out[0].ack()), (&b"pong"[..], PEER_ISS + 1 + 3004));
}

#[test]
fn paws_drops_old_timestamps() {
    let c = cfg();
    let mut h = established_with(&c, peer_syn(None, false, true));
    let ts = |v: u32| Some(Timestamp { tsval: v, tsecr: 0 });
    let mut s = seg_at(0);
    s.timestamp = ts(200);
    h.send(s, b"new");
    // An old duplicate (TSval went back) carrying other bytes: dropped, ACKed.
    let mut old = seg_at(3);
    old.timestamp = ts(150);
    let out = h.send(old, b"stale");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack(), PEER_ISS + 1 + 3);
    assert_eq!(out[0].repr.timestamp.unwrap().tsecr, 200);
    assert_eq!(h.read(), b"new");
    assert_eq!(counters(&mut h).get(Counter::PawsDrops), 1);
}

#[test]
fn rst_validation_and_challenge_acks() {
    let c = TcpConfig { challenge_ack_limit: 2, ..cfg() };
    let mut h = established(&c);
    // In the window but not exact: challenge ACK, connection kept.
    let out = h.send(peer(Flags::RST, PEER_ISS + 100, 0), b"");
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags(), out[0].ack()), (Flags::ACK, PEER_ISS + 1));
    assert_eq!(h.state(), State::Established);
    // Outside the window: silently dropped.
    assert!(h.send(peer(Flags::RST, PEER_ISS + 1_000_000, 0), b"").is_empty());
    // A SYN in ESTABLISHED, whatever its sequence number: challenge ACK.
    let out = h.send(peer(Flags::SYN, PEER_ISS + 7, 0), b"");
    assert_eq!((out.len(), out[0].flags()), (1, Flags::ACK));
    // The limit (2 per second) is reached: the next challenge is suppressed.
    assert!(h.send(peer(Flags::RST, PEER_ISS + 100, 0), b"").is_empty());
    assert_eq!(h.state(), State::Established);
    let k = counters(&mut h);
    assert_eq!((k.get(Counter::ChallengeAcks), k.get(Counter::ChallengeAcksLimited)), (2, 1));
    // A second later challenges go out again; an exact RST resets.
    h.wait(SEC);
    assert_eq!(h.send(peer(Flags::SYN, PEER_ISS + 7, 0), b"").len(), 1);
    h.send(peer(Flags::RST, PEER_ISS + 1, 0), b"");
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.events(), [Event::Reset, Event::Closed]);
}

#[test]
fn ack_of_unsent_data_is_dropped_and_answered() {
    let c = cfg();
    let mut h = established(&c);
    let out = h.send(peer(Flags::ACK, PEER_ISS + 1, ISS + 500), b"data");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack(), PEER_ISS + 1, "the data was not taken");
    assert!(h.read().is_empty());
}

/// The SACK blocks of `seg` as stream offsets from the peer's first byte.
fn blocks(seg: &Seg) -> Vec<(u32, u32)> {
    let base = PEER_ISS + 1;
    seg.repr.sack_blocks.as_slice().iter().map(|b| (b.left.0 - base, b.right.0 - base)).collect()
}

#[test]
fn sack_blocks_follow_the_most_recently_reported_order() {
    // Issue 9 item 7 (RFC 2018 §4): the first block holds the segment that
    // triggered the ACK, the others repeat the most recently reported
    // blocks. They were listed lowest first, so with timestamps (room for
    // three blocks) a middle block was reported once and then never again.
    for ts in [true, false] {
        let c = cfg();
        let mut h = established_with(&c, peer_syn(None, true, ts));
        let d = data(0, 9000);
        let last = |h: &mut Host, at: usize, len: usize| {
            let out = h.send(seg_at(at as u32), &d[at..at + len]);
            assert_eq!(out.len(), 1);
            blocks(&out[0])
        };
        assert_eq!(last(&mut h, 1000, 500), [(1000, 1500)]);
        assert_eq!(last(&mut h, 3000, 500), [(3000, 3500), (1000, 1500)]);
        assert_eq!(last(&mut h, 5000, 500), [(5000, 5500), (3000, 3500), (1000, 1500)]);
        let got = last(&mut h, 7000, 500);
        if ts {
            // 40 bytes of options: timestamps and three blocks.
            assert_eq!(got, [(7000, 7500), (5000, 5500), (3000, 3500)]);
        } else {
            assert_eq!(got, [(7000, 7500), (5000, 5500), (3000, 3500), (1000, 1500)]);
        }
        // A segment growing an older block puts that block first, the rest keep their order.
        let got = last(&mut h, 3500, 500);
        let want = [(3000, 4000), (7000, 7500), (5000, 5500), (1000, 1500)];
        assert_eq!(got, want[..got.len()], "ts {ts}");
        // In-order data reaching the lowest block: it is gone, the others keep their order.
        let out = h.send(seg_at(0), &d[..1000]);
        let out = out.last().unwrap();
        assert_eq!(out.ack(), PEER_ISS + 1 + 1500);
        assert_eq!(blocks(out), [(3000, 4000), (7000, 7500), (5000, 5500)], "ts {ts}");
    }
}
