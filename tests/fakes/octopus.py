#!/usr/bin/env python3
"""Fake Octopus Deploy feeds API, following the documented contract exactly
(go-octopusdeploy pkg/feeds, OctopusClients SensitiveValue.cs, docs "change-feed" example):

* header X-Octopus-ApiKey; 401 otherwise.
* GET /api/spaces/all                           -> [{"Id": "Spaces-1", "Name": "Default", ...}]
* GET /api/{space}/feeds?partialName=&feedType=&take=  -> paged {"ItemType","TotalResults","ItemsPerPage",
  "NumberOfPages","LastPageNumber","Items":[...]}; partialName is a substring match
* GET /api/{space}/feeds/{id}                   -> the whole FeedResource; Password reads as {"HasValue","Hint"}
* PUT /api/{space}/feeds/{id}                   -> replaces the WHOLE resource (fields missing from the
  body are lost); SensitiveValue: NewValue sets it, HasValue false clears it, otherwise kept.
* Errors: {"ErrorMessage": "...", "Errors": ["..."]}: 400, 401, 403, 404.
Options: --space-id / --feed-id change the ids of the space "Default" and the feed "ECR" (path
segments are percent-decoded, as a real server does).
"""
import copy
import os
import re
import sys
from urllib.parse import unquote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakebase import Handler, serve  # noqa: E402


def err(message, errors=None):
    return {"ErrorMessage": message, "Errors": errors or []}


def docker_feed(fid, name, uri):
    return {
        "Id": fid,
        "Name": name,
        "FeedType": "Docker",
        "FeedUri": uri,
        "RegistryPath": None,
        "ApiVersion": None,
        "Username": None,
        "Password": {"HasValue": False, "Hint": None},
        "DownloadAttempts": 5,
        "DownloadRetryBackoffSeconds": 10,
        "PackageAcquisitionLocationOptions": ["ExecutionTarget", "NotAcquired"],
        "SpaceId": "Spaces-1",
        "Links": {"Self": f"/api/Spaces-1/feeds/{fid}"},
    }


def public(feed):
    out = copy.deepcopy(feed)
    pw = out.get("Password") or {}
    out["Password"] = {"HasValue": bool(pw.get("HasValue")), "Hint": pw.get("Hint")}
    out.pop("_secret", None)
    return out


class Octopus(Handler):
    def fault(self, mode, method):
        if mode == "auth":
            self.send(401, err("You must be logged in to perform this action. Please provide a valid API key or log in again."))
        elif mode == "429":
            self.send(429, err("Too many requests"), headers={"Retry-After": self.retry_after})
        elif mode == "500":
            self.send(500, err("There was a problem with your request.", ["An unexpected error occurred"]))
        elif mode == "echo" and method != "GET":  # reads pass, the write is echoed
            body = self.read_body().decode(errors="replace")
            self.send(400, err("There was a problem with your request.", ["Invalid feed: " + body]))
        elif mode == "forbidden" and method == "PUT":
            self.send(403, err("You do not have permission to perform this action. Please contact your Octopus administrator. Missing permission: FeedEdit"))
        else:
            return False
        return True

    def dispatch(self, method):
        fake = self.fake
        if self.headers.get("X-Octopus-ApiKey") != fake.api_key:
            return self.send(401, err("You must be logged in to perform this action. Please provide a valid API key or log in again."))
        feeds = fake.state["feeds"]
        with fake.lock:
            if self.route == "/api/spaces/all" and method == "GET":
                return self.send(200, [{"Id": fake.space_id, "Name": "Default", "IsDefault": True}, {"Id": "Spaces-2", "Name": "Other", "IsDefault": False}])
            m = re.fullmatch(r"/api/([^/]+)/feeds", self.route)
            if m and method == "GET":
                if unquote(m.group(1)) != fake.space_id:
                    return self.send(200, {"ItemType": "Feed", "TotalResults": 0, "ItemsPerPage": 30, "NumberOfPages": 0, "LastPageNumber": -1, "Items": []})
                partial = self.query.get("partialName", "").lower()
                ftype = self.query.get("feedType")
                take = int(self.query.get("take", "30"))
                items = [public(f) for f in feeds.values() if partial in f["Name"].lower() and (not ftype or f["FeedType"] == ftype)]
                return self.send(200, {"ItemType": "Feed", "TotalResults": len(items), "ItemsPerPage": take, "NumberOfPages": 1, "LastPageNumber": 0, "Items": items[:take]})
            m = re.fullmatch(r"/api/([^/]+)/feeds/([^/]+)", self.route)
            if m:
                space_id, feed_id = unquote(m.group(1)), unquote(m.group(2))
                feed = feeds.get(feed_id) if space_id == fake.space_id else None
                if feed is None:
                    return self.send(404, err(f"The resource '{feed_id}' was not found."))
                if method == "GET":
                    return self.send(200, public(feed))
                if method == "PUT":
                    body = self.json_body()
                    if not isinstance(body, dict) or not body.get("Name") or not body.get("FeedType"):
                        return self.send(400, err("There was a problem with your request.", ["Please provide a name", "Please provide a feed type"]))
                    if body.get("Id") not in (None, feed["Id"]):
                        return self.send(400, err("There was a problem with your request.", ["Id does not match"]))
                    pw = body.get("Password") or {}
                    secret = feed.get("_secret")
                    if pw.get("NewValue") is not None:
                        secret = pw["NewValue"]
                    elif pw.get("HasValue") is False:
                        secret = None
                    new = copy.deepcopy(body)  # PUT replaces the whole resource
                    new["Id"] = feed["Id"]
                    new["Password"] = {"HasValue": secret is not None, "Hint": None}
                    new["_secret"] = secret
                    new["_writes"] = feed.get("_writes", 0) + 1
                    feeds[feed["Id"]] = new
                    return self.send(200, public(new))
                return self.send(405, err("Method not allowed"))
            return self.send(404, err("The resource you requested was not found."))


def setup(fake, args):
    fake.api_key = args.api_key
    fake.space_id = args.space_id
    fake.state["feeds"] = {
        args.feed_id: docker_feed(args.feed_id, "ECR", args.feed_uri),
        "Feeds-2": docker_feed("Feeds-2", "ECR mirror", args.feed_uri),
        "Feeds-3": {"Id": "Feeds-3", "Name": "ECR native", "FeedType": "AwsElasticContainerRegistry", "Region": "us-east-1", "SpaceId": "Spaces-1"},
    }


if __name__ == "__main__":
    serve(Octopus, setup, [(["--api-key"], {"default": "API-TESTOCTOPUSKEY"}), (["--feed-uri"], {"default": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"}), (["--space-id"], {"default": "Spaces-1"}), (["--feed-id"], {"default": "Feeds-1"})])
