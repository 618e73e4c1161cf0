#!/usr/bin/env bash
# README command 1: build the release binary, install it, and show it runs.
#   ./install/install.sh                 installs into ~/.local/bin
#   PREFIX=/usr/local ./install/install.sh   installs into /usr/local/bin
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ecr-login-target}"
if ! command -v cargo >/dev/null; then
  echo "install.sh: cargo (Rust >= 1.94.1) is required: https://rustup.rs" >&2
  exit 1
fi

binary="$(./install/build-release.sh | tail -n 1)"

prefix="${PREFIX:-$HOME/.local}"
mkdir -p "$prefix/bin"
install -m 0755 "$binary" "$prefix/bin/docker-credential-ecr-login"
echo "installed $prefix/bin/docker-credential-ecr-login"
"$prefix/bin/docker-credential-ecr-login" version
./install/install-docs.sh "$prefix/bin/docker-credential-ecr-login" "$prefix"

case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "note: $prefix/bin is not on PATH; add it so Docker can find the helper" ;;
esac
case "$prefix" in
  /usr|/usr/local) ;;
  *) echo "note: zsh finds the completion once $prefix/share/zsh/site-functions is on fpath" ;;
esac
cat <<'MSG'

To use it with Docker, let it write ~/.docker/config.json (see the change first with --dry-run):
  docker-credential-ecr-login configure-docker
which adds, per registry found in ~/.aws/config and the helper config:
  { "credHelpers": { "123456789012.dkr.ecr.us-east-1.amazonaws.com": "ecr-login",
                     "public.ecr.aws": "ecr-login" } }
(or, with --creds-store, { "credsStore": "ecr-login" } for every registry).
MSG
