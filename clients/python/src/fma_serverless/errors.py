"""The errors the client raises: one base class and four kinds."""

from __future__ import annotations

from typing import Any


class FmaError(Exception):
    """Base class of every error this package raises."""


class FmaApiError(FmaError):
    """The service (or the object store behind a presigned URL) answered with an error status.

    ``status`` is the HTTP status, ``body`` the answer as parsed JSON (or its text when it is not
    JSON), and ``message`` what the API said: DRF's ``{"detail": ...}``, or its field errors
    ``{"field": ["message", ...]}`` joined as ``field: message``.
    """

    def __init__(
        self, status: int, body: Any, message: str | None = None, *, method: str = "", url: str = "", attempts: int = 1
    ) -> None:
        self.status = status
        #: Attempts made before this answer (more than 1 when earlier ones timed out or failed).
        self.attempts = attempts
        self.body = body
        self.method = method
        self.url = url
        self.message = message if message is not None else api_message(body)
        where = f"{method} {url} " if method or url else ""
        super().__init__(f"{where}answered {status}: {self.message}")


class FmaTransportError(FmaError):
    """No answer could be had: connection errors or timeouts on every attempt."""


class FmaIntegrityError(FmaError):
    """Downloaded bytes do not match the size or SHA-256 the service announced; no data is returned."""


class SecureRoundError(FmaError):
    """A secure round (fma_serverless.secure_aggregation) failed, or went on without this client.

    ``round`` is the round as last read (empty when none was), ``failure_reason`` the round's
    ``failure_reason`` when it failed (else None); the message says which, e.g. "not among this
    round's sharers".
    """

    def __init__(self, message: str, round: dict[str, Any] | None = None) -> None:
        self.round: dict[str, Any] = dict(round or {})
        reason = self.round.get("failure_reason")
        self.failure_reason: str | None = reason if isinstance(reason, str) else None
        super().__init__(message)


def api_message(body: Any) -> str:
    """The human-readable part of a DRF-shaped error body.

    >>> api_message({"detail": "Not found."})
    'Not found.'
    >>> api_message({"data": ["too long"], "num_examples": ["must be set", "too small"]})
    'data: too long; num_examples: must be set, too small'
    """
    if isinstance(body, dict):
        detail = body.get("detail")
        if isinstance(detail, str):
            return detail
        parts: list[str] = []
        for field, problems in body.items():
            if isinstance(problems, list):
                parts.append(f"{field}: {', '.join(str(problem) for problem in problems)}")
            else:
                parts.append(f"{field}: {problems}")
        if parts:
            return "; ".join(parts)
    if isinstance(body, str):
        return body[:500] if body else "(empty body)"
    return repr(body)
