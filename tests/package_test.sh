#!/usr/bin/env bash
# Tests install/package.sh (README, "Install from a package"):
#  1. Reproducible: two builds of HEAD from two different source directories give the same
#     SHA256SUMS, byte for byte. The first is this checkout when its tracked files are committed
#     (the release binary test.sh built is then reused), else a clone; the second is always a
#     fresh clone at another path. Both share one target dir: the build paths are remapped, so
#     the dependencies are compiled once and only this crate and the LTO link run again — the
#     test checks that they did run (a build cargo skipped would prove nothing).
#  2. lintian: no errors; the warnings are printed.
#  3. The .deb in a throwaway root: an overlay over / in a private mount namespace (the real
#     system, and the Go helper the benchmark compares with, are never touched): `dpkg -i`, then
#     `version`, `man -w`, `ecr-credential-provider --help`, the units installed but not
#     enabled; `dpkg --purge`, and no file of the package is left. Afterwards the real
#     /usr/bin/docker-credential-ecr-login is checked to be unchanged.
# Needs root (mount namespace, overlayfs); outside CI (CI=true) it is skipped without.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd -P)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ecr-login-target}"
fail=0
bad() {
  echo "package test: FAIL: $*" >&2
  fail=1
}

if (($(id -u) != 0)) || ! unshare --mount --propagation private true 2>/dev/null; then
  if [[ ${CI:-} == true ]]; then
    echo "package test: FAILED: needs root and a private mount namespace" >&2
    exit 1
  fi
  echo "package test: SKIPPED (needs root and a private mount namespace)" >&2
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ecr-login-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
commit=$(git -C "$repo" rev-parse HEAD)

# Builds the packages of $1 (a checkout) into $2; the build log goes to $3.
package() {
  local start=$SECONDS
  if ! bash "$1/install/package.sh" "$2" >"$3" 2>&1; then
    cat "$3" >&2
    echo "package test: install/package.sh failed in $1" >&2
    exit 1
  fi
  echo "  $1: $((SECONDS - start)) s"
}
clone() { # destination
  git clone --quiet --no-checkout "$repo" "$1"
  git -C "$1" checkout --quiet --detach "$commit"
}

echo "== reproducible artifacts (two source directories)"
if [[ -z $(git -C "$repo" status --porcelain --untracked-files=no) ]]; then
  first="$repo"
else
  echo "  (uncommitted changes here: building a clone of HEAD $commit instead)"
  first="$work/a/ecr-login"
  clone "$first"
fi
package "$first" "$work/dist-a" "$work/a.log"
# The second checkout is made after the first build, so its files are newer than that build
# and cargo must compile this crate again, from the other path.
second="$work/b/another/checkout"
mkdir -p "$(dirname "$second")"
clone "$second"
package "$second" "$work/dist-b" "$work/b.log"
grep -q 'Compiling ecr-login' "$work/b.log" || bad "the second build did not compile the crate again (nothing proved)"
if cmp -s "$work/dist-a/SHA256SUMS" "$work/dist-b/SHA256SUMS"; then
  echo "  identical SHA256SUMS:"
  sed 's/^/    /' "$work/dist-a/SHA256SUMS"
else
  bad "the artifacts differ between $first and $second"
  diff "$work/dist-a/SHA256SUMS" "$work/dist-b/SHA256SUMS" >&2 || true
fi
deb=$(echo "$work"/dist-a/*.deb)
tgz=$(echo "$work"/dist-a/*.tar.gz)
mkdir "$work/unpacked"
tar -xzf "$tgz" -C "$work/unpacked"
grep -aq -e "$second" -e "$first/" -e "$(readlink -f "$CARGO_TARGET_DIR")" -e "$(readlink -f "${CARGO_HOME:-$HOME/.cargo}")" \
  "$work"/unpacked/*/docker-credential-ecr-login && bad "a build-machine path is in the binary"
echo "  sizes: $(basename "$deb") $(stat -c %s "$deb") bytes, $(basename "$tgz") $(stat -c %s "$tgz") bytes"

echo "== tarball contents"
listing=$(tar -tzvf "$tgz")
for f in docker-credential-ecr-login ecr-credential-provider LICENSE README.md \
  man/man1/docker-credential-ecr-login.1 completions/bash/docker-credential-ecr-login \
  completions/zsh/_docker-credential-ecr-login completions/fish/docker-credential-ecr-login.fish; do
  grep -q " ecr-login-[^/]*/$f\( ->.*\)\?$" <<<"$listing" || bad "tarball: $f missing"
done
grep -v -q ' 0/0 ' <<<"$listing" && bad "tarball: an entry not owned by 0/0 (root, numeric)"

echo "== lintian"
if lintian_out=$(lintian --fail-on error --suppress-tags unused-override "$deb" 2>&1 | { grep -v "running with root privileges" || true; }); then
  echo "${lintian_out:-  no tags}"
else
  echo "$lintian_out" >&2
  bad "lintian reports errors"
fi

echo "== dpkg -i, run, purge in a throwaway root (overlay over /, private mount namespace)"
real_bin=/usr/bin/docker-credential-ecr-login
real_before=$( (sha256sum "$real_bin" 2>/dev/null || echo absent) | cut -d ' ' -f 1)
dpkg-deb -c "$deb" | awk '{ print substr($1, 1, 1), $6 }' | sed 's# \./# /#' >"$work/contents"
export deb work
if ! unshare --mount --propagation private bash -euo pipefail <<'EOF'; then
ovl="$work/ovl"
mkdir -p "$ovl"
mount -t tmpfs tmpfs "$ovl"
mkdir "$ovl/upper" "$ovl/work" "$ovl/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$ovl/upper,workdir=$ovl/work" "$ovl/root"
R="$ovl/root"
mount --rbind /dev "$R/dev"
mount -t proc proc "$R/proc"
mount -t tmpfs tmpfs "$R/tmp"
cp "$deb" "$R/tmp/ecr-login.deb"
in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }
fail=0
bad() { echo "package test: FAIL: $*" >&2; fail=1; }

in_root dpkg -i /tmp/ecr-login.deb >"$work/dpkg-i.log" 2>&1 || { cat "$work/dpkg-i.log" >&2; exit 1; }
version=$(in_root docker-credential-ecr-login version) || bad "version failed"
echo "  version: $version"
[[ $version == *"(ecr-login, Rust) $(dpkg-deb -f "$deb" Version)"* ]] || bad "version is not this package's: $version"
for page in docker-credential-ecr-login ecr-credential-provider docker-credential-ecr-login-export; do
  where=$(in_root man -w "$page") || bad "man -w $page failed"
  echo "  man -w $page: $where"
done
help=$(in_root ecr-credential-provider --help 2>&1) || bad "ecr-credential-provider --help failed"
grep -qi "kubelet" <<<"$help" || bad "ecr-credential-provider --help is not the kubelet mode: $help"
for unit in ecr-login-export.service ecr-login-export.timer; do
  [[ -f $R/usr/lib/systemd/system/$unit ]] || bad "$unit not installed"
  find "$R/etc/systemd" -name "$unit" 2>/dev/null | grep -q . && bad "$unit is enabled"
done
grep -q '^ExecStart=/usr/bin/docker-credential-ecr-login export' "$R/usr/lib/systemd/system/ecr-login-export.service" \
  || bad "the service does not run /usr/bin/docker-credential-ecr-login"
for f in export.toml config.toml credential-provider-config.yaml; do
  [[ -f $R/usr/share/doc/ecr-login/examples/$f ]] || bad "example $f missing"
done
if in_root dpkg -s amazon-ecr-credential-helper 2>/dev/null | grep -q '^Status: install ok installed'; then
  bad "amazon-ecr-credential-helper is still installed beside ecr-login (Conflicts)"
fi

in_root dpkg --purge ecr-login >"$work/dpkg-purge.log" 2>&1 || { cat "$work/dpkg-purge.log" >&2; exit 1; }
in_root dpkg -s ecr-login >/dev/null 2>&1 && bad "ecr-login still known to dpkg after purge"
left=0
while read -r kind path; do
  [[ $path == / ]] && continue
  path=${path%/}
  if [[ $kind == d ]]; then
    # a directory the package created (not in the real root) must be gone
    [[ -e $path ]] || [[ ! -e $R$path ]] || { echo "  left: $path/" >&2; left=1; }
  elif [[ -e $R$path || -L $R$path ]]; then
    echo "  left: $path" >&2
    left=1
  fi
done <"$work/contents"
((left == 0)) && echo "  purged: none of the package's $(wc -l <"$work/contents") paths is left" || bad "files left after purge"
exit "$fail"
EOF
  bad "the install test in the throwaway root failed"
fi
real_after=$( (sha256sum "$real_bin" 2>/dev/null || echo absent) | cut -d ' ' -f 1)
[[ $real_before == "$real_after" ]] || bad "the real $real_bin changed"
if dpkg -s amazon-ecr-credential-helper >/dev/null 2>&1; then
  dpkg -S "$real_bin" | grep -q '^amazon-ecr-credential-helper:' || bad "the real $real_bin is no longer the Go helper's"
  echo "  the real $real_bin is still the Go helper's ($(dpkg-query -W -f '${Version}' amazon-ecr-credential-helper))"
fi

if ((fail)); then
  echo "package test FAILED" >&2
  exit 1
fi
echo "package test ok"
