#!/bin/sh
# RUSTC_WORKSPACE_WRAPPER of install/build-release.sh: cargo runs it, as `wrapper rustc ARGS...`,
# for this workspace's own crates only. It makes a build from another checkout produce the same
# bytes, with two changes to the command line:
#  - the source directory is mapped to a fixed name (panic locations, file!()). Not through
#    RUSTFLAGS on purpose: a per-checkout flag there would change every dependency's fingerprint
#    and recompile the whole dependency tree for each checkout; here the dependencies stay
#    shared in one target dir.
#  - `-C metadata` gets a fixed value. cargo derives it from, among others, the checkout's path,
#    and rustc hashes it into every symbol name of the crate, which reorders the linked code:
#    two checkouts of one commit gave binaries of equal size differing in 7 MB (measured). The
#    value only tells apart crates of the same name in one build; this workspace's crate names
#    are unique. cargo's own `-C extra-filename` (the output file names) is left alone.
rustc="$1"
shift
for arg; do
  shift
  case "$arg" in
    metadata=*) arg=metadata=ecr-login ;;
  esac
  set -- "$@" "$arg"
done
if [ -n "${ECR_LOGIN_SRC_DIR:-}" ]; then
  exec "$rustc" "--remap-path-prefix=$ECR_LOGIN_SRC_DIR=/build/ecr-login" "$@"
fi
exec "$rustc" "$@"
