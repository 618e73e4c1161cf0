#!/usr/bin/env bash
# Validates the export deploy examples under install/deploy/:
#  - Kubernetes manifests with `kubernetes-validate` (PyPI; installed with pip if missing), strict
#    (the export CronJob set, and the kubelet credential provider's RBAC; the kubelet's own
#    CredentialProviderConfig type is not in its schemas: tests/kubelet_deploy.rs decodes it
#    strictly and applies the kubelet's validation rules);
#  - the systemd service + timer with `systemd-analyze verify` where available;
#  - the crontab line's shape (5 schedule fields + an absolute path to the binary + `export`);
#  - the Lambda CloudFormation template with `cfn-lint` (PyPI), as written (W3002 is the
#    expected "local Code path needs `aws cloudformation package`") and as packaged (Code in S3,
#    every check).
# Usage: tests/deploy_validate.sh [path-to-built-binary]   (the binary is only used by systemd-analyze)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
deploy="$repo/install/deploy"
bin=${1:-${CARGO_TARGET_DIR:-$repo/target}/debug/docker-credential-ecr-login}
fail=0

echo "== kubernetes-validate"
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  python3 -m pip install --quiet kubernetes-validate >/dev/null 2>&1 || true
fi
if command -v kubernetes-validate >/dev/null 2>&1; then
  for v in 1.30.0 1.33.0; do
    kubernetes-validate --strict --kubernetes-version "$v" "$deploy"/kubernetes/*.yaml || fail=1
  done
  for v in 1.33.0 1.34.0; do
    kubernetes-validate --strict --kubernetes-version "$v" "$deploy"/kubelet/node-token-audience-rbac.yaml || fail=1
  done
else
  echo "kubernetes-validate is not available and could not be installed" >&2
  fail=1
fi

echo "== systemd-analyze verify"
if command -v systemd-analyze >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cp "$deploy"/systemd/ecr-login-export.{service,timer} "$tmp"/
  # verify checks that ExecStart exists: point it at the built binary when there is one.
  if [ -x "$bin" ]; then
    sed -i "s#/usr/local/bin/docker-credential-ecr-login#$bin#" "$tmp/ecr-login-export.service"
  fi
  out=$(cd "$tmp" && systemd-analyze verify --man=no ./ecr-login-export.service ./ecr-login-export.timer 2>&1) || {
    echo "$out" >&2
    fail=1
  }
  # Unknown users (User=ecr-login) are not an error of the unit file itself; anything else is.
  if echo "$out" | grep -v -e "^$" -e "ecr-login-export.service:.*User" | grep -qi -e "error" -e "unknown" -e "invalid" -e "not executable"; then
    echo "$out" >&2
    fail=1
  fi
  grep -q '^RandomizedDelaySec=' "$deploy/systemd/ecr-login-export.timer" || { echo "timer: RandomizedDelaySec missing" >&2; fail=1; }
  grep -q '^Persistent=true' "$deploy/systemd/ecr-login-export.timer" || { echo "timer: Persistent=true missing" >&2; fail=1; }
else
  echo "systemd-analyze not available; skipped"
fi

echo "== crontab"
if ! grep -v '^#' "$deploy/crontab" | grep -Eq '^([^ ]+ ){5}/[^ ]*docker-credential-ecr-login export( |$)'; then
  echo "crontab: expected '<5 fields> /abs/path/docker-credential-ecr-login export ...'" >&2
  fail=1
fi

echo "== cfn-lint"
if ! command -v cfn-lint >/dev/null 2>&1; then
  python3 -m pip install --quiet cfn-lint >/dev/null 2>&1 || true
fi
if command -v cfn-lint >/dev/null 2>&1; then
  template="$deploy/lambda/template.yaml"
  cfn-lint --ignore-checks W3002 -- "$template" || fail=1
  packaged=$(mktemp --suffix=.yaml)
  sed 's#^      Code: ./package$#      Code: { S3Bucket: example-bucket, S3Key: ecr-login/package.zip }#' "$template" >"$packaged"
  grep -q 'S3Key: ecr-login/package.zip' "$packaged" || { echo "template: Code: ./package not found" >&2; fail=1; }
  cfn-lint -- "$packaged" || fail=1
  rm -f "$packaged"
else
  echo "cfn-lint is not available and could not be installed" >&2
  fail=1
fi

if [ "$fail" -ne 0 ]; then
  echo "deploy validation FAILED" >&2
  exit 1
fi
echo "deploy validation ok"
