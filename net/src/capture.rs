//! Packet capture on a worker (`pcap trace`): frames copied, up to a
//! snap length, into buffers the main thread preallocated.
//!
//! A [`Capture`] belongs to one worker's device. While it is off it holds no
//! memory and the device reads one flag per burst ([`Capture::rx_on`],
//! [`Capture::tx_on`]); a drop reads [`Capture::drop_on`] only on the drop
//! path. While it is on, every captured frame is a [`Record`] (time,
//! interface, direction, drop reason) plus its bytes appended to one byte
//! buffer, both with their capacity reserved up front, so capturing costs a
//! copy and no allocation, lock or system call. When either is full the
//! capture stops taking frames (counted in [`CaptureStats::missed`]). The
//! main thread swaps a fresh `Capture` in and takes the old one out by RPC;
//! it writes the file (the binary's `pcap` module).

/// Which frames a capture takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureSpec {
    /// Frames as received from the port, before L2/L3 input.
    pub rx: bool,
    /// Frames as handed to the port's tx burst.
    pub tx: bool,
    /// Frames the node drops with a counted reason.
    pub drop: bool,
    /// Only this interface (index in the interface table); `None`: every one.
    pub iface: Option<usize>,
    /// Frames per worker at most.
    pub max: usize,
    /// Bytes kept of each frame at most (the rest is cut, its length kept).
    pub snaplen: usize,
}

/// Which way a captured frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Received.
    Rx,
    /// Transmitted.
    Tx,
    /// Received and dropped (with a reason).
    Drop,
}

/// One captured frame; its bytes are `data[start..start + len]` of the
/// capture that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// The worker loop's time, ns since the node's clock epoch
    /// ([`crate::control::worker::now_ns`]).
    pub time_ns: u64,
    /// Interface index.
    pub iface: u16,
    /// Which way it went.
    pub dir: Direction,
    /// The frame's full length.
    pub orig_len: u32,
    /// Where its captured bytes start in the byte buffer.
    pub start: u32,
    /// Bytes captured (at most the snap length).
    pub len: u32,
    /// Why it was dropped (the drop counter's name); empty unless [`Direction::Drop`].
    pub reason: &'static str,
}

/// What a capture took so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Received frames captured.
    pub rx: u64,
    /// Transmitted frames captured.
    pub tx: u64,
    /// Dropped frames captured.
    pub drop: u64,
    /// Frames that matched but found the buffer full.
    pub missed: u64,
}

/// One worker's capture: the spec and the preallocated buffers.
#[derive(Debug, Default)]
pub struct Capture {
    rx: bool,
    tx: bool,
    drop: bool,
    iface: Option<usize>,
    snaplen: usize,
    records: Vec<Record>,
    data: Vec<u8>,
    stats: CaptureStats,
}

impl Capture {
    /// A capture that takes nothing and holds no memory.
    pub const fn off() -> Capture {
        Capture {
            rx: false,
            tx: false,
            drop: false,
            iface: None,
            snaplen: 0,
            records: Vec::new(),
            data: Vec::new(),
            stats: CaptureStats { rx: 0, tx: 0, drop: 0, missed: 0 },
        }
    }

    /// A capture of what `spec` names, with room for `spec.max` frames of
    /// `spec.snaplen` bytes reserved now (make it off the data path).
    pub fn new(spec: &CaptureSpec) -> Capture {
        Capture {
            rx: spec.rx,
            tx: spec.tx,
            drop: spec.drop,
            iface: spec.iface,
            snaplen: spec.snaplen,
            records: Vec::with_capacity(spec.max),
            data: Vec::with_capacity(spec.max.saturating_mul(spec.snaplen)),
            stats: CaptureStats::default(),
        }
    }

    /// Whether received frames are captured (read once per rx burst).
    #[inline]
    pub fn rx_on(&self) -> bool {
        self.rx
    }

    /// Whether transmitted frames are captured (read once per tx burst).
    #[inline]
    pub fn tx_on(&self) -> bool {
        self.tx
    }

    /// Whether dropped frames are captured (read on the drop path).
    #[inline]
    pub fn drop_on(&self) -> bool {
        self.drop
    }

    /// Whether any direction is captured.
    pub fn is_on(&self) -> bool {
        self.rx || self.tx || self.drop
    }

    /// What was taken so far.
    pub fn stats(&self) -> CaptureStats {
        self.stats
    }

    /// The captured frames, in the order they were taken.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The captured bytes of `r` (a record of this capture).
    pub fn frame(&self, r: &Record) -> &[u8] {
        let start = r.start as usize;
        self.data.get(start..start + r.len as usize).unwrap_or(&[])
    }

    /// Take `frame`, seen on `iface` at `time_ns` going `dir` (`reason`:
    /// the drop's, else empty), if the capture is on for it and has room.
    /// Never allocates: past the reserved room the frame is only counted.
    #[inline]
    pub fn take(&mut self, time_ns: u64, iface: usize, dir: Direction, frame: &[u8], reason: &'static str) {
        self.take_parts(time_ns, iface, dir, &[frame], reason)
    }

    /// [`Capture::take`] for a frame in pieces (a chain's segments): the
    /// record holds the whole frame (up to the snap length).
    pub fn take_parts(&mut self, time_ns: u64, iface: usize, dir: Direction, parts: &[&[u8]], reason: &'static str) {
        let on = match dir {
            Direction::Rx => self.rx,
            Direction::Tx => self.tx,
            Direction::Drop => self.drop,
        };
        if !on || self.iface.is_some_and(|i| i != iface) {
            return;
        }
        let orig: usize = parts.iter().map(|p| p.len()).sum();
        let len = orig.min(self.snaplen);
        if self.records.len() == self.records.capacity() || self.data.capacity() - self.data.len() < len {
            self.stats.missed += 1;
            return;
        }
        let start = self.data.len();
        let mut left = len;
        for p in parts {
            let n = p.len().min(left);
            self.data.extend_from_slice(&p[..n]);
            left -= n;
        }
        self.records.push(Record {
            time_ns,
            iface: iface as u16,
            dir,
            orig_len: u32::try_from(orig).unwrap_or(u32::MAX),
            start: start as u32,
            len: len as u32,
            reason,
        });
        match dir {
            Direction::Rx => self.stats.rx += 1,
            Direction::Tx => self.stats.tx += 1,
            Direction::Drop => self.stats.drop += 1,
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn spec(max: usize, snaplen: usize) -> CaptureSpec {
        CaptureSpec { rx: true, tx: false, drop: true, iface: None, max, snaplen }
    }

    #[test]
    fn off_takes_nothing_and_holds_nothing() {
        let mut c = Capture::off();
        c.take(1, 0, Direction::Rx, &[1, 2, 3], "");
        assert!(c.records().is_empty());
        assert_eq!(c.stats(), CaptureStats::default());
        assert!(!c.is_on());
    }

    #[test]
    fn frames_are_cut_to_the_snap_length_and_keep_their_length() {
        let mut c = Capture::new(&spec(4, 4));
        c.take(7, 0, Direction::Rx, &[1, 2, 3, 4, 5, 6], "");
        c.take(8, 1, Direction::Drop, &[9, 9], "ip4 bad header checksum");
        let r = c.records();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].time_ns, r[0].orig_len, r[0].len), (7, 6, 4));
        assert_eq!(c.frame(&r[0]), &[1, 2, 3, 4]);
        assert_eq!(c.frame(&r[1]), &[9, 9]);
        assert_eq!(r[1].reason, "ip4 bad header checksum");
        assert_eq!(c.stats(), CaptureStats { rx: 1, tx: 0, drop: 1, missed: 0 });
    }

    #[test]
    fn directions_and_interfaces_not_asked_for_are_skipped() {
        let mut c = Capture::new(&CaptureSpec { iface: Some(1), ..spec(4, 64) });
        c.take(1, 0, Direction::Rx, &[1], "");
        c.take(1, 1, Direction::Tx, &[1], "");
        c.take(1, 1, Direction::Rx, &[2], "");
        assert_eq!(c.records().len(), 1);
        assert_eq!(c.frame(&c.records()[0]), &[2]);
    }

    #[test]
    fn a_full_capture_counts_what_it_misses_without_growing() {
        let mut c = Capture::new(&spec(2, 8));
        let (rc, dc) = (c.records.capacity(), c.data.capacity());
        for i in 0..5u8 {
            c.take(u64::from(i), 0, Direction::Rx, &[i; 8], "");
        }
        assert_eq!(c.records().len(), 2);
        assert_eq!(c.stats().missed, 3);
        assert_eq!((c.records.capacity(), c.data.capacity()), (rc, dc));
    }
}
