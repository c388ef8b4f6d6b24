//! Closing: active, passive, simultaneous, TIME-WAIT re-ACK and expiry,
//! FIN-WAIT-2 timeout, half-close, reset on close with unread data.

use super::*;

#[test]
fn active_close_through_time_wait() {
    let c = cfg();
    let mut h = established(&c);
    h.close();
    assert_eq!(h.state(), State::FinWait1);
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags(), out[0].seq(), out[0].ack()), (Flags::FIN | Flags::ACK, ISS + 1, PEER_ISS + 1));
    // The FIN is acknowledged.
    assert!(h.send(peer(Flags::ACK, PEER_ISS + 1, ISS + 2), b"").is_empty());
    assert_eq!(h.state(), State::FinWait2);
    // The peer's FIN: ACK it, TIME-WAIT.
    let out = h.send(peer(Flags::FIN | Flags::ACK, PEER_ISS + 1, ISS + 2), b"");
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags(), out[0].ack()), (Flags::ACK, PEER_ISS + 2));
    assert_eq!(h.state(), State::TimeWait);
    assert_eq!(h.events(), [Event::PeerClosed]);
    // 30 s later the FIN is retransmitted (our ACK was lost): re-ACK and restart 2*MSL.
    h.wait(30 * SEC);
    let out = h.send(peer(Flags::FIN | Flags::ACK, PEER_ISS + 1, ISS + 2), b"");
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags(), out[0].ack()), (Flags::ACK, PEER_ISS + 2));
    let restarted = h.now;
    h.tick(restarted + c.time_wait - 1);
    assert_eq!(h.state(), State::TimeWait);
    h.tick(restarted + c.time_wait);
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.events(), [Event::Closed]);
}

#[test]
fn passive_close_through_last_ack() {
    let c = cfg();
    let mut h = established(&c);
    let out = h.send(peer(Flags::FIN | Flags::ACK, PEER_ISS + 1, ISS + 1), b"");
    assert_eq!(h.state(), State::CloseWait);
    assert_eq!(h.events(), [Event::PeerClosed]);
    assert_eq!((out[0].flags(), out[0].ack()), (Flags::ACK, PEER_ISS + 2));
    // We may still send in CLOSE-WAIT.
    h.write(b"bye");
    let out = h.output();
    assert_eq!(out[0].payload, b"bye");
    h.close();
    assert_eq!(h.state(), State::LastAck);
    let out = h.output();
    assert_eq!((out[0].flags(), out[0].seq()), (Flags::FIN | Flags::ACK, ISS + 4));
    h.send(peer(Flags::ACK, PEER_ISS + 2, ISS + 5), b"");
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.events(), [Event::TxSpace, Event::Closed]);
}

#[test]
fn simultaneous_close_through_closing() {
    let c = cfg();
    let mut h = established(&c);
    h.close();
    assert_eq!(h.output()[0].flags(), Flags::FIN | Flags::ACK);
    // The peer's FIN crosses ours (it does not ack our FIN).
    let out = h.send(peer(Flags::FIN | Flags::ACK, PEER_ISS + 1, ISS + 1), b"");
    assert_eq!(h.state(), State::Closing);
    assert_eq!(out[0].ack(), PEER_ISS + 2);
    h.send(peer(Flags::ACK, PEER_ISS + 2, ISS + 2), b"");
    assert_eq!(h.state(), State::TimeWait);
}

#[test]
fn fin_wait_1_to_time_wait_on_fin_ack() {
    let c = cfg();
    let mut h = established(&c);
    h.close();
    h.output();
    h.send(peer(Flags::FIN | Flags::ACK, PEER_ISS + 1, ISS + 2), b"");
    assert_eq!(h.state(), State::TimeWait);
}

#[test]
fn fin_follows_queued_data() {
    let c = cfg();
    let mut h = established(&c);
    h.write(&data(0, 2500));
    h.close();
    let out = h.output();
    let lens: Vec<usize> = out.iter().map(|s| s.payload.len()).collect();
    assert_eq!(lens, [1000, 1000, 500]);
    assert!(out[2].flags().fin() && !out[1].flags().fin());
    assert_eq!(out[2].seq(), ISS + 1 + 2000);
    // The FIN is retransmitted with the data it rides on after a timeout.
    let out = h.wait(SEC);
    assert_eq!(out[0].seq(), ISS + 1);
    h.send(peer(Flags::ACK, PEER_ISS + 1, ISS + 1 + 2000), b"");
    let out = h.wait(3 * SEC);
    let last = out.last().unwrap();
    assert!(last.flags().fin());
    assert_eq!(last.seq() + last.payload.len() as u32, ISS + 1 + 2500);
    h.send(peer(Flags::ACK, PEER_ISS + 1, ISS + 2 + 2500), b"");
    assert_eq!(h.state(), State::FinWait2);
}

#[test]
fn fin_wait_2_times_out_after_full_close() {
    let c = cfg();
    let mut h = established(&c);
    h.close();
    h.output();
    h.send(peer(Flags::ACK, PEER_ISS + 1, ISS + 2), b"");
    assert_eq!(h.state(), State::FinWait2);
    h.wait(c.fin_wait_2 - 1);
    assert_eq!(h.state(), State::FinWait2);
    h.wait(1);
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.events().last(), Some(&Event::Closed));
}

#[test]
fn half_close_keeps_receiving() {
    let c = cfg();
    let mut h = established(&c);
    h.conn.shutdown_write(h.now);
    let out = h.output();
    assert_eq!(out[0].flags(), Flags::FIN | Flags::ACK);
    h.send(peer(Flags::ACK, PEER_ISS + 1, ISS + 2), b"");
    assert_eq!(h.state(), State::FinWait2);
    // No FIN-WAIT-2 timer for a half-close: the app still reads.
    assert_eq!(h.conn.poll_timeout(), None);
    h.send(peer(Flags::ACK | Flags::PSH, PEER_ISS + 1, ISS + 2), b"still talking");
    assert_eq!(h.read(), b"still talking");
    let out = h.send(peer(Flags::FIN | Flags::ACK, PEER_ISS + 14, ISS + 2), b"");
    assert_eq!(out.last().unwrap().ack(), PEER_ISS + 15);
    assert_eq!(h.state(), State::TimeWait);
    assert_eq!(h.events(), [Event::RxData, Event::PeerClosed]);
}

#[test]
fn close_with_unread_data_resets() {
    let c = cfg();
    let mut h = established(&c);
    h.send(peer(Flags::ACK | Flags::PSH, PEER_ISS + 1, ISS + 1), b"unread");
    h.close();
    let out = h.output();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].flags(), out[0].seq()), (Flags::RST, ISS + 1));
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.events(), [Event::RxData, Event::Closed]);
}

#[test]
fn data_after_full_close_resets() {
    let c = cfg();
    let mut h = established(&c);
    h.close();
    h.output();
    h.send(peer(Flags::ACK, PEER_ISS + 1, ISS + 2), b"");
    let out = h.send(peer(Flags::ACK | Flags::PSH, PEER_ISS + 1, ISS + 2), b"late");
    assert_eq!(out.len(), 1);
    assert!(out[0].flags().rst());
    assert_eq!(h.state(), State::Closed);
}

#[test]
fn abort_sends_rst() {
    let c = cfg();
    let mut h = established(&c);
    h.conn.abort();
    let out = h.output();
    assert!(out[0].flags().rst());
    assert_eq!(h.events(), [Event::Closed]);
    assert!(h.output().is_empty());
}

#[test]
fn peer_reset_in_established() {
    let c = cfg();
    let mut h = established(&c);
    assert!(h.send(peer(Flags::RST, PEER_ISS + 1, 0), b"").is_empty());
    assert_eq!(h.state(), State::Closed);
    assert_eq!(h.events(), [Event::Reset, Event::Closed]);
}
