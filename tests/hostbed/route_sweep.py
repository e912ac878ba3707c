"""Try every route LiteLLM lists in its /openapi.json against one base URL with one key,
and print {"METHOD /path": status} as JSON. Stdlib only: it runs on test hosts
(`python3 route_sweep.py ...`) as well as on the controller.

usage: route_sweep.py OPENAPI_URL_OR_FILE BASE_URL KEY [--cafile F] [--host H] [--variants]

--variants: instead of each route, the spellings of it that a reverse proxy and the app
behind it may read differently (issue #28): dot segments (also after a prefix the front
serves, like /metrics), encoded slashes and dots, double slashes, another case, trailing
characters. A front that forwards only what it checked refuses every one of them."""

from __future__ import annotations

import argparse
import http.client
import json
import re
import ssl
import sys
import urllib.request
from urllib.parse import urlsplit

METHODS = ("get", "post", "put", "patch", "delete")


def routes(openapi_url: str) -> list[tuple[str, str]]:
    """The routes of LiteLLM's OpenAPI document (a URL, or a file fetched before)."""
    if openapi_url.startswith("http"):
        with urllib.request.urlopen(openapi_url, timeout=60) as response:
            spec = json.load(response)
    else:
        with open(openapi_url, encoding="utf-8") as handle:
            spec = json.load(handle)
    found = []
    for path, item in spec.get("paths", {}).items():
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        for method in METHODS:
            if method in item:
                found.append((method.upper(), concrete))
    return found


def variants(path: str) -> list[str]:
    """Spellings of PATH that normalise to it (or nearly) but are not it, byte for byte."""
    rest = path.lstrip("/")
    found = [
        f"/x/../{rest}",  # a dot segment
        f"/metrics/x/../../{rest}",  # ... after a prefix the front serves to some
        f"/metrics%2F..%2F{rest}",  # encoded slashes around a dot-dot
        "/" + rest.replace("/", "%2F"),  # every slash encoded
        f"/./{rest}",
        f"/%2E/{rest}",  # an encoded dot segment
        f"//{rest}",  # a double slash
        path.upper(),  # another case
        path + "/",  # trailing characters
        path + ";x",
        path + "%20",
        path + "%252F",  # a double-encoded slash
    ]
    return [v for v in dict.fromkeys(found) if v != path]


def sweep(
    base_url: str, key: str, found: list[tuple[str, str]], cafile: str | None, host: str | None
) -> dict[str, int]:
    parts = urlsplit(base_url)
    results: dict[str, int] = {}

    def connect() -> http.client.HTTPConnection:
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=cafile)
            return http.client.HTTPSConnection(
                parts.hostname, parts.port or 443, timeout=30, context=context
            )
        return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=30)

    conn = connect()
    for method, path in found:
        headers = {
            "Authorization": f"Bearer {key}",
            "x-api-key": key,
            "Content-Type": "application/json",
            "anthropic-version": "2023-06-01",
        }
        if host:
            headers["Host"] = host
        body = b"{}" if method in ("POST", "PUT", "PATCH") else None
        for attempt in (1, 2):
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                results[f"{method} {path}"] = response.status
                if response.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = connect()
                break
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = connect()
                if attempt == 2:
                    results[f"{method} {path}"] = 0
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("openapi_url")
    parser.add_argument("base_url")
    parser.add_argument("key")
    parser.add_argument("--cafile")
    parser.add_argument("--host")
    parser.add_argument("--variants", action="store_true")
    args = parser.parse_args()
    found = routes(args.openapi_url)
    if args.variants:
        found = [(method, v) for method, path in found for v in variants(path)]
    json.dump(sweep(args.base_url, args.key, found, args.cafile, args.host), sys.stdout)


if __name__ == "__main__":
    main()
