"""Shared plumbing for the local fake platform servers used by the export tests.

Each fake (pipecat.py, runpod.py, octopus.py, kubernetes.py) follows its platform's documented
contract exactly -- status codes, bodies, error shapes -- as recorded in the project's API research
(Pipecat Cloud OpenAPI, Runpod v2 OpenAPI + GraphQL, Octopus REST / go-octopusdeploy, Kubernetes
API conventions). This module only adds what every fake needs:

* loopback-only ThreadingHTTPServer speaking HTTP/1.1, port 0 + --port-file for the tests;
* --latency-ms: every product request waits this long first (the benchmark uses 50 ms);
* a call log and fault injection, on control endpoints the product never uses:
    GET  /_test/state                    -> {"calls": [[method, path, body], ...], "state": {...}}
    POST /_test/reset                    -> clear calls and the fault (state kept)
    POST /_test/fault?mode=M[&count=N][&method=METHOD][&path=PATH][&retry_after=S][&location=URL]
      one fault convention for every fake:
      * count: how many matching requests it affects (default: all);
      * method / path: only requests with this method / this path (exact, or a prefix when it
        ends in `*`; the query string is not part of it) are affected, others pass;
      * body: only requests whose body contains this text (e.g. one GraphQL mutation);
      * M, answered here the same way by every fake:
          hang     -> never answer (the client times out);
          redirect -> 307 to `location` (another port: tests check nothing follows it);
          lost     -> the request is processed and stored, then no answer (client timeout);
          drop     -> the request is processed and stored, then the connection is closed;
        and in the platform's own error shape (each fake's `fault`):
          auth -> 401; 429 -> 429 with Retry-After: S (default 1); 500; echo (the write's body
          echoed in a 400); plus fake-specific modes.
"""
import io
import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HANG = threading.Event()  # never set: a hung request waits on it until the process is killed


class Fake:
    """Per-process state shared by the handler threads."""

    def __init__(self, latency_ms):
        self.lock = threading.RLock()
        self.calls = []
        self.fault = {"mode": "none", "count": -1}
        self.latency = latency_ms / 1000.0
        self.state = {}

    def take_fault(self, method, route, body):
        """The fault for this request ("none" if none applies), consuming one count."""
        with self.lock:
            f = self.fault
            mode, count = f["mode"], f["count"]
            if mode == "none" or count == 0:
                return "none", f
            if f.get("method") and f["method"] != method:
                return "none", f
            path = f.get("path")
            if path and not (route.startswith(path[:-1]) if path.endswith("*") else route == path):
                return "none", f
            if f.get("body") and f["body"].encode() not in body:
                return "none", f
            if count > 0:
                f["count"] = count - 1
            return mode, f


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms per answer on loopback), which no real API server adds.
    disable_nagle_algorithm = True
    fake = None  # set by serve()

    def log_message(self, fmt, *args):  # keep test output clean
        pass

    # -- helpers -------------------------------------------------------------------------------
    def send(self, status, body=None, content_type="application/json", headers=None):
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        # Read once, up front (see handle_any), so an early answer never leaves a body in the
        # keep-alive connection.
        return self._raw

    def json_body(self):
        raw = self._raw
        try:
            return json.loads(raw or b"null")
        except ValueError:
            return None

    # -- dispatch ------------------------------------------------------------------------------
    def handle_any(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        self._raw = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.route = url.path
        if self.route.startswith("/_test/"):
            return self.control(method)
        fake = self.fake
        with fake.lock:
            fake.calls.append([method, self.path, self._raw[:8192].decode(errors="replace")])
        if fake.latency:
            time.sleep(fake.latency)
        mode, spec = fake.take_fault(method, self.route, self._raw)
        self.retry_after = spec.get("retry_after") or "1"
        if mode == "hang":
            HANG.wait(3600)
            return
        if mode == "redirect":
            return self.send(307, {"moved": True}, headers={"Location": spec.get("location", "")})
        if mode in ("lost", "drop"):
            # The server does the work, and the answer never reaches the client.
            real, self.wfile = self.wfile, io.BytesIO()
            try:
                self.dispatch(method)
            finally:
                self.wfile = real
            if mode == "lost":
                HANG.wait(3600)
            self.close_connection = True
            return
        if mode != "none" and self.fault(mode, method):
            return
        self.dispatch(method)

    def control(self, method):
        fake = self.fake
        if self.route == "/_test/state":
            with fake.lock:
                return self.send(200, {"calls": fake.calls, "state": fake.state})
        if self.route == "/_test/fault" and method == "POST":
            q = self.query
            with fake.lock:
                fake.fault = {"mode": q.get("mode", "none"), "count": int(q.get("count", "-1")), "method": q.get("method"),
                              "path": q.get("path"), "body": q.get("body"), "retry_after": q.get("retry_after"), "location": q.get("location")}
            return self.send(200, {"ok": True})
        if self.route == "/_test/reset" and method == "POST":
            with fake.lock:
                fake.calls = []
                fake.fault = {"mode": "none", "count": -1}
            return self.send(200, {"ok": True})
        return self.send(404, {"error": "unknown control endpoint"})

    def fault(self, mode, method):
        """Answers an injected fault in the platform's error shape; True if answered."""
        raise NotImplementedError

    def dispatch(self, method):
        raise NotImplementedError

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")


def serve(handler_cls, setup=None, extra_args=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--latency-ms", type=float, default=0)
    for args, kwargs in extra_args or []:
        parser.add_argument(*args, **kwargs)
    args = parser.parse_args()
    fake = Fake(args.latency_ms)
    if setup:
        setup(fake, args)
    handler_cls.fake = fake
    server = ThreadingHTTPServer(("127.0.0.1", args.port), handler_cls)
    server.daemon_threads = True
    server.request_queue_size = 128
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os

    os.replace(args.port_file + ".tmp", args.port_file)
    server.serve_forever()
