#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/) for a bounded time and fails on the first crash,
# failed property or hang. Prints the executions per target.
#
#   install/fuzz.sh                      every target, FUZZ_SECONDS (default 30) each
#   FUZZ_SECONDS=3600 install/fuzz.sh cache_file docker_config
#
# libFuzzer through cargo-fuzz with `--sanitizer none` (stable Rust: no sanitizers, but
# coverage guidance, debug assertions and overflow checks). The seeds in fuzz/seeds/<target>
# are read, never written; what the fuzzer learns goes to a working corpus that persists
# across runs ($FUZZ_CORPUS_DIR, default ~/.cache/ecr-login-fuzz-corpus). A crash leaves its
# input in $FUZZ_CORPUS_DIR/artifacts/<target>/ and the command that replays it is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-30}"
target_dir="${FUZZ_TARGET_DIR:-$HOME/.cache/ecr-login-fuzz-target}"
corpus_root="${FUZZ_CORPUS_DIR:-$HOME/.cache/ecr-login-fuzz-corpus}"
export CARGO_TERM_COLOR=never

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(cd fuzz && cargo fuzz list)
fi

# Scratch files of the targets (cache.json, config.json, ...) go to memory, and go away.
scratch_parent=/dev/shm
[ -d "$scratch_parent" ] && [ -w "$scratch_parent" ] || scratch_parent="${TMPDIR:-/tmp}"
scratch="$(mktemp -d "$scratch_parent/ecr-login-fuzz.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

# cargo-fuzz has no --locked: the lock file must come out of the build as it went in.
lock_before="$(sha256sum fuzz/Cargo.lock)"
(cd fuzz && cargo fuzz build --sanitizer none --target-dir "$target_dir")
if [ "$(sha256sum fuzz/Cargo.lock)" != "$lock_before" ]; then
  echo "fuzz: the build changed fuzz/Cargo.lock; update and commit it deliberately" >&2
  exit 1
fi

summary=()
for t in "${targets[@]}"; do
  corpus="$corpus_root/$t"
  artifacts="$corpus_root/artifacts/$t/"
  mkdir -p "$corpus" "$artifacts"
  log="$scratch/$t.log"
  started=$SECONDS
  set +e
  (cd fuzz && TMPDIR="$scratch" cargo fuzz run --sanitizer none --target-dir "$target_dir" \
    "$t" "$corpus" "seeds/$t" -- \
    -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
    -artifact_prefix="$artifacts") >"$log" 2>&1
  rc=$?
  set -e
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  units="$(find "$corpus" -type f | wc -l)"
  line="$t: ${runs:-?} executions in $((SECONDS - started)) s, corpus $units inputs"
  if [ "$rc" -ne 0 ]; then
    tail -n 60 "$log"
    crash="$(ls -t "$artifacts" 2>/dev/null | head -n 1)"
    echo "fuzz: $t FAILED (exit $rc)${crash:+; input: $artifacts$crash}" >&2
    [ -n "$crash" ] && echo "replay: (cd fuzz && cargo fuzz run --sanitizer none $t $artifacts$crash)" >&2
    exit 1
  fi
  echo "fuzz: $line"
  summary+=("$line")
done
echo "== fuzz summary (${seconds} s per target)"
printf '  %s\n' "${summary[@]}"
