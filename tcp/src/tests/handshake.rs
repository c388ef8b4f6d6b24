//! Opening: passive, active, simultaneous; SYN and SYN-ACK retransmission
//! with back-off and giving up; RST and bad ACKs in SYN-SENT.

use super::*;
use crate::connection::ConnectError;

#[test]
fn passive_open_answers_with_syn_ack_and_establishes() {
    let c = cfg();
    let syn = peer_syn(Some(7), true, true);
    let mut h = Host::accept(&c, &syn, ConnOptions::new(FIFO));
    assert_eq!(h.state(), State::SynReceived);
    let out = h.output();
    assert_eq!(out.len(), 1);
    let sa = &out[0].repr;
    assert_eq!(sa.flags, Flags::SYN | Flags::ACK);
    assert_eq!((sa.seq_number.0, sa.ack_number.0), (ISS, PEER_ISS + 1));
    assert_eq!(sa.max_seg_size, Some(MSS));
    assert_eq!(sa.window_scale, Some(1)); // 64 KiB fifo needs one shift
    assert!(sa.sack_permitted);
    assert_eq!(sa.timestamp.unwrap().tsecr, 100);
    assert_eq!(sa.window_len, 65535);
    // The ACK completes the handshake.
    let mut ack = peer(Flags::ACK, PEER_ISS + 1, ISS + 1);
    ack.timestamp = Some(Timestamp { tsval: 101, tsecr: sa.timestamp.unwrap().tsval });
    assert!(h.send(ack, b"").is_empty());
    assert_eq!(h.state(), State::Established);
    assert_eq!(h.events(), [Event::Established]);
    let n = h.conn.negotiated();
    assert_eq!((n.snd_mss, n.snd_wscale, n.rcv_wscale, n.sack, n.timestamps), (MSS, 7, 1, true, true));
    // Data flows with the agreed options.
    h.write(b"hello");
    let out = h.output();
    assert_eq!(out[0].payload, b"hello");
    assert!(out[0].repr.timestamp.is_some());
    assert_eq!(out[0].repr.window_len, 32768); // 64 KiB >> 1
}

#[test]
fn active_open_sends_syn_and_establishes_on_syn_ack() {
    let c = cfg();
    let mut h = Host::connect(&c, ConnOptions::new(FIFO));
    assert_eq!(h.state(), State::SynSent);
    let out = h.output();
    assert_eq!(out.len(), 1);
    let syn = &out[0].repr;
    assert_eq!((syn.flags, syn.seq_number.0), (Flags::SYN, ISS));
    assert!(syn.max_seg_size.is_some() && syn.window_scale.is_some() && syn.sack_permitted && syn.timestamp.is_some());
    assert_eq!(syn.timestamp.unwrap().tsecr, 0);
    h.now += 30 * MS;
    let mut sa = peer(Flags::SYN | Flags::ACK, PEER_ISS, ISS + 1);
    sa.max_seg_size = Some(MSS);
    let out = h.send(sa, b"");
    assert_eq!(h.state(), State::Established);
    assert_eq!(h.events(), [Event::Established]);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags(), out[0].seq(), out[0].ack()), (Flags::ACK, ISS + 1, PEER_ISS + 1));
    // The peer offered no options: none are used.
    assert!(out[0].repr.timestamp.is_none());
    let n = h.conn.negotiated();
    assert!(!n.sack && !n.timestamps && n.snd_wscale == 0 && n.rcv_wscale == 0);
    // The handshake gave the first RTT sample (the SYN was not retransmitted).
    assert_eq!(h.conn.srtt(), 30 * MS);
}

#[test]
fn simultaneous_open() {
    let c = cfg();
    let mut h = Host::connect(&c, ConnOptions::new(FIFO));
    assert_eq!(h.output()[0].flags(), Flags::SYN);
    // The peer's SYN crosses ours.
    let out = h.send(peer_syn(None, false, false), b"");
    assert_eq!(h.state(), State::SynReceived);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags(), out[0].seq(), out[0].ack()), (Flags::SYN | Flags::ACK, ISS, PEER_ISS + 1));
    // Then its SYN-ACK (acking our SYN) arrives.
    let out = h.send(peer(Flags::SYN | Flags::ACK, PEER_ISS, ISS + 1), b"");
    assert_eq!(h.state(), State::Established);
    assert_eq!(h.events(), [Event::Established]);
    assert!(out.is_empty(), "{out:?}");
    h.write(b"x");
    assert_eq!(h.output()[0].seq(), ISS + 1);
}

#[test]
fn syn_retransmits_with_backoff_then_gives_up() {
    let c = TcpConfig { syn_retries: 3, ..cfg() };
    let mut h = Host::connect(&c, ConnOptions::new(FIFO));
    assert_eq!(h.output().len(), 1);
    let mut sent_at = Vec::new();
    for _ in 0..200 {
        let out = h.wait(100 * MS);
        for s in &out {
            assert_eq!((s.flags(), s.seq()), (Flags::SYN, ISS));
            sent_at.push((h.now - T0) / MS);
        }
        if h.state() == State::Closed {
            break;
        }
    }
    // RTO 1 s doubling: retransmissions at 1, 3 and 7 s, giving up at 15 s.
    assert_eq!(sent_at, [1000, 3000, 7000]);
    assert_eq!(h.events(), [Event::ConnectFailed(ConnectError::Timeout), Event::Closed]);
    assert_eq!((h.now - T0) / MS, 15000);
}

#[test]
fn syn_ack_retransmits_then_gives_up_and_dup_syn_resends() {
    let c = TcpConfig { synack_retries: 2, ..cfg() };
    let mut h = Host::accept(&c, &peer_syn(None, false, false), ConnOptions::new(FIFO));
    assert_eq!(h.output().len(), 1);
    // A retransmitted SYN is answered with the SYN-ACK again.
    let out = h.send(peer_syn(None, false, false), b"");
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags(), out[0].seq()), (Flags::SYN | Flags::ACK, ISS));
    let out = h.tick(T0 + SEC);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].flags(), Flags::SYN | Flags::ACK);
    assert!(h.tick(T0 + 3 * SEC - 1).is_empty());
    assert_eq!(h.tick(T0 + 3 * SEC).len(), 1);
    h.tick(T0 + 7 * SEC);
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.events(), [Event::TimedOut, Event::Closed]);
}

#[test]
fn syn_sent_accepts_rst_only_if_it_acks_our_syn() {
    let c = cfg();
    let mut h = Host::connect(&c, ConnOptions::new(FIFO));
    h.output();
    // RST without ACK: ignored.
    assert!(h.send(peer(Flags::RST, PEER_ISS, 0), b"").is_empty());
    assert_eq!(h.state(), State::SynSent);
    // RST with an ACK that is not for our SYN: ignored, and never answered.
    assert!(h.send(peer(Flags::RST | Flags::ACK, PEER_ISS, ISS + 7), b"").is_empty());
    assert_eq!(h.state(), State::SynSent);
    assert!(h.events().is_empty());
    // RST acking our SYN: connection refused.
    assert!(h.send(peer(Flags::RST | Flags::ACK, 0, ISS + 1), b"").is_empty());
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.events(), [Event::ConnectFailed(ConnectError::Refused), Event::Closed]);
}

#[test]
fn syn_sent_resets_a_bad_ack() {
    let c = cfg();
    let mut h = Host::connect(&c, ConnOptions::new(FIFO));
    h.output();
    let out = h.send(peer(Flags::SYN | Flags::ACK, PEER_ISS, ISS + 100), b"");
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags(), out[0].seq()), (Flags::RST, ISS + 100));
    assert_eq!(h.state(), State::SynSent);
}

#[test]
fn syn_received_resets_a_bad_ack_and_closes_on_rst() {
    let c = cfg();
    let mut h = Host::accept(&c, &peer_syn(None, false, false), ConnOptions::new(FIFO));
    h.output();
    let out = h.send(peer(Flags::ACK, PEER_ISS + 1, ISS + 50), b"");
    assert_eq!((out[0].flags(), out[0].seq()), (Flags::RST, ISS + 50));
    assert_eq!(h.state(), State::SynReceived);
    h.send(peer(Flags::RST, PEER_ISS + 1, 0), b"");
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.events(), [Event::Reset, Event::Closed]);
}

#[test]
fn close_before_established_sends_fin_after_handshake() {
    let c = cfg();
    let mut h = Host::accept(&c, &peer_syn(None, false, false), ConnOptions::new(FIFO));
    h.output();
    h.close();
    assert_eq!(h.state(), State::SynReceived);
    let out = h.send(peer(Flags::ACK, PEER_ISS + 1, ISS + 1), b"");
    assert_eq!(h.state(), State::FinWait1);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags(), out[0].seq()), (Flags::FIN | Flags::ACK, ISS + 1));
}

#[test]
fn only_the_segment_completing_the_handshake_is_announced() {
    // Issue 9 item 10: the worker gave a half-open connection its session
    // (a fifo pair) for any ACK, before the connection had judged it; an
    // ACK that did not complete the handshake (wrong ACK number, old
    // timestamp, outside the window) left a SYN-RECEIVED connection
    // holding fifos. `completes_handshake` answers first, without changing anything.
    let c = cfg();
    let mut h = Host::accept(&c, &peer_syn(None, false, true), ConnOptions::new(FIFO));
    let sa = h.output().remove(0).repr;
    let tsecr = sa.timestamp.unwrap().tsval;
    let ts = |tsval| Some(Timestamp { tsval, tsecr });
    let good = TcpRepr { timestamp: ts(101), ..peer(Flags::ACK, PEER_ISS + 1, ISS + 1) };
    let bad = [
        TcpRepr { ack_number: SeqNumber(ISS + 7), ..good },
        TcpRepr { ack_number: SeqNumber(ISS), ..good },
        TcpRepr { timestamp: ts(99), ..good },
        TcpRepr { seq_number: SeqNumber(PEER_ISS + 1 + 70_000), ..good },
        TcpRepr { flags: Flags::ACK | Flags::RST, ..good },
        TcpRepr { flags: Flags::ACK | Flags::SYN, ..good },
        TcpRepr { flags: Flags::FIN, ..good },
        TcpRepr { flags: Flags::SYN, seq_number: SeqNumber(PEER_ISS), ..good },
    ];
    for seg in bad {
        assert!(!h.conn.completes_handshake(h.now, &seg, 0), "{seg}");
    }
    assert!(h.conn.completes_handshake(h.now, &good, 0));
    assert!(h.conn.completes_handshake(h.now, &TcpRepr { flags: Flags::ACK | Flags::FIN, ..good }, 0));
    // The bad ones change nothing that matters: still half-open, and the good one still completes.
    h.send(bad[0], b"");
    assert_eq!(h.state(), State::SynReceived);
    assert!(h.conn.completes_handshake(h.now, &good, 0));
    h.send(good, b"hello");
    assert_eq!(h.state(), State::Established);
    assert!(!h.conn.completes_handshake(h.now, &good, 0), "only SYN-RECEIVED connections await a session");
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn near(base: u32) -> impl Strategy<Value = u32> {
        prop_oneof![(0u32..4).prop_map(move |d| base.wrapping_add(d)), Just(base.wrapping_sub(1)), any::<u32>()]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// `completes_handshake` agrees with `input`, for any segment
        /// (flags, numbers, timestamps, data) after any first segment.
        #[test]
        fn completes_handshake_predicts_input(
            options in any::<[bool; 2]>(),
            segs in proptest::collection::vec(
                (any::<u8>(), near(PEER_ISS + 1), near(ISS + 1), proptest::option::of(95u32..105), 0usize..3000, any::<u16>()),
                1..3,
            ),
        ) {
            let c = cfg();
            let mut h = Host::accept(&c, &peer_syn(None, options[0], options[1]), ConnOptions::new(FIFO));
            let sa = h.output().remove(0).repr;
            let tsecr = sa.timestamp.map_or(0, |t| t.tsval);
            for (flags, seq, ack, tsval, len, window_len) in segs {
                let f = Flags(u16::from(flags) & 0x3f);
                let seg = TcpRepr {
                    timestamp: tsval.map(|tsval| Timestamp { tsval, tsecr }),
                    window_len,
                    payload_len: len,
                    ..peer(f, seq, ack)
                };
                let was_half_open = h.state() == State::SynReceived;
                let predicted = h.conn.completes_handshake(h.now, &seg, len);
                h.send(seg, &data(0, len));
                let established = h.state().is_synchronized();
                if was_half_open {
                    prop_assert_eq!(predicted, established, "{} {:?}", seg, h.conn.stats());
                } else {
                    prop_assert!(!predicted);
                }
                h.now += MS;
            }
        }
    }
}
