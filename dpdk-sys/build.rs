//! Generates bindings to the system DPDK and compiles the static-inline shim.
//!
//! DPDK is found with the `pkg-config` crate (`libdpdk`); its include paths and
//! defines go to clang (bindgen) and to the C compiler (shim); its libs are
//! linked shared, so the PMDs (net_tap, net_memif, ...) are loaded by the EAL
//! from its plugin directory at run time.

use std::env;
use std::path::{Path, PathBuf};

fn fail(why: &str) -> ! {
    // A build script's stderr is what cargo shows when it fails.
    eprintln!(
        "\n\ndpdk-sys: DPDK was not found ({why}).\n\
         Install the system DPDK: apt-get install -y libdpdk-dev pkg-config clang libclang-dev\n\
         (or run scripts/setup).\n"
    );
    std::process::exit(1);
}

/// The `-march` DPDK was built with: `RTE_MACHINE` in its `rte_build_config.h`.
///
/// libdpdk's pkg-config file passes it (`-march=corei7` on Debian) next to
/// `-include rte_config.h`; the pkg-config crate keeps only include paths and
/// defines from the cflags, so both are restored here from DPDK's own build
/// record: its inline fast-path functions (the shim) need the instruction
/// set the library was compiled for.
fn dpdk_machine(include_paths: &[PathBuf]) -> Option<String> {
    include_paths.iter().find_map(|dir| {
        let text = std::fs::read_to_string(Path::new(dir).join("rte_build_config.h")).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("#define RTE_MACHINE ").map(|m| m.trim().trim_matches('"').to_string()))
    })
}

fn main() {
    println!("cargo:rerun-if-changed=shim/shim.c");
    println!("cargo:rerun-if-changed=shim/shim.h");

    // Links every DPDK library shared (the EAL loads the PMDs -- net_tap,
    // net_memif, ... -- from its plugin directory at run time) and tells cargo
    // to rerun when PKG_CONFIG_PATH and friends change.
    let lib = pkg_config::Config::new().probe("libdpdk").unwrap_or_else(|e| fail(e.to_string().trim()));
    let version = lib.version.clone();
    println!("cargo:version={version}");
    println!("cargo:rustc-env=DPDK_VERSION={version}");

    let mut cflag_list: Vec<String> = lib.include_paths.iter().map(|p| format!("-I{}", p.display())).collect();
    let mut defines: Vec<_> = lib.defines.iter().collect();
    defines.sort();
    for (k, v) in defines {
        cflag_list.push(match v {
            Some(v) => format!("-D{k}={v}"),
            None => format!("-D{k}"),
        });
    }
    // Every DPDK application is built with it (libdpdk's cflags say so).
    cflag_list.extend(["-include".to_string(), "rte_config.h".to_string()]);
    let machine = dpdk_machine(&lib.include_paths).map(|m| format!("-march={m}"));

    let mut build = cc::Build::new();
    build.file("shim/shim.c").include("shim").opt_level(3).warnings(false);
    for f in cflag_list.iter().chain(&machine) {
        build.flag(f);
    }
    build.compile("dpnshim");

    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let bindings = bindgen::Builder::default()
        .header("shim/shim.h")
        .clang_args(&cflag_list)
        .clang_arg("-Ishim")
        .allowlist_function("rte_eal_(init|cleanup|process_type|has_hugepages|get_runtime_dir)")
        .allowlist_function("rte_strerror")
        .allowlist_function("rte_thread_(register|unregister)")
        .allowlist_function("rte_socket_id")
        .allowlist_function("rte_get_tsc_hz")
        .allowlist_function("rte_lcore_count")
        .allowlist_function("rte_pktmbuf_pool_create")
        .allowlist_function("rte_pktmbuf_free_bulk")
        .allowlist_function("rte_mempool_(free|avail_count|in_use_count|lookup)")
        .allowlist_function("rte_eth_dev_(count_avail|configure|start|stop|close|info_get|socket_id|get_port_by_name|get_name_by_port|rss_reta_update|rss_reta_query|rss_hash_update|rss_hash_conf_get|set_mtu|get_mtu|is_valid_port|set_link_up)")
        .allowlist_function("rte_eth_(rx_queue_setup|tx_queue_setup|macaddr_get|link_get_nowait|stats_get|stats_reset|promiscuous_enable|allmulticast_enable|find_next)")
        .allowlist_function("rte_dev_probe")
        .allowlist_function("rte_eal_hotplug_(add|remove)")
        .allowlist_function("rte_eal_alarm_set")
        .allowlist_function("rte_eth_dev_callback_(register|unregister)")
        .allowlist_function("dpn_.*")
        .allowlist_type("rte_eth_conf|rte_eth_dev_info|rte_eth_link|rte_eth_stats|rte_ether_addr|rte_eth_rxconf|rte_eth_txconf|rte_eth_rss_reta_entry64|rte_eth_rss_conf")
        .allowlist_var("RTE_MAX_ETHPORTS|RTE_ETHDEV_QUEUE_STAT_CNTRS|RTE_PKTMBUF_HEADROOM|RTE_MBUF_DEFAULT_BUF_SIZE|RTE_ETH_RETA_GROUP_SIZE|RTE_ETH_LINK_.*")
        .opaque_type("rte_mbuf")
        .opaque_type("rte_mempool")
        .opaque_type("rte_eth_dev_portconf|rte_eth_switch_info|rte_eth_dev_portconf")
        .blocklist_type("max_align_t")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .default_enum_style(bindgen::EnumVariation::Consts)
        .generate()
        .unwrap_or_else(|e| fail(&format!("bindgen failed: {e}")));
    bindings.write_to_file(out.join("bindings.rs")).expect("write bindings");
}
