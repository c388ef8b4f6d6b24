//! Sending: Nagle on and off, the peer's zero window with persist probes
//! and back-off, keepalive probes and giving up.

use super::*;
use crate::config::Keepalive;

fn ack(k: u32) -> TcpRepr {
    peer(Flags::ACK, PEER_ISS + 1, ISS + 1 + k)
}

#[test]
fn nagle_holds_small_segments_while_data_is_unacknowledged() {
    let c = cfg();
    let mut h = established(&c);
    h.write(b"first");
    assert_eq!(h.output().len(), 1, "nothing in flight: send at once");
    h.write(b"second");
    h.write(b"third");
    assert!(h.output().is_empty(), "Nagle: wait for the ACK");
    // A full segment's worth goes regardless.
    h.write(&data(0, 1000));
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload.len(), 1000);
    // The ACK releases the rest (11 queued bytes).
    let out = h.send(ack(1005), b"");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload.len(), 11);
}

#[test]
fn nagle_off_sends_small_segments_immediately() {
    let c = cfg();
    let mut h =
        Host::accept(&c, &peer_syn(None, false, false), ConnOptions { nagle: Some(false), ..ConnOptions::new(FIFO) });
    h.output();
    h.send(peer(Flags::ACK, PEER_ISS + 1, ISS + 1), b"");
    h.write(b"first");
    assert_eq!(h.output().len(), 1);
    h.write(b"second");
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload, b"second");
}

#[test]
fn zero_window_persist_probes_back_off_and_resume() {
    let c = cfg();
    let mut h = established(&c);
    let mut zero = ack(0);
    zero.window_len = 0;
    h.send(zero, b"");
    h.write(&data(0, 3000));
    assert!(h.output().is_empty(), "zero window: nothing sent");
    let rto = h.conn.rto();
    let t = h.now;
    // Probes at RTO, then 2, 4 times it; each is an old sequence number without data.
    let mut probes = Vec::new();
    let mut now = t;
    for _ in 0..200 {
        now += rto / 4;
        for s in h.tick(now) {
            assert_eq!((s.seq(), s.payload.len()), (ISS, 0));
            probes.push(now - t);
        }
        if probes.len() == 3 {
            break;
        }
    }
    assert_eq!(probes, [rto, 3 * rto, 7 * rto]);
    // A long zero window: probes back off up to the maximum RTO and stay there.
    let before = h.now;
    let out = h.tick(before + 3600 * SEC);
    assert!(out.len() < 60, "{} probes in an hour", out.len());
    let next = h.conn.poll_timeout().unwrap() - h.now;
    assert!(next <= c.max_rto && next > c.max_rto / 4, "next probe in {next}");
    // The probe's answer still shows a zero window: keep waiting.
    let mut z = ack(0);
    z.window_len = 0;
    assert!(h.send(z, b"").is_empty());
    // The window opens: data flows at once.
    let mut open = ack(0);
    open.window_len = 2000;
    let out = h.send(open, b"");
    let lens: Vec<usize> = out.iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, [1000, 1000]);
    assert_eq!(h.conn.poll_timeout(), Some(h.now + h.conn.rto()), "only the retransmission timer runs");
}

#[test]
fn keepalive_probes_and_gives_up() {
    let ka = Keepalive { idle: 60 * SEC, interval: 10 * SEC, probes: 3 };
    let c = TcpConfig { keepalive: Some(ka), ..cfg() };
    let mut h = established(&c);
    assert_eq!(h.conn.poll_timeout(), Some(h.now + ka.idle));
    // Idle: a probe (old sequence number, no data).
    let t = h.now;
    let out = h.tick(t + ka.idle);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].seq(), out[0].payload.len(), out[0].flags()), (ISS, 0, Flags::ACK));
    // An answer restarts the idle timer.
    h.send(ack(0), b"");
    assert_eq!(h.conn.poll_timeout(), Some(h.now + ka.idle));
    // Unanswered: three probes ten seconds apart, then a reset.
    let t = h.now;
    let out = h.tick(t + ka.idle + 3 * ka.interval);
    assert_eq!(out.len(), 4);
    assert!(out[..3].iter().all(|s| s.seq() == ISS && !s.flags().rst()));
    assert!(out[3].flags().rst());
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.events(), [Event::TimedOut, Event::Closed]);
}

#[test]
fn sender_respects_the_peer_window() {
    let c = cfg();
    let mut h = established(&c);
    let mut small = ack(0);
    small.window_len = 2500;
    h.send(small, b"");
    h.write(&data(0, 10_000));
    let out = h.output();
    let lens: Vec<usize> = out.iter().map(|s| s.payload.len()).collect();
    // 2500 bytes of window: two full segments; a 500-byte segment would be
    // silly (below MSS, below half the largest window seen, and not the end
    // of the data), so it waits.
    assert_eq!(lens, [1000, 1000]);
    let mut more = ack(2000);
    more.window_len = 2500;
    let out = h.send(more, b"");
    assert_eq!(out.iter().map(|s| s.seq()).collect::<Vec<_>>(), [ISS + 1 + 2000, ISS + 1 + 3000]);
}

/// A peer SYN offering `mss` and no other option.
fn syn_with_mss(mss: Option<u16>) -> TcpRepr {
    TcpRepr { max_seg_size: mss, ..peer_syn(None, false, false) }
}

#[test]
fn initial_window_is_ten_segments_of_the_send_mss() {
    // Issue 9 item 6: with the node's MSS at 1460 and the peer's at 536,
    // the first flight was 27 segments (10 * 1460 bytes); RFC 6928 and
    // Linux send 10 segments of the MSS actually used.
    let c = TcpConfig::default();
    for (peer_mss, want) in [(Some(536), 536), (None, 536), (Some(1000), 1000), (Some(9000), 1460)] {
        for cc in [shm::types::Cc::Cubic, shm::types::Cc::NewReno] {
            let c = TcpConfig { cc, ..c.clone() };
            let mut h = established_with(&c, syn_with_mss(peer_mss));
            assert_eq!(h.conn.mss(), want);
            h.write(&data(0, 60_000));
            let out = h.output();
            assert!(out.iter().all(|s| s.payload.len() == want), "{peer_mss:?}: segments of {want} bytes");
            assert_eq!(out.len(), 10, "peer MSS {peer_mss:?}, {cc}: initial flight");
            assert_eq!(h.conn.cwnd(), 10 * want as u32);
        }
    }
}
