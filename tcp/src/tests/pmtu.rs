//! Path MTU discovery: "fragmentation needed" / "packet too big" lower the
//! send MSS only for a sequence number in flight, never raise it, never go
//! under the floor, and what was in flight is sent again in the new size.

use super::*;
use crate::pmtu::{PmtuVerdict, MSS_FLOOR_V4, MSS_FLOOR_V6};
use crate::stats::{Counter, Counters};

fn at(k: u32) -> u32 {
    ISS + 1 + k
}

/// Established with a peer that offered an MSS of 1460 (a 1500-byte link).
fn established_1460() -> Host {
    let mut syn = peer_syn(None, false, false);
    syn.max_seg_size = Some(1460);
    established_with(&TcpConfig { mss: 1460, ..cfg() }, syn)
}

fn counters(h: &mut Host) -> Counters {
    let mut c = Counters::default();
    h.conn.flush_counters(&mut c);
    c
}

#[test]
fn a_report_in_flight_lowers_the_mss_and_the_data_goes_again_resegmented() {
    let mut h = established_1460();
    let mss = h.conn.mss();
    assert!(mss > 1240, "{mss}");
    let stream = data(0, 6000);
    h.write(&stream);
    let first = h.output();
    assert!(first.len() >= 2 && first[0].payload.len() == mss, "{}", first.len());
    let sent: usize = first.iter().map(|s| s.payload.len()).sum();
    // A router with a 1280-byte link quotes our second segment.
    let quoted = SeqNumber(first[1].seq());
    assert_eq!(h.conn.on_packet_too_big(quoted, 1280, 20, MSS_FLOOR_V4), PmtuVerdict::Lowered(1240));
    assert_eq!(h.conn.mss(), 1240);
    // Go back to SND.UNA in segments of the new size, no byte lost or changed.
    let again = h.output();
    assert!(!again.is_empty());
    assert_eq!(again[0].seq(), at(0));
    assert!(
        again.iter().all(|s| s.payload.len() <= 1240),
        "{:?}",
        again.iter().map(|s| s.payload.len()).collect::<Vec<_>>()
    );
    let mut got = Vec::new();
    for s in &again {
        assert_eq!(s.seq(), at(got.len() as u32));
        got.extend_from_slice(&s.payload);
    }
    assert!(got.len() >= sent.min(1240), "{}", got.len());
    assert_eq!(&got[..], &stream[..got.len()]);
    let c = counters(&mut h);
    assert_eq!(c.get(Counter::PmtuLowered), 1);
}

#[test]
fn reports_outside_the_window_or_not_lowering_are_refused_and_the_floor_holds() {
    let mut h = established_1460();
    // Nothing in flight: every sequence number is refused (RFC 5927).
    assert_eq!(h.conn.on_packet_too_big(SeqNumber(at(0)), 1280, 20, MSS_FLOOR_V4), PmtuVerdict::Refused);
    h.write(&data(0, 3000));
    let out = h.output();
    assert!(!out.is_empty());
    let before = h.conn.mss();
    // Past SND.NXT, and below SND.UNA: forged or stale.
    assert_eq!(h.conn.on_packet_too_big(SeqNumber(at(100_000)), 1280, 20, MSS_FLOOR_V4), PmtuVerdict::Refused);
    assert_eq!(h.conn.on_packet_too_big(SeqNumber(ISS), 1280, 20, MSS_FLOOR_V4), PmtuVerdict::Refused);
    assert_eq!(h.conn.mss(), before);
    // Never raised: an MTU above ours is ignored.
    assert_eq!(h.conn.on_packet_too_big(SeqNumber(at(0)), 9000, 20, MSS_FLOOR_V4), PmtuVerdict::NotLower);
    // A tiny MTU stops at the floor, and the floor is not lowered again.
    assert_eq!(h.conn.on_packet_too_big(SeqNumber(at(0)), 100, 20, MSS_FLOOR_V4), PmtuVerdict::Lowered(MSS_FLOOR_V4));
    h.output();
    assert_eq!(h.conn.on_packet_too_big(SeqNumber(at(0)), 100, 20, MSS_FLOOR_V4), PmtuVerdict::NotLower);
    let c = counters(&mut h);
    assert_eq!((c.get(Counter::PmtuRefused), c.get(Counter::PmtuNotLower), c.get(Counter::PmtuLowered)), (3, 2, 1));
}

#[test]
fn the_ipv6_floor_is_1220() {
    let mut h = established_1460();
    h.write(&data(0, 3000));
    h.output();
    assert_eq!(h.conn.on_packet_too_big(SeqNumber(at(0)), 1280, 40, MSS_FLOOR_V6), PmtuVerdict::Lowered(1220));
    h.output();
    assert_eq!(h.conn.on_packet_too_big(SeqNumber(at(0)), 600, 40, MSS_FLOOR_V6), PmtuVerdict::NotLower);
    assert_eq!(h.conn.mss(), 1220);
}
