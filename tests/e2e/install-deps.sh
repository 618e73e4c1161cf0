#!/usr/bin/env bash
# Installs what the end-to-end tests need, skipping whatever is already there (idempotent).
#   bash tests/e2e/install-deps.sh [--go-helper]
# --go-helper also installs Debian's Go amazon-ecr-credential-helper, the reference the world
# was validated against (ECR_LOGIN_BIN=/usr/bin/docker-credential-ecr-login).
# Debian packages via apt-get (needs root), moto[server] via pip into the python3 on PATH.
set -euo pipefail

packages=(docker-registry skopeo podman docker.io iproute2 apache2-utils openssl util-linux curl jq ca-certificates)
if [[ ${1:-} == --go-helper ]]; then packages+=(amazon-ecr-credential-helper); fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  if (($(id -u) != 0)); then
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Installing docker.io must not start a system dockerd (the tests start their own): the
  # standard Debian policy-rc.d "101" answer, only for this install and only if none exists.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" >/dev/null
else
  echo "install-deps: Debian packages already present"
fi

if python3 -c 'import moto.moto_server.threaded_moto_server, werkzeug, flask' 2>/dev/null; then
  echo "install-deps: moto[server] already present"
else
  echo "install-deps: pip install moto[server]"
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server]' 2>/dev/null ||
    python3 -m pip install --quiet --disable-pip-version-check --break-system-packages 'moto[server]'
fi
