"""vLLM 0.33's error shapes (vllm/entrypoints/serve/exception_handling/*, anthropic/protocol.py)."""

from __future__ import annotations

import re
from typing import Any

# anthropic/protocol.py: _ANTHROPIC_ERROR_TYPE_BY_STATUS / translate_error_type
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}


def sanitize_message(message: str) -> str:
    """exception_handling/utils.py: sanitize_message."""
    message = re.sub(r" at 0x[0-9a-fA-F]+>", ">", message)
    message = re.sub(r'\n?\s*File "[^"]+", line \d+, in \S+(\n\s+.*)?', "", message)
    message = re.sub(r"/(?:home|usr|opt|var|tmp|root|lib|mnt|srv)(?:/[\w.\-]+)+", "<path>", message)
    message = re.sub(r"(?:/[\w\-]+)+/[\w\-]+\.\w+", "<path>", message)
    return message.strip()


class ApiError(Exception):
    """An ErrorResponse (serve/engine/protocol.py ErrorInfo: message, type, param, code)."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "BadRequestError",
        param: str | None = None,
        *,
        validation: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = sanitize_message(message)
        self.kind = kind
        self.param = param
        # A request-validation error (FastAPI RequestValidationError) is answered by the
        # global handler in the OpenAI shape, on the Anthropic endpoints too.
        self.validation = validation

    def openai_body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.status,
            }
        }

    def anthropic_type(self) -> str:
        if self.status in _ANTHROPIC_TYPES:
            return _ANTHROPIC_TYPES[self.status]
        return "api_error" if self.status >= 500 else "invalid_request_error"

    def anthropic_body(self) -> dict[str, Any]:
        """api_router.translate_error_response."""
        return {"type": "error", "error": {"type": self.anthropic_type(), "message": self.message}}


def vllm_validation_error(message: str, parameter: str | None, value: Any = None) -> ApiError:
    """vllm/exceptions.py VLLMValidationError: `str()` appends "(parameter=P, value=V)";
    answered as a 400 BadRequestError whose param is the parameter
    (serve/exception_handling: the handler reads `exc.parameter`). Raised inside the
    request models' validators too (chat_completion/protocol.py), it still reaches the
    client in this shape, not as a pydantic validation error."""
    extras = []
    if parameter is not None:
        extras.append(f"parameter={parameter}")
    if value is not None:
        extras.append(f"value={value}")
    text = f"{message} ({', '.join(extras)})" if extras else message
    return ApiError(400, text, "BadRequestError", parameter)


class ValidationFailed:
    """Collects pydantic-style errors; raises like validation_exception_handler answers:
    "N validation error(s):" then one line per error, type "Bad Request", param = loc."""

    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []

    def add(self, kind: str, loc: tuple[Any, ...], msg: str, value: Any) -> None:
        self.errors.append({"type": kind, "loc": loc, "msg": msg, "input": value})

    def raise_if_any(self) -> None:
        if not self.errors:
            return
        count = len(self.errors)
        label = "error" if count == 1 else "errors"
        lines = []
        for err in self.errors[:10]:
            shown = dict(err)
            shown["loc"] = ".".join(str(p) for p in err["loc"])
            value = err["input"]
            if isinstance(value, (list, tuple, dict)):
                shown["input"] = f"<{type(value).__name__} of {len(value)} items>"
            elif isinstance(value, str) and len(value) > 200:
                shown["input"] = value[:200] + "...[truncated]"
            lines.append(f"  {shown}")
        message = f"{count} validation {label}:\n" + "\n".join(lines)
        param = ".".join(str(p) for p in self.errors[0]["loc"])
        raise ApiError(400, message, "Bad Request", param, validation=True)
