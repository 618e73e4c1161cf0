#!/usr/bin/env python3
"""Fake Pipecat Cloud secrets API, following the documented contract exactly
(pipecat-cloud OpenAPI `secret-create-update`, `secrets.mdx`, `error-codes.mdx`):

* PUT /v1/secrets/{setName} (Bearer private key) with
  {"isImagePullSecret": true, "host": uri, "secretValue": base64("user:token"), "region"?}
  -> 202 {"status": "OK", "region": ...}; provisioning is asynchronous: the set is `pending`,
  then `ready` (--ready-after seconds later). A `region` left out means the organization's
  default region (the first of --regions), also for an existing set: a set in another region
  then answers 400 "Cannot change region".
* After a PUT the list keeps showing the set's previous status for --status-lag seconds (the
  update is applied asynchronously), so an old `ready` is not proof the update is done.
* GET /v1/secrets -> {"sets": [{"name", "type": "secret"|"imagePullSecret", "region", "status", "errorMessage"?}]}
* GET /v1/secrets/{setName} for an image pull secret -> 400 "Cannot retrieve image pull secrets by name".
* Errors: {"error": "...", "code": "..."}: 400 GENERIC_BAD_REQUEST (missing fields, regular set,
  region change, bad base64), 401 UNAUTHORIZED, 409 CONFLICT (concurrent modification, retryable), 500.
Extra fault modes: `conflict` (409 CONFLICT on PUT).
"""
import base64
import binascii
import re
import sys
import time
import threading
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakebase import Handler, serve  # noqa: E402

NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def err(code, message):
    return {"error": message, "code": code}


class Pipecat(Handler):
    def fault(self, mode, method):
        if mode == "auth":
            self.send(401, err("UNAUTHORIZED", "Unauthorized"))
        elif mode == "429":
            self.send(429, err("RATE_LIMITED", "Too many requests"), headers={"Retry-After": self.retry_after})
        elif mode == "500":
            self.send(500, err("INTERNAL_SERVER_ERROR", "Internal server error"))
        elif mode == "echo" and method != "GET":  # reads pass, the write is echoed
            body = self.read_body().decode(errors="replace")
            # Real servers echo in many shapes: whole, cut short, JSON-escaped.
            sent = self.json_body()
            value = sent.get("secretValue", "") if isinstance(sent, dict) else ""
            excerpt = value[:-6].replace("/", "\\/")
            self.send(400, err("GENERIC_BAD_REQUEST", "Invalid request format: " + body + " near: " + excerpt + " key=" + self.headers.get("Authorization", "")))
        elif mode == "conflict" and method == "PUT":
            name = self.route.rsplit("/", 1)[-1]
            self.send(409, err("CONFLICT", f"Secret set '{name}' was modified concurrently. Please retry."))
        else:
            return False
        return True

    def sets(self):
        return self.fake.state.setdefault("sets", {})

    def refresh(self):
        now = time.time()
        for s in self.sets().values():
            if s["status"] == "pending" and now >= s["ready_at"]:
                s["status"] = "ready"

    def dispatch(self, method):
        fake = self.fake
        if self.headers.get("Authorization") != "Bearer " + fake.api_key:
            return self.send(401, err("UNAUTHORIZED", "Unauthorized"))
        with fake.lock:
            self.refresh()
            if self.route == "/v1/secrets" and method == "GET":
                out = []
                for name, s in sorted(self.sets().items()):
                    shown = s["shown_status"] if time.time() < s.get("shown_until", 0) else s["status"]
                    item = {"name": name, "type": s["type"], "region": s["region"], "status": shown}
                    if s.get("errorMessage"):
                        item["errorMessage"] = s["errorMessage"]
                    out.append(item)
                return self.send(200, {"sets": out})
            m = re.fullmatch(r"/v1/secrets/([^/]+)", self.route)
            if not m:
                return self.send(404, err("NOT_FOUND", "Not found"))
            name = m.group(1)
            if method == "GET":
                s = self.sets().get(name)
                if s is None:
                    return self.send(404, err("NOT_FOUND", f"Secret set '{name}' not found"))
                if s["type"] == "imagePullSecret":
                    return self.send(400, err("GENERIC_BAD_REQUEST", "Cannot retrieve image pull secrets by name"))
                return self.send(200, {"name": name, "secrets": [{"fieldName": k} for k in s.get("fields", [])]})
            if method != "PUT":
                return self.send(405, err("METHOD_NOT_ALLOWED", "Method not allowed"))
            body = self.json_body()
            if not isinstance(body, dict):
                return self.send(400, err("GENERIC_BAD_REQUEST", "Invalid request format"))
            if not (3 <= len(name) <= 63 and NAME.match(name)):
                return self.send(400, err("GENERIC_BAD_REQUEST", "Invalid secret set name"))
            if body.get("isImagePullSecret") is not True or not body.get("host") or not body.get("secretValue"):
                return self.send(400, err("GENERIC_BAD_REQUEST", "Must provide isImagePullSecret, host, and secretValue to update an image pull secret"))
            extra = set(body) - {"isImagePullSecret", "host", "secretValue", "region"}
            if extra:
                return self.send(400, err("GENERIC_BAD_REQUEST", "Invalid request format"))
            if not str(body["host"]).startswith(("https://", "http://")):
                return self.send(400, err("GENERIC_BAD_REQUEST", "Invalid request format"))
            try:
                decoded = base64.b64decode(body["secretValue"], validate=True).decode()
                if ":" not in decoded:
                    raise ValueError
            except (binascii.Error, ValueError, UnicodeDecodeError):
                return self.send(400, err("GENERIC_BAD_REQUEST", "unable to decode auth field: illegal base64 data"))
            region = body.get("region")
            if region is not None and region not in fake.regions:
                return self.send(400, err("GENERIC_BAD_REQUEST", "Invalid region or organization does not have access"))
            existing = self.sets().get(name)
            if existing and existing["type"] == "secret":
                return self.send(400, err("GENERIC_BAD_REQUEST", "Cannot update existing regular secrets to image pull secrets"))
            wanted = region or fake.regions[0]
            if existing and wanted != existing["region"]:
                return self.send(400, err("GENERIC_BAD_REQUEST", f"Secret already exists in region '{existing['region']}'. Cannot change region to '{wanted}'."))
            now = time.time()
            self.sets()[name] = {
                "type": "imagePullSecret",
                "region": wanted,
                "status": "pending",
                "shown_status": (existing or {}).get("status", "pending"),
                "shown_until": now + fake.status_lag,
                "ready_at": now + fake.status_lag + fake.ready_after,
                "host": body["host"].rstrip("/") + "/",
                "secretValue": body["secretValue"],
                "writes": (existing or {}).get("writes", 0) + 1,
            }
            return self.send(202, {"status": "OK", "region": wanted})


def setup(fake, args):
    fake.api_key = args.api_key
    fake.ready_after = args.ready_after
    fake.regions = ["us-west", "eu-central"]
    fake.status_lag = args.status_lag
    fake.state["sets"] = {}
    if args.existing:
        name, region = args.existing.split(":")
        fake.state["sets"][name] = {"type": "imagePullSecret", "region": region, "status": "ready", "ready_at": 0, "writes": 0}
    if args.regular_set:
        fake.state["sets"][args.regular_set] = {"type": "secret", "region": "us-west", "status": "ready", "ready_at": 0, "fields": ["A"]}


if __name__ == "__main__":
    serve(
        Pipecat,
        setup,
        [
            (["--api-key"], {"default": "pk_test_pipecat_key"}),
            (["--ready-after"], {"type": float, "default": 0.3}),
            (["--regular-set"], {"default": None}),
            (["--status-lag"], {"type": float, "default": 0}),
            (["--existing"], {"default": None, "help": "NAME:REGION of a ready image pull secret set"}),
        ],
    )
