//! Message-queue payloads (`shm::msg`): the node parses every request an
//! app writes into its queues, the client library every event. A payload
//! that parses re-emits to one that parses the same, within a slot.

use shm::msg::{Event, Request, MAX_PAYLOAD};

/// `data`: direction (1 byte), slot kind (2 bytes), payload.
pub fn run(data: &[u8]) {
    let [dir, k0, k1, payload @ ..] = data else { return };
    let kind = u16::from_le_bytes([*k0, *k1]);
    // A slot never holds more than MAX_PAYLOAD; the queue truncates longer lengths.
    let payload = &payload[..payload.len().min(MAX_PAYLOAD)];
    let mut out = [0u8; MAX_PAYLOAD];
    if dir & 1 == 0 {
        let Ok(r) = Request::parse(kind, payload) else { return };
        assert_eq!(r.kind(), kind, "request kind");
        let n = r.emit(&mut out);
        assert!(n <= MAX_PAYLOAD);
        assert_eq!(Request::parse(kind, &out[..n]), Ok(r), "request round trip");
        assert_eq!(n, payload.len(), "request re-emitted length");
    } else {
        let Ok(e) = Event::parse(kind, payload) else { return };
        assert_eq!(e.kind(), kind, "event kind");
        let n = e.emit(&mut out);
        assert!(n <= MAX_PAYLOAD);
        assert_eq!(Event::parse(kind, &out[..n]), Ok(e), "event round trip");
        assert_eq!(n, payload.len(), "event re-emitted length");
    }
}
