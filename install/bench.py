#!/usr/bin/env python3
"""Side-by-side benchmark: this helper vs Debian's Go `docker-credential-ecr-login`.

Prints figures and ratios; it asserts nothing (targets are read off the output):

1. cached `get`: both caches warmed, then N runs of each, interleaved; median wall time and
   peak RSS (ru_maxrss of the child via wait4). Target: <= 0.40x the Go helper, <= 4 MiB.
2. cold `get` under an assume-role profile, 3 times: STS and ECR calls seen by moto.
3. 20 `get`s started at once on an empty cache: GetAuthorizationToken calls.
4. no credentials, instance metadata that accepts but never answers: time to the sentinel.

moto (tests/support/moto_launcher.py) is the AWS API, on loopback. A helper that cannot reach
it (old Go helpers ignore AWS_ENDPOINT_URL_ECR) gets its cache seeded in its own key format.
"""
import base64
import datetime
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
RUNS = int(os.environ.get("BENCH_RUNS", "40"))


def start_moto(workdir):
    port_file = os.path.join(workdir, "moto.port")
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tests/support/moto_launcher.py"), "--port-file", port_file],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "moto.log"), "w"))
    deadline = time.time() + 30
    while time.time() < deadline:
        if os.path.exists(port_file):
            return proc, int(open(port_file).read())
        time.sleep(0.05)
    proc.kill()
    sys.exit("bench: moto did not start")


def moto_calls(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_test/calls", timeout=10) as r:
        return json.load(r)


def moto_reset(port):
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/_test/reset", method="POST"), timeout=10)


def run(binary, env, action="get", stdin=HOST, timeout=60):
    """One process: (wall seconds, peak RSS KiB, exit code, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen([binary, action], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out, _ = proc.communicate(stdin.encode(), timeout=timeout)
    wall = time.perf_counter() - start
    # communicate() reaped the child; its rusage is in RUSAGE_CHILDREN only cumulatively,
    # so measure RSS separately below with wait4.
    return wall, proc.returncode, out.decode(errors="replace")


def spawn_wall(binary, env, stdin_file):
    """Wall time of one `get`, spawned with posix_spawn (no pipes, no shell) to keep the
    harness's own overhead small and equal for both helpers."""
    actions = [(os.POSIX_SPAWN_OPEN, 0, stdin_file, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
               (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]
    start = time.perf_counter()
    pid = os.posix_spawn(binary, [binary, "get"], env, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench: cached get of {binary} failed")
    return wall


def run_rss(binary, env):
    """Peak RSS (KiB) of one cached get, measured by GNU time.

    Not by fork + wait4 from here: Linux carries the forking process's high-water mark into the
    child's ru_maxrss, so a Python parent would inflate the figure. GNU time is a small C
    program, far below the helpers' own peak.
    """
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", binary, "get"], env=env, input=HOST.encode(),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
    return int(proc.stderr.decode().strip().splitlines()[-1])


def base_env(home, cache, port):
    # Anything that tries the real AWS API (old Go helpers ignore AWS_ENDPOINT_URL_*) is sent
    # to a closed loopback port through this proxy, so no traffic ever leaves the machine.
    return {
        "HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
        "HOME": home, "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_ECR_CACHE_DIR": cache,
        "AWS_ENDPOINT_URL_ECR": f"http://127.0.0.1:{port}", "AWS_ENDPOINT_URL_STS": f"http://127.0.0.1:{port}",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
    }


def seed_go_cache(cache_dir, akid="testing"):
    """The Go helper's cache entry for static keys, under both its current and legacy keys."""
    now = datetime.datetime.now(datetime.timezone.utc)
    iso = lambda t: t.isoformat().replace("+00:00", "Z")
    entry = {"AuthorizationToken": base64.b64encode(b"AWS:123456789012-auth-token").decode(),
             "RequestedAt": iso(now), "ExpiresAt": iso(now + datetime.timedelta(hours=12)),
             "ProxyEndpoint": f"https://{HOST}", "Service": "ecr"}
    sha = base64.b64encode(hashlib.sha256(akid.encode()).digest()).decode()
    legacy = base64.b64encode(akid.encode() + hashlib.md5(b"").digest()).decode()
    os.makedirs(cache_dir, exist_ok=True)
    with open(os.path.join(cache_dir, "cache.json"), "w") as f:
        json.dump({"Registries": {f"us-east-1-{sha}-123456789012": entry,
                                  f"us-east-1-{legacy}-123456789012": entry}, "Version": "1.0"}, f)


def supports_endpoint_env(version):
    """Go helpers before 0.8 use an AWS SDK that ignores AWS_ENDPOINT_URL_*."""
    try:
        major, minor = (int(x) for x in version.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (0, 8)


def black_hole():
    """A TCP port that accepts and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held = []

    def accept():
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return
    threading.Thread(target=accept, daemon=True).start()
    return sock, sock.getsockname()[1]


def main():
    ours = os.environ.get("ECR_LOGIN_BIN") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/ecr-login-target")),
        "release/docker-credential-ecr-login")
    go = os.environ.get("GO_HELPER_BIN", "/usr/bin/docker-credential-ecr-login")
    for b in (ours, go):
        if not os.access(b, os.X_OK):
            sys.exit(f"bench: {b} is missing (install/test-deps.sh installs the Go helper)")
    work = tempfile.mkdtemp(prefix="ecr-bench-")
    moto, port = start_moto(work)
    try:
        helpers = {"rust": ours, "go": go}
        go_version = subprocess.run([go, "version"], capture_output=True, text=True).stdout.split()[-1:]
        local_endpoints = {"rust": True, "go": supports_endpoint_env(go_version[0] if go_version else "")}
        print(f"benchmark: rust={ours}\n           go={go} ({subprocess.run([go, 'version'], capture_output=True, text=True).stdout.strip()})")

        # 1. cached get
        envs = {}
        for name, binary in helpers.items():
            home = os.path.join(work, name)
            os.makedirs(home)
            envs[name] = base_env(home, os.path.join(home, "ecr"), port)
            if name == "go" and not local_endpoints[name]:
                seed_go_cache(os.path.join(home, "ecr"))  # it cannot reach moto to warm itself
            _, code, out = run(binary, envs[name])
            if code != 0:
                sys.exit(f"bench: warming {name} failed: {out.strip()}")
        moto_reset(port)
        times = {n: [] for n in helpers}
        stdin_file = os.path.join(work, "stdin")
        with open(stdin_file, "w") as f:
            f.write(HOST)
        for _ in range(RUNS):
            for name, binary in helpers.items():
                times[name].append(spawn_wall(binary, envs[name], stdin_file))
        rss = {n: max(run_rss(b, envs[n]) for _ in range(5)) for n, b in helpers.items()}
        calls = moto_calls(port)
        med = {n: statistics.median(t) * 1000 for n, t in times.items()}
        print(f"\n1. cached get, {RUNS} interleaved runs each (API calls during the runs: {sum(calls.values())})")
        print(f"   {'':6}{'median ms':>10}{'min ms':>9}{'peak RSS MiB':>14}")
        for n in helpers:
            print(f"   {n:6}{med[n]:10.2f}{min(times[n]) * 1000:9.2f}{rss[n] / 1024:14.2f}")
        print(f"   ratio rust/go median wall: {med['rust'] / med['go']:.2f}x (target <= 0.40x); "
              f"rust peak RSS {rss['rust'] / 1024:.2f} MiB (target <= 4 MiB)")

        # 2. assume-role profile, 3 gets each
        print("\n2. assume-role profile, 3 successive gets (calls seen by moto)")
        for name, binary in helpers.items():
            if not local_endpoints[name]:
                print(f"   {name:6} n/a: {binary} ignores AWS_ENDPOINT_URL_*, so it cannot be pointed at moto")
                continue
            home = os.path.join(work, name + "-role")
            os.makedirs(os.path.join(home, ".aws"))
            with open(os.path.join(home, ".aws/config"), "w") as f:
                f.write("[profile base]\nregion = us-east-1\n[profile dev]\n"
                        "role_arn = arn:aws:iam::123456789012:role/ecr-pull\nsource_profile = base\n")
            with open(os.path.join(home, ".aws/credentials"), "w") as f:
                f.write("[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = x\n")
            env = base_env(home, os.path.join(home, "ecr"), port)
            del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
            env["AWS_PROFILE"] = "dev"
            env["AWS_SDK_LOAD_CONFIG"] = "1"
            moto_reset(port)
            ok = sum(run(binary, env)[1] == 0 for _ in range(3))
            c = moto_calls(port)
            print(f"   {name:6} {ok}/3 ok, sts:AssumeRole={c.get('sts:AssumeRole', 0)} "
                  f"ecr:GetAuthorizationToken={c.get('ecr:GetAuthorizationToken', 0)}")

        # 3. 20 concurrent gets on a cold cache
        print("\n3. 20 gets started at once on an empty cache")
        for name, binary in helpers.items():
            if not local_endpoints[name]:
                print(f"   {name:6} n/a: {binary} ignores AWS_ENDPOINT_URL_*, so it cannot be pointed at moto")
                continue
            home = os.path.join(work, name + "-burst")
            os.makedirs(home)
            env = base_env(home, os.path.join(home, "ecr"), port)
            moto_reset(port)
            procs = [subprocess.Popen([binary, "get"], env=env, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for _ in range(20)]
            ok = 0
            for p in procs:
                out, _ = p.communicate(HOST.encode(), timeout=60)
                ok += p.returncode == 0
            c = moto_calls(port)
            print(f"   {name:6} {ok}/20 answered, ecr:GetAuthorizationToken={c.get('ecr:GetAuthorizationToken', 0)}"
                  f"")

        # 4. no credentials, hung instance metadata
        print("\n4. no credentials, instance metadata accepts but never answers")
        sock, hole = black_hole()
        for name, binary in helpers.items():
            home = os.path.join(work, name + "-nocreds")
            os.makedirs(home)
            env = {"HOME": home, "PATH": "/usr/bin:/bin", "AWS_ECR_CACHE_DIR": os.path.join(home, "ecr"),
                   "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost",
                   "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://127.0.0.1:{hole}",
                   "AWS_ENDPOINT_URL_ECR": f"http://127.0.0.1:{hole}"}
            wall, code, out = run(binary, env, timeout=120)
            print(f"   {name:6} {wall:6.2f} s, exit {code}, stdout {out.strip()!r} (target for rust: <= 1.5 s)")
        sock.close()
    finally:
        moto.kill()
        moto.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
