//! Links the release binary as a non-PIE executable on Linux.
//!
//! The helper is a short-lived process started for every registry operation; a PIE binary this
//! size spends its start-up applying ~20,000 relative relocations, which reads the whole
//! relocation table and dirties every page of `.data.rel.ro` — about 1 MiB of resident memory
//! and half the run time of a cached `get` (measured; see the README's performance section).
//! A static build (`+crt-static`, see `install/build-release.sh`) is made non-PIE by its own
//! `-C relocation-model=static` instead. Debug builds and tests keep the default.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let static_crt = std::env::var("CARGO_CFG_TARGET_FEATURE")
        .is_ok_and(|f| f.split(',').any(|x| x == "crt-static"));
    if linux && release && !static_crt {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
