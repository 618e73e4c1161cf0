#!/usr/bin/env bash
# Builds the release binary and prints its path on the last line of stdout.
#
# On Linux with glibc the binary is linked statically and non-PIE: no dynamic loader, no shared
# libraries to map, no relocations at start-up. That halves the resident memory of a cached `get`
# (3.1 MiB instead of 4.6 MiB, measured) and shortens its start. Name lookups in a static glibc
# binary use the built-in `files` and `dns` sources of /etc/nsswitch.conf only.
# ECR_LOGIN_DYNAMIC=1 builds the ordinary dynamically linked binary instead.
#
# The static binary is also laid out for the helper's short-lived commands: lld reads
# install/hot-layout.ld (made by install/link-order.py from a trace of the cached `get`, its
# variants and `list`), which puts the ~500 functions they run, and the read-only data named
# after them, at the start of the text and rodata, so a cached `get` maps ~0.3 MiB of code
# instead of ~2.7 MiB (the kernel maps 64 KiB around every page fault in a file mapping). The
# script matches functions by v0-mangled name (`-C symbol-mangling-version=v0`: generic instances
# are named by their type arguments, and the hashes that change with every dependency bump are
# globbed out). The link map goes next to the binary (BINARY.map); `install/link-order.py check`
# reads it and the summary line below says how much of the layout this build still matched.
# ECR_LOGIN_NO_HOT_LAYOUT=1 links without the layout (for comparison).
#
# Reproducible: the same commit gives the same bytes from any checkout, cargo home or target dir
# (tests/package_test.sh proves it). The build-machine paths rustc would embed (panic locations,
# build-script output) are remapped to fixed names: the cargo home and target dir through
# RUSTFLAGS (the same for every checkout, so one target dir serves them all), the source
# directory through install/rustc-workspace-remap.sh (see there why not RUSTFLAGS).
# ECR_LOGIN_RUSTFLAGS adds rustc flags of your own (e.g. a linker option) to the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ecr-login-target}"
# A fixed length: the default abbreviation grows with the number of objects in the clone.
ECR_LOGIN_GIT_COMMIT="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
export ECR_LOGIN_GIT_COMMIT
mkdir -p "$CARGO_TARGET_DIR"
cargo_home="$(cd "${CARGO_HOME:-$HOME/.cargo}" && pwd -P)"
target_dir="$(cd "$CARGO_TARGET_DIR" && pwd -P)"
remap="--remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$target_dir=/target"
ECR_LOGIN_SRC_DIR="$(pwd -P)"
export ECR_LOGIN_SRC_DIR
export RUSTC_WORKSPACE_WRAPPER="$ECR_LOGIN_SRC_DIR/install/rustc-workspace-remap.sh"
extra="$remap ${ECR_LOGIN_RUSTFLAGS:-}"

host="$(rustc -vV | sed -n 's/^host: //p')"
if [[ $host == *-linux-gnu && -z ${ECR_LOGIN_DYNAMIC:-} ]]; then
  var="CARGO_TARGET_$(tr '[:lower:]-' '[:upper:]_' <<<"$host")_RUSTFLAGS"
  export "$var=-C target-feature=+crt-static -C relocation-model=static -C symbol-mangling-version=v0 $extra"
  binary="$CARGO_TARGET_DIR/$host/release/docker-credential-ecr-login"
  link_args=(-C "link-arg=-Wl,-Map=$binary.map")
  if [[ -z ${ECR_LOGIN_NO_HOT_LAYOUT:-} ]]; then
    # Passed by a path that names its content: cargo relinks when the layout changes (and only
    # the binary: these arguments go to the final rustc invocation alone, not to dependencies).
    layout_dir="$CARGO_TARGET_DIR/hot-layout"
    mkdir -p "$layout_dir"
    layout="$layout_dir/$(sha256sum install/hot-layout.ld | cut -c1-16).ld"
    [[ -f $layout ]] || cp install/hot-layout.ld "$layout"
    link_args+=(-C "link-arg=-Wl,-T,$layout")
  fi
  cargo rustc --release --locked --target "$host" --bin docker-credential-ecr-login -- "${link_args[@]}" >&2
  if [[ -z ${ECR_LOGIN_NO_HOT_LAYOUT:-} ]] && command -v python3 >/dev/null; then
    python3 install/link-order.py check "$binary" >&2 || true
  fi
  echo "$binary"
else
  export RUSTFLAGS="${RUSTFLAGS:-} $extra"
  cargo build --release --locked >&2
  echo "$CARGO_TARGET_DIR/release/docker-credential-ecr-login"
fi
