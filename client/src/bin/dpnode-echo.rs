//! `dpnode-echo server|client ...`: the external echo apps as a program of
//! their own, linked only against the client library (no DPDK).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if matches!(args.first().map(String::as_str), None | Some("help" | "--help" | "-h")) {
        println!("{}", dpnode_client::echo::USAGE);
        std::process::exit(if args.is_empty() { 2 } else { 0 });
    }
    std::process::exit(dpnode_client::echo::main(&args));
}
