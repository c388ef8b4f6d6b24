//! The API socket's wire format, read as the node's API server reads a
//! connection: a byte stream cut into messages (header first, then the
//! body by kind). Every message that parses re-emits to a message that
//! parses the same and takes the same bytes.

use shm::api::{Header, Kind, Message, HEADER_LEN};
use shm::wire::WireError;

/// Reads `data` as a stream of messages.
pub fn run(data: &[u8]) {
    let mut rest = data;
    while !rest.is_empty() {
        // As the server does: the header, then the body once all of it is there.
        let header = Header::parse(rest);
        match Message::parse(rest) {
            Ok((m, used)) => {
                let h = header.expect("a message has a header");
                assert_eq!(used, HEADER_LEN + h.length as usize);
                assert!(used <= rest.len());
                assert_eq!(Kind::from_u16(h.kind), Some(m.kind));
                assert_eq!(Message::parse_body(m.kind, h.code, &rest[HEADER_LEN..used]).as_ref(), Ok(&m.body));
                let _ = (m.fd_count(), m.kind.is_request(), m.kind.reply(), format!("{m:?}"));
                let mut out = Vec::new();
                m.emit(&mut out);
                assert_eq!(out.len(), used, "re-emitted length");
                let (again, n) = Message::parse(&out).expect("re-emitted message parses");
                assert_eq!(n, out.len());
                assert_eq!(again, m, "API message round trip");
                rest = &rest[used..];
            }
            Err(e) => {
                // A bad magic/version/length closes the connection, a short
                // stream waits for more; a bad body skips the message.
                let Ok(h) = header else {
                    assert!(!matches!(e, WireError::Truncated { .. }) || rest.len() < HEADER_LEN);
                    return;
                };
                let total = HEADER_LEN + h.length as usize;
                if total > rest.len() {
                    return;
                }
                rest = &rest[total..];
            }
        }
    }
}
