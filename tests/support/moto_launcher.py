#!/usr/bin/env python3
"""Runs moto (the AWS API emulator) on loopback for the tests, with a thin WSGI layer.

moto is the real ECR and STS implementation here. The layer around it only does what moto
cannot:

* moto's ECR GetAuthorizationToken always answers with an expiry in 2015; the layer rewrites
  `expiresAt` to now + --expiry-seconds (12 h by default, like the real service), or to a time
  in the past when the fault mode `expired` is set.
* moto has no ECR Public; `SpencerFrontendService.GetAuthorizationToken` is answered here with the
  documented shape (`authorizationData` object, no proxyEndpoint).
* it counts calls per API (`ecr:GetAuthorizationToken`, `sts:AssumeRole`, ...) so tests can
  assert how many network calls the helper made, and it injects faults.
* it records each call's signing access key id and STS parameters (RoleArn, RoleSessionName,
  WebIdentityToken), and the key id STS issued, so tests can tell whose credentials an ECR
  call was signed with.

Control endpoints (never used by the product):
  GET  /_test/calls          -> {"ecr:GetAuthorizationToken": 1, ...}
  GET  /_test/requests       -> [{"api": ..., "access_key": ..., "params": {...}, "issued_key": ...}]
  POST /_test/reset          -> zero the counters and clear the fault
  POST /_test/fault?mode=M   -> M is one of: none, error500, hang, expired, denied, slow
                                (slow: answer after ?delay=SECONDS)
"""
import argparse
import base64
import json
import os
import re
import sys
import threading
import time
from datetime import datetime
from urllib.parse import parse_qs

from moto.moto_server.threaded_moto_server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

_lock = threading.Lock()
_calls = {}
_requests = []
_RECORDED_PARAMS = ("RoleArn", "ExternalId", "RoleSessionName", "WebIdentityToken")
_fault = {"mode": "none", "delay": 0.0}
_hang = threading.Event()  # never set while serving: a "hung" request waits on it


def _count(name):
    with _lock:
        _calls[name] = _calls.get(name, 0) + 1


def _json(start_response, status, body, content_type="application/json"):
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]


class Layer:
    def __init__(self, app, expiry_seconds):
        self.app = app
        self.expiry_seconds = expiry_seconds

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_test/"):
            return self.control(environ, start_response, path)

        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = _Body(body)
        api = self.api_name(environ, body)
        _count(api)
        record = self.record(environ, body, api)

        if api.endswith(":GetAuthorizationToken") or api.startswith("sts:"):
            fault = self.apply_fault(start_response)
            if fault is not None:
                return fault

        if api == "ecr-public:GetAuthorizationToken":
            return self.public_token(start_response)
        if api == "ecr:GetAuthorizationToken":
            return self.private_token(environ, start_response)
        if api.startswith("sts:AssumeRole"):
            return self.issued(environ, start_response, record)
        return self.app(environ, start_response)

    @staticmethod
    def record(environ, body, api):
        auth = environ.get("HTTP_AUTHORIZATION", "")
        match = re.search(r"Credential=([^/,\s]+)/", auth)
        form = parse_qs(body.decode("utf-8", "replace")) if body else {}
        entry = {"api": api, "access_key": match.group(1) if match else None,
                 "params": {k: form[k][0] for k in _RECORDED_PARAMS if k in form}, "issued_key": None}
        with _lock:
            _requests.append(entry)
        return entry

    def issued(self, environ, start_response, record):
        """Passes moto's STS answer through, noting the access key id it issued."""
        status, headers, body = self.moto(environ)
        match = re.search(rb"<AccessKeyId>([^<]+)</AccessKeyId>", body)
        with _lock:
            record["issued_key"] = match.group(1).decode() if match else None
        start_response(status, headers)
        return [body]

    @staticmethod
    def api_name(environ, body):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("AmazonEC2ContainerRegistry_V20150921."):
            return "ecr:" + target.split(".", 1)[1]
        if target.startswith("SpencerFrontendService."):
            return "ecr-public:" + target.split(".", 1)[1]
        if target:
            return target
        form = parse_qs(body.decode("utf-8", "replace")) if body else {}
        query = parse_qs(environ.get("QUERY_STRING", ""))
        action = (form.get("Action") or query.get("Action") or ["?"])[0]
        return "sts:" + action

    def apply_fault(self, start_response):
        mode = _fault["mode"]
        if mode == "error500":
            return _json(start_response, "500 Internal Server Error",
                         {"__type": "ServerException", "message": "injected failure"},
                         "application/x-amz-json-1.1")
        if mode == "denied":
            return _json(start_response, "400 Bad Request",
                         {"__type": "AccessDeniedException",
                          "message": "User is not authorized to perform: ecr:GetAuthorizationToken"},
                         "application/x-amz-json-1.1")
        if mode == "hang":
            _hang.wait(600)
        if mode == "slow":
            time.sleep(_fault["delay"])
        return None

    def expiry(self):
        if _fault["mode"] == "expired":
            return time.time() - 3600
        return time.time() + self.expiry_seconds

    def moto(self, environ):
        """moto's answer to the request: (status, headers, body)."""
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = status
            captured["headers"] = headers

        body = b"".join(self.app(environ, capture))
        return captured["status"], captured["headers"], body

    def private_token(self, environ, start_response):
        status, headers, body = self.moto(environ)
        if not status.startswith("200"):
            start_response(status, headers)
            return [body]
        reply = json.loads(body)
        for item in reply.get("authorizationData", []):
            item["expiresAt"] = self.expiry()
        return _json(start_response, "200 OK", reply, "application/x-amz-json-1.1")

    def public_token(self, start_response):
        token = base64.b64encode(b"AWS:public-auth-token").decode()
        return _json(start_response, "200 OK",
                     {"authorizationData": {"authorizationToken": token, "expiresAt": self.expiry()}},
                     "application/x-amz-json-1.1")

    def control(self, environ, start_response, path):
        if path == "/_test/calls":
            with _lock:
                return _json(start_response, "200 OK", dict(_calls))
        if path == "/_test/requests":
            with _lock:
                return _json(start_response, "200 OK", list(_requests))
        if path == "/_test/reset":
            with _lock:
                _calls.clear()
                _requests.clear()
            _fault.update(mode="none", delay=0.0)
            return _json(start_response, "200 OK", {})
        if path == "/_test/fault":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            _fault["mode"] = (query.get("mode") or ["none"])[0]
            _fault["delay"] = float((query.get("delay") or ["0"])[0])
            return _json(start_response, "200 OK", dict(_fault))
        return _json(start_response, "404 Not Found", {"error": "unknown control path"})


class _Body:
    """A re-readable request body for the wrapped moto app."""

    def __init__(self, data):
        self._data = data
        self._pos = 0

    def read(self, size=-1):
        if size is None or size < 0:
            size = len(self._data) - self._pos
        chunk = self._data[self._pos:self._pos + size]
        self._pos += len(chunk)
        return chunk

    def readline(self, size=-1):
        end = self._data.find(b"\n", self._pos)
        end = len(self._data) if end < 0 else end + 1
        if size is not None and size >= 0:
            end = min(end, self._pos + size)
        chunk = self._data[self._pos:end]
        self._pos = end
        return chunk

    def __iter__(self):
        return iter(lambda: self.readline(), b"")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", help="write the listening port here once ready")
    parser.add_argument("--expiry-seconds", type=float, default=12 * 3600)
    args = parser.parse_args()
    if not args.host.startswith("127.") and args.host != "::1":
        sys.exit("moto_launcher: refusing to listen anywhere but loopback")

    app = Layer(DomainDispatcherApplication(create_backend_app), args.expiry_seconds)
    server = make_server(args.host, args.port, app, threaded=True)
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, args.port_file)
    print(f"moto listening on {args.host}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
