"""Live checks of an Anthropic-compatible backend, with a diagnosis a person can act on."""

from __future__ import annotations

import json
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ccprov.errors import CcprovError

ANTHROPIC_VERSION = "2023-06-01"


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    latency_ms: float
    status: int | None
    detail: str
    """The model's reply on success; otherwise what went wrong and how to fix it."""


def url_problem(url: str) -> str | None:
    """Why URL cannot be a backend's base URL (to follow "the URL ..."), or None.

    Never repeats the URL: a user name or password in it must not reach the screen."""
    if "@" in url:
        return "holds a user name or password (the part before @): remove it, keys never go in URLs"
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        return "contains a space or control character"
    if not url.isascii():
        return "contains non-ASCII characters: use the host's ASCII (xn--) form"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL (check the host and port)"
    if parts.scheme not in ("http", "https"):
        return "is not an http:// or https:// URL"
    if not parts.hostname:
        return "has no host name"
    if port == 0:
        return "has port 0"
    if parts.query or parts.fragment:
        return "has a ?query or #fragment: pass the gateway's root URL"
    return None


def shown_url(url: str) -> str:
    """URL fit to print: any user name or password replaced by ***, control characters
    escaped."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return repr(scheme + sep + rest)[1:-1]


def _bad_url(base_url: str) -> ProbeResult | None:
    problem = url_problem(base_url)
    if problem is None:
        return None
    return ProbeResult(
        False,
        0.0,
        None,
        f"the base URL '{shown_url(base_url)}' {problem}; fix it in the env file"
        " (or run `ccprov workstation` again)",
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: the request carries the developer's key, and a 3xx would send
    it on to whatever host the Location names. The 3xx comes back as an HTTPError."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


# Proxies from the environment still apply; only redirects are not followed.
_OPENER = urllib.request.build_opener(_NoRedirect)


# How every certificate problem line starts (callers tell it from "down").
TLS_PROBLEM_PREFIXES = ("the gateway's certificate at ", "the CA file ")


class CAFileError(CcprovError, OSError):
    """LOCAL_CA_CERT / --ca-file names a file that cannot be used as a CA bundle. An OSError
    too: urllib and the TLS handshake report it like any connection problem."""


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """A verifying client context: the system's trust store, or CA_FILE when given (the
    private CA the gateway's certificate chains to). Verification is never turned off."""
    if not ca_file:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise CAFileError(
            f"the CA file {ca_file} (LOCAL_CA_CERT) cannot be used ({reason}): point"
            " LOCAL_CA_CERT / --ca-file at the PEM CA certificate that signed the gateway's"
            " certificate"
        ) from None


def _opener(ca_file: str) -> urllib.request.OpenerDirector:
    if not ca_file:
        return _OPENER
    return urllib.request.build_opener(
        _NoRedirect, urllib.request.HTTPSHandler(context=tls_context(ca_file))
    )


def _open(request: urllib.request.Request, timeout: float, ca_file: str = "") -> Any:
    return _opener(ca_file).open(request, timeout=timeout)


def tls_problem_text(exc: BaseException, url: str) -> str | None:
    """One plain line for a certificate the client does not accept, or None when EXC is
    not about the certificate."""
    # urllib wraps the ssl error in URLError.reason (an SSLError's own .reason is a string).
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, CAFileError):
        return str(reason)
    if not isinstance(reason, ssl.SSLCertVerificationError):
        return None
    parts = urlsplit(url)
    where = f"{parts.scheme}://{parts.netloc}"
    message = reason.verify_message or str(reason)
    # 62: X509_V_ERR_HOSTNAME_MISMATCH, 64: X509_V_ERR_IP_ADDRESS_MISMATCH.
    if reason.verify_code in (62, 64) or "mismatch" in message.lower():
        return (
            f"the gateway's certificate at {where} is not valid for the host name"
            f" '{parts.hostname}' (certificate verify failed: {message}): use the name the"
            " certificate was issued for in the URL, or have the certificate reissued for it"
        )
    return (
        f"the gateway's certificate at {where} is not trusted (certificate verify failed:"
        f" {message}): set LOCAL_CA_CERT / pass --ca-file with the CA that signed it"
    )


def tls_check(base_url: str, ca_file: str = "", timeout: float = 10.0) -> str | None:
    """For an https:// URL: a TLS handshake only (nothing is sent, no key), verifying the
    certificate and host name as the probes do. The one-line problem, or None (also for
    http:// URLs, and for network errors, which the real request then diagnoses)."""
    parts = urlsplit(base_url)
    if parts.scheme != "https" or not parts.hostname:
        return None
    try:
        context = tls_context(ca_file)
        with (
            socket.create_connection((parts.hostname, parts.port or 443), timeout) as raw,
            context.wrap_socket(raw, server_hostname=parts.hostname),
        ):
            return None
    except (OSError, ssl.SSLError) as exc:
        return tls_problem_text(exc, base_url)


def _request(
    url: str, token: str, body: dict[str, Any] | None, timeout: float, ca_file: str = ""
) -> tuple[int, bytes, float, str]:
    """(status, body, latency in ms, Location of a redirect or "")."""
    data = None if body is None else json.dumps(body).encode()
    # Only http(s) URLs get here (url_problem, checked first), so no file: or custom schemes.
    request = urllib.request.Request(  # noqa: S310
        url, data=data, method="GET" if body is None else "POST"
    )
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("anthropic-version", ANTHROPIC_VERSION)
    if data is not None:
        request.add_header("content-type", "application/json")
    start = time.perf_counter()
    try:
        with _open(request, timeout, ca_file) as response:
            payload = response.read()
            return response.status, payload, (time.perf_counter() - start) * 1000, ""
    except urllib.error.HTTPError as exc:
        location = (exc.headers.get("Location") or "") if exc.headers else ""
        return exc.code, exc.read(), (time.perf_counter() - start) * 1000, location


def _diagnose_redirect(status: int, location: str, url: str) -> str:
    shown = location.strip()[:200] or "(no Location)"
    return (
        f"{url} redirects ({status}) to {shown}: not followed, so your key was not sent"
        " there. If that is the gateway, use its address as the base URL; otherwise check"
        " the URL (a proxy or login page may be in the way)."
    )


def _error_text(payload: bytes) -> str:
    try:
        data = json.loads(payload)
    except ValueError:
        return payload.decode(errors="replace").strip()[:200]
    error = data.get("error", data) if isinstance(data, dict) else data
    if isinstance(error, dict):
        return str(error.get("message") or error.get("detail") or error)[:300]
    return str(error)[:300]


def _diagnose_http(status: int, payload: bytes, base_url: str, model: str) -> str:
    text = _error_text(payload)
    lowered = text.lower()
    if status in (401, 403):
        return (
            f"key rejected ({status}): check the token (ask ops for your own gateway key)."
            f" Server said: {text}"
        )
    if "model" in lowered and (
        status == 404
        or "not found" in lowered
        or "does not exist" in lowered
        or "invalid model" in lowered
    ):
        return (
            f"unknown model '{model}' ({status}): use the name the backend serves (--model)."
            f" Server said: {text}"
        )
    if status == 404:
        return (
            f"{base_url}/v1/messages not found (404): is the URL the gateway's root, without /v1?"
        )
    return f"backend error {status}: {text}"


def _diagnose_network(exc: BaseException, base_url: str) -> str:
    host = urlsplit(base_url).hostname or base_url
    tls = tls_problem_text(exc, base_url)
    if tls:
        return tls
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve host '{host}' (DNS): check the URL's host name"
    if isinstance(reason, ConnectionRefusedError):
        return f"connection refused by {host}: is the gateway running and is the port right?"
    if isinstance(reason, TimeoutError | socket.timeout):
        return f"no answer from {host} in time: check the URL, firewall or VPN"
    if isinstance(reason, ssl.SSLError):
        return f"TLS error talking to {host}: {reason}"
    return f"cannot reach {base_url}: {reason}"


def send_message(
    base_url: str,
    token: str,
    model: str,
    prompt: str = "Say OK",
    timeout: float = 60.0,
    ca_file: str = "",
) -> ProbeResult:
    """POST one small /v1/messages request, as Claude Code would. Success needs a 200 with
    a non-empty text block; a redirect is a failure (never followed, the key stays here).
    TLS is verified against CA_FILE when given, else the system's trust store."""
    bad = _bad_url(base_url)
    if bad:
        return bad
    body = {"model": model, "max_tokens": 32, "messages": [{"role": "user", "content": prompt}]}
    url = f"{base_url}/v1/messages"
    try:
        status, payload, latency, location = _request(url, token, body, timeout, ca_file)
    except (urllib.error.URLError, OSError) as exc:
        return ProbeResult(False, 0.0, None, _diagnose_network(exc, base_url))
    if 300 <= status < 400:
        return ProbeResult(False, latency, status, _diagnose_redirect(status, location, url))
    if status != 200:
        return ProbeResult(False, latency, status, _diagnose_http(status, payload, base_url, model))
    try:
        data = json.loads(payload)
        reply = "".join(
            str(block.get("text") or "")
            for block in data.get("content") or []
            if block.get("type") == "text"
        )
    except (ValueError, AttributeError, TypeError):
        return ProbeResult(
            False, latency, status, "the answer is not an Anthropic Messages response"
        )
    if not reply.strip():
        stop = data.get("stop_reason") if isinstance(data, dict) else None
        return ProbeResult(
            False,
            latency,
            status,
            f"the model answered 200 but with no text (stop_reason {stop!r}): check the"
            " backend's logs and the model name",
        )
    return ProbeResult(True, latency, status, reply.strip())


def list_models(
    base_url: str, token: str, timeout: float = 5.0, ca_file: str = ""
) -> tuple[ProbeResult, list[str]]:
    """GET /v1/models: is the backend up, does it take the key, which models does it serve."""
    bad = _bad_url(base_url)
    if bad:
        return bad, []
    url = f"{base_url}/v1/models"
    try:
        status, payload, latency, location = _request(url, token, None, timeout, ca_file)
    except (urllib.error.URLError, OSError) as exc:
        return ProbeResult(False, 0.0, None, _diagnose_network(exc, base_url)), []
    if 300 <= status < 400:
        return ProbeResult(False, latency, status, _diagnose_redirect(status, location, url)), []
    if status != 200:
        return ProbeResult(
            False, latency, status, _diagnose_http(status, payload, base_url, "")
        ), []
    try:
        data = json.loads(payload)
        models = [str(item.get("id")) for item in data.get("data", []) if isinstance(item, dict)]
    except (ValueError, AttributeError):
        models = []
    return ProbeResult(True, latency, status, "up"), models
