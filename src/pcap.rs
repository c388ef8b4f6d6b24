//! `pcap trace`: packet capture to a pcapng file, as VPP's command.
//!
//! The workers' devices copy frames into per-worker buffers
//! ([`net::capture::Capture`]) made here on the main thread and swapped in
//! by RPC; `pcap trace off` swaps empty ones back in, merges what the
//! workers took by time and writes pcapng (the `pcap-file` crate): one
//! Interface Description Block per port (name, device arguments, MAC,
//! nanosecond timestamps), one Enhanced Packet Block per frame with its
//! direction in `epb_flags` and, for a drop, the drop counter's name as its
//! comment. Every word of the command is checked in [`parse`].
//!
//! The file is written by a writer thread of its own, not by the main
//! thread: `pcap trace off` (a CLI [`Job`]) takes the workers' buffers,
//! hands them to the thread and answers once the thread is done, while the
//! main loop goes on serving the CLI, the API and the workers' RPCs. A
//! capture still on when the node stops is written before the workers stop.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use net::capture::{Capture, CaptureSpec, CaptureStats, Direction, Record};
use net::device::Device;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::DataLink;
use shm::limits::{PCAP_BUFFER_BYTES, PCAP_MAX, PCAP_SNAPLEN};

use crate::cli::{CliError, CliResult, Job};
use crate::runtime::Runtime;

/// The command's words, for errors and `help`.
pub const USAGE: &str = "usage: pcap trace [rx] [tx] [drop] [interface NAME|any] [max N] [file PATH] [snaplen N] \
                         | pcap trace status | pcap trace off";
/// Frames written at most unless `max` says otherwise.
pub const DEFAULT_MAX: usize = 10_000;
/// Bytes kept per frame unless `snaplen` says otherwise (a whole 1500-byte-MTU frame).
pub const DEFAULT_SNAPLEN: usize = 2048;
/// Where the file goes unless `file` says otherwise.
pub const DEFAULT_FILE: &str = "/tmp/dpnode.pcapng";

/// A `pcap trace` start, as parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceArgs {
    /// What to take.
    pub spec: CaptureSpec,
    /// Where to write it.
    pub path: PathBuf,
}

/// Parse the words after `pcap trace` that start a capture; `interfaces`
/// are the configured interface names (their index is the interface's).
pub fn parse(words: &[&str], interfaces: &[&str]) -> Result<TraceArgs, String> {
    let mut spec =
        CaptureSpec { rx: false, tx: false, drop: false, iface: None, max: DEFAULT_MAX, snaplen: DEFAULT_SNAPLEN };
    let mut path = PathBuf::from(DEFAULT_FILE);
    let mut it = words.iter();
    while let Some(&w) = it.next() {
        let mut value = || it.next().copied().ok_or_else(|| format!("pcap trace: {w} needs a value\n{USAGE}"));
        match w {
            "rx" => spec.rx = true,
            "tx" => spec.tx = true,
            "drop" => spec.drop = true,
            "interface" | "intfc" => {
                let v = value()?;
                spec.iface = match v {
                    "any" => None,
                    name => Some(interfaces.iter().position(|n| *n == name).ok_or_else(|| {
                        format!("pcap trace: no interface {name:?} (interfaces: {}, or any)", interfaces.join(", "))
                    })?),
                };
            }
            "max" => spec.max = PCAP_MAX.parse_into("max", value()?).map_err(|e| format!("pcap trace: {e}"))?,
            "snaplen" => {
                spec.snaplen = PCAP_SNAPLEN.parse_into("snaplen", value()?).map_err(|e| format!("pcap trace: {e}"))?
            }
            "file" => {
                let v = value()?;
                if v.is_empty() || v.ends_with('/') {
                    return Err(format!("pcap trace: file {v:?} is not a file path"));
                }
                path = PathBuf::from(v);
            }
            other => return Err(format!("pcap trace: unknown word {other:?}\n{USAGE}")),
        }
    }
    if !(spec.rx || spec.tx || spec.drop) {
        return Err(format!("pcap trace: say what to capture: rx, tx and/or drop\n{USAGE}"));
    }
    Ok(TraceArgs { spec, path })
}

/// A capture in progress.
#[derive(Debug)]
pub struct Running {
    args: TraceArgs,
    /// Wall-clock time of the workers' clock epoch (their `now_ns` 0).
    epoch: SystemTime,
    started: Instant,
}

/// A capture being written by its writer thread.
#[derive(Debug)]
struct Writing {
    path: PathBuf,
    done: mpsc::Receiver<Result<String, String>>,
    thread: std::thread::JoinHandle<()>,
}

/// `pcap trace` state on the main thread.
#[derive(Debug, Default)]
pub struct PcapState {
    running: Option<Running>,
    /// The capture the writer thread writes (one at a time).
    writing: Option<Writing>,
    /// What the last `pcap trace off` wrote.
    last: Option<String>,
}

impl PcapState {
    /// The writer's answer once it is done (then it is the `last` one);
    /// `wait`: block until it is.
    fn writer_done(&mut self, wait: bool) -> Option<Result<String, String>> {
        let w = self.writing.as_ref()?;
        let r = if wait {
            w.done.recv().unwrap_or_else(|_| Err("pcap trace: the writer thread died".into()))
        } else {
            match w.done.try_recv() {
                Ok(r) => r,
                Err(mpsc::TryRecvError::Empty) => return None,
                Err(mpsc::TryRecvError::Disconnected) => Err("pcap trace: the writer thread died".into()),
            }
        };
        if let Some(w) = self.writing.take() {
            let _ = w.thread.join();
        }
        self.last = Some(match &r {
            Ok(text) => text.lines().next().unwrap_or("").to_string(),
            Err(e) => e.clone(),
        });
        Some(r)
    }
}

/// `pcap trace status` as data (`--json pcap trace status`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PcapStatus {
    /// Whether a capture runs.
    pub on: bool,
    /// Directions taken (`rx`, `tx`, `drop`).
    pub directions: Vec<&'static str>,
    /// The interface filtered on, or `any`.
    pub interface: String,
    /// Frames written at most.
    pub max: usize,
    /// Bytes kept per frame.
    pub snaplen: usize,
    /// Where it goes.
    pub file: String,
    /// Seconds since it started.
    pub seconds: f64,
    /// Per worker: frames taken and missed so far.
    pub workers: Vec<WorkerCapture>,
    /// What the last `pcap trace off` wrote.
    pub last: Option<String>,
}

/// One worker's part of a capture.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct WorkerCapture {
    /// Received frames taken.
    pub rx: u64,
    /// Transmitted frames taken.
    pub tx: u64,
    /// Dropped frames taken.
    pub drop: u64,
    /// Frames that found the worker's buffer full.
    pub missed: u64,
}

impl From<CaptureStats> for WorkerCapture {
    fn from(s: CaptureStats) -> Self {
        WorkerCapture { rx: s.rx, tx: s.tx, drop: s.drop, missed: s.missed }
    }
}

/// `pcap trace ...`: start, `status` or `off` (this waits for the file;
/// the CLI uses [`off_job`], which does not hold the main thread).
pub fn trace(rt: &mut Runtime, words: &[&str]) -> Result<String, String> {
    match words {
        ["status"] => Ok(status_text(&status(rt))),
        ["off"] => {
            off(rt)?;
            rt.pcap.writer_done(true).unwrap_or_else(|| Err("pcap trace: nothing written".into()))
        }
        _ => start(rt, words),
    }
}

/// `pcap trace off` as a CLI job: the workers' buffers go to the writer
/// thread now; the job answers when the file is written.
pub fn off_job(rt: &mut Runtime) -> Result<Box<dyn Job>, CliError> {
    off(rt).map_err(CliError)?;
    Ok(Box::new(OffJob))
}

/// Waits for the writer thread [`off`] started.
struct OffJob;

impl Job for OffJob {
    fn poll(&mut self, rt: &mut Runtime) -> Option<CliResult> {
        match &rt.pcap.writing {
            None => Some(Err(CliError("pcap trace: nothing being written".into()))),
            Some(_) => rt.pcap.writer_done(false).map(|r| r.map_err(CliError)),
        }
    }

    /// The client left: the writer finishes on its own (status shows it as `last`).
    fn cancel(&mut self, _rt: &mut Runtime) {}
}

/// At node shutdown, while the workers still run: a capture still on is
/// written to its file (and a file being written is finished).
pub fn at_shutdown(rt: &mut Runtime) {
    if rt.pcap.running.is_some() {
        if let Err(e) = off(rt) {
            tracing::warn!("dpnode: capture still on at shutdown not written: {e}");
        }
    }
    match rt.pcap.writer_done(true) {
        Some(Ok(text)) => tracing::info!("dpnode: pcap trace on at shutdown: {}", text.trim_end().replace('\n', "; ")),
        Some(Err(e)) => tracing::warn!("dpnode: {e}"),
        None => {}
    }
}

fn directions(s: &CaptureSpec) -> Vec<&'static str> {
    [(s.rx, "rx"), (s.tx, "tx"), (s.drop, "drop")].into_iter().filter(|(on, _)| *on).map(|(_, n)| n).collect()
}

fn start(rt: &mut Runtime, words: &[&str]) -> Result<String, String> {
    let names: Vec<&str> = rt.cfg.interfaces.iter().map(|i| i.name.as_str()).collect();
    let args = parse(words, &names)?;
    if rt.pcap.running.is_some() {
        return Err("pcap trace: already on (pcap trace off writes it; pcap trace status shows it)".into());
    }
    let _ = rt.pcap.writer_done(false);
    if let Some(w) = &rt.pcap.writing {
        return Err(format!("pcap trace: still writing the last capture to {}; try again soon", w.path.display()));
    }
    let workers = rt.workers.len() as u64;
    let bytes = (args.spec.max as u64).saturating_mul(args.spec.snaplen as u64).saturating_mul(workers);
    if bytes > PCAP_BUFFER_BYTES {
        return Err(format!(
            "pcap trace: max {} x snaplen {} x {workers} worker(s) is {bytes} bytes of buffer, over the {PCAP_BUFFER_BYTES} allowed; lower max or snaplen",
            args.spec.max, args.spec.snaplen
        ));
    }
    // Find out now, not after the capture, whether the file can be written.
    std::fs::File::create(&args.path).map_err(|e| format!("pcap trace: cannot create {}: {e}", args.path.display()))?;
    let caps = (0..rt.workers.len()).map(|_| Capture::new(&args.spec)).collect();
    let epoch = SystemTime::now() - Duration::from_nanos(net::control::worker::now_ns());
    let answered = swap_captures(rt, caps).iter().filter(|c| c.is_some()).count();
    let text = format!(
        "pcap trace: on ({}), interface {}, max {}, snaplen {}, file {}\n",
        directions(&args.spec).join(" "),
        iface_name(rt, args.spec.iface),
        args.spec.max,
        args.spec.snaplen,
        args.path.display()
    );
    rt.pcap.running = Some(Running { args, epoch, started: Instant::now() });
    if answered != rt.workers.len() {
        return Err(format!(
            "{text}pcap trace: not every worker answered within a second; pcap trace off collects what they took"
        ));
    }
    Ok(text)
}

fn iface_name(rt: &Runtime, iface: Option<usize>) -> String {
    iface.and_then(|i| rt.cfg.interfaces.get(i)).map_or_else(|| "any".to_string(), |i| i.name.clone())
}

/// Install `caps[w]` on worker `w` and give back what each had (`None`: the
/// worker did not answer within a second).
fn swap_captures(rt: &mut Runtime, caps: Vec<Capture>) -> Vec<Option<Capture>> {
    let (tx, rx) = mpsc::channel();
    let n = caps.len();
    for (w, c) in caps.into_iter().enumerate() {
        let tx = tx.clone();
        rt.rpc(w, move |st| {
            let old = std::mem::replace(st.io.device_mut().capture(), c);
            let _ = tx.send((w, old));
        });
    }
    let mut out: Vec<Option<Capture>> = (0..n).map(|_| None).collect();
    let deadline = Instant::now() + Duration::from_secs(1);
    for _ in 0..n {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((w, c)) => out[w] = Some(c),
            Err(_) => break,
        }
    }
    out
}

/// `pcap trace status`.
pub fn status(rt: &mut Runtime) -> PcapStatus {
    let _ = rt.pcap.writer_done(false);
    let last = match &rt.pcap.writing {
        Some(w) => Some(format!("writing to {}", w.path.display())),
        None => rt.pcap.last.clone(),
    };
    let Some(r) = &rt.pcap.running else {
        return PcapStatus {
            on: false,
            directions: Vec::new(),
            interface: String::new(),
            max: 0,
            snaplen: 0,
            file: String::new(),
            seconds: 0.0,
            workers: Vec::new(),
            last,
        };
    };
    let (spec, file, seconds) = (r.args.spec, r.args.path.display().to_string(), r.started.elapsed().as_secs_f64());
    let workers = rt.ask_workers(|w| WorkerCapture::from(w.io.device_mut().capture().stats()));
    PcapStatus {
        on: true,
        directions: directions(&spec),
        interface: iface_name(rt, spec.iface),
        max: spec.max,
        snaplen: spec.snaplen,
        file,
        seconds,
        workers,
        last,
    }
}

fn status_text(s: &PcapStatus) -> String {
    let mut out = String::new();
    if !s.on {
        out.push_str("pcap trace: off\n");
    } else {
        let _ = writeln!(
            out,
            "pcap trace: on ({}) for {:.1} s, interface {}, max {}, snaplen {}, file {}",
            s.directions.join(" "),
            s.seconds,
            s.interface,
            s.max,
            s.snaplen,
            s.file
        );
        for (i, w) in s.workers.iter().enumerate() {
            let _ = writeln!(
                out,
                "  worker {i}: rx {}, tx {}, drop {}, missed (buffer full) {}",
                w.rx, w.tx, w.drop, w.missed
            );
        }
    }
    if let Some(l) = &s.last {
        let _ = writeln!(out, "last: {l}");
    }
    out
}

/// Takes the workers' buffers back (empty ones in their place) and starts
/// the writer thread on them.
fn off(rt: &mut Runtime) -> Result<(), String> {
    let Some(r) = rt.pcap.running.take() else {
        return Err("pcap trace: not on".into());
    };
    let caps = swap_captures(rt, (0..rt.workers.len()).map(|_| Capture::off()).collect());
    let silent = caps.iter().filter(|c| c.is_none()).count();
    let caps: Vec<Capture> = caps.into_iter().flatten().collect();
    let ifaces: Vec<IfaceInfo> = rt
        .cfg
        .interfaces
        .iter()
        .zip(&rt.ports)
        .map(|(i, p)| IfaceInfo { name: i.name.clone(), description: i.vdev.clone(), mac: p.mac() })
        .collect();
    let (tx, done) = mpsc::channel();
    let path = r.args.path.clone();
    let thread = std::thread::Builder::new()
        .name("pcap-writer".into())
        .spawn(move || {
            let _ = tx.send(write_file(&r, &ifaces, &caps, silent));
        })
        .map_err(|e| format!("pcap trace: cannot start the writer thread: {e}"))?;
    rt.pcap.writing = Some(Writing { path, done, thread });
    Ok(())
}

/// The writer thread's work: the file for capture `r` and the answer to `pcap trace off`.
fn write_file(r: &Running, ifaces: &[IfaceInfo], caps: &[Capture], silent: usize) -> Result<String, String> {
    let file = std::fs::File::create(&r.args.path)
        .map_err(|e| format!("pcap trace: cannot create {}: {e}", r.args.path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    let n = write_pcapng(&mut w, ifaces, r.args.spec.snaplen, caps, r.args.spec.max, r.epoch)
        .and_then(|n| w.flush().map(|()| n).map_err(|e| e.to_string()))
        .map_err(|e| format!("pcap trace: writing {}: {e}", r.args.path.display()))?;
    let missed: u64 = caps.iter().map(|c| c.stats().missed).sum();
    let mut text = format!(
        "wrote {} frames (rx {}, tx {}, drop {}) to {}",
        n.rx + n.tx + n.drop,
        n.rx,
        n.tx,
        n.drop,
        r.args.path.display()
    );
    if n.over_max > 0 {
        let _ = write!(
            text,
            "\n{} more frames were taken beyond max {} (the earliest are kept)",
            n.over_max, r.args.spec.max
        );
    }
    if missed > 0 {
        let _ = write!(text, "\n{missed} frames missed: a worker's buffer was full");
    }
    if silent > 0 {
        let _ = write!(text, "\n{silent} worker(s) did not answer within a second: their frames are missing");
    }
    text.push('\n');
    Ok(text)
}

/// An interface as the file describes it.
#[derive(Debug, Clone)]
pub struct IfaceInfo {
    /// Its name in the config (`if_name`).
    pub name: String,
    /// Its device arguments (`if_description`).
    pub description: String,
    /// Its MAC (`if_MACaddr`).
    pub mac: [u8; 6],
}

/// What [`write_pcapng`] wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Received frames.
    pub rx: u64,
    /// Transmitted frames.
    pub tx: u64,
    /// Dropped frames.
    pub drop: u64,
    /// Frames left out, past `max`.
    pub over_max: u64,
}

/// `epb_flags` inbound / outbound (pcapng, section 4.3.1).
const EPB_INBOUND: u32 = 1;
const EPB_OUTBOUND: u32 = 2;

/// Write a pcapng section to `w`: one interface block per `ifaces` entry,
/// then the frames of every capture in `caps` in time order, the first
/// `max` of them. `epoch` is the wall-clock time of the records' time 0.
pub fn write_pcapng<W: Write>(
    w: W,
    ifaces: &[IfaceInfo],
    snaplen: usize,
    caps: &[Capture],
    max: usize,
    epoch: SystemTime,
) -> Result<Written, String> {
    let mut out = PcapNgWriter::new(w).map_err(|e| e.to_string())?;
    for i in ifaces {
        let idb = InterfaceDescriptionBlock {
            linktype: DataLink::ETHERNET,
            snaplen: snaplen as u32,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Borrowed(&i.name)),
                InterfaceDescriptionOption::IfDescription(Cow::Borrowed(&i.description)),
                InterfaceDescriptionOption::IfMacAddr(Cow::Borrowed(&i.mac)),
                // Timestamps in nanoseconds (the default is microseconds).
                InterfaceDescriptionOption::IfTsResol(9),
            ],
        };
        out.write_pcapng_block(idb).map_err(|e| e.to_string())?;
    }
    let mut all: Vec<(&Record, &Capture)> = caps.iter().flat_map(|c| c.records().iter().map(move |r| (r, c))).collect();
    all.sort_by_key(|(r, _)| r.time_ns);
    let since_unix = epoch.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let mut n = Written { over_max: all.len().saturating_sub(max) as u64, ..Written::default() };
    for (r, c) in all.into_iter().take(max) {
        if usize::from(r.iface) >= ifaces.len() {
            continue;
        }
        let mut options = vec![EnhancedPacketOption::Flags(match r.dir {
            Direction::Tx => EPB_OUTBOUND,
            Direction::Rx | Direction::Drop => EPB_INBOUND,
        })];
        match r.dir {
            Direction::Rx => n.rx += 1,
            Direction::Tx => n.tx += 1,
            Direction::Drop => {
                n.drop += 1;
                options.push(EnhancedPacketOption::Comment(Cow::Owned(format!("dropped: {}", r.reason))));
            }
        }
        let epb = EnhancedPacketBlock {
            interface_id: u32::from(r.iface),
            timestamp: since_unix + Duration::from_nanos(r.time_ns),
            original_len: r.orig_len,
            data: Cow::Borrowed(c.frame(r)),
            options,
        };
        out.write_pcapng_block(epb).map_err(|e| e.to_string())?;
    }
    Ok(n)
}

#[cfg(test)]
mod test {
    use super::*;
    use pcap_file::pcapng::{Block, PcapNgReader};

    const NAMES: &[&str] = &["tap0", "memif0"];

    #[test]
    fn parse_takes_every_word_and_defaults() {
        let a = parse(&["rx", "tx", "max", "100", "file", "/tmp/x.pcapng"], NAMES).unwrap();
        assert!(a.spec.rx && a.spec.tx && !a.spec.drop);
        assert_eq!((a.spec.max, a.spec.snaplen, a.spec.iface), (100, DEFAULT_SNAPLEN, None));
        assert_eq!(a.path, PathBuf::from("/tmp/x.pcapng"));
        let a = parse(&["drop", "interface", "memif0", "snaplen", "128"], NAMES).unwrap();
        assert_eq!((a.spec.iface, a.spec.snaplen, a.spec.max), (Some(1), 128, DEFAULT_MAX));
        assert_eq!(a.path, PathBuf::from(DEFAULT_FILE));
        assert_eq!(parse(&["rx", "interface", "any"], NAMES).unwrap().spec.iface, None);
    }

    #[test]
    fn parse_refuses_bad_words_with_the_reason() {
        for (words, want) in [
            (&[][..], "say what to capture"),
            (&["max", "5"][..], "say what to capture"),
            (&["rx", "max"][..], "max needs a value"),
            (&["rx", "max", "0"][..], "max: 0 is outside 1..=1000000"),
            (&["rx", "max", "lots"][..], "max"),
            (&["rx", "snaplen", "10"][..], "snaplen"),
            (&["rx", "interface", "eth9"][..], "no interface \"eth9\""),
            (&["rx", "file", "/tmp/"][..], "not a file path"),
            (&["rx", "sideways"][..], "unknown word \"sideways\""),
        ] {
            let e = parse(words, NAMES).unwrap_err();
            assert!(e.contains(want), "{words:?}: {e}");
        }
    }

    fn capture_of(frames: &[(u64, usize, Direction, &[u8], &'static str)]) -> Capture {
        let mut c = Capture::new(&CaptureSpec { rx: true, tx: true, drop: true, iface: None, max: 16, snaplen: 64 });
        for &(t, i, d, f, r) in frames {
            c.take(t, i, d, f, r);
        }
        c
    }

    #[test]
    fn the_file_has_an_interface_per_port_frames_in_time_order_and_drop_comments() {
        let ifaces: Vec<IfaceInfo> = NAMES
            .iter()
            .map(|n| IfaceInfo { name: n.to_string(), description: format!("net_{n}"), mac: [2, 0, 0, 0, 0, 2] })
            .collect();
        let w0 = capture_of(&[(10, 0, Direction::Rx, &[1; 20], ""), (30, 0, Direction::Tx, &[2; 80], "")]);
        let w1 = capture_of(&[(20, 1, Direction::Drop, &[3; 30], "ip4 bad header checksum")]);
        let epoch = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut buf = Vec::new();
        let n = write_pcapng(&mut buf, &ifaces, 64, &[w0, w1], 2, epoch).unwrap();
        assert_eq!(n, Written { rx: 1, tx: 0, drop: 1, over_max: 1 });
        let mut r = PcapNgReader::new(&buf[..]).unwrap();
        let mut idbs = Vec::new();
        let mut epbs = Vec::new();
        while let Some(b) = r.next_block() {
            match b.unwrap() {
                Block::InterfaceDescription(i) => idbs.push(i.into_owned()),
                Block::EnhancedPacket(p) => epbs.push(p.into_owned()),
                _ => {}
            }
        }
        assert_eq!(idbs.len(), 2);
        assert!(idbs[1].options.contains(&InterfaceDescriptionOption::IfName(Cow::Borrowed("memif0"))));
        assert!(idbs[0].options.contains(&InterfaceDescriptionOption::IfTsResol(9)));
        assert_eq!(epbs.len(), 2);
        assert_eq!((epbs[0].interface_id, epbs[0].original_len, epbs[0].data.len()), (0, 20, 20));
        assert_eq!(epbs[0].timestamp, Duration::from_secs(1_700_000_000) + Duration::from_nanos(10));
        assert!(epbs[0].options.contains(&EnhancedPacketOption::Flags(EPB_INBOUND)));
        assert_eq!(epbs[1].interface_id, 1);
        assert!(epbs[1]
            .options
            .contains(&EnhancedPacketOption::Comment(Cow::Borrowed("dropped: ip4 bad header checksum"))));
    }
}
