//! A builtin HTTP/1.1 server: answers `GET /` (and `HEAD /`) with a static
//! body, keeps connections alive, handles pipelined requests, so curl and
//! wrk can be pointed at the node (VPP's `http_static` in miniature).
//!
//! Per session it keeps a bounded request buffer and the unsent part of
//! the current response, so memory per connection is fixed. Requests are
//! parsed by [`parse_request`], a pure function tested on its own. Anything
//! that is not a well-formed request with headers under the limit gets a
//! 4xx answer and the connection is closed after it.

use foldhash::HashMap;

use shm::types::SessionHandle;

use net::seam::Seam;

use crate::builtin::{AppApi, BuiltinApp};

/// Largest request head (request line + headers) accepted.
pub const MAX_HEAD: usize = 8192;

/// The body served for `/` unless the config gives another.
pub const DEFAULT_BODY: &str = "<!DOCTYPE html>\n<html><head><title>dpnode</title></head>\
<body><h1>dpnode</h1><p>Served by the node's builtin HTTP server over its userspace TCP.</p></body></html>\n";

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// Method (`GET`, `HEAD`, ...).
    pub method: &'a str,
    /// Target (path).
    pub target: &'a str,
    /// Minor HTTP version (0 or 1).
    pub minor: u8,
    /// The client wants the connection kept open after the response.
    pub keep_alive: bool,
    /// Request body length (Content-Length), which we skip.
    pub content_length: usize,
    /// Bytes of the head, the blank line included.
    pub head_len: usize,
}

/// Why a request could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not a request line / header syntax.
    BadRequest,
    /// The head is longer than [`MAX_HEAD`].
    TooLarge,
    /// Not HTTP/1.0 or HTTP/1.1.
    BadVersion,
    /// Chunked request bodies are not supported.
    Unsupported,
}

/// Parses one request head from the start of `buf`: `Ok(None)` if it is not complete yet.
pub fn parse_request(buf: &[u8]) -> Result<Option<Request<'_>>, ParseError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() >= MAX_HEAD { Err(ParseError::TooLarge) } else { Ok(None) };
    };
    let head_len = end + 4;
    if head_len > MAX_HEAD {
        return Err(ParseError::TooLarge);
    }
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| ParseError::BadRequest)?;
    let mut lines = head.split("\r\n");
    let mut parts = lines.next().ok_or(ParseError::BadRequest)?.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::BadRequest);
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) || !target.starts_with('/') {
        return Err(ParseError::BadRequest);
    }
    let minor = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        _ => return Err(ParseError::BadVersion),
    };
    let mut keep_alive = minor == 1;
    let mut content_length = 0;
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(ParseError::BadRequest)?;
        if name.is_empty() || name.contains(' ') {
            return Err(ParseError::BadRequest);
        }
        let value = value.trim();
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().map_err(|_| ParseError::BadRequest)?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ParseError::Unsupported);
        }
    }
    Ok(Some(Request { method, target, minor, keep_alive, content_length, head_len }))
}

/// A response head.
fn head(status: &str, len: usize, keep_alive: bool) -> String {
    format!(
        "HTTP/1.1 {status}\r\nServer: dpnode\r\nContent-Type: {}\r\nContent-Length: {len}\r\nConnection: {}\r\n\r\n",
        if status.starts_with("200") { "text/html" } else { "text/plain" },
        if keep_alive { "keep-alive" } else { "close" }
    )
}

/// The response to a parsed request: (status line, whether to send the body).
fn route(req: &Request<'_>) -> (&'static str, bool) {
    match (req.method, req.target) {
        ("GET", "/" | "/index.html") => ("200 OK", true),
        ("HEAD", "/" | "/index.html") => ("200 OK", false),
        ("GET" | "HEAD", _) => ("404 Not Found", false),
        _ => ("405 Method Not Allowed", false),
    }
}

#[derive(Default)]
struct Conn {
    /// Received bytes not yet parsed.
    inbuf: Vec<u8>,
    /// Response bytes not yet written.
    out: Vec<u8>,
    /// Bytes of `out` already written.
    out_pos: usize,
    /// Request body bytes still to skip.
    skip: usize,
    /// Close once `out` is written.
    close_after: bool,
}

/// The HTTP server: one instance per worker.
pub struct HttpServer {
    body: String,
    /// The 200 response heads, made once: (keep-alive, close).
    ok_heads: (Vec<u8>, Vec<u8>),
    conns: HashMap<SessionHandle, Conn>,
    buf: Vec<u8>,
    requests: u64,
    errors: u64,
}

impl HttpServer {
    /// A server answering `/` with `body`.
    pub fn new(body: &str) -> Self {
        let ok = |keep_alive| head("200 OK", body.len(), keep_alive).into_bytes();
        HttpServer {
            body: body.to_string(),
            ok_heads: (ok(true), ok(false)),
            conns: HashMap::default(),
            buf: vec![0; 16 * 1024],
            requests: 0,
            errors: 0,
        }
    }

    fn respond(&self, c: &mut Conn, status: &str, with_body: bool, keep_alive: bool) {
        let ok = status.starts_with("200");
        let body: &[u8] = if ok { self.body.as_bytes() } else { status.as_bytes() };
        if ok {
            // The common case costs no formatting.
            c.out.extend_from_slice(if keep_alive { &self.ok_heads.0 } else { &self.ok_heads.1 });
        } else {
            c.out.extend_from_slice(head(status, body.len(), keep_alive).as_bytes());
        }
        if with_body || !status.starts_with("200") {
            c.out.extend_from_slice(body);
        }
        c.close_after |= !keep_alive;
    }

    /// Writes what is pending; true when everything went out.
    fn flush<S: Seam>(api: &mut AppApi<'_, S>, s: SessionHandle, c: &mut Conn) -> bool {
        while c.out_pos < c.out.len() {
            let n = api.send(s, &c.out[c.out_pos..]);
            if n == 0 {
                api.want_tx(s, true);
                return false;
            }
            c.out_pos += n;
        }
        c.out.clear();
        c.out_pos = 0;
        true
    }

    fn serve<S: Seam>(&mut self, api: &mut AppApi<'_, S>, s: SessionHandle) {
        let mut c = self.conns.remove(&s).unwrap_or_default();
        loop {
            if !Self::flush(api, s, &mut c) {
                break;
            }
            if c.close_after {
                api.close(s);
                return;
            }
            // Parse what we have before reading more, so pipelined requests
            // are answered in order and one at a time.
            if c.skip > 0 {
                let n = c.skip.min(c.inbuf.len());
                c.inbuf.drain(..n);
                c.skip -= n;
            }
            match parse_request(&c.inbuf) {
                Ok(Some(req)) => {
                    self.requests += 1;
                    let (status, with_body) = route(&req);
                    let (keep_alive, used, skip) = (req.keep_alive, req.head_len, req.content_length);
                    self.respond(&mut c, status, with_body, keep_alive);
                    c.inbuf.drain(..used);
                    c.skip = skip;
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    self.errors += 1;
                    let status = match e {
                        ParseError::TooLarge => "431 Request Header Fields Too Large",
                        ParseError::BadVersion => "505 HTTP Version Not Supported",
                        ParseError::Unsupported => "501 Not Implemented",
                        ParseError::BadRequest => "400 Bad Request",
                    };
                    c.inbuf.clear();
                    self.respond(&mut c, status, true, false);
                    continue;
                }
            }
            let room = MAX_HEAD.saturating_sub(c.inbuf.len()).max(1).min(self.buf.len());
            let n = api.recv(s, &mut self.buf[..room]);
            if n == 0 {
                break;
            }
            c.inbuf.extend_from_slice(&self.buf[..n]);
        }
        self.conns.insert(s, c);
    }
}

impl<S: Seam> BuiltinApp<S> for HttpServer {
    fn accepted(&mut self, _api: &mut AppApi<'_, S>, s: SessionHandle) -> bool {
        self.conns.insert(s, Conn::default());
        true
    }

    fn rx(&mut self, api: &mut AppApi<'_, S>, s: SessionHandle) {
        self.serve(api, s);
    }

    fn tx(&mut self, api: &mut AppApi<'_, S>, s: SessionHandle) {
        api.want_tx(s, false);
        self.serve(api, s);
    }

    fn disconnected(&mut self, api: &mut AppApi<'_, S>, s: SessionHandle) {
        self.conns.remove(&s);
        api.close(s);
    }

    fn reset(&mut self, _api: &mut AppApi<'_, S>, s: SessionHandle) {
        self.conns.remove(&s);
    }

    fn closed(&mut self, _api: &mut AppApi<'_, S>, s: SessionHandle) {
        self.conns.remove(&s);
    }

    fn snapshot(&self) -> Option<crate::snapshot::BuiltinAppSnapshot> {
        Some(crate::snapshot::BuiltinAppSnapshot::HttpServer {
            requests: self.requests,
            bad_requests: self.errors,
            open: self.conns.len(),
        })
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn parses_get_with_keep_alive_rules() {
        let r = parse_request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET").unwrap().unwrap();
        assert_eq!((r.method, r.target, r.minor, r.keep_alive, r.head_len), ("GET", "/", 1, true, 27));
        let r = parse_request(b"GET /a HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!r.keep_alive, "1.0 closes by default");
        let r = parse_request(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").unwrap().unwrap();
        assert!(r.keep_alive);
        let r = parse_request(b"GET / HTTP/1.1\r\nconnection: close\r\n\r\n").unwrap().unwrap();
        assert!(!r.keep_alive);
        let r = parse_request(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello").unwrap().unwrap();
        assert_eq!((r.method, r.content_length), ("POST", 5));
    }

    #[test]
    fn incomplete_and_bad_requests() {
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost"), Ok(None));
        assert_eq!(parse_request(b""), Ok(None));
        assert_eq!(parse_request(b"GET /\r\n\r\n"), Err(ParseError::BadRequest));
        assert_eq!(parse_request(b"get / HTTP/1.1\r\n\r\n"), Err(ParseError::BadRequest));
        assert_eq!(parse_request(b"GET x HTTP/1.1\r\n\r\n"), Err(ParseError::BadRequest));
        assert_eq!(parse_request(b"GET / HTTP/2.0\r\n\r\n"), Err(ParseError::BadVersion));
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\nNoColon\r\n\r\n"), Err(ParseError::BadRequest));
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"), Err(ParseError::BadRequest));
        assert_eq!(
            parse_request(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(ParseError::Unsupported)
        );
        let big = vec![b'a'; MAX_HEAD];
        assert_eq!(parse_request(&big), Err(ParseError::TooLarge));
        assert_eq!(parse_request(&[0xff, 0xfe, b'\r', b'\n', b'\r', b'\n']), Err(ParseError::BadRequest));
    }

    #[test]
    fn routes_and_responses() {
        let req = |m: &'static [u8]| parse_request(m).unwrap().unwrap();
        assert_eq!(route(&req(b"GET / HTTP/1.1\r\n\r\n")), ("200 OK", true));
        assert_eq!(route(&req(b"HEAD / HTTP/1.1\r\n\r\n")), ("200 OK", false));
        assert_eq!(route(&req(b"GET /nope HTTP/1.1\r\n\r\n")).0, "404 Not Found");
        assert_eq!(route(&req(b"DELETE / HTTP/1.1\r\n\r\n")).0, "405 Method Not Allowed");
        let srv = HttpServer::new("hi");
        let mut c = Conn::default();
        srv.respond(&mut c, "200 OK", true, true);
        let text = String::from_utf8(c.out.clone()).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Length: 2\r\n") && text.contains("Connection: keep-alive\r\n"));
        assert!(text.ends_with("\r\n\r\nhi"));
        assert!(!c.close_after);
        let mut c = Conn::default();
        srv.respond(&mut c, "200 OK", false, false);
        let text = String::from_utf8(c.out.clone()).unwrap();
        assert!(text.ends_with("Connection: close\r\n\r\n") && c.close_after, "HEAD has no body: {text}");
    }
}
