"""Stand-in for the `litellm` proxy command, for the vibe proxy's control script only: the
script's own behaviour (start once, detach, stop, no /proc) is under test, not LiteLLM's,
and the real proxy takes ~8 s to start on 2 cores.

    litellm_health_standin.py --config FILE --host 127.0.0.1 --port N

takes the command line ccprov-vibe-proxy gives LiteLLM, refuses a missing config as LiteLLM
would fail to load it, and answers GET /health/liveliness with 200 "I'm alive!" as LiteLLM
1.106.2 does (litellm/proxy/health_endpoints/_health_endpoints.py:2002-2020,
health_liveliness); every other path 404. Each start appends "<pid> <MISTRAL_API_KEY is
set: yes|no>" to <config dir>/standin-starts, so a test can count starts (never the key).
SIGTERM ends it, as it ends uvicorn.
"""

from __future__ import annotations

import argparse
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/health/liveliness":
            self.send_error(404)
            return
        body = b'"I\'m alive!"'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    config = Path(args.config)
    if not config.is_file():
        print(f"litellm stand-in: no config at {config}", file=sys.stderr)
        return 1
    keyed = "yes" if os.environ.get("MISTRAL_API_KEY") else "no"
    with (config.parent / "standin-starts").open("a") as f:
        f.write(f"{os.getpid()} {keyed}\n")
    server = ThreadingHTTPServer((args.host, args.port), Health)
    print(f"litellm stand-in: listening on {args.host}:{args.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
