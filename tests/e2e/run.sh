#!/usr/bin/env bash
# Runs the end-to-end scenarios (see README.md beside this file).
#
#   ECR_LOGIN_BIN=/abs/path/to/docker-credential-ecr-login bash tests/e2e/run.sh [SCENARIO...]
#
# Without ECR_LOGIN_BIN it uses ${CARGO_TARGET_DIR:-target}/{release,debug}/docker-credential-ecr-login.
# Needs root (a private mount namespace, port 443 on loopback addresses, dockerd). Where that or
# a tool is missing it skips loudly — except under CI=true, where it fails.
# Env: E2E_KEEP=1 keeps the world's directory; E2E_VERBOSE=1 prints every scenario's output;
#      E2E_NO_DOCKERD=1 runs without dockerd (its scenarios skip); E2E_HELPER_SHIM=0 (README);
#      E2E_PARALLEL (10), E2E_CMD_TIMEOUT (120 s), E2E_SCENARIO_TIMEOUT (420 s), E2E_IP_PREFIX.
# Last line: "N passed, N failed[, N skipped]"; exit status non-zero on any failure.
set -uo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/scenarios.sh
. "$E2E_DIR/scenarios.sh"

if (($# > 0)); then selected=("$@"); else selected=("${E2E_SCENARIOS[@]}"); fi
for name in "${selected[@]}"; do
  declare -F "scenario_$name" >/dev/null || {
    echo "unknown scenario '$name'; known: ${E2E_SCENARIOS[*]}" >&2
    exit 2
  }
done

passed=0 failed=0 skipped=0 summary_done=0
summary() {
  summary_done=1
  local line="$passed passed, $failed failed"
  ((skipped == 0)) || line+=", $skipped skipped"
  echo "$line"
}

# cannot_run REASON: nothing can run on this machine. Loud skip, or a failure under CI=true.
cannot_run() {
  echo "==================================================================" >&2
  if [[ ${CI:-} == true ]]; then
    echo "e2e: FAILED: cannot run the end-to-end tests: $*" >&2
    echo "==================================================================" >&2
    failed=${#selected[@]}
    summary
    exit 1
  fi
  echo "e2e: SKIPPING ALL ${#selected[@]} END-TO-END SCENARIOS: $*" >&2
  echo "==================================================================" >&2
  skipped=${#selected[@]}
  summary
  exit 0
}

if [[ ${E2E_IN_NAMESPACE:-} != 1 ]]; then
  # ---- outside: check the machine, then re-run this script in a private mount namespace.
  if [[ -z ${ECR_LOGIN_BIN:-} ]]; then
    repo=$(cd "$E2E_DIR/../.." && pwd)
    for c in "${CARGO_TARGET_DIR:-$repo/target}"/{release,debug}/docker-credential-ecr-login; do
      if [[ -x $c ]]; then ECR_LOGIN_BIN=$c; break; fi
    done
  fi
  if [[ ! -x ${ECR_LOGIN_BIN:-} ]]; then
    echo "e2e: set ECR_LOGIN_BIN to the helper binary (absolute path); got '${ECR_LOGIN_BIN:-}'" >&2
    failed=${#selected[@]}
    summary
    exit 2
  fi
  ECR_LOGIN_BIN=$(readlink -f "$ECR_LOGIN_BIN")
  missing=()
  for tool in skopeo docker-registry htpasswd openssl unshare setsid curl jq python3 timeout tac; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  python3 -c 'import moto.moto_server.threaded_moto_server, werkzeug' 2>/dev/null || missing+=("moto[server]")
  (($(id -u) == 0)) || cannot_run "needs root for a private mount namespace, port 443 and dockerd"
  ((${#missing[@]} == 0)) || cannot_run "missing ${missing[*]} (run tests/e2e/install-deps.sh)"
  unshare --mount --propagation private true 2>/dev/null || cannot_run "cannot create a mount namespace here"
  # The namespace we leave: world.sh refuses to mount anything while still in it.
  E2E_OUTER_MNT_NS=$(readlink /proc/self/ns/mnt)
  export ECR_LOGIN_BIN E2E_IN_NAMESPACE=1 E2E_OUTER_MNT_NS
  exec unshare --mount --propagation private -- bash "$E2E_DIR/run.sh" "$@"
fi

# ---- inside the private mount namespace
# shellcheck source=tests/e2e/world.sh
. "$E2E_DIR/world.sh"

scenario_pid=
on_exit() {
  local rc=$?
  if [[ -n $scenario_pid ]]; then
    # Interrupted mid-scenario: timeout passes TERM on to the scenario's whole process group.
    kill -TERM "$scenario_pid" 2>/dev/null
    wait "$scenario_pid" 2>/dev/null
  fi
  if ((summary_done == 0 && interrupted == 0)) && [[ -n ${E2E_T:-} && -d $E2E_T/logs ]]; then
    # The world did not come up: show why.
    local f
    for f in "$E2E_T"/logs/*.log; do
      [[ -s $f ]] || continue
      echo "--- last lines of ${f##*/}" >&2
      tail -n 8 "$f" | cut -c1-400 | sed 's/^/    /' >&2
    done
  fi
  world_down
  if ((summary_done == 0)); then
    failed=$((${#selected[@]} - passed - skipped))
    summary
    ((rc != 0)) || rc=1
  fi
  exit "$rc"
}
trap on_exit EXIT
interrupted=0
trap 'interrupted=1; echo "e2e: interrupted" >&2; exit 130' INT TERM HUP

start=$SECONDS
world_up || e2e_die "the world did not come up"
e2e_log "world up in $((SECONDS - start))s"

for name in "${selected[@]}"; do
  world_between
  log=$E2E_T/logs/scenario-$name.log
  s0=$SECONDS
  # shellcheck disable=SC2016 # expanded by the child bash
  timeout -k 10 "$E2E_SCENARIO_TIMEOUT" bash -c \
    'set -euo pipefail; . "$1/world.sh"; . "$1/scenarios.sh"; "scenario_$2"' _ "$E2E_DIR" "$name" \
    >"$log" 2>&1 </dev/null &
  scenario_pid=$! # in the background so a signal to us is handled at once (see on_exit)
  wait "$scenario_pid"
  rc=$?
  scenario_pid=
  took=$((SECONDS - s0))
  case $rc in
    0)
      passed=$((passed + 1))
      echo "PASS  $name (${took}s)"
      [[ ${E2E_VERBOSE:-0} != 1 ]] || sed 's/^/    /' "$log"
      ;;
    77)
      skipped=$((skipped + 1))
      echo "SKIP  $name: $(grep -m1 '^SKIP:' "$log" | cut -c7-)"
      ;;
    *)
      failed=$((failed + 1))
      if ((rc == 124)); then
        echo "FAIL  $name (timed out after ${E2E_SCENARIO_TIMEOUT}s)"
      else
        echo "FAIL  $name (exit $rc, ${took}s)"
      fi
      tail -n 60 "$log" | sed 's/^/    /'
      ;;
  esac
done

e2e_log "all scenarios done in $((SECONDS - start))s"
if [[ -s $E2E_T/api-front.connections ]]; then
  e2e_log "note: the TLS front to moto served $(wc -l <"$E2E_T/api-front.connections") connection(s) (scenario tls_api_with_ca_bundle, or a helper that ignores AWS_ENDPOINT_URL_ECR)"
fi
world_down
summary
((failed == 0))
