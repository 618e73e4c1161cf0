#!/usr/bin/env bash
# Installs what the tests need, from the package registries only, skipping what is present.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(python3 python3-pip docker-registry skopeo docker.io iproute2 apache2-utils openssl util-linux
              amazon-ecr-credential-helper hyperfine time curl systemd)
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
# the registry and docker daemons are started by the tests themselves, never as services
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl stop docker-registry docker docker.socket >/dev/null 2>&1 || true
fi

pip_install() {
  python3 -m pip install --quiet --disable-pip-version-check "$@" 2>/dev/null \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$@"
}
python3 -c 'import moto.server, flask' 2>/dev/null || pip_install 'moto[server]'
if [ -d install/deploy ]; then
  command -v kubernetes-validate >/dev/null 2>&1 || pip_install kubernetes-validate
fi
if [ -f tests/e2e/install-deps.sh ]; then bash tests/e2e/install-deps.sh; fi
