//! The C header and the static library, from C: `tests/c/echo.c` is
//! compiled with `cc` against `include/dpnode_client.h`; its static
//! assertions pin the header's structs to the wire layouts, and what it
//! prints is compared with the Rust encoders here. (The node's end-to-end
//! tests run the same program as an external echo server.)

#[path = "c/build.rs"]
mod build;

use std::process::Command;

use shm::api::{Body, Kind, Message};
use shm::msg::{Request, SessionRef, MAX_PAYLOAD};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn c_program_agrees_with_the_rust_encoders() {
    let prog = build::build_echo_c();
    let out = Command::new(&prog).arg("check").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();

    let mut detach = Vec::new();
    Message::request(Kind::DetachRequest, 0x1122_3344_5566_7788, Body::Detach { app: 0 }).emit(&mut detach);
    assert_eq!(lines[0], hex(&detach[..shm::api::HEADER_LEN]), "API header");

    let mut p = [0u8; MAX_PAYLOAD];
    let n =
        Request::Tx { session: SessionRef { session: (1 << 32) | 7, generation: 3 }, want_tx_space: true }.emit(&mut p);
    assert_eq!(lines[1], hex(&p[..n]), "queue session reference");

    assert_eq!(lines[2], "wrong namespace secret");
    assert_eq!(lines[3], "65536 2048 4", "defaults: 64 KiB fifos, 2048 slots, eventfd on");
    assert_eq!(lines[4], dpnode_client::EIO.to_string(), "no node: an i/o error");
    assert_eq!(lines[5], dpnode_client::EINVAL.to_string(), "NULL worker: invalid argument");
}
