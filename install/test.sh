#!/usr/bin/env bash
# README command 2: install every test dependency, then run every test.
# Runs lints, unit and integration tests (moto as the AWS API), the export tests against local
# fakes, the fault matrix, the end-to-end tests (real dockerd, skopeo and registry), deploy-file
# validation, the supply-chain check, the benchmark, the packages (install/package.sh:
# reproducible, lintian, dpkg -i in a throwaway root) and every fuzz target for FUZZ_SECONDS
# (default 30). Set SKIP_BENCH=1 to leave the benchmark out, SKIP_FUZZ=1 the fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ecr-login-target}"
export CARGO_TERM_COLOR=never

bash install/test-deps.sh

echo "== format and lints"
cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo clippy --all-targets --locked -- -D warnings

echo "== supply chain: licences, banned crates (TLS stacks), sources (deny.toml)"
cargo deny --locked check licenses bans sources

echo "== unit and integration tests (the fault matrix included)"
fault_report="$(mktemp)"
FAULT_REPORT="$fault_report" cargo test --locked 2>&1 | tee "${TMPDIR:-/tmp}/ecr-login-cargo-test.log"
echo "== fault matrix figures"
cat "$fault_report"
rm -f "$fault_report"

echo "== release build"
release_bin="$(./install/build-release.sh | tail -n 1)"

if [ -f tests/deploy_validate.sh ]; then
  echo "== deploy files"
  bash tests/deploy_validate.sh
fi

if [ -z "${SKIP_BENCH:-}" ]; then
  echo "== benchmark (figures, not pass/fail)"
  ECR_LOGIN_BIN="$release_bin" bash install/bench.sh
  # figures, not a gate: a loaded machine must not turn a timing into a red build
  python3 bench/export_bench.py --bin "$release_bin" --runs 3 || echo "export benchmark: a goal was not met (figures above)"
  python3 bench/lambda_bench.py --bin "$release_bin" || echo "lambda benchmark: a goal was not met (figures above)"
fi

if [ -f tests/e2e/run.sh ]; then
  echo "== end-to-end (dockerd, skopeo, docker-registry)"
  ECR_LOGIN_BIN="$release_bin" bash tests/e2e/run.sh
fi

# After the benchmark and e2e: its second build (another checkout, same target dir) rewrites the release binary above.
echo "== packages (reproducible .deb and tarball, lintian, install and purge in a throwaway root)"
bash tests/package_test.sh

if [ -z "${SKIP_FUZZ:-}" ]; then
  echo "== fuzz (${FUZZ_SECONDS:-30} s per target; fails on any crash or broken property)"
  bash install/fuzz.sh
fi
