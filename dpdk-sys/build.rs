//! Generates bindings to the system DPDK and compiles the static-inline shim.
//!
//! DPDK is found with `pkg-config libdpdk`; its cflags go to clang (bindgen) and
//! to the C compiler (shim); its libs are linked shared, so the PMDs (net_tap,
//! net_memif, ...) are loaded by the EAL from its plugin directory at run time.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn pkg_config(args: &[&str]) -> Result<String, String> {
    let out = Command::new("pkg-config")
        .args(args)
        .arg("libdpdk")
        .output()
        .map_err(|e| format!("cannot run pkg-config ({e}); install it: apt-get install -y pkg-config"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn fail(why: &str) -> ! {
    eprintln!(
        "\n\ndpdk-sys: DPDK was not found ({why}).\n\
         Install the system DPDK: apt-get install -y libdpdk-dev pkg-config clang libclang-dev\n\
         (or run scripts/setup).\n"
    );
    std::process::exit(1);
}

fn main() {
    println!("cargo:rerun-if-changed=shim/shim.c");
    println!("cargo:rerun-if-changed=shim/shim.h");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let version = pkg_config(&["--modversion"]).unwrap_or_else(|e| fail(e.trim()));
    let cflags = pkg_config(&["--cflags"]).unwrap_or_else(|e| fail(e.trim()));
    let libs = pkg_config(&["--libs"]).unwrap_or_else(|e| fail(e.trim()));
    println!("cargo:version={version}");
    println!("cargo:rustc-env=DPDK_VERSION={version}");

    // Split cflags keeping "-include rte_config.h" as a pair.
    let cflag_list: Vec<String> = cflags.split_whitespace().map(str::to_string).collect();

    for tok in libs.split_whitespace() {
        if let Some(dir) = tok.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(lib) = tok.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={lib}");
        } else if tok.starts_with("-Wl,") {
            println!("cargo:rustc-link-arg={tok}");
        }
    }

    let mut build = cc::Build::new();
    build.file("shim/shim.c").include("shim").opt_level(3).warnings(false);
    let mut it = cflag_list.iter();
    while let Some(f) = it.next() {
        if f == "-include" {
            if let Some(h) = it.next() {
                build.flag("-include").flag(h);
            }
        } else if f.starts_with("-march") {
            // Keep the host baseline chosen by Debian's DPDK (corei7).
            build.flag(f);
        } else {
            build.flag(f);
        }
    }
    build.compile("dpnshim");

    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let bindings = bindgen::Builder::default()
        .header("shim/shim.h")
        .clang_args(cflag_list.iter().filter(|f| !f.starts_with("-march")))
        .clang_arg("-Ishim")
        .allowlist_function("rte_eal_(init|cleanup|process_type|has_hugepages|get_runtime_dir)")
        .allowlist_function("rte_strerror")
        .allowlist_function("rte_thread_(register|unregister)")
        .allowlist_function("rte_socket_id")
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
