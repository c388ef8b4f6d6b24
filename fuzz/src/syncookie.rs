//! SYN cookies: a SYN-ACK made from any SYN, answered by the honest ACK,
//! validates (with the SYN's ISN and options) while the cookie is young
//! and fails once it is too old; any ACK at all is checked without panic,
//! and a connection built from a valid one runs.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use arbitrary::Arbitrary;
use session::fifo::HeapFifo;
use tcp::syncookie::{CookieOptions, SynCookies, COOKIE_MAX_AGE, COOKIE_PERIOD_NS, MSS_TABLE};
use tcp::{ConnOptions, Connection, TcpConfig};
use wire::tcp::{Flags, Repr as TcpRepr, SeqNumber, Timestamp};

/// One cookie round.
#[derive(Debug, Arbitrary)]
pub struct Input {
    secret: [u8; 16],
    now: u64,
    local: (u32, u16),
    remote: (u32, u16),
    syn_seq: u32,
    syn_mss: Option<u16>,
    syn_wscale: Option<u8>,
    syn_sack: bool,
    syn_tsval: Option<u32>,
    rx_fifo_log: u8,
    mss_cap: u16,
    enable: (bool, bool, bool),
    /// When the ACK arrives, after the SYN-ACK (ns).
    delay: u64,
    /// An ACK as the attacker shapes it: flags, seq, ack, window, TSecr.
    forged: Option<(u8, u32, u32, u16, Option<u32>)>,
}

/// Runs one round.
pub fn run(i: &Input) {
    let local = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(i.local.0), i.local.1));
    let remote = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(i.remote.0), i.remote.1));
    let jar = SynCookies::new(i.secret);
    let rx_fifo_size = 1u32 << (12 + i.rx_fifo_log % 8);
    let enable = CookieOptions { timestamps: i.enable.0, window_scale: i.enable.1, sack: i.enable.2 };
    let syn = TcpRepr {
        src_port: remote.port(),
        dst_port: local.port(),
        seq_number: SeqNumber(i.syn_seq),
        flags: Flags::SYN,
        window_len: 65535,
        max_seg_size: i.syn_mss,
        window_scale: i.syn_wscale,
        sack_permitted: i.syn_sack,
        timestamp: i.syn_tsval.map(|tsval| Timestamp { tsval, tsecr: 0 }),
        ..TcpRepr::default()
    };
    let now = i.now % (1 << 62);
    let synack = jar.syn_ack(now, local, remote, &syn, rx_fifo_size, i.mss_cap, enable);
    assert_eq!(synack.flags, Flags::SYN | Flags::ACK);
    assert_eq!(synack.ack_number, syn.seq_number + 1);
    assert!(synack.header_len() <= wire::tcp::MAX_HEADER_LEN);
    let ack = TcpRepr {
        src_port: remote.port(),
        dst_port: local.port(),
        seq_number: syn.seq_number + 1,
        ack_number: synack.seq_number + 1,
        flags: Flags::ACK,
        window_len: 1000,
        timestamp: synack
            .timestamp
            .map(|t| Timestamp { tsval: i.syn_tsval.unwrap_or(0).wrapping_add(1), tsecr: t.tsval }),
        ..TcpRepr::default()
    };
    let delay = i.delay % (COOKIE_PERIOD_NS * 70);
    let later = now + delay;
    let periods = (later / COOKIE_PERIOD_NS) - (now / COOKIE_PERIOD_NS);
    let got = jar.validate(later, local, remote, &ack);
    if periods <= u64::from(COOKIE_MAX_AGE) {
        let info = got.expect("the honest ACK of a young cookie validates");
        assert_eq!(info.iss, synack.seq_number.0);
        assert_eq!(info.irs, i.syn_seq);
        // The cookie carries the peer's MSS (rounded down to a table entry);
        // the SYN-ACK announces our own.
        let peer_mss = i.syn_mss.unwrap_or(536);
        assert!(MSS_TABLE.contains(&info.mss), "cookie MSS {} is no table entry", info.mss);
        assert!(info.mss <= peer_mss.max(MSS_TABLE[0]), "cookie MSS {} above the peer's {peer_mss}", info.mss);
        let next = MSS_TABLE.iter().find(|&&m| m > info.mss);
        assert!(
            next.is_none_or(|&n| n > peer_mss),
            "cookie MSS {} lost more than one table step of {peer_mss}",
            info.mss
        );
        assert!(synack.max_seg_size.is_some(), "the SYN-ACK announces our MSS");
        assert_eq!(info.timestamps, synack.timestamp.is_some());
        assert_eq!(info.sack, synack.sack_permitted);
        if info.timestamps && synack.window_scale.is_some() {
            assert_eq!(info.peer_window_scale, i.syn_wscale.map(|w| w.min(14)));
        } else {
            assert_eq!(info.peer_window_scale, None);
        }
        // A connection rebuilt from it takes the ACK and runs.
        let cfg = TcpConfig::default();
        let opts = ConnOptions::new(rx_fifo_size);
        let mut c = Connection::from_cookie(&cfg, &jar, &ack, local, remote, opts, later).expect("valid cookie");
        let (rx, tx) = (HeapFifo::new(rx_fifo_size).expect("fifo"), HeapFifo::new(4096).expect("fifo"));
        c.input(later, &ack, &[], &rx.producer(), &tx.consumer());
        let mut buf = vec![0u8; 65536];
        while c.poll_transmit(later, &tx.consumer(), &mut buf).is_some() {}
        assert!(c.state().is_synchronized());
    } else if periods < 64 {
        assert!(got.is_none(), "a cookie {periods} periods old validates");
    }
    // A cookie for another tuple or another ISN must not validate (up to a 2^-24 MAC collision,
    // which the fuzzer cannot search for).
    let mut other = ack;
    other.seq_number += 1;
    if periods <= u64::from(COOKIE_MAX_AGE) {
        assert!(jar.validate(later, local, remote, &other).is_none(), "a cookie for another ISN validates");
    }
    if let Some((flags, seq, ackn, window, tsecr)) = i.forged {
        let forged = TcpRepr {
            flags: Flags(u16::from(flags) & 0x3f),
            seq_number: SeqNumber(seq),
            ack_number: SeqNumber(ackn),
            window_len: window,
            timestamp: tsecr.map(|tsecr| Timestamp { tsval: 1, tsecr }),
            ..ack
        };
        if let Some(info) = jar.validate(later, local, remote, &forged) {
            assert!(forged.flags.ack() && !forged.flags.syn() && !forged.flags.rst());
            assert_eq!(info.iss, ackn.wrapping_sub(1));
            let cfg = TcpConfig::default();
            let _ = Connection::from_cookie(&cfg, &jar, &forged, local, remote, ConnOptions::new(rx_fifo_size), later);
        }
    }
}
