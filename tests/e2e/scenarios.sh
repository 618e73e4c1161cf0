# shellcheck shell=bash
# End-to-end scenarios. Each is a function `scenario_NAME` run by run.sh in its own bash
# (set -euo pipefail, world.sh sourced, the world already up); exit 0 passes, 77 skips, else fails.
# To add one: write the function below and append NAME to E2E_SCENARIOS.
# Helpers (world.sh): seed REF, e2e_skopeo, e2e_docker, e2e_podman, need_docker, have_docker, fail,
# moto_calls API, moto_reset, moto_fault MODE [DELAY], helper_asked ACTION REGEX,
# helper_calls_reset, helper_cache_clear, helper_cache_sum, registry_password a|b PASSWORD|token,
# expect_fail_fast SECONDS REGEX COMMAND...
# Registries: $E2E_REG_A, $E2E_REG_B (ECR names, htpasswd AWS/<account>-auth-token),
# $E2E_REG_PLAIN (not ECR, anonymous).

# shellcheck disable=SC2034 # used by run.sh
E2E_SCENARIOS=(
  skopeo_copy_inspect
  docker_pull_push
  docker_build
  creds_store
  registry_refuses_token
  two_accounts_two_regions
  many_clients_cold_cache
  tls_api_with_ca_bundle
  fips_and_dual_stack_endpoints
  creds_store_with_fallback_helper
  podman_with_configured_auth_file
)

# 1. skopeo copy to the ECR-named registry, then inspect — through the helper, no login step.
scenario_skopeo_copy_inspect() {
  helper_cache_clear
  moto_reset
  helper_calls_reset
  seed "$E2E_REG_A/e2e/hello:1"
  helper_asked get "^$E2E_REG_A\$"
  e2e_skopeo inspect "docker://$E2E_REG_A/e2e/hello:1" | jq -e '.Digest | startswith("sha256:")'
  (($(moto_calls ecr:GetAuthorizationToken) >= 1)) || fail "the helper never asked moto for a token"
  [[ -s $AWS_ECR_CACHE_DIR/cache.json ]] || fail "no cache file in $AWS_ECR_CACHE_DIR"
  # The registry really demands the token: anonymous access is refused.
  local out
  out=$(e2e_skopeo inspect --no-creds "docker://$E2E_REG_A/e2e/hello:1" 2>&1) &&
    fail "the registry let an anonymous client in"
  grep -qi unauthorized <<<"$out" || fail "anonymous inspect failed oddly: $out"
}

# 2. docker pull and docker push of that image.
scenario_docker_pull_push() {
  need_docker
  seed "$E2E_REG_A/e2e/pull:1"
  helper_calls_reset
  e2e_docker pull "$E2E_REG_A/e2e/pull:1"
  helper_asked get "^$E2E_REG_A\$"
  e2e_docker tag "$E2E_REG_A/e2e/pull:1" "$E2E_REG_A/e2e/pushed:1"
  helper_calls_reset
  e2e_docker push "$E2E_REG_A/e2e/pushed:1"
  helper_asked get "^$E2E_REG_A\$"
  e2e_skopeo inspect "docker://$E2E_REG_A/e2e/pushed:1" >/dev/null
  e2e_docker rmi "$E2E_REG_A/e2e/pull:1" "$E2E_REG_A/e2e/pushed:1" >/dev/null
}

# 3. docker build FROM an ECR image: the classic builder (the CLI asks every helper up front)
#    and BuildKit (the daemon asks the CLI per registry through the session).
scenario_docker_build() {
  need_docker
  local ctx=$E2E_T/build-ctx mode
  mkdir -p "$ctx"
  echo built >"$ctx/built.txt"
  for mode in classic buildkit; do
    echo "--- $mode builder"
    seed "$E2E_REG_A/e2e/base-$mode:1"
    printf 'FROM %s\nCOPY built.txt /built.txt\n' "$E2E_REG_A/e2e/base-$mode:1" >"$ctx/Dockerfile"
    helper_calls_reset
    if [[ $mode == classic ]]; then
      DOCKER_BUILDKIT=0 e2e_docker build --pull -t "e2e-built-$mode:1" "$ctx"
      helper_asked get "^$E2E_REG_B\$" # every credHelpers registry, up front, used or not
    else
      DOCKER_BUILDKIT=1 e2e_docker build --pull --progress=plain -t "e2e-built-$mode:1" "$ctx" \
        2>&1 | tee "$E2E_T/buildkit.out"
      grep -q "\[auth\] sharing credentials for $E2E_REG_A" "$E2E_T/buildkit.out" ||
        fail "BuildKit did not ask the CLI for credentials through the session"
    fi
    helper_asked get "^$E2E_REG_A\$"
    e2e_docker image inspect "e2e-built-$mode:1" >/dev/null
    e2e_docker rmi -f "e2e-built-$mode:1" "$E2E_REG_A/e2e/base-$mode:1" >/dev/null 2>&1 || true
  done
}

# 4. credsStore: ecr-login — ECR pulls work, and a non-ECR registry still works anonymously
#    (the helper answers "credentials not found" and docker goes on without credentials).
scenario_creds_store() {
  need_docker
  seed "$E2E_REG_A/e2e/store:1"
  seed "$E2E_REG_PLAIN/anon/hello:1"
  export DOCKER_CONFIG=$E2E_T/docker-credsstore
  mkdir -p "$DOCKER_CONFIG"
  echo '{"credsStore": "ecr-login"}' >"$DOCKER_CONFIG/config.json"
  helper_calls_reset
  e2e_docker pull "$E2E_REG_A/e2e/store:1"
  helper_asked get "^$E2E_REG_A\$"
  e2e_docker pull "$E2E_REG_PLAIN/anon/hello:1"
  helper_asked get "^$E2E_REG_PLAIN\$" # answered "credentials not found": anonymous pull
  e2e_docker rmi "$E2E_REG_A/e2e/store:1" "$E2E_REG_PLAIN/anon/hello:1" >/dev/null
}

# 5. The registry refuses the token: the client fails at once with "unauthorized", nothing hangs,
#    and the helper's cache is left as it was.
scenario_registry_refuses_token() {
  seed "$E2E_REG_A/e2e/refused:1" # warms the cache with a good token
  local before after
  before=$(helper_cache_sum)
  [[ $before != none ]] || fail "no cache file after a successful copy"
  registry_password a not-the-token # restarts the registry
  expect_fail_fast 30 'unauthorized' e2e_skopeo inspect "docker://$E2E_REG_A/e2e/refused:1"
  if have_docker; then
    expect_fail_fast 30 'unauthorized|authentication required|no basic auth' \
      e2e_docker pull "$E2E_REG_A/e2e/refused:1"
  fi
  after=$(helper_cache_sum)
  [[ $before == "$after" ]] || fail "the helper's cache changed ($before -> $after)"
  registry_password a token
}

# 6. Two registries in two accounts and two regions in one config.json.
scenario_two_accounts_two_regions() {
  helper_cache_clear
  moto_reset
  seed "$E2E_REG_A/e2e/multi:1"
  seed "$E2E_REG_B/e2e/multi:1"
  e2e_skopeo inspect "docker://$E2E_REG_A/e2e/multi:1" >/dev/null
  e2e_skopeo inspect "docker://$E2E_REG_B/e2e/multi:1" >/dev/null
  (($(moto_calls ecr:GetAuthorizationToken) >= 2)) || fail "expected a token per account"
  if have_docker; then
    e2e_docker pull "$E2E_REG_A/e2e/multi:1"
    e2e_docker pull "$E2E_REG_B/e2e/multi:1"
    e2e_docker rmi "$E2E_REG_A/e2e/multi:1" "$E2E_REG_B/e2e/multi:1" >/dev/null
  fi
}

# 7. Many clients at once on a cold cache: all succeed, and moto saw exactly one
#    GetAuthorizationToken per registry (the helper's single flight). Debian's Go helper has no
#    single flight and fails the count.
scenario_many_clients_cold_cache() {
  local n=${E2E_PARALLEL:-10} i ref pids=() failed=0 calls
  seed "$E2E_REG_A/e2e/many:1"
  seed "$E2E_REG_B/e2e/many:1"
  helper_cache_clear
  moto_reset
  # Each token takes 2 s to come back, so every client starting within that window overlaps
  # with the first fetch: only a single flight keeps the count at one per registry.
  moto_fault slow 2
  local go=$E2E_T/many.go
  rm -f "$go"
  for ((i = 0; i < n; i++)); do
    if ((i % 2)); then ref=$E2E_REG_B/e2e/many:1; else ref=$E2E_REG_A/e2e/many:1; fi
    # Every client waits at the same start line, so their helpers really overlap.
    # shellcheck disable=SC2016 # expanded by the child bash
    (timeout --foreground 30 bash -c 'until [[ -e $1 ]]; do sleep 0.01; done' _ "$go" &&
      e2e_skopeo inspect "docker://$ref") >"$E2E_T/many.$i.out" 2>&1 &
    pids+=($!)
  done
  sleep 1
  touch "$go"
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      failed=$((failed + 1))
      sed "s/^/    [client $i] /" "$E2E_T/many.$i.out" | tail -n 5
    fi
  done
  calls=$(moto_calls ecr:GetAuthorizationToken)
  moto_reset
  ((failed == 0)) || fail "$failed of $n parallel inspects failed"
  echo "moto saw $calls GetAuthorizationToken calls for 2 registries and $n clients"
  ((calls == 2)) || fail "expected exactly one GetAuthorizationToken per registry (2), moto saw $calls"
}

# 8. The real HTTPS path to the AWS API, no endpoint override: the test hosts file sends
#    api.ecr.<region>.amazonaws.com to the TLS front (certificate from the test CA) in front of
#    moto. With AWS_CA_BUNDLE the helper trusts it (rustls, the system roots plus the bundle);
#    without it the TLS handshake fails, Docker gets "not found" and stderr says what failed.
scenario_tls_api_with_ca_bundle() {
  helper_cache_clear
  moto_reset
  local out err=$E2E_T/tls-api.err
  out=$(env -u AWS_ENDPOINT_URL_ECR -u AWS_ENDPOINT_URL_STS -u AWS_ENDPOINT_URL \
    "$ECR_LOGIN_BIN" get <<<"$E2E_REG_A")
  grep -q "\"Secret\":\"$E2E_ACCOUNT_A-auth-token\"" <<<"$out" || fail "no credentials over HTTPS: $out"
  (($(moto_calls ecr:GetAuthorizationToken) == 1)) || fail "moto saw $(moto_calls ecr:GetAuthorizationToken) token calls"

  helper_cache_clear
  if out=$(env -u AWS_ENDPOINT_URL_ECR -u AWS_ENDPOINT_URL_STS -u AWS_ENDPOINT_URL -u AWS_CA_BUNDLE \
    AWS_ECR_FETCH_TIMEOUT=5 "$ECR_LOGIN_BIN" get <<<"$E2E_REG_A" 2>"$err"); then
    fail "the helper trusted a certificate from an unknown CA"
  fi
  [[ $out == "credentials not found in native keychain" ]] || fail "unexpected stdout: $out"
  grep -q "$E2E_REG_A" "$err" || fail "no diagnostic on stderr: $(cat "$err")"
}

# 9. FIPS and dual-stack registry hosts call the FIPS / dual-stack ECR API endpoints (the Go
#    helper calls the standard one for both). No endpoint override: the test hosts file sends
#    those API names to the TLS front, which records the name each connection asked for (SNI).
scenario_fips_and_dual_stack_endpoints() {
  local host api sni=$E2E_T/api-front.connections
  for pair in \
    "$E2E_ACCOUNT_A.dkr.ecr-fips.$E2E_REGION_A.amazonaws.com $E2E_API_FIPS_A" \
    "$E2E_ACCOUNT_A.dkr-ecr.$E2E_REGION_A.on.aws $E2E_API_DUALSTACK_A" \
    "$E2E_ACCOUNT_A.dkr-ecr-fips.$E2E_REGION_A.on.aws $E2E_API_FIPS_DUALSTACK_A"; do
    read -r host api <<<"$pair"
    helper_cache_clear
    : >"$sni"
    env -u AWS_ENDPOINT_URL_ECR -u AWS_ENDPOINT_URL_STS -u AWS_ENDPOINT_URL AWS_ECR_FETCH_TIMEOUT=5 \
      "$ECR_LOGIN_BIN" get <<<"$host" >/dev/null 2>&1 || true
    grep -qx "$api" "$sni" || fail "$host: expected a connection to $api, saw: $(tr '\n' ' ' <"$sni")"
  done
}

# 10. credsStore: ecr-login with the helper config's fallback_helper: `docker login` to a
#     registry that is not ECR stores through the backing helper (a small real one that keeps a
#     JSON file), `docker pull` from there uses it, and ECR pulls still get fresh tokens.
scenario_creds_store_with_fallback_helper() {
  need_docker
  seed "$E2E_REG_A/e2e/fallback:1"
  seed "$E2E_REG_PLAIN/private/hello:1" # while it is still anonymous
  local store=$E2E_T/filestore.json
  restore() {
    rm -f "$E2E_T/registry-plain/htpasswd" "$XDG_CONFIG_HOME/ecr-login/config.toml" "$E2E_T/bin/docker-credential-filestore"
    registry_stop plain && registry_start plain
  }
  trap restore EXIT
  htpasswd -Bbc "$E2E_T/registry-plain/htpasswd" me plain-pass 2>/dev/null
  registry_stop plain
  registry_start plain
  install -m 0755 "$E2E_DIR/../support/bin/docker-credential-filestore" "$E2E_T/bin/"
  export FILESTORE_PATH=$store
  mkdir -p "$XDG_CONFIG_HOME/ecr-login"
  echo 'fallback_helper = "filestore"' >"$XDG_CONFIG_HOME/ecr-login/config.toml"
  export DOCKER_CONFIG=$E2E_T/docker-fallback
  mkdir -p "$DOCKER_CONFIG"
  echo '{"credsStore": "ecr-login"}' >"$DOCKER_CONFIG/config.json"

  helper_calls_reset
  echo plain-pass | e2e_docker login -u me --password-stdin "$E2E_REG_PLAIN"
  helper_asked store "$E2E_REG_PLAIN"
  jq -e --arg h "$E2E_REG_PLAIN" '.[$h].Secret == "plain-pass"' "$store" >/dev/null ||
    fail "the backing helper did not store the login: $(cat "$store" 2>/dev/null)"
  ! grep -q plain-pass "$DOCKER_CONFIG/config.json" || fail "the password landed in config.json"
  e2e_docker pull "$E2E_REG_PLAIN/private/hello:1"
  helper_asked get "^$E2E_REG_PLAIN\$"
  e2e_docker pull "$E2E_REG_A/e2e/fallback:1"
  helper_asked get "^$E2E_REG_A\$"
  e2e_docker logout "$E2E_REG_PLAIN"
  jq -e --arg h "$E2E_REG_PLAIN" 'has($h) | not' "$store" >/dev/null || fail "logout did not erase"
  e2e_docker rmi "$E2E_REG_A/e2e/fallback:1" "$E2E_REG_PLAIN/private/hello:1" >/dev/null
}

# 11. podman, a second real client, set up by `configure-docker --config` on its own auth file:
#     a login podman made to another registry is kept, a stale `auths` entry for the ECR host
#     (which would shadow the helper) is removed, and podman then pulls and pushes through the
#     helper with only that file: its HOME has no Docker config to fall back on.
scenario_podman_with_configured_auth_file() {
  command -v podman >/dev/null || skip "podman is not installed (tests/e2e/install-deps.sh installs it)"
  seed "$E2E_REG_A/e2e/podman:1"
  local dir=$E2E_T/podman auth out
  auth=$dir/auth.json
  mkdir -p "$dir/home"
  printf '{\n\t"auths": {\n\t\t"%s": {\n\t\t\t"auth": "bWU6cGxhaW4tcGFzcw=="\n\t\t},\n\t\t"%s": {\n\t\t\t"auth": "QVdTOnN0YWxl"\n\t\t}\n\t}\n}\n' \
    "$E2E_REG_PLAIN" "$E2E_REG_A" >"$auth"

  out=$("$ECR_LOGIN_BIN" configure-docker --registry "$E2E_REG_A" --config "$auth" 2>&1)
  grep -q "$E2E_REG_A" <<<"$out" || fail "configure-docker did not name the registry: $out"
  jq -e --arg a "$E2E_REG_A" --arg p "$E2E_REG_PLAIN" \
    '.credHelpers[$a] == "ecr-login" and (.auths | has($a) | not) and .auths[$p].auth == "bWU6cGxhaW4tcGFzcw=="' \
    "$auth" >/dev/null || fail "auth.json after configure-docker: $(cat "$auth")"
  out=$("$ECR_LOGIN_BIN" configure-docker --registry "$E2E_REG_A" --config "$auth" 2>&1)
  grep -q "no change" <<<"$out" || fail "a second run was not a no-op: $out"

  helper_calls_reset
  HOME=$dir/home e2e_podman pull --authfile "$auth" "$E2E_REG_A/e2e/podman:1" >/dev/null
  helper_asked get "^$E2E_REG_A\$"
  HOME=$dir/home e2e_podman tag "$E2E_REG_A/e2e/podman:1" "$E2E_REG_A/e2e/podman-pushed:1"
  helper_calls_reset
  HOME=$dir/home e2e_podman push --authfile "$auth" "$E2E_REG_A/e2e/podman-pushed:1"
  helper_asked get "^$E2E_REG_A\$"
  e2e_skopeo inspect "docker://$E2E_REG_A/e2e/podman-pushed:1" >/dev/null
  # Without the helper entry podman has no way in: the registry really asks for the token.
  echo '{}' >"$dir/empty-auth.json"
  out=$(HOME=$dir/home e2e_podman pull --authfile "$dir/empty-auth.json" "$E2E_REG_A/e2e/podman:1" 2>&1) &&
    fail "podman pulled without credentials"
  grep -qi "unauthorized\|authentication required" <<<"$out" || fail "anonymous pull failed oddly: $out"
}
