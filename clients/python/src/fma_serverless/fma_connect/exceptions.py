"""`APIException`, as FMA's `fma_connect.exceptions`."""

from __future__ import annotations

from typing import Any

from ..errors import FmaApiError


class APIException(FmaApiError):
    """An error answer, as FMA's client raises it: `APIException(status_code, message)` with
    `error_message` "An API error occurred (status_code=...): ...". It is also an FmaApiError
    (`status`, `body`)."""

    def __init__(self, status_code: Any = None, message: Any = None) -> None:
        if message is None:
            message = "Could not connect to the server."
        if status_code is None:
            status_code = "NULL"
        self.status_code = status_code
        self.error_message = f"An API error occurred (status_code={status_code}): {message}"
        super().__init__(status_code if isinstance(status_code, int) else 0, message)

    def __str__(self) -> str:
        return self.error_message
