#!/usr/bin/env python3
"""Benchmark for `export` (issue 4): one source -> Pipecat, Runpod, Octopus, docker-config and a
Kubernetes target with 50 namespaces, every fake adding 50 ms latency per request.
Goal: <= 1 s wall for the whole run and exactly 1 GetAuthorizationToken call.

    python3 bench/export_bench.py --bin target/release/docker-credential-ecr-login [--runs 3]

Everything runs on loopback: moto (tests/support/moto_launcher.py) and the fakes in tests/fakes/.
Each run uses a fresh token cache, so each run makes its one GetAuthorizationToken call.
Exit status 0 when every run meets both goals.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start(procs, script, tmp, *args):
    port_file = os.path.join(tmp, os.path.basename(script) + ".port")
    p = subprocess.Popen([sys.executable, os.path.join(REPO, script), "--port", "0", "--port-file", port_file, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    deadline = time.time() + 60
    while not os.path.exists(port_file):
        if p.poll() is not None or time.time() > deadline:
            raise SystemExit(f"{script} did not start")
        time.sleep(0.05)
    return f"http://127.0.0.1:{open(port_file).read().strip()}"


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def post(url):
    req = urllib.request.Request(url, data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")), "release", "docker-credential-ecr-login"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--latency-ms", default="50")
    ap.add_argument("--namespaces", type=int, default=50)
    args = ap.parse_args()
    procs = []
    tmp = tempfile.mkdtemp(prefix="export-bench-")
    ok = True
    try:
        moto = start(procs, "tests/support/moto_launcher.py", tmp)
        lat = ["--latency-ms", args.latency_ms]
        pipecat = start(procs, "tests/fakes/pipecat.py", tmp, *lat)
        runpod = start(procs, "tests/fakes/runpod.py", tmp, *lat)
        octopus = start(procs, "tests/fakes/octopus.py", tmp, *lat)
        names = ",".join(f"ns-{i:02d}" for i in range(args.namespaces))
        kube = start(procs, "tests/fakes/kubernetes.py", tmp, *lat, "--namespaces", names)
        kubeconfig = os.path.join(tmp, "kubeconfig")
        with open(kubeconfig, "w") as f:
            f.write(f"apiVersion: v1\nkind: Config\nclusters:\n- name: b\n  cluster:\n    server: {kube}\ncontexts:\n- name: b\n  context:\n    cluster: b\n    user: u\n"
                    "current-context: b\nusers:\n- name: u\n  user:\n    token: kube-test-token\n")
        keyfile = os.path.join(tmp, "octopus.key")
        with open(keyfile, "w") as f:
            f.write("API-TESTOCTOPUSKEY\n")
        os.chmod(keyfile, 0o600)
        config = os.path.join(tmp, "export.toml")
        with open(config, "w") as f:
            f.write(f"""
[[source]]
region = "us-east-1"

[[target]]
name = "pipecat"
type = "pipecat"
secret_set = "my-ecr-credentials"
api_key = {{ env = "PIPECAT_API_KEY" }}
base_url = "{pipecat}"

[[target]]
name = "runpod"
type = "runpod"
registry_auth = "ECR Credentials"
api_key = {{ env = "RUNPOD_API_KEY" }}
base_url = "{runpod}"

[[target]]
name = "octopus"
type = "octopus"
server = "{octopus}"
space = "Default"
feed = "ECR"
api_key = {{ file = "{keyfile}" }}

[[target]]
name = "k8s"
type = "kubernetes"
kubeconfig = "{kubeconfig}"
namespaces = ["ns-*"]
secret_name = "ecr-pull"

[[target]]
name = "local"
type = "docker-config"
path = "{tmp}/docker/config.json"
""")
        os.chmod(config, 0o600)
        for run in range(args.runs):
            post(moto + "/_test/reset")
            env = {
                "PATH": os.environ.get("PATH", ""),
                "HOME": tmp,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_ENDPOINT_URL_ECR": moto,
                "AWS_ENDPOINT_URL_STS": moto,
                "AWS_ECR_CACHE_DIR": tempfile.mkdtemp(dir=tmp),
                "PIPECAT_API_KEY": "pk_test_pipecat_key",
                "RUNPOD_API_KEY": "rpa_test_runpod_key",
            }
            started = time.monotonic()
            out = subprocess.run([args.bin, "export", "--config", config, "--lock", os.path.join(tmp, "lock"), "--output", "json"], env=env, capture_output=True, text=True)
            wall = time.monotonic() - started
            calls = get(moto + "/_test/calls").get("ecr:GetAuthorizationToken", 0)
            try:
                rows = {r["target"]: (r["action"], r["result"], r["duration_ms"]) for r in json.loads(out.stdout)["targets"]}
            except ValueError:
                rows = out.stdout + out.stderr
            good = out.returncode == 0 and wall <= 1.0 and calls == 1
            ok = ok and good
            print(f"run {run + 1}: wall {wall * 1000:.0f} ms, exit {out.returncode}, GetAuthorizationToken calls {calls}, {'PASS' if good else 'FAIL'}")
            print(f"  targets: {rows}")
    finally:
        for p in procs:
            p.kill()
            p.wait()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
