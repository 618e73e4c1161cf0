#!/usr/bin/env bash
# Installs what the tests need, from the package registries only, skipping what is present.
set -euo pipefail
cd "$(dirname "$0")/.."

# The end-to-end packages (docker.io, docker-registry, skopeo, ...) come from
# tests/e2e/install-deps.sh below, which keeps the package scripts from starting system daemons.
# amazon-ecr-credential-helper is the Go helper the benchmark and one interop test compare with.
# man-db + groff-base read the generated man pages; bash, zsh and fish check the completions.
# lintian checks the .deb of install/package.sh, binutils' readelf tells it static from dynamic.
apt_packages=(python3 python3-pip amazon-ecr-credential-helper time curl man-db groff-base bash zsh fish
  lintian binutils)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "test-deps: not root; please install: ${missing[*]}" >&2
  fi
fi
# The tests start their own registry and docker daemons on their own addresses; a CI machine's
# package-started services are stopped so nothing else holds those ports. Never on a
# developer's machine: their Docker daemon is theirs.
if [ "${CI:-}" = true ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl stop docker-registry docker docker.socket >/dev/null 2>&1 || true
fi

pip_install() {
  python3 -m pip install --quiet --disable-pip-version-check "$@" 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$@"
}
python3 -c 'import moto.server, flask' 2>/dev/null || pip_install 'moto[server]'
# The IAM policy linter `policy`'s output is checked with (tests/commands.rs).
command -v parliament >/dev/null 2>&1 || pip_install parliament
# cfn-lint validates the Lambda CloudFormation template (tests/deploy_validate.sh).
command -v cfn-lint >/dev/null 2>&1 || pip_install cfn-lint
if [ -d install/deploy ]; then
  command -v kubernetes-validate >/dev/null 2>&1 || pip_install kubernetes-validate
fi
if [ -f tests/e2e/install-deps.sh ]; then bash tests/e2e/install-deps.sh; fi

# Fuzzing and the supply-chain check: crates built from source, at pinned versions (see
# SECURITY.md, "Supply chain"); skipped when that version is installed.
cargo_tool() {
  local crate="$1" version="$2"
  if ! "$crate" --version 2>/dev/null | grep -qx "$crate $version"; then
    cargo install --locked --quiet --version "$version" "$crate"
  fi
}
cargo_tool cargo-fuzz 0.13.2
cargo_tool cargo-deny 0.20.2
