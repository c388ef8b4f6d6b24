//! How a worker drives connection timers through its timer wheel, and the
//! CLI snapshot.

use super::*;
use crate::timer_wheel::{TimerHandle, TimerWheel};

#[test]
fn timers_driven_through_the_wheel() {
    // One wheel entry per connection at poll_timeout(), moved when it changes.
    let c = TcpConfig { syn_retries: 2, ..cfg() };
    let mut h = Host::connect(&c, ConnOptions::new(FIFO));
    let mut wheel: TimerWheel<u32> = TimerWheel::new(MS, h.now);
    let mut armed: Option<(u64, TimerHandle)> = None;
    let mut sent = Vec::new();
    let reschedule = |h: &Host, wheel: &mut TimerWheel<u32>, armed: &mut Option<(u64, TimerHandle)>| {
        let want = h.conn.poll_timeout();
        if armed.map(|a| a.0) != want {
            if let Some((_, handle)) = armed.take() {
                wheel.cancel(handle);
            }
            *armed = want.map(|d| (d, wheel.insert(d, 7)));
        }
    };
    sent.extend(h.output().iter().map(|_| h.now - T0));
    reschedule(&h, &mut wheel, &mut armed);
    while h.state() != State::Closed {
        h.now += MS;
        wheel.advance(h.now);
        while let Some(conn_index) = wheel.pop_expired() {
            assert_eq!(conn_index, 7);
            armed = None;
            h.conn.on_timeout(h.now);
            sent.extend(h.output().iter().map(|_| h.now - T0));
        }
        reschedule(&h, &mut wheel, &mut armed);
        assert!(h.now < T0 + 60 * SEC);
    }
    assert_eq!(sent, [0, SEC, 3 * SEC]);
    assert_eq!(h.now - T0, 7 * SEC);
    assert!(wheel.is_empty() || armed.is_none());
}

#[test]
fn stats_snapshot_and_display() {
    let c = cfg();
    let mut h = established_with(&c, peer_syn(Some(2), true, false));
    h.write(&data(0, 3000));
    h.output();
    let s = h.conn.stats();
    assert_eq!(s.state, State::Established);
    assert_eq!((s.snd_una, s.snd_nxt, s.rcv_nxt), (ISS + 1, ISS + 3001, PEER_ISS + 1));
    assert_eq!((s.mss, s.wscale, s.sack, s.timestamps), (MSS, (2, 1), true, false));
    assert_eq!(s.flight, 3000);
    let text = s.to_string();
    assert!(text.starts_with("state ESTABLISHED cc cubic mss 1000 wscale 2/1 sack true ts false\n"), "{text}");
    assert!(text.contains("snd_una 1001 snd_nxt 4001"), "{text}");
    assert!(text.contains("cwnd 10000"), "{text}");
}

mod prop {
    use super::*;
    use crate::config::Keepalive;
    use proptest::prelude::*;
    use shm::types::Cc;

    /// Durations where timer arithmetic breaks: zero, one, the extremes.
    fn duration() -> impl Strategy<Value = u64> {
        prop_oneof![Just(0u64), Just(1), Just(u64::MAX), Just(u64::MAX / 2), any::<u64>(), 0u64..100 * SEC]
    }

    fn count() -> impl Strategy<Value = u32> {
        prop_oneof![Just(0u32), Just(1), Just(u32::MAX), any::<u32>(), 0u32..20]
    }

    prop_compose! {
        fn any_config()(
            mss in any::<u16>(),
            t in proptest::collection::vec(duration(), 6),
            retries in proptest::collection::vec(count(), 3),
            initial_cwnd_segments in count(),
            challenge_ack_limit in count(),
            keepalive in proptest::option::of((duration(), duration(), count())),
            cubic in any::<bool>(),
            flags in any::<[bool; 4]>(),
        ) -> TcpConfig {
            TcpConfig {
                mss,
                initial_rto: t[0],
                min_rto: t[1],
                max_rto: t[2],
                delayed_ack: t[3],
                time_wait: t[4],
                fin_wait_2: t[5],
                syn_retries: retries[0],
                synack_retries: retries[1],
                max_retransmits: retries[2],
                keepalive: keepalive.map(|(idle, interval, probes)| Keepalive { idle, interval, probes }),
                cc: if cubic { Cc::Cubic } else { Cc::NewReno },
                nagle: flags[0],
                sack: flags[1],
                window_scale: flags[2],
                timestamps: flags[3],
                initial_cwnd_segments,
                challenge_ack_limit,
            }
        }
    }

    /// What the scripted peer or the app does next.
    #[derive(Debug, Clone)]
    enum Step {
        Write(usize),
        /// The peer acknowledges everything sent, with this window.
        AckAll(u16),
        /// A duplicate of the last ACK.
        DupAck,
        /// Time passes by this much (timers fire on the way).
        Wait(u64),
        Close,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (1usize..20_000).prop_map(Step::Write),
            any::<u16>().prop_map(Step::AckAll),
            Just(Step::DupAck),
            duration().prop_map(Step::Wait),
            Just(Step::Close),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Issue 9 item 1: any config and option values (MSS 0, zero or
        /// u64::MAX timers, no retries, a zero initial window) and any peer
        /// MSS: nothing panics or overflows, no segment exceeds the send
        /// MSS, and every timer that fires leaves the next deadline in the
        /// future, so a worker can never spin on one connection.
        #[test]
        fn any_config_and_peer_mss_are_total(
            c in any_config(),
            opt_mss in proptest::option::of(any::<u16>()),
            peer_mss in proptest::option::of(any::<u16>()),
            steps in proptest::collection::vec(step(), 0..40),
        ) {
            let opts = ConnOptions { mss: opt_mss, ..ConnOptions::new(FIFO) };
            let mut h = Host::connect(&c, opts);
            let syn = h.output();
            prop_assert_eq!(syn.len(), 1);
            let adv = syn[0].repr.max_seg_size.unwrap_or(0);
            prop_assert!((crate::config::MSS_MIN..=crate::config::MSS_MAX).contains(&adv), "advertised {}", adv);
            let mut sa = peer(Flags::SYN | Flags::ACK, PEER_ISS, ISS + 1);
            sa.max_seg_size = peer_mss;
            h.send(sa, b"");
            let mut sent_to = ISS + 1;
            let mut last_ack = peer(Flags::ACK, PEER_ISS + 1, ISS + 1);
            for s in steps {
                let out = match s {
                    Step::Write(n) => {
                        h.write(&data(0, n));
                        h.output()
                    }
                    Step::AckAll(wnd) => {
                        last_ack = peer(Flags::ACK, PEER_ISS + 1, sent_to);
                        last_ack.window_len = wnd;
                        h.send(last_ack, b"")
                    }
                    Step::DupAck => h.send(last_ack, b""),
                    Step::Close => {
                        h.close();
                        h.output()
                    }
                    Step::Wait(dt) => {
                        let to = h.now.saturating_add(dt);
                        let mut out = Vec::new();
                        // At most a few dozen firings per step: enough to cross every kind of timer.
                        for _ in 0..50 {
                            let Some(d) = h.conn.poll_timeout().filter(|&d| d <= to) else { break };
                            h.now = h.now.max(d);
                            h.conn.on_timeout(h.now);
                            if let Some(next) = h.conn.poll_timeout() {
                                prop_assert!(next > h.now || h.now == u64::MAX, "timer re-armed at {next} <= now {}", h.now);
                            }
                            out.extend(h.output());
                        }
                        h.now = h.now.max(to.min(h.now.saturating_add(3600 * SEC)));
                        out
                    }
                };
                for seg in &out {
                    prop_assert!(seg.payload.len() <= h.conn.mss());
                    let end = seg.seq().wrapping_add(seg.payload.len() as u32 + u32::from(seg.flags().fin()));
                    if SeqNumber(end) > SeqNumber(sent_to) {
                        sent_to = end;
                    }
                }
                let _ = h.events();
                if h.state() == State::Closed {
                    break;
                }
            }
        }
    }
}
