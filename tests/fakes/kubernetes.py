#!/usr/bin/env python3
"""Fake Kubernetes API server (the subset the export uses), following the API conventions exactly:

* Bearer token auth; 401 Status otherwise. Errors are `Status` objects
  {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message","reason","details","code"}.
* GET  /api/v1/namespaces                                -> NamespaceList, paginated by `limit` and
  `continue` (metadata.continue + remainingItemCount while more follow; a foreign token is 400)
* GET  /api/v1/namespaces/{ns}/secrets/{name}             -> Secret, or 404 NotFound
* PATCH /api/v1/namespaces/{ns}/secrets/{name}            server-side apply only here:
  Content-Type application/apply-patch+yaml, `fieldManager` required (400 otherwise), creates (201)
  or updates (200); changing `type` of an existing Secret -> 422 Invalid "field is immutable";
  `.dockerconfigjson` must be base64 of valid JSON (422 otherwise); namespace must exist (404).
* GET  /api/v1/namespaces/{ns}/serviceaccounts/{name}     -> ServiceAccount (`default` exists everywhere)
* PATCH /api/v1/namespaces/{ns}/serviceaccounts/{name}    application/merge-patch+json; a stale
  metadata.resourceVersion -> 409 Conflict; `imagePullSecrets` is atomic (replaced whole).
  A missing ServiceAccount (GET or PATCH) is the API's 404 Status:
  {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
   "message":"serviceaccounts \"NAME\" not found","reason":"NotFound",
   "details":{"name":"NAME","kind":"serviceaccounts"},"code":404}
Options: --namespaces a,b,c (kube-system etc. always exist); --forbid-namespace NS answers 403 there;
--opaque NS/NAME pre-creates an Opaque secret (type-mismatch case, seen by the client's GET);
--opaque-on-apply NS/NAME: another writer creates an Opaque secret there just before the first apply
of it arrives (after the client's GET saw nothing), so the server itself refuses the apply with 422;
--service-account NS/NAME pre-creates a ServiceAccount without imagePullSecrets;
--endless-list misbehaves (no real API server does): every page, the last one too, carries a
`continue` token, so a client that trusts it lists forever.
"""
import base64
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakebase import Handler, serve  # noqa: E402


def status(code, reason, message, details=None):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "details": details or {}, "code": code}


class Kube(Handler):
    def fault(self, mode, method):
        if mode == "auth":
            self.send(401, status(401, "Unauthorized", "Unauthorized"))
        elif mode == "429":
            self.send(429, status(429, "TooManyRequests", "too many requests, please try again later", {"retryAfterSeconds": int(self.retry_after)}), headers={"Retry-After": self.retry_after})
        elif mode == "500":
            self.send(500, status(500, "InternalError", "Internal error occurred: etcdserver: request timed out"))
        else:
            return False
        return True

    def next_rv(self):
        self.fake.state["rv"] += 1
        return str(self.fake.state["rv"])

    def list_namespaces(self, st):
        """A NamespaceList, paginated as the API server does: `limit` caps the items, and
        `metadata.continue` (opaque) plus `remainingItemCount` say that more follow; the next
        request passes that token back as `continue`. A token that is not one of ours is the
        API's 400 BadRequest."""
        names = st["namespaces"]
        start = 0
        token = self.query.get("continue")
        if token:
            try:
                start = json.loads(base64.urlsafe_b64decode(token.encode()))["start"]
                if not isinstance(start, int) or not 0 <= start <= len(names):
                    raise ValueError(start)
            except (ValueError, KeyError, TypeError):
                return self.send(400, status(400, "BadRequest", "continue key is not valid: illegal base64 data"))
        try:
            limit = int(self.query.get("limit", "0"))
        except ValueError:
            return self.send(400, status(400, "BadRequest", f'limit: Invalid value: "{self.query["limit"]}"'))
        end = len(names) if limit <= 0 else min(len(names), start + limit)
        items = [{"metadata": {"name": n, "resourceVersion": "1"}, "status": {"phase": "Active"}} for n in names[start:end]]
        meta = {"resourceVersion": str(st["rv"])}
        if self.fake.endless_list and end >= len(names):
            end = 0  # broken: the last page points back at the first, forever
        if end < len(names):
            meta["continue"] = base64.urlsafe_b64encode(json.dumps({"start": end}).encode()).decode()
            meta["remainingItemCount"] = len(names) - end
        return self.send(200, {"kind": "NamespaceList", "apiVersion": "v1", "metadata": meta, "items": items})

    def dispatch(self, method):
        fake = self.fake
        st = fake.state
        if self.headers.get("Authorization") != "Bearer " + fake.token:
            return self.send(401, status(401, "Unauthorized", "Unauthorized"))
        with fake.lock:
            if self.route == "/api/v1/namespaces" and method == "GET":
                return self.list_namespaces(st)
            m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/(secrets|serviceaccounts)/([^/]+)", self.route)
            if not m:
                return self.send(404, status(404, "NotFound", "the server could not find the requested resource"))
            ns, kind, name = m.groups()
            if ns in fake.forbidden:
                return self.send(403, status(403, "Forbidden", f'{kind} "{name}" is forbidden: User "system:serviceaccount:ecr-login:ecr-login" cannot {method.lower()} resource "{kind}" in API group "" in the namespace "{ns}"', {"name": name, "kind": kind}))
            if ns not in st["namespaces"]:
                return self.send(404, status(404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"}))
            store = st[kind].setdefault(ns, {})
            obj = store.get(name)
            if method == "GET":
                if obj is None:
                    return self.send(404, status(404, "NotFound", f'{kind} "{name}" not found', {"name": name, "kind": kind}))
                return self.send(200, obj)
            if method != "PATCH":
                return self.send(405, status(405, "MethodNotAllowed", "method not allowed"))
            ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            body = self.json_body()
            if kind == "secrets":
                if (ns, name) in fake.opaque_on_apply and obj is None:
                    fake.opaque_on_apply.discard((ns, name))
                    obj = store[name] = opaque_secret(ns, name)
                return self.apply_secret(ns, name, ctype, body, store, obj)
            return self.patch_sa(ns, name, ctype, body, store, obj)

    def apply_secret(self, ns, name, ctype, body, store, obj):
        if ctype != "application/apply-patch+yaml":
            return self.send(415, status(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml'))
        manager = self.query.get("fieldManager")
        if not manager:
            return self.send(400, status(400, "BadRequest", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'))
        if not isinstance(body, dict) or body.get("apiVersion") != "v1" or body.get("kind") != "Secret":
            return self.send(400, status(400, "BadRequest", "apiVersion and kind are required for apply"))
        if (body.get("metadata") or {}).get("name") != name:
            return self.send(400, status(400, "BadRequest", "the name of the object does not match the name on the URL"))
        new_type = body.get("type", "Opaque")
        if obj is not None and obj.get("type", "Opaque") != new_type:
            return self.send(422, status(422, "Invalid", f'Secret "{name}" is invalid: type: Invalid value: "{new_type}": field is immutable', {"name": name, "kind": "Secret", "causes": [{"reason": "FieldValueInvalid", "message": f'Invalid value: "{new_type}": field is immutable', "field": "type"}]}))
        data = body.get("data") or {}
        if new_type == "kubernetes.io/dockerconfigjson":
            try:
                json.loads(base64.b64decode(data[".dockerconfigjson"], validate=True))
            except Exception:
                return self.send(422, status(422, "Invalid", f'Secret "{name}" is invalid: data[.dockerconfigjson]: Invalid value: "<secret contents redacted>": invalid character', {"name": name, "kind": "Secret"}))
        meta = dict(body.get("metadata") or {})
        meta["namespace"] = ns
        meta["resourceVersion"] = self.next_rv()
        meta["managedFields"] = [{"manager": manager, "operation": "Apply", "apiVersion": "v1"}]
        new = {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": new_type, "data": data}
        new["metadata"]["_applies"] = (obj or {}).get("metadata", {}).get("_applies", 0) + 1
        store[name] = new
        return self.send(201 if obj is None else 200, new)

    def patch_sa(self, ns, name, ctype, body, store, obj):
        if obj is None:
            return self.send(404, status(404, "NotFound", f'serviceaccounts "{name}" not found', {"name": name, "kind": "serviceaccounts"}))
        if ctype != "application/merge-patch+json":
            return self.send(415, status(415, "UnsupportedMediaType", "unsupported media type for this test server"))
        rv = ((body or {}).get("metadata") or {}).get("resourceVersion")
        if rv is not None and rv != obj["metadata"]["resourceVersion"]:
            return self.send(409, status(409, "Conflict", f'Operation cannot be fulfilled on serviceaccounts "{name}": the object has been modified; please apply your changes to the latest version and try again'))
        if "imagePullSecrets" in body:
            obj["imagePullSecrets"] = body["imagePullSecrets"]  # atomic list: replaced whole
        obj["metadata"]["resourceVersion"] = self.next_rv()
        return self.send(200, obj)


def opaque_secret(ns, name):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns, "resourceVersion": "5"}, "type": "Opaque", "data": {}}


def setup(fake, args):
    fake.token = args.token
    fake.forbidden = set(filter(None, args.forbid_namespace.split(",")))
    fake.endless_list = args.endless_list
    names = [n for n in args.namespaces.split(",") if n]
    namespaces = sorted(set(names) | {"kube-system", "kube-public", "kube-node-lease"})
    fake.state.update(rv=100, namespaces=namespaces, secrets={}, serviceaccounts={})
    for ns in namespaces:
        fake.state["serviceaccounts"][ns] = {
            "default": {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns, "resourceVersion": "7"}, "imagePullSecrets": [{"name": "existing-pull"}]}
        }
    for item in filter(None, args.opaque.split(",")):
        ns, name = item.split("/")
        fake.state["secrets"].setdefault(ns, {})[name] = opaque_secret(ns, name)
    fake.opaque_on_apply = {tuple(item.split("/")) for item in args.opaque_on_apply.split(",") if item}
    for item in filter(None, args.service_account.split(",")):
        ns, name = item.split("/")
        fake.state["serviceaccounts"].setdefault(ns, {})[name] = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": ns, "resourceVersion": "8"}}


if __name__ == "__main__":
    serve(
        Kube,
        setup,
        [
            (["--token"], {"default": "kube-test-token"}),
            (["--namespaces"], {"default": "default,ml-a,ml-b"}),
            (["--forbid-namespace"], {"default": ""}),
            (["--opaque"], {"default": ""}),
            (["--opaque-on-apply"], {"default": ""}),
            (["--service-account"], {"default": ""}),
            (["--endless-list"], {"action": "store_true"}),
        ],
    )
