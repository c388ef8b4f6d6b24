//! Loss: RTO with back-off and Karn's rule, giving up, fast retransmit and
//! NewReno partial ACKs without SACK, SACK-based recovery, go-back-N after
//! a timeout skipping SACKed data.

use shm::types::Cc;

use super::*;
use crate::stats::{Counter, Counters};
use wire::tcp::{SackBlock, SackBlocks};

fn newreno() -> TcpConfig {
    TcpConfig { cc: Cc::NewReno, ..cfg() }
}

/// Sequence number of byte `k` of our stream.
fn at(k: u32) -> u32 {
    ISS + 1 + k
}

fn ack(k: u32) -> TcpRepr {
    peer(Flags::ACK, PEER_ISS + 1, at(k))
}

fn sack_ack(k: u32, blocks: &[(u32, u32)]) -> TcpRepr {
    let mut r = ack(k);
    let mut s = SackBlocks::EMPTY;
    for &(l, rt) in blocks {
        s.push(SackBlock { left: SeqNumber(at(l)), right: SeqNumber(at(rt)) });
    }
    r.sack_blocks = s;
    r
}

fn counters(h: &mut Host) -> Counters {
    let mut c = Counters::default();
    h.conn.flush_counters(&mut c);
    c
}

#[test]
fn rto_backs_off_and_karn_skips_retransmitted_samples() {
    let c = cfg();
    let mut h = established(&c);
    let rto = h.conn.rto();
    assert_eq!(rto, c.min_rto); // the handshake sample was ~0
    h.write(&data(0, 1000));
    assert_eq!(h.output().len(), 1);
    let t = h.now;
    // Retransmissions at RTO, then 2 * RTO later.
    let out = h.tick(t + rto);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].seq(), out[0].payload.len()), (at(0), 1000));
    assert!(h.tick(t + 3 * rto - 1).is_empty());
    assert_eq!(h.tick(t + 3 * rto).len(), 1);
    assert_eq!(h.conn.rto(), 4 * rto);
    // The ACK of a retransmitted segment gives no RTT sample (Karn): the back-off stays.
    h.now += 50 * MS;
    h.send(ack(1000), b"");
    assert_eq!(h.conn.srtt(), 0);
    assert_eq!(h.conn.rto(), 4 * rto);
    // A fresh segment is timed and its sample clears the back-off.
    h.write(&data(1000, 1000));
    h.output();
    h.now += 80 * MS;
    h.send(ack(2000), b"");
    assert!(h.conn.srtt() > 0);
    assert_eq!(h.conn.rto(), c.min_rto);
    assert_eq!(counters(&mut h).get(Counter::RtoTimeouts), 2);
}

#[test]
fn gives_up_after_max_retransmits() {
    let c = TcpConfig { max_retransmits: 3, ..cfg() };
    let mut h = established(&c);
    h.write(&data(0, 100));
    h.output();
    let out = h.wait(100 * SEC);
    // Three retransmissions, then a reset.
    assert_eq!(out.iter().filter(|s| s.payload.len() == 100).count(), 3);
    assert!(out.last().unwrap().flags().rst());
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.events(), [Event::TimedOut, Event::Closed]);
}

#[test]
fn newreno_fast_retransmit_and_partial_ack() {
    let c = newreno();
    let mut h = established(&c);
    h.write(&data(0, 10_000));
    assert_eq!(h.output().len(), 10); // initial window: 10 segments
                                      // Segments 0 and 4 are lost; 1, 2, 3 arrive: three duplicate ACKs.
    assert!(h.send(ack(0), b"").is_empty());
    assert!(h.send(ack(0), b"").is_empty());
    let out = h.send(ack(0), b"");
    assert_eq!(out.len(), 1, "fast retransmit on the third dup ack");
    assert_eq!((out[0].seq(), out[0].payload.len()), (at(0), 1000));
    assert_eq!(h.conn.stats().ssthresh, 5000);
    assert_eq!(h.conn.cwnd(), 8000); // ssthresh + 3 segments
    assert!(h.conn.stats().in_recovery);
    // Segments 5..9 arrive: more dup ACKs inflate the window (no new data to send).
    for _ in 5..10 {
        assert!(h.send(ack(0), b"").is_empty());
    }
    assert_eq!(h.conn.cwnd(), 13_000);
    // The retransmission fills the first hole: a partial ACK up to segment 4,
    // which is retransmitted at once (RFC 6582).
    let out = h.send(ack(4000), b"");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].seq(), at(4000));
    assert!(h.conn.stats().in_recovery);
    assert_eq!(h.conn.cwnd(), 13_000 - 4000 + 1000);
    // The full ACK ends recovery with cwnd = ssthresh.
    h.send(ack(10_000), b"");
    assert!(!h.conn.stats().in_recovery);
    assert_eq!(h.conn.cwnd(), 5000);
    let k = counters(&mut h);
    assert_eq!((k.get(Counter::FastRetransmits), k.get(Counter::Retransmits), k.get(Counter::DupAcks)), (1, 2, 8));
    assert_eq!(k.get(Counter::RtoTimeouts), 0);
}

#[test]
fn sack_recovery_retransmits_only_the_holes() {
    let c = newreno();
    let mut h = established_with(&c, peer_syn(None, true, false));
    h.write(&data(0, 10_000));
    assert_eq!(h.output().len(), 10);
    // Segments 2 and 5 are lost.
    h.send(ack(1000), b"");
    h.send(ack(2000), b"");
    assert!(h.send(sack_ack(2000, &[(3000, 4000)]), b"").is_empty());
    assert!(h.send(sack_ack(2000, &[(3000, 5000)]), b"").is_empty());
    // Third dup ACK (and 3000 bytes SACKed above the hole): recovery, retransmit segment 2.
    let out = h.send(sack_ack(2000, &[(6000, 7000), (3000, 5000)]), b"");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].seq(), at(2000));
    assert!(h.send(sack_ack(2000, &[(6000, 8000), (3000, 5000)]), b"").is_empty());
    // Now 3000 bytes are SACKed above segment 5: it is lost, and the pipe has room.
    let out = h.send(sack_ack(2000, &[(6000, 9000), (3000, 5000)]), b"");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].seq(), at(5000));
    assert!(h.send(sack_ack(2000, &[(6000, 10_000), (3000, 5000)]), b"").is_empty());
    // The retransmissions arrive.
    h.send(sack_ack(5000, &[(6000, 10_000)]), b"");
    h.send(ack(10_000), b"");
    assert!(!h.conn.stats().in_recovery);
    let k = counters(&mut h);
    assert_eq!((k.get(Counter::Retransmits), k.get(Counter::FastRetransmits), k.get(Counter::RtoTimeouts)), (2, 1, 0));
    assert_eq!(h.conn.stats().sack_blocks, 0);
}

#[test]
fn rto_goes_back_n_skipping_sacked_data() {
    let c = newreno();
    let mut h = established_with(&c, peer_syn(None, true, false));
    h.write(&data(0, 5000));
    assert_eq!(h.output().len(), 5);
    // Only segment 2 arrives (one dup ACK, no recovery), then silence.
    h.send(sack_ack(0, &[(2000, 3000)]), b"");
    let out = h.wait(h.conn.rto());
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].seq(), at(0));
    assert_eq!(h.conn.cwnd(), 1000);
    // Each ACK opens the window; segment 2 is never resent.
    let out = h.send(sack_ack(1000, &[(2000, 3000)]), b"");
    let seqs: Vec<u32> = out.iter().map(|s| s.seq()).collect();
    assert_eq!(seqs, [at(1000), at(3000)]);
    let out = h.send(sack_ack(2000, &[(2000, 3000)]), b"");
    // cwnd 3000, in flight [3000, 4000): segment 4 goes out.
    assert_eq!(out.iter().map(|s| s.seq()).collect::<Vec<_>>(), [at(4000)]);
    h.send(ack(5000), b"");
    assert_eq!(h.conn.stats().flight, 0);
}

#[test]
fn rto_resends_one_segment_of_the_send_mss() {
    // Issue 9 item 6: after a timeout with a peer MSS of 500 the node resent
    // 1460 bytes (three segments); RFC 5681 §3.1: the window is one segment (SMSS).
    for cc in [Cc::Cubic, Cc::NewReno] {
        let c = TcpConfig { cc, ..TcpConfig::default() };
        let mut h = established_with(&c, TcpRepr { max_seg_size: Some(500), ..peer_syn(None, false, false) });
        h.write(&data(0, 20_000));
        let first = h.output();
        assert_eq!(first.len(), 10);
        let out = h.wait(h.conn.rto());
        assert_eq!(out.len(), 1, "{cc}: one segment after the timeout: {out:?}");
        assert_eq!((out[0].seq(), out[0].payload.len()), (at(0), 500));
        assert_eq!(h.conn.cwnd(), 500);
        // The ACK of it opens the window to two segments (slow start).
        let out = h.send(ack(500), b"");
        assert_eq!(out.iter().map(|s| s.payload.len()).collect::<Vec<_>>(), [500, 500], "{cc}");
    }
}
