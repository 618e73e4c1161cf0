#!/usr/bin/env python3
"""Fake Runpod registry-auth API, following the documented contract exactly
(runpod v2 OpenAPI "Frontdoor v2.7.0", the v2 PATCH docs page, runpod-python's GraphQL usage):

REST v2 (Bearer API key; errors are RFC 9457 application/problem+json {"title","status","detail"}):
* GET    /v2/registries        -> 200 {"registries": [{"id","name"}]}
* POST   /v2/registries        {"name","username","password"} (all required, minLength 1,
                                additionalProperties false) -> 201 {"id","name"}
* PATCH  /v2/registries/{id}   {"username" 1..191, "password" 1..16384} -> 200 {"id","name"}; 404 if missing
* /v2 is served only to accounts enabled for it (Runpod's MCP server and clients: an
  off-allowlist account gets 401 or 403 there); --v2 selects the account:
    on (default) | gated401 | gated403 (every /v2 path answers that status) |
    nopatch (the PATCH route does not exist -> 404, as in the Aug 2026 spec; also --no-patch) |
    patch422 (PATCH answers 422: its body is not in the published spec)
* every response carries RateLimit / RateLimit-Policy; 429 carries Retry-After (seconds).
GraphQL (POST /graphql, Bearer; errors inside HTTP 200 as {"errors":[{"message"}]}, bad key -> 401):
* query { myself { containerRegistryCreds { id name } } }
* saveRegistryAuth(input: {name, username, password}) { id name }
* updateRegistryAuth(input: {id, username, password}) { id name }
Extra fault modes: `gql_error` (GraphQL answers HTTP 200 with an errors array).
Options: --existing ID pre-creates the registry auth "ECR Credentials" with that id (the path
segment is percent-decoded, as a real server does, so any id can be addressed when encoded).
"""
import os
import re
import sys
import uuid
from urllib.parse import unquote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakebase import Handler, serve  # noqa: E402

RATE = {"RateLimit": '"minute";r=59;t=60', "RateLimit-Policy": '"minute";q=60;w=60, "hour";q=3000;w=3600, "day";q=50000;w=86400'}


def problem(status, title, detail):
    return {"title": title, "status": status, "detail": detail}


class Runpod(Handler):
    def problem(self, status, title, detail, headers=None):
        h = dict(RATE)
        h.update(headers or {})
        self.send(status, problem(status, title, detail), content_type="application/problem+json", headers=h)

    def fault(self, mode, method):
        if mode == "auth":
            self.problem(401, "Unauthorized", "Invalid or missing API key")
        elif mode == "429":
            self.problem(429, "Too Many Requests", "Rate limit exceeded", {"Retry-After": self.retry_after})
        elif mode == "500":
            self.problem(500, "Internal Server Error", "Something went wrong")
        elif mode == "echo" and method != "GET":  # reads pass, the write is echoed
            body = self.read_body().decode(errors="replace")
            self.problem(400, "Bad Request", "invalid body: " + body)
        elif mode == "gql_error" and self.route == "/graphql":
            self.send(200, {"errors": [{"message": "Something went wrong. Please try again later or contact support."}], "data": None})
        else:
            return False
        return True

    def regs(self):
        return self.fake.state.setdefault("registries", {})

    def dispatch(self, method):
        fake = self.fake
        if self.headers.get("Authorization") != "Bearer " + fake.api_key:
            if self.route == "/graphql":
                return self.send(401, {"errors": [{"message": "Unauthorized"}]})
            return self.problem(401, "Unauthorized", "Invalid or missing API key")
        with fake.lock:
            if self.route == "/graphql" and method == "POST":
                return self.graphql()
            if self.route.startswith("/v2") and fake.v2 in ("gated401", "gated403"):
                code = int(fake.v2[-3:])
                return self.problem(code, "Unauthorized" if code == 401 else "Forbidden", "this account does not have access to the REST API v2")
            if self.route == "/v2/registries":
                if method == "GET":
                    return self.send(200, {"registries": [{"id": i, "name": r["name"]} for i, r in self.regs().items()]}, headers=RATE)
                if method == "POST":
                    body = self.json_body()
                    if not isinstance(body, dict) or set(body) != {"name", "username", "password"} or not all(isinstance(body[k], str) and body[k] for k in body):
                        return self.problem(400, "Bad Request", "body must have exactly name, username and password (non-empty strings)")
                    if any(r["name"] == body["name"] for r in self.regs().values()):
                        return self.problem(400, "Bad Request", "a registry credential with this name already exists")
                    rid = "cl" + uuid.uuid4().hex[:22]
                    self.regs()[rid] = {"name": body["name"], "username": body["username"], "password": body["password"], "writes": 1}
                    return self.send(201, {"id": rid, "name": body["name"]}, headers=RATE)
                return self.problem(405, "Method Not Allowed", "method not allowed")
            m = re.fullmatch(r"/v2/registries/([^/]+)", self.route)
            if m:
                rid = unquote(m.group(1))
                if method == "PATCH" and fake.v2 == "nopatch":
                    return self.problem(404, "Not Found", "no route for PATCH " + self.route)
                if method == "PATCH" and fake.v2 == "patch422":
                    return self.problem(422, "Unprocessable Entity", "request body does not match the schema")
                reg = self.regs().get(rid)
                if reg is None:
                    return self.problem(404, "Not Found", "registry credential not found")
                if method == "GET":
                    return self.send(200, {"id": rid, "name": reg["name"]}, headers=RATE)
                if method == "PATCH":
                    body = self.json_body()
                    ok = isinstance(body, dict) and set(body) == {"username", "password"}
                    ok = ok and isinstance(body["username"], str) and 1 <= len(body["username"]) <= 191
                    ok = ok and isinstance(body["password"], str) and 1 <= len(body["password"]) <= 16384
                    if not ok:
                        return self.problem(400, "Bad Request", "username (1..191) and password (1..16384) are required")
                    reg.update(username=body["username"], password=body["password"], writes=reg.get("writes", 0) + 1)
                    return self.send(200, {"id": rid, "name": reg["name"]}, headers=RATE)
                return self.problem(405, "Method Not Allowed", "method not allowed")
            return self.problem(404, "Not Found", "no route")

    def graphql(self):
        body = self.json_body() or {}
        query = body.get("query", "")
        variables = body.get("variables") or {}
        inp = variables.get("input") or {}
        if "containerRegistryCreds" in query:
            creds = [{"id": i, "name": r["name"]} for i, r in self.regs().items()]
            return self.send(200, {"data": {"myself": {"containerRegistryCreds": creds}}})
        if "saveRegistryAuth" in query:
            if not all(inp.get(k) for k in ("name", "username", "password")):
                return self.send(200, {"errors": [{"message": "name, username and password are required"}], "data": None})
            rid = "cl" + uuid.uuid4().hex[:22]
            self.regs()[rid] = {"name": inp["name"], "username": inp["username"], "password": inp["password"], "writes": 1, "via": "graphql"}
            return self.send(200, {"data": {"saveRegistryAuth": {"id": rid, "name": inp["name"]}}})
        if "updateRegistryAuth" in query:
            reg = self.regs().get(inp.get("id"))
            if reg is None:
                return self.send(200, {"errors": [{"message": "Registry auth not found"}], "data": None})
            reg.update(username=inp["username"], password=inp["password"], writes=reg.get("writes", 0) + 1, via="graphql")
            return self.send(200, {"data": {"updateRegistryAuth": {"id": inp["id"], "name": reg["name"]}}})
        return self.send(200, {"errors": [{"message": "Cannot query field"}], "data": None})


def setup(fake, args):
    fake.api_key = args.api_key
    fake.v2 = "nopatch" if args.no_patch else args.v2
    fake.state["registries"] = {}
    if args.existing:
        fake.state["registries"][args.existing] = {"name": "ECR Credentials", "username": "old", "password": "old", "writes": 0}


if __name__ == "__main__":
    serve(Runpod, setup, [(["--api-key"], {"default": "rpa_test_runpod_key"}), (["--no-patch"], {"action": "store_true"}), (["--v2"], {"default": "on", "choices": ["on", "gated401", "gated403", "nopatch", "patch422"]}), (["--existing"], {"default": ""})])
