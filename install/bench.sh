#!/usr/bin/env bash
# Benchmark against Debian's Go helper (amazon-ecr-credential-helper), side by side.
# ECR_LOGIN_BIN: our release binary (default: what ./install/build-release.sh builds, under
# $CARGO_TARGET_DIR/<host>/release/). BENCH_RUNS: cached-get runs per helper (40), BENCH_RSS_RUNS:
# RSS runs (7), BENCH_COLD_RUNS: cold TLS gets (10). Run as root: the RSS runs drop the page cache,
# the TLS section needs unshare --mount (and --net) and binds /etc/hosts inside that namespace.
# It asserts nothing: figures, ratios and the targets they are read against.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! [ -x /usr/bin/docker-credential-ecr-login ] && [ "$(id -u)" -eq 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq amazon-ecr-credential-helper >/dev/null
fi
exec python3 install/bench.py
