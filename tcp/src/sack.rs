//! Selective acknowledgments (RFC 2018) and SACK-based loss recovery
//! (RFC 6675).
//!
//! Sending side: [`Scoreboard`] remembers which bytes above `snd_una` the
//! peer has SACKed, in a fixed array of disjoint sorted blocks (bounded:
//! when full, the highest block is forgotten, which only makes recovery
//! retransmit more). From it the connection asks `IsLost`, the pipe
//! estimate and `NextSeg`'s first lost hole.
//!
//! Receiving side: [`receiver_blocks`] turns the rx fifo's out-of-order runs
//! into the SACK blocks of our ACKs, the block holding the most recently
//! received segment first, then the blocks of the previous ACK in the
//! order they were reported (RFC 2018 §4).

use wire::tcp::{SackBlock, SackBlocks, SeqNumber};

use shm::fifo::OooSegment;

/// Blocks the scoreboard holds at most.
pub const SCOREBOARD_BLOCKS: usize = 16;
/// RFC 6675's DupThresh.
pub const DUP_THRESH: u32 = 3;

/// SACKed ranges above `snd_una`, sorted, disjoint, not touching.
#[derive(Debug, Clone, Default)]
pub struct Scoreboard {
    len: usize,
    blocks: [(SeqNumber, SeqNumber); SCOREBOARD_BLOCKS],
}

impl Scoreboard {
    /// Number of blocks held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is SACKed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The blocks, lowest first.
    pub fn blocks(&self) -> &[(SeqNumber, SeqNumber)] {
        &self.blocks[..self.len]
    }

    /// Forgets everything (e.g. when the peer may have reneged).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Adds the blocks of an ACK, clipped to `(snd_una, snd_max]`; blocks
    /// below `snd_una` (D-SACK) or beyond what was sent are ignored.
    pub fn update(&mut self, sack: &SackBlocks, snd_una: SeqNumber, snd_max: SeqNumber) {
        for b in sack.as_slice() {
            let left = b.left.max(snd_una);
            let right = b.right.min(snd_max);
            if left < right && b.left < b.right {
                self.insert(left, right);
            }
        }
    }

    fn insert(&mut self, left: SeqNumber, right: SeqNumber) {
        let n = self.len;
        let first = (0..n).position(|k| self.blocks[k].1 >= left).unwrap_or(n);
        let past = (first..n).position(|k| self.blocks[k].0 > right).map_or(n, |p| first + p);
        if first == past {
            if n == SCOREBOARD_BLOCKS {
                if first == n {
                    return; // above everything held and no room: forget it
                }
                self.len -= 1; // drop the highest block to make room
            }
            self.blocks.copy_within(first..self.len, first + 1);
            self.blocks[first] = (left, right);
            self.len += 1;
        } else {
            let lo = left.min(self.blocks[first].0);
            let hi = right.max(self.blocks[past - 1].1);
            self.blocks.copy_within(past..n, first + 1);
            self.blocks[first] = (lo, hi);
            self.len = n - (past - first) + 1;
        }
    }

    /// Drops what `snd_una` has passed.
    pub fn remove_below(&mut self, snd_una: SeqNumber) {
        let keep_from = (0..self.len).position(|k| self.blocks[k].1 > snd_una).unwrap_or(self.len);
        self.blocks.copy_within(keep_from..self.len, 0);
        self.len -= keep_from;
        if self.len > 0 && self.blocks[0].0 < snd_una {
            self.blocks[0].0 = snd_una;
        }
    }

    /// Total SACKed bytes.
    pub fn sacked_bytes(&self) -> u32 {
        self.blocks().iter().map(|b| b.1.since(b.0)).sum()
    }

    /// SACKed bytes inside `[a, b)`.
    pub fn sacked_in(&self, a: SeqNumber, b: SeqNumber) -> u32 {
        self.blocks().iter().map(|&(l, r)| r.min(b).since(l.max(a))).sum()
    }

    /// Everything below the returned sequence number that is not SACKed
    /// counts as lost (RFC 6675 `IsLost`: more than `(DupThresh - 1) * MSS`
    /// bytes or `DupThresh` blocks SACKed above it); `None` if nothing is.
    pub fn lost_boundary(&self, mss: u32) -> Option<SeqNumber> {
        let mut bytes = 0;
        for (count, &(l, r)) in self.blocks().iter().rev().enumerate() {
            bytes += r.since(l);
            if bytes > (DUP_THRESH - 1) * mss || count as u32 + 1 >= DUP_THRESH {
                return Some(l);
            }
        }
        None
    }

    /// Whether `seq` counts as lost.
    pub fn is_lost(&self, seq: SeqNumber, mss: u32) -> bool {
        self.lost_boundary(mss).is_some_and(|b| seq < b) && !self.is_sacked(seq)
    }

    /// Whether `seq` is inside a SACKed block.
    pub fn is_sacked(&self, seq: SeqNumber) -> bool {
        self.blocks().iter().any(|&(l, r)| l <= seq && seq < r)
    }

    /// `seq`, moved past the SACKed block it falls in, if any.
    pub fn skip_sacked(&self, seq: SeqNumber) -> SeqNumber {
        self.blocks().iter().find(|&&(l, r)| l <= seq && seq < r).map_or(seq, |b| b.1)
    }

    /// The left edge of the first SACKed block above `seq`.
    pub fn next_sacked_after(&self, seq: SeqNumber) -> Option<SeqNumber> {
        self.blocks().iter().find(|b| b.0 > seq).map(|b| b.0)
    }

    /// The first lost, not yet retransmitted hole at or after `from`
    /// (RFC 6675 `NextSeg` rule 1): `[start, end)`.
    pub fn next_lost_hole(&self, from: SeqNumber, mss: u32) -> Option<(SeqNumber, SeqNumber)> {
        let boundary = self.lost_boundary(mss)?;
        let start = self.skip_sacked(from);
        if start >= boundary {
            return None;
        }
        let end = self.next_sacked_after(start).unwrap_or(boundary).min(boundary);
        Some((start, end))
    }

    /// RFC 6675 `SetPipe`: bytes believed in the network, i.e. those neither
    /// SACKed nor lost, plus lost ones already retransmitted (below `high_rxt`).
    pub fn pipe(&self, snd_una: SeqNumber, snd_max: SeqNumber, high_rxt: SeqNumber, mss: u32) -> u32 {
        let outstanding = snd_max.since(snd_una) - self.sacked_in(snd_una, snd_max);
        match self.lost_boundary(mss) {
            Some(b) => {
                let lost_from = high_rxt.max(snd_una);
                let lost_unsent = b.since(lost_from) - self.sacked_in(lost_from, b.max(lost_from));
                outstanding - lost_unsent.min(outstanding)
            }
            None => outstanding,
        }
    }
}

/// SACK blocks for an ACK (RFC 2018 §4), from the fifo's out-of-order runs
/// (offsets from `rcv_nxt`): first the run holding `recent` (the segment
/// that triggered this ACK), then the runs of the blocks reported last
/// time (`previous`, in their order), then any other runs, lowest first.
/// So every block is repeated in most-recently-reported order and a block
/// is not forgotten after one report while newer ones arrive. One pass
/// over the runs; nothing is allocated.
pub fn receiver_blocks(
    rcv_nxt: SeqNumber,
    runs: impl Iterator<Item = OooSegment>,
    recent: Option<SeqNumber>,
    previous: &SackBlocks,
) -> SackBlocks {
    const N: usize = wire::tcp::MAX_SACK_BLOCKS;
    let previous = previous.as_slice();
    let mut first = None;
    // Runs that hold a previously reported block, with that block's rank.
    let mut repeated: [(usize, SackBlock); N] = [(0, SackBlock { left: SeqNumber(0), right: SeqNumber(0) }); N];
    let mut n_repeated = 0;
    let mut others = SackBlocks::EMPTY;
    for s in runs {
        let b = SackBlock { left: rcv_nxt + s.offset, right: rcv_nxt + s.offset + s.len };
        if first.is_none() && recent.is_some_and(|r| b.left <= r && r < b.right) {
            first = Some(b);
            continue;
        }
        // Runs only grow and merge, so a block reported before lies in the run that holds it now.
        let rank = previous.iter().position(|p| b.left < p.right && p.left < b.right);
        match rank {
            Some(rank) if n_repeated < N => {
                repeated[n_repeated] = (rank, b);
                n_repeated += 1;
            }
            _ => {
                others.push(b);
            }
        }
    }
    let repeated = &mut repeated[..n_repeated];
    repeated.sort_unstable_by_key(|&(rank, _)| rank);
    let mut out = SackBlocks::EMPTY;
    for b in first.into_iter().chain(repeated.iter().map(|&(_, b)| b)).chain(others.as_slice().iter().copied()) {
        if !out.push(b) {
            break;
        }
    }
    out
}

#[cfg(test)]
mod test {
    use super::*;

    const MSS: u32 = 100;

    fn sack(blocks: &[(u32, u32)]) -> SackBlocks {
        let mut s = SackBlocks::EMPTY;
        for &(l, r) in blocks {
            s.push(SackBlock { left: SeqNumber(l), right: SeqNumber(r) });
        }
        s
    }

    fn seqs(sb: &Scoreboard) -> Vec<(u32, u32)> {
        sb.blocks().iter().map(|b| (b.0 .0, b.1 .0)).collect()
    }

    #[test]
    fn update_merges_clips_and_ignores_dsack() {
        let mut sb = Scoreboard::default();
        let (una, max) = (SeqNumber(1000), SeqNumber(2000));
        sb.update(&sack(&[(1200, 1300), (1500, 1600)]), una, max);
        sb.update(&sack(&[(1300, 1400), (900, 950), (1900, 2500)]), una, max);
        assert_eq!(seqs(&sb), [(1200, 1400), (1500, 1600), (1900, 2000)]);
        sb.update(&sack(&[(1350, 1550)]), una, max);
        assert_eq!(seqs(&sb), [(1200, 1600), (1900, 2000)]);
        assert_eq!(sb.sacked_bytes(), 500);
        sb.remove_below(SeqNumber(1250));
        assert_eq!(seqs(&sb), [(1250, 1600), (1900, 2000)]);
        sb.remove_below(SeqNumber(1700));
        assert_eq!(seqs(&sb), [(1900, 2000)]);
    }

    #[test]
    fn bounded_when_full() {
        let mut sb = Scoreboard::default();
        let (una, max) = (SeqNumber(0), SeqNumber(100_000));
        for k in 0..(SCOREBOARD_BLOCKS as u32 + 4) {
            sb.update(&sack(&[(1000 * k + 500, 1000 * k + 600)]), una, max);
        }
        assert_eq!(sb.len(), SCOREBOARD_BLOCKS);
        // A block below the others still gets in, pushing out the highest.
        sb.update(&sack(&[(100, 200)]), una, max);
        assert_eq!(sb.blocks()[0], (SeqNumber(100), SeqNumber(200)));
        assert_eq!(sb.len(), SCOREBOARD_BLOCKS);
    }

    #[test]
    fn is_lost_needs_three_segments_above() {
        let mut sb = Scoreboard::default();
        let (una, max) = (SeqNumber(0), SeqNumber(1000));
        sb.update(&sack(&[(100, 300)]), una, max);
        assert!(!sb.is_lost(SeqNumber(0), MSS));
        sb.update(&sack(&[(300, 301)]), una, max);
        assert!(sb.is_lost(SeqNumber(0), MSS));
        assert!(!sb.is_lost(SeqNumber(150), MSS));
        // Three separate blocks are enough even if small.
        let mut sb = Scoreboard::default();
        sb.update(&sack(&[(100, 110), (200, 210), (300, 310)]), una, max);
        assert_eq!(sb.lost_boundary(MSS), Some(SeqNumber(100)));
        assert!(sb.is_lost(SeqNumber(50), MSS));
    }

    #[test]
    fn next_lost_hole_and_pipe() {
        let mut sb = Scoreboard::default();
        let (una, max) = (SeqNumber(0), SeqNumber(1000));
        // Holes [0,100) and [200,300); SACKed [100,200) and [300,600); [600,1000) in flight.
        sb.update(&sack(&[(100, 200), (300, 600)]), una, max);
        // 300 bytes SACKed above 300 > 2 * MSS: both holes below it are lost.
        assert_eq!(sb.lost_boundary(MSS), Some(SeqNumber(300)));
        assert_eq!(sb.next_lost_hole(una, MSS), Some((SeqNumber(0), SeqNumber(100))));
        // Pipe: 1000 outstanding - 400 SACKed - 200 lost = 400.
        assert_eq!(sb.pipe(una, max, una, MSS), 400);
        // Retransmitted bytes are in flight again.
        assert_eq!(sb.pipe(una, max, SeqNumber(100), MSS), 500);
        assert_eq!(sb.next_lost_hole(SeqNumber(100), MSS), Some((SeqNumber(200), SeqNumber(300))));
        assert_eq!(sb.pipe(una, max, SeqNumber(300), MSS), 600);
        assert_eq!(sb.next_lost_hole(SeqNumber(300), MSS), None);
        assert_eq!(sb.skip_sacked(SeqNumber(350)), SeqNumber(600));
        assert_eq!(sb.next_sacked_after(SeqNumber(350)), None);
        sb.update(&sack(&[(700, 900)]), una, max);
        assert_eq!(sb.next_sacked_after(SeqNumber(350)), Some(SeqNumber(700)));
        // [600,700) has only 200 bytes SACKed above: not lost yet.
        assert_eq!(sb.lost_boundary(MSS), Some(SeqNumber(300)));
        assert!(!sb.is_lost(SeqNumber(650), MSS));
    }

    #[test]
    fn receiver_blocks_most_recent_first() {
        let runs = [
            OooSegment { offset: 100, len: 50 },
            OooSegment { offset: 300, len: 10 },
            OooSegment { offset: 500, len: 1 },
        ];
        let none = SackBlocks::EMPTY;
        let b = receiver_blocks(SeqNumber(1000), runs.iter().copied(), Some(SeqNumber(1305)), &none);
        let got: Vec<(u32, u32)> = b.as_slice().iter().map(|b| (b.left.0, b.right.0)).collect();
        assert_eq!(got, [(1300, 1310), (1100, 1150), (1500, 1501)]);
        let b = receiver_blocks(SeqNumber(1000), runs.iter().copied(), None, &none);
        assert_eq!(b.as_slice()[0].left, SeqNumber(1100));
        assert!(receiver_blocks(SeqNumber(0), [].iter().copied(), None, &none).is_empty());
    }
}
