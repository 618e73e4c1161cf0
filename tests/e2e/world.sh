# shellcheck shell=bash
# The end-to-end test world: the one place that sets it up and tears it down.
#
# Source this file. run.sh calls world_up / world_down inside a private mount namespace
# (unshare --mount --propagation private) and runs every scenario in a child bash that sources
# this file again for its helpers; the world's state travels in exported E2E_* variables.
#
# The world, all on loopback (P = $E2E_IP_PREFIX, a random 127.x.y per run):
#   moto (tests/support/moto_launcher.py)       127.0.0.1:<random>  the AWS API
#   TLS front to moto (tls_front.py)            P.5:443   api.ecr.<region>.amazonaws.com, sts...
#                                                         (for helpers ignoring AWS_ENDPOINT_URL_*)
#   docker-registry, htpasswd AWS:<A>-auth-token P.2:443   $E2E_REG_A
#   docker-registry, htpasswd AWS:<B>-auth-token P.3:443   $E2E_REG_B
#   docker-registry, anonymous                   P.4:443   $E2E_REG_PLAIN (not an ECR name)
#   dockerd (vfs, no bridge, no iptables)        unix://$E2E_T/docker.sock
# Names resolve through a test hosts file bind-mounted over /etc/hosts; /etc/resolv.conf points
# at loopback so no name ever leaves the machine; /etc/docker is replaced by a test directory
# holding certs.d/<host>/ca.crt for the test CA (read by dockerd and skopeo alike); /run is a
# private tmpfs. Nothing outside $E2E_T is written.

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
E2E_REPO=$(cd "$E2E_DIR/../.." && pwd)

# A /24 of loopback of our own, random per run so two runs on one machine do not collide.
: "${E2E_IP_PREFIX:=127.$((RANDOM % 200 + 30)).$((RANDOM % 250 + 1))}"
: "${E2E_CMD_TIMEOUT:=120}"          # any single client command
: "${E2E_SCENARIO_TIMEOUT:=420}"     # a whole scenario
E2E_ACCOUNT_A=123456789012
E2E_REGION_A=us-east-1
E2E_ACCOUNT_B=210987654321
E2E_REGION_B=eu-west-1
E2E_REG_A=$E2E_ACCOUNT_A.dkr.ecr.$E2E_REGION_A.amazonaws.com
E2E_REG_B=$E2E_ACCOUNT_B.dkr.ecr.$E2E_REGION_B.amazonaws.com
E2E_REG_PLAIN=registry.e2e.test
# The ECR API names a FIPS or dual-stack registry host must lead to (region A), for the TLS front.
E2E_API_FIPS_A=api.ecr-fips.$E2E_REGION_A.amazonaws.com
E2E_API_DUALSTACK_A=ecr.$E2E_REGION_A.api.aws
E2E_API_FIPS_DUALSTACK_A=ecr-fips.$E2E_REGION_A.api.aws
E2E_API_VARIANTS_A="$E2E_API_FIPS_A,DNS:$E2E_API_DUALSTACK_A,DNS:$E2E_API_FIPS_DUALSTACK_A"
E2E_IP_A=$E2E_IP_PREFIX.2
E2E_IP_B=$E2E_IP_PREFIX.3
E2E_IP_PLAIN=$E2E_IP_PREFIX.4
E2E_IP_API=$E2E_IP_PREFIX.5
E2E_DOCKER_BIN=/usr/bin/docker       # Debian's docker.io client; /usr/local/bin/docker is another one
export E2E_IP_PREFIX E2E_CMD_TIMEOUT E2E_SCENARIO_TIMEOUT

# ---------------------------------------------------------------------------------------------
# small utilities

e2e_log() { printf '[e2e %s] %s\n' "$(date +%T)" "$*" >&2; }
e2e_die() { e2e_log "ERROR: $*"; exit 1; }

# e2e_wait SECONDS DESCRIPTION COMMAND...: retry COMMAND every 0.2 s until it succeeds.
e2e_wait() {
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      e2e_log "timed out after ${secs}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

# e2e_wait_alive NAME SECONDS DESCRIPTION COMMAND...: e2e_wait, but give up at once if the
# process we started as NAME has died (its log says why).
e2e_wait_alive() {
  local name=$1 secs=$2 what=$3 pid st; shift 3
  read -r _ pid st < <(awk -v n="$name" '$1 == n { l = $0 } END { print l }' "$E2E_T/procs")
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ! _e2e_alive "$pid" "$st"; then
      e2e_log "$name died while we waited for $what: $(tail -n 3 "$E2E_T/logs/$name.log" | cut -c1-300)"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      e2e_log "timed out after ${secs}s waiting for $what"
      return 1
    fi
    sleep 0.2
  done
}

_e2e_starttime() { # the kernel's start time of PID, to never signal a recycled pid
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  # shellcheck disable=SC2086
  set -- $stat
  echo "${20}"
}

_e2e_alive() { # PID STARTTIME
  local now
  now=$(_e2e_starttime "$1") || return 1
  [[ $now == "$2" ]] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# world_spawn NAME COMMAND...: start a daemon in its own session, log to $E2E_T/logs/NAME.log,
# record its pid in $E2E_T/procs so world_down stops it whoever started it.
world_spawn() {
  local name=$1; shift
  setsid "$@" >>"$E2E_T/logs/$name.log" 2>&1 </dev/null &
  local pid=$!
  local st
  st=$(_e2e_starttime "$pid") || st=gone
  echo "$name $pid $st" >>"$E2E_T/procs"
  e2e_log "started $name (pid $pid)"
}

world_pid() { # NAME -> the latest pid recorded for it
  awk -v n="$1" '$1 == n { p = $2 } END { if (p) print p }' "$E2E_T/procs"
}

# world_stop NAME [GRACE]: TERM, wait, KILL — only the pid we recorded, only if it is still ours.
world_stop() {
  local name=$1 grace=${2:-10} pid st
  read -r _ pid st < <(awk -v n="$1" '$1 == n { l = $0 } END { print l }' "$E2E_T/procs")
  [[ -n ${pid:-} ]] || return 0
  _e2e_kill "$name" "$pid" "$st" "$grace"
}

_e2e_kill() { # NAME PID STARTTIME GRACE
  local name=$1 pid=$2 st=$3 grace=$4
  _e2e_alive "$pid" "$st" || return 0
  kill -TERM "$pid" 2>/dev/null
  local deadline=$((SECONDS + grace))
  while _e2e_alive "$pid" "$st" && ((SECONDS < deadline)); do sleep 0.2; done
  if _e2e_alive "$pid" "$st"; then
    e2e_log "$name (pid $pid) ignored TERM for ${grace}s: KILL"
    kill -KILL "$pid" 2>/dev/null
    deadline=$((SECONDS + 5))
    while _e2e_alive "$pid" "$st" && ((SECONDS < deadline)); do sleep 0.2; done
  fi
  e2e_log "stopped $name (pid $pid)"
}

# True only in a mount namespace other than the one run.sh started in (recorded before its
# `unshare`). /proc/1/ns/mnt cannot serve as "outside": on some machines it is unreadable, and
# an empty answer would make every namespace look private.
_e2e_in_private_ns() {
  local here
  here=$(readlink /proc/self/ns/mnt) || return 1
  [[ -n ${E2E_OUTER_MNT_NS:-} && -n $here && $here != "$E2E_OUTER_MNT_NS" ]]
}

world_bind() { # SRC DST: bind-mount, inside our private mount namespace only
  _e2e_in_private_ns || e2e_die "refusing to mount outside a private mount namespace"
  mount -n --bind "$1" "$2" || return 1
  echo "$2" >>"$E2E_T/mounts"
}

# ---------------------------------------------------------------------------------------------
# pieces of the world

_world_certs() {
  local d=$E2E_T/tls san
  mkdir -p "$d"
  san="DNS:$E2E_REG_A,DNS:$E2E_REG_B,DNS:$E2E_REG_PLAIN"
  san+=",DNS:api.ecr.$E2E_REGION_A.amazonaws.com,DNS:api.ecr.$E2E_REGION_B.amazonaws.com"
  san+=",DNS:sts.amazonaws.com,DNS:sts.$E2E_REGION_A.amazonaws.com,DNS:sts.$E2E_REGION_B.amazonaws.com"
  san+=",DNS:$E2E_API_VARIANTS_A" # FIPS and dual-stack API names, comma-joined below
  san+=",IP:$E2E_IP_A,IP:$E2E_IP_B,IP:$E2E_IP_PLAIN,IP:$E2E_IP_API"
  {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
      -keyout "$d/ca.key" -out "$d/ca.crt" -subj "/CN=docker-credential-ecr-login e2e test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" &&
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=ecr-login e2e" &&
      printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$san" >"$d/ext" &&
      openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
        -days 2 -extfile "$d/ext" -out "$d/server.crt"
  } >"$E2E_T/logs/openssl.log" 2>&1 || { cat "$E2E_T/logs/openssl.log" >&2; return 1; }
}

_world_etc() { # hosts, resolv.conf and /etc/docker, bind-mounted in our namespace only
  local etc=$E2E_T/etc h
  mkdir -p "$etc/docker/certs.d"
  cat >"$etc/hosts" <<EOF
127.0.0.1 localhost
::1 localhost ip6-localhost ip6-loopback
$E2E_IP_A $E2E_REG_A
$E2E_IP_B $E2E_REG_B
$E2E_IP_PLAIN $E2E_REG_PLAIN
$E2E_IP_API api.ecr.$E2E_REGION_A.amazonaws.com api.ecr.$E2E_REGION_B.amazonaws.com sts.amazonaws.com sts.$E2E_REGION_A.amazonaws.com sts.$E2E_REGION_B.amazonaws.com
$E2E_IP_API ${E2E_API_VARIANTS_A//,DNS:/ }
EOF
  # Any name not in the hosts file fails at once instead of leaving the machine.
  printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$etc/resolv.conf"
  for h in "$E2E_REG_A" "$E2E_REG_B" "$E2E_REG_PLAIN"; do
    mkdir -p "$etc/docker/certs.d/$h"
    cp "$E2E_T/tls/ca.crt" "$etc/docker/certs.d/$h/ca.crt"
  done
  echo '{}' >"$etc/docker/daemon.json"
  [[ -d /etc/docker ]] || e2e_die "/etc/docker is missing (install docker.io: tests/e2e/install-deps.sh)"
  # A private /run, so what dockerd and mount(8) create there (/run/docker/plugins, ...) vanishes.
  _e2e_in_private_ns || e2e_die "refusing to mount outside a private mount namespace"
  mount -n -t tmpfs -o mode=755 e2e-run /run || return 1
  echo /run >>"$E2E_T/mounts"
  ln -s /dev/shm /run/shm
  mkdir -m 1777 /run/lock
  world_bind "$etc/hosts" /etc/hosts &&
    world_bind "$etc/resolv.conf" /etc/resolv.conf &&
    world_bind "$etc/docker" /etc/docker
}

_world_moto() {
  world_spawn moto "$E2E_PYTHON" "$E2E_REPO/tests/support/moto_launcher.py" \
    --port 0 --port-file "$E2E_T/moto.port" ${E2E_MOTO_EXPIRY:+--expiry-seconds "$E2E_MOTO_EXPIRY"}
  e2e_wait_alive moto 90 "moto to listen" test -s "$E2E_T/moto.port" || return 1
  E2E_MOTO_URL=http://127.0.0.1:$(cat "$E2E_T/moto.port")
  export E2E_MOTO_URL
  e2e_wait_alive moto 30 "moto to answer" curl -fsS --max-time 2 "$E2E_MOTO_URL/_test/calls"
  world_spawn api-front "$E2E_PYTHON" "$E2E_DIR/tls_front.py" --listen "$E2E_IP_API:443" \
    --to "127.0.0.1:$(cat "$E2E_T/moto.port")" --cert "$E2E_T/tls/server.crt" \
    --key "$E2E_T/tls/server.key" --log "$E2E_T/api-front.connections"
  e2e_wait_alive api-front 30 "the API TLS front" curl -fsS --max-time 2 --cacert "$E2E_T/tls/ca.crt" \
    "https://api.ecr.$E2E_REGION_A.amazonaws.com/_test/calls" || return 1
  : >"$E2E_T/api-front.connections" # forget our own readiness check
}

# registry_start NAME: (re)start registry NAME (a, b or plain) from its config in $E2E_T.
registry_start() {
  local name=$1 ip host d
  case $name in
    a) ip=$E2E_IP_A host=$E2E_REG_A ;;
    b) ip=$E2E_IP_B host=$E2E_REG_B ;;
    plain) ip=$E2E_IP_PLAIN host=$E2E_REG_PLAIN ;;
    *) e2e_die "unknown registry $name" ;;
  esac
  d=$E2E_T/registry-$name
  mkdir -p "$d/data"
  {
    printf 'version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: true\n'
    printf 'storage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\n' "$d/data"
    printf 'http:\n  addr: %s:443\n  secret: e2e-%s\n' "$ip" "$name"
    printf '  tls:\n    certificate: %s\n    key: %s\n' "$E2E_T/tls/server.crt" "$E2E_T/tls/server.key"
    if [[ -f $d/htpasswd ]]; then
      printf 'auth:\n  htpasswd:\n    realm: ecr-e2e\n    path: %s\n' "$d/htpasswd"
    fi
  } >"$d/config.yml"
  world_spawn "registry-$name" /usr/bin/docker-registry serve "$d/config.yml"
  # Ready when /v2/ answers over TLS through the test CA: 401 with auth, 200 anonymous.
  e2e_wait_alive "registry-$name" 30 "registry $host" curl -sS -o /dev/null --max-time 2 --cacert "$E2E_T/tls/ca.crt" \
    "https://$host/v2/"
}

registry_stop() { world_stop "registry-$1"; }

# registry_password NAME PASSWORD: what the registry accepts for user AWS (restarts it; the
# distribution registry reads its htpasswd once at start). PASSWORD "token" = moto's token.
registry_password() {
  local name=$1 pw=$2 account
  case $name in a) account=$E2E_ACCOUNT_A ;; b) account=$E2E_ACCOUNT_B ;; *) e2e_die "registry $name has no auth" ;; esac
  [[ $pw == token ]] && pw=$account-auth-token
  mkdir -p "$E2E_T/registry-$name"
  htpasswd -Bbc "$E2E_T/registry-$name/htpasswd" AWS "$pw" 2>/dev/null || {
    e2e_log "htpasswd failed for registry $name"
    return 1
  }
  if [[ $pw == "$account-auth-token" ]]; then
    rm -f "$E2E_T/registry-$name/changed"
  else
    touch "$E2E_T/registry-$name/changed"
  fi
  if [[ -n $(world_pid "registry-$name") ]]; then
    registry_stop "$name"
    registry_start "$name"
  fi
}

_world_registries() {
  registry_password a token && registry_start a &&
    registry_password b token && registry_start b &&
    registry_start plain
}

_world_clients() { # helper on PATH, HOME with config.json, skopeo/containers config, helper env
  mkdir -p "$E2E_T/bin" "$E2E_T/home/.docker" "$E2E_T/run" "$E2E_T/ecr" "$E2E_T/aws" "$E2E_T/containers"
  : >"$E2E_T/helper-calls.log"
  if [[ ${E2E_HELPER_SHIM:-1} == 1 ]]; then
    # A thin shim records each call ("ACTION INPUT") in helper-calls.log, then execs the helper
    # with the same arguments, environment and stdin bytes (from a file, not the client's pipe).
    sed -e "s|@T@|$E2E_T|g" -e "s|@BIN@|$ECR_LOGIN_BIN|g" >"$E2E_T/bin/docker-credential-ecr-login" <<'EOF'
#!/bin/bash
in=$(mktemp "@T@/helper-stdin.XXXXXX")
cat >"$in"
printf '%s %s\n' "${1:-}" "$(head -c 300 "$in" | tr -d '\n')" >>"@T@/helper-calls.log"
exec <"$in"
rm -f "$in"
exec "@BIN@" "$@"
EOF
    chmod 755 "$E2E_T/bin/docker-credential-ecr-login"
  else
    ln -sf "$ECR_LOGIN_BIN" "$E2E_T/bin/docker-credential-ecr-login"
  fi
  ln -sf "$E2E_DOCKER_BIN" "$E2E_T/bin/docker"
  printf '{\n  "credHelpers": {\n    "%s": "ecr-login",\n    "%s": "ecr-login"\n  }\n}\n' \
    "$E2E_REG_A" "$E2E_REG_B" >"$E2E_T/home/.docker/config.json"
  echo '{"default": [{"type": "insecureAcceptAnything"}]}' >"$E2E_T/containers/policy.json"
  : >"$E2E_T/containers/registries.conf"
  : >"$E2E_T/containers/containers.conf"
  : >"$E2E_T/aws/config"
  : >"$E2E_T/aws/credentials"

  # Only our bin dir and the system's: no /usr/local/bin (another docker), no other helpers first.
  export PATH=$E2E_T/bin:/usr/sbin:/usr/bin:/sbin:/bin
  export HOME=$E2E_T/home XDG_RUNTIME_DIR=$E2E_T/run XDG_CONFIG_HOME=$E2E_T/home/.config
  unset DOCKER_CONFIG DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH REGISTRY_AUTH_FILE
  export CONTAINERS_REGISTRIES_CONF=$E2E_T/containers/registries.conf
  export CONTAINERS_CONF=$E2E_T/containers/containers.conf
  export DOCKER_HOST=unix://$E2E_T/docker.sock

  # The helper's environment: static test keys, moto as the endpoint, a cache of our own.
  unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE \
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_REGION \
    AWS_DEFAULT_REGION AWS_ECR_DISABLE_CACHE AWS_ECR_IGNORE_CREDS_STORAGE AWS_ENDPOINT_URL
  export AWS_ENDPOINT_URL_ECR=$E2E_MOTO_URL AWS_ENDPOINT_URL_STS=$E2E_MOTO_URL
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
  export AWS_EC2_METADATA_DISABLED=true
  export AWS_ECR_CACHE_DIR=$E2E_T/ecr
  export AWS_CONFIG_FILE=$E2E_T/aws/config AWS_SHARED_CREDENTIALS_FILE=$E2E_T/aws/credentials
  export AWS_CA_BUNDLE=$E2E_T/tls/ca.crt   # for the TLS front, used only by helpers without endpoint vars

  # skopeo and podman (c/image) keep a blob-info cache in root's /var/lib/containers/cache and
  # have no flag to move it: where that directory exists, our own stands in for it. (Where it
  # does not, the first client creates it: the one path outside $E2E_T the world touches.)
  if [[ -d /var/lib/containers ]]; then
    mkdir -p -m 700 "$E2E_T/var-lib-containers"
    world_bind "$E2E_T/var-lib-containers" /var/lib/containers || e2e_die "cannot bind-mount over /var/lib/containers"
  fi
}

# A tiny OCI image layout, written by hand: one layer holding one file.
_world_image() {
  local d=$E2E_T/oci src=$E2E_T/oci-src arch cfg man
  case $(uname -m) in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
  mkdir -p "$d/blobs/sha256" "$src"
  echo "hello from the docker-credential-ecr-login end-to-end test" >"$src/hello.txt"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$src" -cf "$E2E_T/layer.tar" hello.txt
  local diffid layer layer_size
  diffid=$(sha256sum "$E2E_T/layer.tar" | cut -d' ' -f1)
  gzip -n -c "$E2E_T/layer.tar" >"$E2E_T/layer.tgz"
  layer=$(_e2e_blob "$d" "$E2E_T/layer.tgz")
  layer_size=$(stat -c %s "$d/blobs/sha256/$layer")
  printf '{"architecture":"%s","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Cmd":["/hello.txt"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"ecr-login e2e"}]}' \
    "$arch" "$diffid" >"$E2E_T/config.json"
  cfg=$(_e2e_blob "$d" "$E2E_T/config.json")
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$cfg" "$(stat -c %s "$d/blobs/sha256/$cfg")" "$layer" "$layer_size" >"$E2E_T/manifest.json"
  man=$(_e2e_blob "$d" "$E2E_T/manifest.json")
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
    "$man" "$(stat -c %s "$d/blobs/sha256/$man")" >"$d/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$d/oci-layout"
  rm -f "$E2E_T/layer.tar"
  export E2E_OCI=$d
}

_e2e_blob() { # LAYOUT FILE -> hex digest; moves FILE into the layout
  local h
  h=$(sha256sum "$2" | cut -d' ' -f1)
  mv "$2" "$1/blobs/sha256/$h"
  echo "$h"
}

_world_dockerd() { # sets E2E_DOCKERD_OK=1, or 0 with E2E_DOCKERD_WHY
  E2E_DOCKERD_OK=0
  if [[ ${E2E_NO_DOCKERD:-0} == 1 ]]; then
    E2E_DOCKERD_WHY="E2E_NO_DOCKERD=1"
    export E2E_DOCKERD_OK E2E_DOCKERD_WHY
    return 0
  fi
  if [[ ! -x /usr/sbin/dockerd || ! -x $E2E_DOCKER_BIN ]]; then
    E2E_DOCKERD_WHY="Debian's docker.io is not installed (/usr/sbin/dockerd, /usr/bin/docker)"
    export E2E_DOCKERD_OK E2E_DOCKERD_WHY
    return 0
  fi
  local d=$E2E_T/docker
  mkdir -p "$d/data" "$d/exec"
  world_spawn dockerd env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$d" \
    /usr/sbin/dockerd --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
    --userland-proxy=false --storage-driver=vfs --data-root "$d/data" --exec-root "$d/exec" \
    --pidfile "$d/dockerd.pid" -H "unix://$E2E_T/docker.sock" --config-file "$E2E_T/etc/docker/daemon.json"
  local pid deadline=$((SECONDS + 90))
  pid=$(world_pid dockerd)
  while ((SECONDS < deadline)) && kill -0 "$pid" 2>/dev/null; do
    if "$E2E_DOCKER_BIN" -H "unix://$E2E_T/docker.sock" version >/dev/null 2>&1; then
      E2E_DOCKERD_OK=1
      break
    fi
    sleep 0.5
  done
  if [[ $E2E_DOCKERD_OK != 1 ]]; then
    E2E_DOCKERD_WHY="dockerd did not come up; its log ends: $(tail -n 5 "$E2E_T/logs/dockerd.log" | tr '\n' ' ')"
  fi
  export E2E_DOCKERD_OK E2E_DOCKERD_WHY
}

# ---------------------------------------------------------------------------------------------
# up and down

# world_up: build the world. Needs root, a private mount namespace, ECR_LOGIN_BIN.
world_up() {
  [[ -x ${ECR_LOGIN_BIN:-} ]] || e2e_die "ECR_LOGIN_BIN must name the helper binary"
  _e2e_in_private_ns || e2e_die "world_up must run in a private mount namespace (use run.sh)"
  E2E_PYTHON=${E2E_PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}
  E2E_T=$(mktemp -d "${TMPDIR:-/tmp}/ecr-e2e.XXXXXX")
  chmod 755 "$E2E_T"
  export E2E_T E2E_PYTHON ECR_LOGIN_BIN
  mkdir -p "$E2E_T/logs"
  : >"$E2E_T/procs"
  : >"$E2E_T/mounts"
  e2e_log "world in $E2E_T, helper $ECR_LOGIN_BIN"
  _world_certs || return 1
  _world_etc || return 1
  _world_moto || return 1
  _world_registries || return 1
  _world_clients
  _world_image
  _world_dockerd
  if [[ $E2E_DOCKERD_OK == 1 ]]; then
    e2e_log "world is up (dockerd too)"
  else
    e2e_log "world is up WITHOUT dockerd: $E2E_DOCKERD_WHY"
  fi
}

# world_between: put back anything a scenario changed on purpose, so scenarios stay independent.
world_between() {
  local n
  for n in a b; do
    if [[ -e $E2E_T/registry-$n/changed ]]; then registry_password "$n" token; fi
  done
  if [[ $(world_pid moto) ]]; then moto_reset >/dev/null 2>&1 || true; fi
}

# world_down: stop everything we started (newest first), unmount, remove the directory.
# Safe to call twice and from a trap.
world_down() {
  [[ -n ${E2E_T:-} && -d $E2E_T ]] || return 0
  local name pid st
  if [[ -s $E2E_T/procs ]]; then
    while read -r name pid st; do
      if [[ $name == dockerd ]]; then
        _e2e_kill "$name" "$pid" "$st" 30
        _e2e_stop_pidfile containerd "$E2E_T/docker/exec/containerd/containerd.pid"
      else
        _e2e_kill "$name" "$pid" "$st" 10
      fi
    done < <(tac "$E2E_T/procs")
  fi
  # dockerd's own mounts under our directory, then ours, newest first.
  local m
  while read -r m; do umount -n -l "$m" 2>/dev/null; done < <(
    awk -v t="$E2E_T" 'index($5, t) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  if [[ -s $E2E_T/mounts ]]; then
    while read -r m; do umount -n "$m" 2>/dev/null || umount -n -l "$m"; done < <(tac "$E2E_T/mounts")
  fi
  : >"$E2E_T/mounts"
  if [[ ${E2E_KEEP:-0} == 1 ]]; then
    e2e_log "kept $E2E_T (E2E_KEEP=1)"
  else
    rm -rf "$E2E_T"
  fi
  E2E_T=
}

_e2e_stop_pidfile() { # NAME PIDFILE: a daemon our dockerd started and recorded under our dir
  local pid st
  pid=$(cat "$2" 2>/dev/null) || return 0
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  st=$(_e2e_starttime "$pid") || return 0
  _e2e_kill "$1" "$pid" "$st" 10
}

# ---------------------------------------------------------------------------------------------
# helpers for scenarios

# Client commands: bounded by E2E_CMD_TIMEOUT. --foreground keeps them in the scenario's
# process group, so the scenario's own timeout (or an interrupted run) takes them down too.
e2e_skopeo() {
  timeout --foreground -k 5 "$E2E_CMD_TIMEOUT" skopeo --policy "$E2E_T/containers/policy.json" "$@"
}

# podman as root with storage, run state and events of its own under $E2E_T/podman; the
# signature policy accepts anything, as for skopeo. It finds the test CA in /etc/docker/certs.d.
e2e_podman() {
  timeout --foreground -k 5 "$E2E_CMD_TIMEOUT" podman --root "$E2E_T/podman/storage" \
    --runroot "$E2E_T/podman/run" --tmpdir "$E2E_T/podman/tmp" --storage-driver vfs \
    --cgroup-manager cgroupfs --events-backend file "$@"
}

e2e_docker() {
  timeout --foreground -k 5 "$E2E_CMD_TIMEOUT" "$E2E_DOCKER_BIN" "$@"
}

moto_calls() { # API -> how many calls moto saw since the last reset (0 if none)
  curl -fsS --max-time 5 "$E2E_MOTO_URL/_test/calls" | jq -r --arg k "$1" '.[$k] // 0'
}

moto_reset() { curl -fsS --max-time 5 -X POST "$E2E_MOTO_URL/_test/reset" >/dev/null; }

# moto_fault MODE [DELAY]: none, error500, hang, expired, denied, slow (DELAY seconds) — for the
# token and STS calls, until the next moto_reset (run.sh resets between scenarios).
moto_fault() {
  curl -fsS --max-time 5 -X POST "$E2E_MOTO_URL/_test/fault?mode=$1&delay=${2:-0}" >/dev/null
}

helper_cache_clear() { rm -rf "${AWS_ECR_CACHE_DIR:?}"/* "$HOME/.ecr"; }

helper_cache_sum() { # a fingerprint of the helper's cache file ("none" if absent)
  if [[ -e $AWS_ECR_CACHE_DIR/cache.json ]]; then
    sha256sum "$AWS_ECR_CACHE_DIR/cache.json" | cut -d' ' -f1
  else
    echo none
  fi
}

# helper_asked ACTION REGEX: the helper was called with ACTION and input (stdin) matching REGEX since
# the last helper_calls_reset. Without the shim (E2E_HELPER_SHIM=0) calls are not recorded, so a
# scenario that asks is skipped (a failure under CI=true), never passed unchecked.
helper_asked() {
  [[ ${E2E_HELPER_SHIM:-1} == 1 ]] || skip "helper calls are recorded only through the shim (E2E_HELPER_SHIM=1)"
  awk -v a="$1" -v re="$2" '$1 == a && substr($0, length(a) + 2) ~ re { f = 1 } END { exit !f }' \
    "$E2E_T/helper-calls.log" && return 0
  echo "the helper was not called as '$1' with input matching /$2/; calls seen:" >&2
  sed 's/^/    /' "$E2E_T/helper-calls.log" >&2
  return 1
}

helper_calls_reset() { : >"$E2E_T/helper-calls.log"; }

# seed IMAGE_REF: copy the test image there with skopeo (through the helper for ECR names).
seed() { e2e_skopeo copy --quiet "oci:$E2E_OCI:latest" "docker://$1"; }

# skip REASON: this scenario cannot run here. Under CI=true that is a failure.
skip() {
  if [[ ${CI:-} == true ]]; then
    echo "FAIL (CI=true never skips): $*" >&2
    exit 1
  fi
  echo "SKIP: $*" >&2
  exit 77
}

need_docker() { [[ ${E2E_DOCKERD_OK:-0} == 1 ]] || skip "${E2E_DOCKERD_WHY:-dockerd unavailable}"; }

# have_docker: true when dockerd is up; otherwise says so (fails under CI=true) and is false,
# for scenarios whose docker part is optional.
have_docker() {
  [[ ${E2E_DOCKERD_OK:-0} == 1 ]] && return 0
  [[ ${CI:-} != true ]] || fail "dockerd unavailable under CI=true: ${E2E_DOCKERD_WHY:-}"
  echo "NOTE: docker part not run: ${E2E_DOCKERD_WHY:-dockerd unavailable}" >&2
  return 1
}

fail() { echo "ASSERTION FAILED: $*" >&2; exit 1; }

# expect_fail_fast SECONDS REGEX COMMAND...: COMMAND must fail within SECONDS, output matching REGEX.
expect_fail_fast() {
  local secs=$1 re=$2 start out rc; shift 2
  start=$SECONDS
  out=$("$@" 2>&1) && rc=0 || rc=$?
  printf '%s\n' "$out" | sed 's/^/    | /'
  ((rc != 0)) || fail "expected failure, got success: $*"
  ((SECONDS - start <= secs)) || fail "took $((SECONDS - start))s (> ${secs}s) to fail: $*"
  grep -Eqi -- "$re" <<<"$out" || fail "output does not match /$re/: $*"
}
