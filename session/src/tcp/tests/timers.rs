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
