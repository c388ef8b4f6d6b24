//! The memif wire format: control messages (128-byte `SOCK_SEQPACKET`
//! records) and the layout of rings and descriptors in shared memory.
//!
//! memif is the shared-memory packet interface of FD.io VPP, also spoken
//! by DPDK's `net_memif` and libmemif (protocol version 2.0). The client
//! creates the memory (one memfd region holding every ring and, after
//! them, every packet buffer) and sends it to the server; on each ring the
//! client owns `head` and the server owns `tail`:
//!
//! - client to server (C2S): the client fills buffers from `head` on and
//!   advances `head`; the server reads `[tail, head)` and advances `tail`.
//! - server to client (S2C): the client hands out empty buffers by
//!   advancing `head`; the server fills `[tail, head)` and advances `tail`;
//!   the client reads up to `tail` and hands the buffers out again.
//!
//! Handshake, in lock step (each message answered before the next is sent):
//! server HELLO; client INIT, server ACK; per region ADD_REGION (memfd
//! attached), ACK; per ring ADD_RING (eventfd attached), ACK; client
//! CONNECT, server CONNECTED. Either side may send DISCONNECT (a code and a
//! reason) and close. Every field is little endian; structures are packed.

/// Value of every ring's `cookie`.
pub const COOKIE: u32 = 0x3E31F20;
/// Protocol version 2.0.
pub const VERSION: u16 = 0x0200;
/// Bytes per control message.
pub const MSG_SIZE: usize = 128;
/// Name fields (application and interface names).
pub const NAME_SIZE: usize = 32;
/// Secret field.
pub const SECRET_SIZE: usize = 24;
/// Disconnect reason field.
pub const REASON_SIZE: usize = 96;
/// Ring header: cookie, flags and head on the first cache line, tail on the
/// second, descriptors from the third.
pub const RING_HEADER: usize = 128;
/// Offsets inside a ring header.
pub const RING_COOKIE: usize = 0;
/// Ring flags (u16).
pub const RING_FLAGS: usize = 4;
/// Ring head (u16, written by the client).
pub const RING_HEAD: usize = 6;
/// Ring tail (u16, written by the server).
pub const RING_TAIL: usize = 64;
/// The receiver polls: the sender need not signal the ring's eventfd.
pub const RING_FLAG_MASK_INT: u16 = 1;
/// Bytes per descriptor: flags u16, region u16, length u32, offset u32, metadata u32.
pub const DESC_SIZE: usize = 16;
/// Descriptor flag: the packet continues in the next descriptor.
pub const DESC_FLAG_NEXT: u16 = 1;
/// ADD_RING flag: the ring carries client-to-server traffic.
pub const ADD_RING_FLAG_C2S: u16 = 1;
/// Largest ring (log2) this implementation takes or offers.
pub const MAX_LOG2_RING_SIZE: u8 = 14;
/// Most regions a peer may add.
pub const MAX_REGIONS: usize = 16;

/// Bytes a ring of `2^log2` descriptors takes.
pub const fn ring_bytes(log2: u8) -> usize {
    RING_HEADER + (DESC_SIZE << log2)
}

/// Which side an interface plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Listens on the socket; maps the client's memory.
    Server,
    /// Connects; creates the memory.
    Client,
}

/// A control message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Msg {
    /// Answers INIT, ADD_REGION and ADD_RING.
    Ack,
    /// The server's first message: its name and limits.
    Hello {
        /// Server application name.
        name: String,
        /// Lowest version spoken.
        min_version: u16,
        /// Highest version spoken.
        max_version: u16,
        /// Highest region index taken.
        max_region: u16,
        /// Highest S2C ring index taken.
        max_s2c_ring: u16,
        /// Highest C2S ring index taken.
        max_c2s_ring: u16,
        /// Largest ring, log2.
        max_log2_ring_size: u8,
    },
    /// The client names the interface it wants.
    Init {
        /// Version the client speaks.
        version: u16,
        /// Interface id on the socket.
        id: u32,
        /// Interface mode (0: Ethernet).
        mode: u8,
        /// Shared secret (empty: none).
        secret: Vec<u8>,
        /// Client application name.
        name: String,
    },
    /// A memory region (its memfd rides along).
    AddRegion {
        /// Region index (0, 1, ... in order).
        index: u16,
        /// Bytes.
        size: u64,
    },
    /// A ring (its interrupt eventfd rides along).
    AddRing {
        /// [`ADD_RING_FLAG_C2S`] or 0.
        flags: u16,
        /// Ring index within its direction.
        index: u16,
        /// Region holding the ring.
        region: u16,
        /// Offset of the ring in the region.
        offset: u32,
        /// Ring size, log2.
        log2_ring_size: u8,
        /// Bytes of private header (must be 0 here).
        private_hdr_size: u16,
    },
    /// The client is done.
    Connect {
        /// Client interface name.
        if_name: String,
    },
    /// The server is done.
    Connected {
        /// Server interface name.
        if_name: String,
    },
    /// Going away.
    Disconnect {
        /// Error code.
        code: u32,
        /// Why.
        reason: String,
    },
}

/// Message type codes.
mod ty {
    pub const ACK: u16 = 1;
    pub const HELLO: u16 = 2;
    pub const INIT: u16 = 3;
    pub const ADD_REGION: u16 = 4;
    pub const ADD_RING: u16 = 5;
    pub const CONNECT: u16 = 6;
    pub const CONNECTED: u16 = 7;
    pub const DISCONNECT: u16 = 8;
}

/// Why a received record is not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    /// Not 128 bytes.
    #[error("control message of {0} bytes (want 128)")]
    Size(usize),
    /// Unknown type.
    #[error("unknown control message type {0}")]
    Type(u16),
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
fn put_str(b: &mut [u8], at: usize, len: usize, s: &[u8]) {
    // Always NUL-terminated within the field, as the C peers expect.
    let n = s.len().min(len - 1);
    b[at..at + n].copy_from_slice(&s[..n]);
}
fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn bytes_at(b: &[u8], at: usize, len: usize) -> &[u8] {
    let f = &b[at..at + len];
    &f[..f.iter().position(|&c| c == 0).unwrap_or(len)]
}
fn str_at(b: &[u8], at: usize, len: usize) -> String {
    String::from_utf8_lossy(bytes_at(b, at, len)).into_owned()
}

impl Msg {
    /// The 128-byte record.
    pub fn encode(&self) -> [u8; MSG_SIZE] {
        let mut b = [0u8; MSG_SIZE];
        // The type is a 16-bit field; the body starts right after it (packed).
        match self {
            Msg::Ack => put_u16(&mut b, 0, ty::ACK),
            Msg::Hello {
                name,
                min_version,
                max_version,
                max_region,
                max_s2c_ring,
                max_c2s_ring,
                max_log2_ring_size,
            } => {
                put_u16(&mut b, 0, ty::HELLO);
                put_str(&mut b, 2, NAME_SIZE, name.as_bytes());
                put_u16(&mut b, 34, *min_version);
                put_u16(&mut b, 36, *max_version);
                put_u16(&mut b, 38, *max_region);
                put_u16(&mut b, 40, *max_s2c_ring);
                put_u16(&mut b, 42, *max_c2s_ring);
                b[44] = *max_log2_ring_size;
            }
            Msg::Init { version, id, mode, secret, name } => {
                put_u16(&mut b, 0, ty::INIT);
                put_u16(&mut b, 2, *version);
                put_u32(&mut b, 4, *id);
                b[8] = *mode;
                put_str(&mut b, 9, SECRET_SIZE, secret);
                put_str(&mut b, 33, NAME_SIZE, name.as_bytes());
            }
            Msg::AddRegion { index, size } => {
                put_u16(&mut b, 0, ty::ADD_REGION);
                put_u16(&mut b, 2, *index);
                put_u64(&mut b, 4, *size);
            }
            Msg::AddRing { flags, index, region, offset, log2_ring_size, private_hdr_size } => {
                put_u16(&mut b, 0, ty::ADD_RING);
                put_u16(&mut b, 2, *flags);
                put_u16(&mut b, 4, *index);
                put_u16(&mut b, 6, *region);
                put_u32(&mut b, 8, *offset);
                b[12] = *log2_ring_size;
                put_u16(&mut b, 13, *private_hdr_size);
            }
            Msg::Connect { if_name } => {
                put_u16(&mut b, 0, ty::CONNECT);
                put_str(&mut b, 2, NAME_SIZE, if_name.as_bytes());
            }
            Msg::Connected { if_name } => {
                put_u16(&mut b, 0, ty::CONNECTED);
                put_str(&mut b, 2, NAME_SIZE, if_name.as_bytes());
            }
            Msg::Disconnect { code, reason } => {
                put_u16(&mut b, 0, ty::DISCONNECT);
                put_u32(&mut b, 2, *code);
                put_str(&mut b, 6, REASON_SIZE, reason.as_bytes());
            }
        }
        b
    }

    /// Parse a received record.
    pub fn decode(b: &[u8]) -> Result<Msg, ProtoError> {
        if b.len() != MSG_SIZE {
            return Err(ProtoError::Size(b.len()));
        }
        Ok(match u16_at(b, 0) {
            ty::ACK => Msg::Ack,
            ty::HELLO => Msg::Hello {
                name: str_at(b, 2, NAME_SIZE),
                min_version: u16_at(b, 34),
                max_version: u16_at(b, 36),
                max_region: u16_at(b, 38),
                max_s2c_ring: u16_at(b, 40),
                max_c2s_ring: u16_at(b, 42),
                max_log2_ring_size: b[44],
            },
            ty::INIT => Msg::Init {
                version: u16_at(b, 2),
                id: u32_at(b, 4),
                mode: b[8],
                secret: bytes_at(b, 9, SECRET_SIZE).to_vec(),
                name: str_at(b, 33, NAME_SIZE),
            },
            ty::ADD_REGION => Msg::AddRegion { index: u16_at(b, 2), size: u64_at(b, 4) },
            ty::ADD_RING => Msg::AddRing {
                flags: u16_at(b, 2),
                index: u16_at(b, 4),
                region: u16_at(b, 6),
                offset: u32_at(b, 8),
                log2_ring_size: b[12],
                private_hdr_size: u16_at(b, 13),
            },
            ty::CONNECT => Msg::Connect { if_name: str_at(b, 2, NAME_SIZE) },
            ty::CONNECTED => Msg::Connected { if_name: str_at(b, 2, NAME_SIZE) },
            ty::DISCONNECT => Msg::Disconnect { code: u32_at(b, 2), reason: str_at(b, 6, REASON_SIZE) },
            t => return Err(ProtoError::Type(t)),
        })
    }
}

/// A descriptor as read from (or written to) a ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Desc {
    /// [`DESC_FLAG_NEXT`] or 0.
    pub flags: u16,
    /// Region of the buffer.
    pub region: u16,
    /// Bytes in the buffer (or its capacity, on a buffer handed out empty).
    pub length: u32,
    /// Offset of the buffer in its region.
    pub offset: u32,
}

impl Desc {
    /// From the 16 descriptor bytes.
    pub fn read(b: &[u8; DESC_SIZE]) -> Desc {
        Desc { flags: u16_at(b, 0), region: u16_at(b, 2), length: u32_at(b, 4), offset: u32_at(b, 8) }
    }

    /// To the 16 descriptor bytes (metadata zero).
    pub fn write(&self) -> [u8; DESC_SIZE] {
        let mut b = [0u8; DESC_SIZE];
        put_u16(&mut b, 0, self.flags);
        put_u16(&mut b, 2, self.region);
        put_u32(&mut b, 4, self.length);
        put_u32(&mut b, 8, self.offset);
        b
    }
}

/// The client's memory layout: one region with the C2S rings, then the S2C
/// rings, then one buffer per descriptor (the layout DPDK's and VPP's
/// clients use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// C2S rings.
    pub c2s: u16,
    /// S2C rings.
    pub s2c: u16,
    /// Descriptors per ring, log2.
    pub log2: u8,
    /// Bytes per buffer.
    pub buffer_size: u32,
}

impl Layout {
    /// Descriptors per ring.
    pub fn ring_size(&self) -> usize {
        1 << self.log2
    }

    /// Offset of ring `index` of direction `c2s` in region 0.
    pub fn ring_offset(&self, c2s: bool, index: u16) -> usize {
        let n = if c2s { index as usize } else { self.c2s as usize + index as usize };
        n * ring_bytes(self.log2)
    }

    /// Where the buffers start.
    pub fn buffers_offset(&self) -> usize {
        (self.c2s as usize + self.s2c as usize) * ring_bytes(self.log2)
    }

    /// Offset of the buffer of `slot` on ring `index` of direction `c2s`.
    pub fn buffer_offset(&self, c2s: bool, index: u16, slot: usize) -> usize {
        let ring = if c2s { index as usize } else { self.c2s as usize + index as usize };
        self.buffers_offset() + (ring * self.ring_size() + slot) * self.buffer_size as usize
    }

    /// Bytes of the region; `None` when it would not fit the 32-bit offsets.
    pub fn region_size(&self) -> Option<usize> {
        let rings = self.c2s as usize + self.s2c as usize;
        let size = self.buffers_offset() + rings * self.ring_size() * self.buffer_size as usize;
        (size <= u32::MAX as usize).then_some(size)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// A HELLO as DPDK 22.11's net_memif server sends it (name "DPDK
    /// 22.11.0", version 2.0 both ways, region 255 max, 255 rings each way,
    /// log2 ring size 14).
    fn dpdk_hello() -> [u8; MSG_SIZE] {
        let mut b = [0u8; MSG_SIZE];
        b[0] = 2;
        b[2..15].copy_from_slice(b"DPDK 22.11.0\0");
        b[34..36].copy_from_slice(&[0x00, 0x02]);
        b[36..38].copy_from_slice(&[0x00, 0x02]);
        b[38..40].copy_from_slice(&[0xff, 0x00]);
        b[40..42].copy_from_slice(&[0xff, 0x00]);
        b[42..44].copy_from_slice(&[0xff, 0x00]);
        b[44] = 14;
        b
    }

    #[test]
    fn hello_bytes_parse() {
        let m = Msg::decode(&dpdk_hello()).unwrap();
        assert_eq!(
            m,
            Msg::Hello {
                name: "DPDK 22.11.0".into(),
                min_version: VERSION,
                max_version: VERSION,
                max_region: 255,
                max_s2c_ring: 255,
                max_c2s_ring: 255,
                max_log2_ring_size: 14
            }
        );
        assert_eq!(m.encode(), dpdk_hello());
    }

    #[test]
    fn every_message_round_trips() {
        let msgs = [
            Msg::Ack,
            Msg::Init { version: VERSION, id: 7, mode: 0, secret: b"s3cret".to_vec(), name: "dpnode".into() },
            Msg::AddRegion { index: 0, size: 1 << 22 },
            Msg::AddRing {
                flags: ADD_RING_FLAG_C2S,
                index: 3,
                region: 0,
                offset: 0x1234,
                log2_ring_size: 10,
                private_hdr_size: 0,
            },
            Msg::Connect { if_name: "memif0".into() },
            Msg::Connected { if_name: "memif1".into() },
            Msg::Disconnect { code: 1, reason: "interface down".into() },
        ];
        for m in msgs {
            assert_eq!(Msg::decode(&m.encode()).unwrap(), m);
        }
    }

    #[test]
    fn field_offsets_match_the_packed_c_layout() {
        let b = Msg::AddRing {
            flags: 1,
            index: 0x0203,
            region: 0x0405,
            offset: 0x0a09_0807,
            log2_ring_size: 11,
            private_hdr_size: 0x0d0c,
        }
        .encode();
        assert_eq!(&b[..15], &[5, 0, 1, 0, 3, 2, 5, 4, 7, 8, 9, 10, 11, 0x0c, 0x0d]);
        let b = Msg::Init { version: 0x0200, id: 0x04030201, mode: 0, secret: vec![b'x'], name: "n".into() }.encode();
        assert_eq!(&b[..10], &[3, 0, 0, 2, 1, 2, 3, 4, 0, b'x']);
        assert_eq!(b[33], b'n');
        let b = Msg::AddRegion { index: 1, size: 0x0102_0304_0506_0708 }.encode();
        assert_eq!(&b[..12], &[4, 0, 1, 0, 8, 7, 6, 5, 4, 3, 2, 1]);
    }

    #[test]
    fn bad_records_are_errors() {
        assert_eq!(Msg::decode(&[0u8; 64]), Err(ProtoError::Size(64)));
        let mut b = [0u8; MSG_SIZE];
        b[0] = 99;
        assert_eq!(Msg::decode(&b), Err(ProtoError::Type(99)));
        // Names without a NUL are cut at the field, never read past it.
        let mut b = dpdk_hello();
        b[2..34].fill(b'a');
        match Msg::decode(&b).unwrap() {
            Msg::Hello { name, .. } => assert_eq!(name.len(), NAME_SIZE),
            m => panic!("{m:?}"),
        }
        // Over-long strings are truncated and NUL-terminated on encode.
        let long = "r".repeat(200);
        let b = Msg::Disconnect { code: 0, reason: long }.encode();
        assert_eq!(b[6 + REASON_SIZE - 1], 0);
    }

    #[test]
    fn descriptor_bytes() {
        let d = Desc { flags: DESC_FLAG_NEXT, region: 2, length: 1500, offset: 0x10000 };
        let b = d.write();
        assert_eq!(b, [1, 0, 2, 0, 0xdc, 0x05, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
        assert_eq!(Desc::read(&b), d);
    }

    #[test]
    fn layout_matches_dpdk_client() {
        // One ring each way, 1024 descriptors, 2048-byte buffers.
        let l = Layout { c2s: 1, s2c: 1, log2: 10, buffer_size: 2048 };
        assert_eq!(ring_bytes(10), 128 + 16 * 1024);
        assert_eq!(l.ring_offset(true, 0), 0);
        assert_eq!(l.ring_offset(false, 0), 16512);
        assert_eq!(l.buffers_offset(), 2 * 16512);
        assert_eq!(l.buffer_offset(false, 0, 3), 2 * 16512 + (1024 + 3) * 2048);
        assert_eq!(l.region_size(), Some(2 * 16512 + 2 * 1024 * 2048));
        let huge = Layout { c2s: 255, s2c: 255, log2: 14, buffer_size: 65535 };
        assert_eq!(huge.region_size(), None);
    }
}
