#!/bin/sh
# RUSTC_WORKSPACE_WRAPPER of install/build-release.sh: cargo runs it, as `wrapper rustc ARGS...`,
# for this workspace's own crates only. It maps the source directory to a fixed name, so a build
# from another checkout produces the same bytes. The mapping is not in RUSTFLAGS on purpose: a
# per-checkout flag there would change every dependency's fingerprint and recompile the whole
# dependency tree for each checkout; here the dependencies stay shared in one target dir.
rustc="$1"
shift
if [ -n "${ECR_LOGIN_SRC_DIR:-}" ]; then
  exec "$rustc" "--remap-path-prefix=$ECR_LOGIN_SRC_DIR=/build/ecr-login" "$@"
fi
exec "$rustc" "$@"
