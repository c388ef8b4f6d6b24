//! URIs (`PROTO://ADDR/PORT`): the node's parser (`session::lookup`, used
//! by the config and the CLI) and the client library's (`shm::types::Endpoint`)
//! must agree on every string, and what they print parses back the same.
//! Also the other operator-typed values parsed on the way: sizes and
//! `a.b.c.d/len` prefixes.

use wire::ipv4::Cidr;
use session::lookup::parse_uri;
use shm::types::Endpoint;

/// Parses `data` (as UTF-8) every way.
pub fn run(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let node = parse_uri(s);
    let client = Endpoint::parse_uri(s);
    assert_eq!(node.is_ok(), client.is_some(), "node and client library agree on {s:?}");
    if let (Ok(n), Some(c)) = (&node, client) {
        assert_eq!((n.ip, n.port), (c.ip, c.port));
        assert_eq!(n.proto.to_string(), c.proto.as_str());
        let printed = n.to_string();
        assert_eq!(parse_uri(&printed).ok(), Some(*n), "printed URI {printed:?} parses back");
        assert_eq!(Endpoint::parse_uri(&c.to_string()), Some(c));
    }
    if let Some(v) = shm::echo::parse_size(s) {
        let _ = v;
    }
    if let Ok(c) = s.parse::<Cidr>() {
        assert!(c.prefix_len() <= 32);
        assert!(c.contains(c.network()));
        let _ = (c.netmask(), c.broadcast());
        assert_eq!(c.to_string().parse::<Cidr>().ok(), Some(c), "prefix prints and parses back");
    }
}
