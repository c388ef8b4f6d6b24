//! The adapter: CLI words and config values give the same structs and the same errors.

use super::*;

fn client(words: &str) -> Result<EchoClientOptions, OptionsError> {
    EchoClientOptions::from_words(&words.split_whitespace().collect::<Vec<_>>())
}

fn server(words: &str) -> Result<EchoServerOptions, OptionsError> {
    EchoServerOptions::from_words(&words.split_whitespace().collect::<Vec<_>>())
}

/// The same options as a TOML `[[app]]`-style table.
fn client_toml(text: &str) -> Result<EchoClientOptions, String> {
    toml::from_str::<EchoClientOptions>(text).map_err(|e| e.message().to_string())
}

#[test]
fn words_give_typed_values() {
    let c = client(
        "uri tcp://198.18.0.1/7 sessions 4 bytes 1m chunk 64k window 8 timeout 2.5 mode rr duration 3 \
         scope local proxy none fifo-size 128k segment-size 64m prealloc-fifos 2 mss 1200 cc newreno \
         no-delay on namespace blue secret 42 name c1 socket /tmp/a.sock threads 2 eventfd off \
         event-queue-size 4096 add-segment-size 0",
    )
    .unwrap();
    assert_eq!(c.common.uri, Endpoint::parse_uri("tcp://198.18.0.1/7").unwrap());
    assert_eq!((c.sessions(), c.bytes(), c.chunk(), c.window()), (4, 1 << 20, 64 << 10, 8));
    assert_eq!(
        (c.timeout(), c.mode(), c.client.duration),
        (Duration::from_millis(2500), EchoMode::Rr, Some(Duration::from_secs(3)))
    );
    assert_eq!((c.common.scope, c.common.proxy), (Some(Scope::LOCAL), Some(ProxySet::NONE)));
    assert_eq!(
        (c.common.fifo_size, c.common.segment_size, c.common.prealloc_fifos),
        (Some(128 << 10), Some(64 << 20), Some(2))
    );
    let t = c.common.transport();
    assert_eq!((t.mss, t.cc, t.no_delay), (Some(1200), Cc::NewReno, true));
    assert_eq!(
        (c.common.namespace.as_deref(), c.common.secret, c.common.name.as_deref()),
        (Some("blue"), Some(42), Some("c1"))
    );
    assert_eq!(c.external.socket, Some(PathBuf::from("/tmp/a.sock")));
    assert_eq!(
        (c.external.threads, c.external.eventfd, c.external.event_queue_size),
        (Some(2), Some(false), Some(4096))
    );
    assert_eq!(c.external.add_segment_size, Some(0));
    // Old spellings and underscores.
    let c = client("uri udp://1.1.1.1/7 nodelay yes workers 3 fifo_size 4k").unwrap();
    assert_eq!((c.common.no_delay, c.external.threads, c.common.fifo_size), (Some(true), Some(3), Some(4096)));
    assert_eq!(c.common.attach_options(AttachOptions::default()).scope(), Scope::GLOBAL, "none given: global");
    assert_eq!(server("uri tcp://0.0.0.0/7 scope global,local").unwrap().common.scope, Some(Scope::BOTH));
}

#[test]
fn options_give_one_set_of_attach_options() {
    let c = client(
        "uri tcp://198.18.0.1/7 scope both proxy tcp fifo-size 128k segment-size 64m prealloc-fifos 2 \
         namespace blue secret 42 eventfd off event-queue-size 4096 add-segment-size 16m",
    )
    .unwrap();
    let o = c.external.attach_options(c.common.attach_options(AttachOptions::default()));
    let want = AttachOptions {
        namespace: "blue".into(),
        secret: 42,
        scope: Scope::BOTH,
        segment_size: 64 << 20,
        add_segment_size: 16 << 20,
        prealloc_fifo_pairs: 2,
        rx_fifo_size: 128 << 10,
        tx_fifo_size: 128 << 10,
        event_queue_size: 4096,
        use_eventfd: false,
        proxy: ProxySet::TCP,
        tls_engine: 0,
        builtin: false,
    };
    assert_eq!(o, want);
    // Unset options keep the defaults they were given: a builtin's stay a builtin's.
    let b = client("uri udp://198.18.0.1/7").unwrap().common.attach_options(AttachOptions::builtin());
    assert_eq!(b, AttachOptions::builtin());
}

#[test]
fn defaults_follow_the_builtin_client() {
    let c = client("uri udp://198.18.0.1/7").unwrap();
    assert_eq!(
        (c.sessions(), c.bytes(), c.chunk(), c.window(), c.timeout()),
        (1, 1 << 20, 1400, 32, Duration::from_secs(60))
    );
    assert_eq!((c.mode(), c.connections()), (EchoMode::Bulk, 0));
    assert_eq!(client("uri tcp://198.18.0.1/7").unwrap().chunk(), 64 << 10);
    assert_eq!(client("uri tcp://1.2.3.4/7 mode cps").unwrap().connections(), DEFAULT_CONNECTIONS);
    assert_eq!(client("uri tcp://1.2.3.4/7 mode cps duration 1").unwrap().connections(), 0, "time-bound");
    assert_eq!(client("uri tcp://1.2.3.4/7 connections 50 mode cps").unwrap().connections(), 50, "any order");
}

#[test]
fn errors_name_the_key_as_written_with_the_range() {
    for (words, text) in [
        ("uri tcp://1.2.3.4/7 mss 0", "mss: 0 is outside 88..=9000"),
        ("uri tcp://1.2.3.4/7 mss 70000", "mss: 70000 is outside 88..=9000"),
        (
            "uri tcp://1.2.3.4/7 fifo-size 5000",
            "fifo-size: 5000 is not a power of two (accepted: 4k..=64m, a power of two)",
        ),
        ("uri tcp://1.2.3.4/7 fifo_size 3k", "fifo_size: 3072 is outside 4k..=64m, a power of two"),
        (
            "uri tcp://1.2.3.4/7 no-delay maybe",
            "no-delay: \"maybe\" is not on or off (on, off, yes, no, true, false, 1, 0)",
        ),
        ("uri tcp://1.2.3.4/7 sessions 0", "sessions: 0 is outside 1..=16384"),
        ("uri tcp://1.2.3.4/7 duration inf", "duration: inf is outside 0.1..=86400 s"),
        ("uri tcp://1.2.3.4/7 timeout NaN", "timeout: NaN is outside 0.1..=86400 s"),
        ("uri tcp://1.2.3.4/7 scope everywhere", "scope: \"everywhere\" is not global, local or both"),
        ("uri tcp://1.2.3.4/7 proxy all", "proxy: \"all\" is not tcp, udp, both or none"),
        ("uri tcp://1.2.3.4/7 cc vegas", "cc: \"vegas\" is not newreno or cubic"),
        ("uri tcp://1.2.3.4/7 mode fast", "mode: \"fast\" is not bulk, rr or cps"),
        ("uri tcp://1.2.3.4/7 secret x", "secret: \"x\" is not a number"),
        ("uri tcp://1.2.3.4/7 threads 65", "threads: 65 is outside 1..=64"),
        ("uri tcp://1.2.3.4/7 colour red", "colour: unknown option"),
        ("uri tcp://1.2.3.4/7 body hi", "body: only an http server takes it"),
        ("uri tcp://1.2.3.4/7 mss 1000 mss 1200", "mss: is given twice"),
        ("uri bogus", "uri: \"bogus\" is not PROTO://ADDR/PORT (PROTO tcp, udp, tls or quic)"),
        ("sessions 4", "uri: is required (e.g. uri udp://0.0.0.0/7)"),
        ("uri tcp://1.2.3.4/7 sessions", "sessions: needs a value"),
        ("uri tcp://1.2.3.4/7 connections 5", "connections: only mode cps takes it (mode is bulk)"),
        ("uri udp://1.2.3.4/7 mode cps", "mode: cps needs a tcp uri (UDP has no connections to open and close)"),
    ] {
        assert_eq!(client(words).unwrap_err().to_string(), text, "{words}");
    }
    assert_eq!(
        server("uri tcp://0.0.0.0/7 sessions 4").unwrap_err().to_string(),
        "sessions: only an echo client takes it"
    );
    assert_eq!(server("uri tcp://0.0.0.0/7 mode rr").unwrap_err().to_string(), "mode: only an echo client takes it");
    let e = HttpServerOptions::from_words(&["uri", "tcp://0.0.0.0/80", "threads", "2"]).unwrap_err();
    assert_eq!(e.to_string(), "threads: only an external echo app (dpnode echo) takes it");
}

#[test]
fn config_values_give_the_same_structs_and_errors() {
    let words =
        client("uri tcp://198.18.0.1/7 sessions 3 bytes 1m fifo-size 64k no-delay on timeout 2.5 mode rr").unwrap();
    let toml = client_toml(
        "uri = 'tcp://198.18.0.1/7'\nsessions = 3\nbytes = '1m'\nfifo_size = 65536\nno_delay = true\ntimeout = 2.5\nmode = 'rr'\n",
    )
    .unwrap();
    assert_eq!(words, toml);
    // Integers and strings both take sizes; a whole number of seconds is fine.
    let t = client_toml("uri = 'tcp://1.1.1.1/7'\nchunk = '1k'\nduration = 2\n").unwrap();
    assert_eq!((t.chunk(), t.client.duration), (1024, Some(Duration::from_secs(2))));
    for (text, err) in [
        ("mss = 0", "mss: 0 is outside 88..=9000"),
        ("mss = '0'", "mss: 0 is outside 88..=9000"),
        ("sessions = -1", "sessions: -1 is outside 1..=16384"),
        ("duration = 0.0", "duration: 0 is outside 0.1..=86400 s"),
        ("fifo_size = '5000'", "fifo_size: 5000 is not a power of two (accepted: 4k..=64m, a power of two)"),
        ("no_delay = 'maybe'", "no_delay: \"maybe\" is not on or off (on, off, yes, no, true, false, 1, 0)"),
        ("scope = 'everywhere'", "scope: \"everywhere\" is not global, local or both"),
        ("colour = 'red'", "colour: unknown option"),
    ] {
        let e = client_toml(&format!("uri = 'tcp://1.1.1.1/7'\n{text}\n")).unwrap_err();
        assert_eq!(e, err, "{text}");
    }
    let e = client_toml("uri = 'tcp://1.1.1.1/7'\nname = ['a']\n").unwrap_err();
    assert!(e.starts_with("name: "), "{e}");
}

#[test]
fn builtin_runners_refuse_the_external_options() {
    let e = server("uri tcp://0.0.0.0/7 duration 3").unwrap().check_builtin().unwrap_err();
    assert!(e.to_string().starts_with("duration: only an echo client or an external echo server"), "{e}");
    let e = client("uri tcp://1.1.1.1/7 socket /x").unwrap().check_builtin().unwrap_err();
    assert_eq!(e.to_string(), "socket: only an external app takes it (dpnode echo)");
    assert!(client("uri tcp://1.1.1.1/7 sessions 2").unwrap().check_builtin().is_ok());
}

#[test]
fn tls_uris_take_the_tls_keys_of_their_side() {
    let s = server("uri tls://0.0.0.0/443 cert /c.pem key /k.pem alpn h2,http/1.1").unwrap();
    assert!(s.tls.enabled);
    assert_eq!(s.common.uri, "tcp://0.0.0.0/443".parse().unwrap(), "a tls uri is a tcp endpoint");
    assert_eq!((s.tls.cert.as_deref(), s.tls.key.as_deref()), (Some("/c.pem"), Some("/k.pem")));
    assert_eq!(s.tls.alpn, Some(vec!["h2".to_string(), "http/1.1".to_string()]));
    let c = client("uri TLS://198.18.0.1/443 ca /ca.pem server-name a.test insecure on").unwrap();
    assert!(c.tls.enabled && c.tls.insecure == Some(true));
    assert_eq!(c.tls.server_name.as_deref(), Some("a.test"));
    assert!(!client("uri tcp://198.18.0.1/7").unwrap().tls.enabled);
    for (words, text) in [
        ("uri tcp://1.2.3.4/7 ca /x", "ca: only a tls:// uri takes it"),
        ("uri tls://1.2.3.4/7 cert /x", "cert: only a tls server takes it"),
        ("uri tls://1.2.3.4/7 alpn ,x", "alpn: \"\": a protocol name is 1 to 255 bytes"),
        (
            "uri tls://1.2.3.4/7 insecure maybe",
            "insecure: \"maybe\" is not on or off (on, off, yes, no, true, false, 1, 0)",
        ),
    ] {
        assert_eq!(client(words).unwrap_err().to_string(), text, "{words}");
    }
    assert_eq!(
        server("uri tls://0.0.0.0/7 cert /c").unwrap_err().to_string(),
        "key: a tls:// server needs cert and key (PEM files)"
    );
    assert_eq!(
        server("uri tls://0.0.0.0/7 cert /c key /k ca /a").unwrap_err().to_string(),
        "ca: only a tls client takes it"
    );
    let e = server("uri tls://0.0.0.0/7 cert /c key /k").unwrap().tls.refuse_for_external().unwrap_err();
    assert!(e.to_string().starts_with("uri: tls:// is for builtin apps only"), "{e}");
}

#[test]
fn quic_uris_are_udp_endpoints_with_the_tls_keys_and_streams() {
    let s = server("uri quic://0.0.0.0/4433 cert /c.pem key /k.pem").unwrap();
    assert!(s.tls.enabled && s.tls.quic);
    assert_eq!(s.common.uri, "udp://0.0.0.0/4433".parse().unwrap(), "a quic uri is a udp endpoint");
    let c = client("uri QUIC://198.18.0.1/4433 ca /ca.pem server-name a.test streams 10").unwrap();
    assert!(c.tls.quic && c.tls.ca.as_deref() == Some("/ca.pem"));
    assert_eq!(c.client.streams, Some(10));
    for (words, text) in [
        ("uri udp://1.2.3.4/7 streams 2", "streams: only a quic:// uri takes it"),
        ("uri tcp://1.2.3.4/7 streams 2", "streams: only a quic:// uri takes it"),
        ("uri quic://1.2.3.4/7 streams 0", "streams: 0 is outside 1..=1000"),
        ("uri quic://1.2.3.4/7 mode cps", "mode: cps needs a tcp uri (UDP has no connections to open and close)"),
    ] {
        assert_eq!(client(words).unwrap_err().to_string(), text, "{words}");
    }
    assert_eq!(
        server("uri quic://0.0.0.0/7 cert /c").unwrap_err().to_string(),
        "key: a tls:// server needs cert and key (PEM files)"
    );
    let e = server("uri quic://0.0.0.0/7 cert /c key /k").unwrap().tls.refuse_for_external().unwrap_err();
    assert!(e.to_string().starts_with("uri: quic:// is for builtin apps only"), "{e}");
    let e = HttpServerOptions::from_words(&["uri", "quic://0.0.0.0/443"]).unwrap_err();
    assert_eq!(e.to_string(), "uri: quic:// is for the echo apps (no HTTP/3 server)");
}
