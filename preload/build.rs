//! Compiles the variadic exec calls (`src/variadic.c`; see there why they are C).

fn main() {
    println!("cargo:rerun-if-changed=src/variadic.c");
    cc::Build::new().file("src/variadic.c").warnings(true).extra_warnings(true).compile("dpnode_preload_variadic");
}
