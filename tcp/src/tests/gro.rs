//! Receive coalescing: a connection fed trains ([`Connection::input_train`])
//! ends up where its twin fed the same segments one by one does (the same
//! bytes, ACK numbers, windows and SACK blocks), through loss, reordering,
//! duplicates and retransmissions; and the ACK policy: every second
//! full-sized segment one by one, once per train when coalesced.

use super::*;
use crate::gro::{mergeable, Segment};
use crate::stats::{Counter, Counters};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
}

/// A data segment of the scripted peer at stream offset `k` with TSval `tsval`.
fn seg(k: usize, len: usize, tsval: u32) -> TcpRepr {
    TcpRepr {
        timestamp: Some(Timestamp { tsval, tsecr: 1 }),
        payload_len: len,
        ..peer(Flags::ACK, PEER_ISS + 1 + k as u32, ISS + 1)
    }
}

/// The worker's grouping: consecutive mergeable segments form a train.
fn trains(burst: &[(TcpRepr, Vec<u8>)]) -> Vec<Vec<Segment<'_>>> {
    let mut out: Vec<Vec<Segment<'_>>> = Vec::new();
    for (r, p) in burst {
        let s = Segment { repr: r, payload: p };
        match out.last_mut() {
            Some(t) if mergeable(t.last().unwrap().repr, r) => t.push(s),
            _ => out.push(vec![s]),
        }
    }
    out
}

/// What an ACK says about the receive side.
fn ack_view(s: &Seg) -> (u32, u16, Vec<(u32, u32)>) {
    let blocks = s.repr.sack_blocks.as_slice().iter().map(|b| (b.left.0, b.right.0)).collect();
    (s.ack(), s.repr.window_len, blocks)
}

fn counters(h: &mut Host) -> Counters {
    let mut c = Counters::default();
    h.conn.flush_counters(&mut c);
    c
}

#[test]
fn trains_and_single_segments_give_the_same_bytes_acks_and_sack_blocks() {
    for seed in [1u64, 7, 42, 1234, 99_999] {
        let c = cfg();
        let syn = peer_syn(Some(2), true, true);
        let (mut one, mut many) = (established_with(&c, syn), established_with(&c, syn));
        let total = 400 * MSS as usize;
        let d = data(0, total);
        let mut rng = Rng(seed);
        let (mut next, mut tsval) = (0usize, 200u32);
        let mut lost: Vec<usize> = Vec::new();
        let (mut got_one, mut got_many) = (Vec::new(), Vec::new());
        let (mut acks_one, mut acks_many) = (Vec::new(), Vec::new());
        let mut rounds = 0;
        while got_one.len() < total {
            rounds += 1;
            assert!(rounds < 2000, "seed {seed}: no progress");
            // A burst: the retransmissions first (as after SACK), then new
            // segments; some lost, some duplicated, some swapped.
            let mut offsets: Vec<usize> = std::mem::take(&mut lost);
            while offsets.len() < 24 && next < total {
                // Now and then a short segment (a write that ended).
                let len = if rng.chance(50) { 300 } else { MSS as usize }.min(total - next);
                offsets.push(next);
                next += len;
                if len < MSS as usize && next < total {
                    // Keep offsets on the MSS grid after a short one: resend the rest next.
                    lost.push(next);
                    next += MSS as usize - len;
                }
            }
            let mut burst = Vec::new();
            for &k in &offsets {
                let len = if lost.contains(&k) { MSS as usize } else { (MSS as usize).min(total - k) };
                let len = if k + len > total { total - k } else { len };
                // Every few segments the peer's clock ticks.
                if rng.chance(200) {
                    tsval += 1;
                }
                if rng.chance(60) {
                    lost.push(k);
                    continue;
                }
                burst.push((seg(k, len, tsval), d[k..k + len].to_vec()));
                if rng.chance(30) {
                    burst.push((seg(k, len, tsval), d[k..k + len].to_vec()));
                }
            }
            for i in 1..burst.len() {
                if rng.chance(80) {
                    burst.swap(i - 1, i);
                }
            }
            // One by one, output after each (the worker drives per segment) ...
            let mut out_one = Vec::new();
            for (r, p) in &burst {
                out_one.extend(one.send(*r, p));
            }
            // ... and in trains, output after each train.
            let mut out_many = Vec::new();
            for t in trains(&burst) {
                let (rx, tx) = (many.rx.producer(), many.tx.consumer());
                many.conn.input_train(many.now, &t, &rx, &tx);
                out_many.extend(many.output());
            }
            // Then time passes (delayed ACKs fire) and the app reads.
            one.now += MS;
            many.now += MS;
            out_one.extend(one.wait(100 * MS));
            out_many.extend(many.wait(100 * MS));
            let view = |o: &[Seg]| o.last().map(ack_view);
            assert_eq!(view(&out_one), view(&out_many), "seed {seed} round {rounds}: last ACKs differ");
            assert!(out_many.len() <= out_one.len(), "seed {seed}: more ACKs coalesced than not");
            acks_one.extend(out_one.iter().map(Seg::ack));
            acks_many.extend(out_many.iter().map(Seg::ack));
            got_one.extend(one.read());
            got_many.extend(many.read());
            assert_eq!(got_one.len(), got_many.len(), "seed {seed} round {rounds}");
            if next >= total && lost.is_empty() && got_one.len() < total {
                // Everything sent; resend what the receiver still lacks.
                let mut k = got_one.len();
                while k < total {
                    lost.push(k);
                    k += MSS as usize;
                }
            }
        }
        assert!(got_one == d && got_many == d, "seed {seed}: bytes differ");
        // Every ACK number the coalescing side sent, the other sent too.
        for a in &acks_many {
            assert!(acks_one.contains(a), "seed {seed}: ack {a} only when coalesced");
        }
        let merged = counters(&mut many).get(Counter::SegmentsMerged);
        assert!(merged > 0, "seed {seed}: nothing was merged");
        assert_eq!(counters(&mut one).get(Counter::SegmentsMerged), 0);
    }
}

#[test]
fn bulk_is_acked_every_second_full_segment_and_once_per_train() {
    let c = cfg();
    let syn = peer_syn(Some(2), true, true);
    let (mut one, mut many) = (established_with(&c, syn), established_with(&c, syn));
    const N: usize = 640;
    const BURST: usize = 32;
    let seglen = MSS as usize;
    let d = data(0, N * seglen);
    let (mut acks_one, mut acks_many) = (0, 0);
    for b in 0..N / BURST {
        let burst: Vec<_> = (b * BURST..(b + 1) * BURST)
            .map(|i| (seg(i * seglen, seglen, 300 + b as u32), d[i * seglen..(i + 1) * seglen].to_vec()))
            .collect();
        for (r, p) in &burst {
            acks_one += one.send(*r, p).len();
        }
        for t in trains(&burst) {
            let (rx, tx) = (many.rx.producer(), many.tx.consumer());
            many.conn.input_train(many.now, &t, &rx, &tx);
            acks_many += many.output().len();
        }
        assert_eq!(one.read(), many.read());
    }
    assert!((N / 2 - 1..=N / 2).contains(&acks_one), "{acks_one} ACKs for {N} segments one by one");
    assert_eq!(acks_many, N / BURST, "one ACK per train");
    assert_eq!(counters(&mut many).get(Counter::SegmentsMerged), (N - N / BURST) as u64);
}

#[test]
fn small_segments_count_by_their_bytes_against_the_full_size() {
    let c = cfg();
    let mut h = established_with(&c, peer_syn(Some(2), true, true));
    let full = MSS as usize;
    let d = data(0, 10 * full);
    // One full segment: the ACK waits.
    assert!(h.send(seg(0, full, 300), &d[..full]).is_empty());
    // Then small ones: an ACK once two full segments' worth is unacknowledged.
    let mut at = full;
    assert!(h.send(seg(at, 400, 300), &d[at..at + 400]).is_empty());
    at += 400;
    assert!(h.send(seg(at, 400, 300), &d[at..at + 400]).is_empty());
    at += 400;
    let out = h.send(seg(at, 400, 300), &d[at..at + 400]);
    at += 400;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].ack(), PEER_ISS + 1 + at as u32);
    // A lone small segment waits for the delayed-ACK timer, which is bounded.
    assert!(h.send(seg(at, 100, 300), &d[at..at + 100]).is_empty());
    let out = h.wait(c.delayed_ack);
    assert_eq!(out.len(), 1, "the delayed ACK fires within its bound");
    assert_eq!(out[0].ack(), PEER_ISS + 1 + at as u32 + 100);
}
