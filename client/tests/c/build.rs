//! Builds `echo.c` against the client's static library and `dpnode_client.h`
//! (shared by the client crate's C test and the node's end-to-end tests).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory of the running test's profile (`target/debug`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    // target/<profile>/deps/<test>
    exe.parent().and_then(Path::parent).expect("target/<profile>").to_path_buf()
}

/// Builds the static library if it is missing, compiles `echo.c`, and returns the program.
pub fn build_echo_c() -> PathBuf {
    let client = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().find(|p| p.join("client/include").is_dir());
    let root = client.expect("workspace root").to_path_buf();
    let dir = profile_dir();
    let lib = dir.join("libdpnode_client.a");
    // `cargo test` builds the library as an rlib only; the static library comes from `cargo build`.
    let status = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "-p", "dpnode-client", "--lib"])
        .args(if dir.ends_with("release") { &["--release"][..] } else { &[][..] })
        .current_dir(&root)
        .status()
        .expect("run cargo");
    assert!(status.success() && lib.exists(), "cannot build {}", lib.display());
    let out = dir.join("dpnode-client-c-echo");
    let cc = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1", "-o"])
        .arg(&out)
        .arg(root.join("client/tests/c/echo.c"))
        .arg("-I")
        .arg(root.join("client/include"))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm"])
        .output()
        .expect("run cc");
    assert!(cc.status.success(), "cc failed:\n{}", String::from_utf8_lossy(&cc.stderr));
    out
}
