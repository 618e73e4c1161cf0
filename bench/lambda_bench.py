#!/usr/bin/env python3
"""Benchmark for `export` as a Lambda custom runtime (issue 13).

    python3 bench/lambda_bench.py --bin target/release/docker-credential-ecr-login [--cold 10] [--warm 20]

The binary runs as `bootstrap` (a symlink in a temp dir) against a local Runtime API (this
script: queued invocations on /next, results recorded), with moto as ECR and a docker-config
target (a local file: the target's own latency is the fsync'd write, reported per row).

* init: process start -> the first `GET invocation/next` (Lambda bills it). Goal <= 50 ms.
* warm overhead: per warm invocation, (`next` answered -> `response` received) minus the
  targets' own duration_ms from the summary. Goal <= 20 ms. The token comes from the /tmp-style
  cache after the first invocation (one GetAuthorizationToken per environment, checked).

Exit status 0 when the medians meet both goals.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
from export_bench import get, post, start  # noqa: E402


class RuntimeApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, count):
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.queue = [f"req-{i}" for i in range(count)]
        self.nexts = []  # (id, perf_counter when answered)
        self.results = {}  # id -> (path kind, perf_counter, body)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body, headers=()):
        data = body.encode()
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        self.close_connection = True

    def do_GET(self):
        api = self.server
        if self.path != "/2018-06-01/runtime/invocation/next":
            return self.reply(404, "{}")
        with api.lock:
            rid = api.queue.pop(0) if api.queue else None
        if rid is None:
            self.close_connection = True  # no more events: the runtime exits
            return
        deadline = int(time.time() * 1000) + 60_000
        self.reply(200, '{"source":"aws.events"}', [("Lambda-Runtime-Aws-Request-Id", rid), ("Lambda-Runtime-Deadline-Ms", str(deadline))])
        with api.lock:
            api.nexts.append((rid, time.perf_counter()))

    def do_POST(self):
        api = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        now = time.perf_counter()
        parts = self.path.split("/")
        if len(parts) >= 6 and parts[3] == "invocation":
            with api.lock:
                api.results[parts[4]] = (parts[5], now, body)
        elif self.path.endswith("/init/error"):
            with api.lock:
                api.results["init"] = ("init/error", now, body)
        self.reply(202, '{"status":"OK"}')


def run_bootstrap(bootstrap, env, count):
    api = RuntimeApi(count)
    threading.Thread(target=api.serve_forever, daemon=True).start()
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{api.server_address[1]}")
    started = time.perf_counter()
    p = subprocess.run([bootstrap], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    api.shutdown()
    if "init" in api.results or len(api.results) != count:
        raise SystemExit(f"runtime failed: {api.results.get('init')} {p.stderr.decode()[-2000:]}")
    return api, started


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")), "release", "docker-credential-ecr-login"))
    ap.add_argument("--cold", type=int, default=10, help="cold starts (one invocation each)")
    ap.add_argument("--warm", type=int, default=20, help="invocations in one warm process")
    args = ap.parse_args()
    procs = []
    tmp = tempfile.mkdtemp(prefix="lambda-bench-")
    try:
        moto = start(procs, "tests/support/moto_launcher.py", tmp)
        task = os.path.join(tmp, "task")
        os.makedirs(task)
        bootstrap = os.path.join(task, "bootstrap")
        os.symlink(os.path.abspath(args.bin), bootstrap)
        config = os.path.join(task, "export.toml")
        with open(config, "w") as f:
            f.write(f'[[source]]\nregion = "us-east-1"\n\n[[target]]\nname = "local"\ntype = "docker-config"\npath = "{tmp}/docker/config.json"\n')
        os.chmod(config, 0o600)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_ENDPOINT_URL_ECR": moto, "AWS_ENDPOINT_URL_STS": moto,
            "AWS_ECR_CACHE_DIR": os.path.join(tmp, "cache"),
            "ECR_LOGIN_EXPORT_CONFIG": config, "LAMBDA_TASK_ROOT": task,
        }

        inits = []
        for _ in range(args.cold):
            api, started = run_bootstrap(bootstrap, env, 1)
            inits.append((api.nexts[0][1] - started) * 1000)
        post(moto + "/_test/reset")
        # A fresh environment: an empty cache, so the first invocation fetches the token.
        env["AWS_ECR_CACHE_DIR"] = os.path.join(tmp, "cache-warm")
        api, _ = run_bootstrap(bootstrap, env, args.warm)
        ecr_calls = get(moto + "/_test/calls").get("ecr:GetAuthorizationToken", 0)
        overheads, totals = [], []
        for rid, answered in api.nexts[1:]:
            kind, at, body = api.results[rid]
            if kind != "response":
                raise SystemExit(f"{rid}: {kind}: {body}")
            total = (at - answered) * 1000
            targets = max(t["duration_ms"] for t in json.loads(body)["targets"])
            totals.append(total)
            overheads.append(total - targets)
        init_med, over_med = statistics.median(inits), statistics.median(overheads)
        print(f"init (start -> first next), {args.cold} cold starts: median {init_med:.1f} ms, max {max(inits):.1f} ms (goal <= 50 ms)")
        print(f"warm invocations ({len(totals)}): next -> response median {statistics.median(totals):.1f} ms; "
              f"overhead beyond the targets median {over_med:.1f} ms, max {max(overheads):.1f} ms (goal <= 20 ms)")
        print(f"GetAuthorizationToken calls in the warm environment: {ecr_calls} (goal 1)")
        return 0 if init_med <= 50 and over_med <= 20 and ecr_calls == 1 else 1
    finally:
        for p in procs:
            p.kill()


if __name__ == "__main__":
    sys.exit(main())
