#!/usr/bin/env bash
# Benchmark against Debian's Go helper (amazon-ecr-credential-helper), side by side.
# ECR_LOGIN_BIN: our release binary (default: $CARGO_TARGET_DIR/release/...). BENCH_RUNS: runs per helper.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! [ -x /usr/bin/docker-credential-ecr-login ] && [ "$(id -u)" -eq 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq amazon-ecr-credential-helper >/dev/null
fi
exec python3 install/bench.py
