#!/usr/bin/python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (real packets,
configs, CLI lines, HTTP requests, URIs). Needs scapy (pip or
python3-scapy). The API and queue seeds come from the Rust encoders:
`cargo test --test replay -- --ignored write_seeds` in fuzz/."""
import os, re, sys
from scapy.all import Ether, ARP, IP, ICMP, UDP, TCP, Raw, raw

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NODE, PEER = "198.18.0.2", "198.18.0.1"
NMAC, PMAC = "02:00:00:00:00:02", "02:00:00:00:00:01"

def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

def l3():
    ip = IP(src=PEER, dst=NODE)
    return {
        "icmp-echo": ip / ICMP(id=0x1234, seq=1) / Raw(b"abcdefghijklmnop"),
        "icmp-port-unreach": IP(src=NODE, dst=PEER) / ICMP(type=3, code=3) / raw(ip / UDP(sport=5000, dport=9))[:28],
        "udp-echo": ip / UDP(sport=5000, dport=7) / Raw(b"hello"),
        "udp-nocsum": ip / UDP(sport=5000, dport=7, chksum=0) / Raw(b"x" * 64),
        "tcp-syn-linux": ip / TCP(sport=40000, dport=7, flags="S", seq=1000, window=64240,
                                 options=[("MSS", 1460), ("SAckOK", b""), ("Timestamp", (555, 0)), ("NOP", None), ("WScale", 7)]),
        "tcp-synack": IP(src=NODE, dst=PEER) / TCP(sport=7, dport=40000, flags="SA", seq=5000, ack=1001,
                                 options=[("MSS", 1460), ("NOP", None), ("NOP", None), ("SAckOK", b"")]),
        "tcp-data": ip / TCP(sport=40000, dport=7, flags="PA", seq=1001, ack=5001, window=502,
                             options=[("NOP", None), ("NOP", None), ("Timestamp", (556, 777))]) / Raw(b"GET / HTTP/1.1\r\n\r\n"),
        "tcp-sack": ip / TCP(sport=40000, dport=7, flags="A", seq=1001, ack=5001,
                             options=[("NOP", None), ("NOP", None), ("SAck", (6001, 7001, 8001, 9001, 10001, 11001))]),
        "tcp-fin": ip / TCP(sport=40000, dport=7, flags="FA", seq=2000, ack=6000),
        "tcp-rst": ip / TCP(sport=40000, dport=7, flags="R", seq=2000),
        "ip-options-ra": IP(src=PEER, dst=NODE, options=[b"\x94\x04\x00\x00"]) / UDP(sport=1, dport=2),
        "ip-lsrr": IP(src=PEER, dst=NODE, options=[b"\x83\x07\x04\xc6\x12\x00\x03\x00"]) / UDP(sport=1, dport=2),
        "ip-fragment": IP(src=PEER, dst=NODE, flags="MF", frag=0) / UDP(sport=1, dport=2) / Raw(b"y" * 32),
    }

def wire():
    pkts = l3()
    for name, p in pkts.items():
        b = raw(p)
        put("wire_ipv4", name, b)
        put("wire_ethernet", name, raw(Ether(src=PMAC, dst=NMAC) / p))
        payload = raw(p[IP].payload)
        if p.haslayer(ICMP):
            put("wire_icmp", name, payload)
        elif p.haslayer(UDP):
            put("wire_udp", name, payload)
        elif p.haslayer(TCP):
            put("wire_tcp", name, payload)
    arp_req = ARP(op=1, hwsrc=PMAC, psrc=PEER, pdst=NODE)
    arp_rep = ARP(op=2, hwsrc=NMAC, psrc=NODE, hwdst=PMAC, pdst=PEER)
    for name, a in {"arp-request": arp_req, "arp-reply": arp_rep}.items():
        put("wire_arp", name, raw(a))
        put("wire_ethernet", name, raw(Ether(src=PMAC, dst="ff:ff:ff:ff:ff:ff") / a))
    put("wire_ethernet", "vlan-tagged", bytes.fromhex("ffffffffffff020000000001810000640800") + raw(pkts["udp-echo"]))

def configs():
    src = open(os.path.join(ROOT, "src", "config.rs")).read()
    m = re.search(r'pub const DEFAULT_CONFIG: &str = r#"(.*?)"#;', src, re.S)
    put("config", "default", m.group(1))
    # The end-to-end tests' node (tests/common: tap_node) and a memif pair member.
    put("config", "tap-node", '[dpdk]\nhugepages = "off"\n\n[[interface]]\nname = "tap0"\nvdev = "net_tap0,iface=dpnt1"\nip4 = "198.18.0.2/24"\n\n[tcp]\nsyn_cookies = "never"\n')
    put("config", "memif-client", '[dpdk]\nhugepages = "auto"\n[[interface]]\nname = "m0"\nvdev = "net_memif0,role=client,socket=/tmp/m.sock"\nip4 = "198.18.2.1/24"\n[workers]\ncores = [1]\nidle = "poll"\n')
    put("config", "everything", """[dpdk]
hugepages = "off"
memory_mb = 512
mbufs = 8191
mbuf_cache = 128
rx_desc = 512
tx_desc = 512
eal_args = ["--log-level=pmd:debug"]
[[interface]]
name = "tap0"
vdev = "net_tap0,iface=dpn0"
ip4 = "198.18.0.2/24"
mtu = 1500
checksum_offload = false
[[interface]]
name = "m0"
vdev = "net_memif0,role=server,socket=/tmp/m.sock"
ip4 = "198.18.2.2/24"
[[route]]
prefix = "0.0.0.0/0"
via = "198.18.0.1"
[workers]
cores = [0, 1]
idle = "poll"
idle_sleep_us = 50
idle_after_polls = 128
[cli]
socket = "/tmp/cli.sock"
[api]
socket = "/tmp/api.sock"
[tcp]
mss = 1460
min_rto_ms = 200
initial_rto_ms = 1000
delayed_ack_ms = 40
time_wait_ms = 60000
cc = "newreno"
sack = true
window_scale = true
timestamps = false
nagle = false
keepalive = true
max_half_open = 64
syn_cookies = "always"
[fault]
drop_percent = 1.5
duplicate_percent = 1
reorder_percent = 2
direction = "both"
seed = 42
reorder_hold_us = 1000
[[app]]
kind = "echo-server"
uri = "tcp://0.0.0.0/7"
fifo_size = "256k"
scope = "both"
[[app]]
kind = "echo-client"
uri = "udp://198.18.0.1/7"
sessions = 4
bytes = "10m"
chunk = 1400
window = 16
timeout = 30
mode = "rr"
[[app]]
kind = "http-server"
uri = "tcp://0.0.0.0/80"
name = "web"
""")

CLI = [
    "show interface", "show errors", "show counters", "clear errors", "show threads", "show ip arp",
    "show ip route", "show buffers", "show version", "show fault", "help",
    "ping 198.18.0.1 count 3 size 100 interval 0.2",
    "set fault drop 5 duplicate 1 reorder 2 direction both seed 7 hold 500",
    "set fault off",
    "show app", "show app server", "show app client", "show app 0 verbose", "show app verbose", "show app ns",
    "show session verbose", "show tcp stats", "show api",
    "app ns add id blue secret 42 interface null0",
    "test echo server uri tcp://0.0.0.0/7 name e7 scope both fifo-size 16k mss 1200 cc newreno no-delay on\napp listen e7 udp://0.0.0.0/9\napp unlisten e7 udp://0.0.0.0/9\napp detach e7",
    "test echo server uri udp://0.0.0.0/7 namespace blue secret 42 scope local proxy udp",
    "test http server uri tcp://0.0.0.0/80 name web fifo-size 64k",
    "test echo client uri tcp://198.18.0.1/7 mode cps connections 100 chunk 64 duration 1 timeout 2",
    "test echo client uri udp://198.18.0.1/7 mode rr sessions 2 bytes 1m window 8",
]

def cli():
    for i, line in enumerate(CLI):
        put("cli", f"line-{i:02}", line + "\n")

def http():
    reqs = [
        b"GET / HTTP/1.1\r\nHost: 198.18.0.2\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n",
        b"HEAD /index.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        b"POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\nGET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n",
    ]
    for i, r in enumerate(reqs):
        put("http", f"request-{i}", r)

def uri():
    for i, u in enumerate(["tcp://0.0.0.0/7", "udp://198.18.0.1:7", "TCP://198.18.0.2/65535", "udp://1.2.3.4/0",
                           "198.18.0.2/24", "10.0.0.0/8", "64k", "1m", "4096"]):
        put("uri", f"seed-{i}", u)

def wire6():
    from scapy.layers.inet6 import (IPv6, ICMPv6EchoRequest, ICMPv6DestUnreach, ICMPv6PacketTooBig,
        ICMPv6TimeExceeded, ICMPv6ParamProblem, ICMPv6ND_NS, ICMPv6ND_NA, ICMPv6ND_RS, ICMPv6ND_RA,
        ICMPv6NDOptSrcLLAddr, ICMPv6NDOptDstLLAddr, ICMPv6NDOptMTU, ICMPv6NDOptPrefixInfo,
        IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrRouting, RouterAlert, PadN)
    node, peer, ll = "fd00:198:18::2", "fd00:198:18::1", "fe80::ff:fe00:1"
    sn = "ff02::1:ff00:2"  # the fuzz crate's SRC6/DST6 are ll -> sn
    ip = IPv6(src=peer, dst=node)
    pkts = {
        "echo": ip / ICMPv6EchoRequest(id=0x1234, seq=1, data=b"abcdefghij"),
        "ns": IPv6(src=ll, dst=sn, hlim=255) / ICMPv6ND_NS(tgt=node) / ICMPv6NDOptSrcLLAddr(lladdr=PMAC),
        "ns-dad": IPv6(src="::", dst=sn, hlim=255) / ICMPv6ND_NS(tgt=node),
        "na": IPv6(src=node, dst=ll, hlim=255) / ICMPv6ND_NA(S=1, O=1, tgt=node) / ICMPv6NDOptDstLLAddr(lladdr=NMAC),
        "rs": IPv6(src=ll, dst="ff02::2", hlim=255) / ICMPv6ND_RS() / ICMPv6NDOptSrcLLAddr(lladdr=PMAC),
        "ra": IPv6(src="fe80::1", dst="ff02::1", hlim=255) / ICMPv6ND_RA() / ICMPv6NDOptSrcLLAddr(lladdr=PMAC)
              / ICMPv6NDOptMTU(mtu=1500) / ICMPv6NDOptPrefixInfo(prefixlen=64, prefix="fd00:198:18::"),
        "ptb": IPv6(src=node, dst=peer) / ICMPv6PacketTooBig(mtu=1280) / (ip / UDP(sport=5000, dport=7) / b"hello"),
        "unreach": IPv6(src=node, dst=peer) / ICMPv6DestUnreach(code=4) / (ip / UDP(sport=5000, dport=7)),
        "timeex": IPv6(src=node, dst=peer) / ICMPv6TimeExceeded(code=1) / (ip / UDP(sport=5000, dport=7)),
        "paramprob": IPv6(src=node, dst=peer) / ICMPv6ParamProblem(code=1, ptr=40) / IPv6(src=peer, dst=node, nh=200),
        "udp": ip / UDP(sport=5000, dport=7) / b"hello",
        "tcp-syn": ip / TCP(sport=40000, dport=80, flags="S", options=[("MSS", 1440)]),
        "ext-chain": ip / IPv6ExtHdrHopByHop(options=[RouterAlert(value=0), PadN(optdata=b"")])
                     / IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0\0\0\0")]) / UDP(sport=5000, dport=7) / b"hi",
        "fragment": ip / IPv6ExtHdrFragment(offset=0, m=1, id=0xdeadbeef) / UDP(sport=5000, dport=7) / (b"x" * 16),
        "rh0": ip / IPv6ExtHdrRouting(type=0, addresses=["fd00::9"]) / UDP(sport=5000, dport=7) / b"x",
    }
    for name, p in pkts.items():
        put("wire_ipv6", name, raw(p))
        put("wire_ethernet", "ipv6-" + name, raw(Ether(src=PMAC, dst=NMAC) / p))
    # ICMPv6 alone, with its checksum over the fuzz crate's SRC6 -> DST6.
    for name in ["echo", "ns", "na", "rs", "ra", "ptb", "unreach", "timeex", "paramprob"]:
        p = pkts[name].copy()
        p.src, p.dst = ll, sn
        del p.payload.cksum
        put("wire_icmpv6", name, raw(IPv6(raw(p)).payload))

if __name__ == "__main__":
    wire(); wire6(); configs(); cli(); http(); uri()
