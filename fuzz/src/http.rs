//! The HTTP request parser, and the builtin server's way of consuming a
//! pipelined stream with it (head, then the body it skips).

use session::apps::http::{parse_request, MAX_HEAD};

/// Parses one head from `data`, checks what it says, then walks the stream
/// as the server does.
pub fn run(data: &[u8]) {
    check_one(data);
    // The server: parse, drop the head and skip the body, repeat.
    let mut rest = data;
    let mut skip = 0usize;
    for _ in 0..data.len() + 1 {
        // A body longer than what is left swallows the rest.
        rest = &rest[skip.min(rest.len())..];
        match parse_request(rest) {
            Ok(Some(r)) => {
                assert!(r.head_len >= 4, "progress");
                rest = &rest[r.head_len..];
                skip = r.content_length;
            }
            Ok(None) | Err(_) => return,
        }
    }
    panic!("the request loop did not end");
}

fn check_one(data: &[u8]) {
    match parse_request(data) {
        Ok(Some(r)) => {
            assert!(r.head_len <= data.len() && r.head_len <= MAX_HEAD, "head within the buffer and the limit");
            assert_eq!(&data[r.head_len - 4..r.head_len], b"\r\n\r\n");
            assert!(r.minor <= 1);
            assert!(!r.method.is_empty() && r.target.starts_with('/'));
            // The head alone gives the same request: nothing after it is read.
            assert_eq!(parse_request(&data[..r.head_len]), Ok(Some(r.clone())));
            let line = format!("{} {} HTTP/1.{}\r\n", r.method, r.target, r.minor);
            assert!(data.starts_with(line.as_bytes()), "request line as parsed");
        }
        Ok(None) => {
            assert!(data.len() < MAX_HEAD, "an incomplete head under the limit");
            assert!(!data.windows(4).any(|w| w == b"\r\n\r\n"));
            // A prefix of an incomplete head is incomplete too.
            assert_eq!(parse_request(&data[..data.len() / 2]), Ok(None));
        }
        Err(_) => {}
    }
}
