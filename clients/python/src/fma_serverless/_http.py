"""HTTP for the client: the API's JSON requests and the object store's presigned PUT and GET, with
retries (capped exponential backoff with full jitter), Idempotency-Key on every POST, and errors
turned into FmaApiError / FmaTransportError."""

from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import queue
import random
import threading
import time
import uuid as uuid_module
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests
import urllib3.exceptions

from .errors import FmaApiError, FmaIntegrityError, FmaTransportError

#: Errors that mean "no (complete) answer": worth another attempt. urllib3's own errors escape
#: requests when a streamed body is read (``response.raw.read``).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,  # IncompleteRead from a body read straight from http.client
    ConnectionError,
    TimeoutError,
)

#: Bytes read from a download per call: large enough to keep Python's per-call cost negligible,
#: small next to any model (the only other memory a download takes besides its buffer).
DOWNLOAD_CHUNK_BYTES = 1024 * 1024

NO_BODY: Any = object()


class SizedBody(Protocol):
    """A request body that can be sent more than once: its length, and a fresh iterator of byte chunks each time."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Any: ...


@dataclass(frozen=True)
class Answer:
    """A 2xx answer of the API: status, parsed JSON body, headers, and how many attempts it took."""

    status: int
    body: Any
    headers: Mapping[str, str]
    attempts: int


def encode_json(value: Any) -> bytes:
    """Compact JSON; NaN and Infinity are refused (ValueError), as the service would refuse them."""
    return json.dumps(value, allow_nan=False, separators=(",", ":")).encode("utf-8")


def parse_body(response: requests.Response) -> Any:
    text = response.text
    if text == "":
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def retry_after_seconds(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """A Retry-After header in seconds (delta-seconds or an HTTP date), or None."""
    if value is None or value.strip() == "":
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now())


class Transport:
    """One requests session with the client's retry policy; knows the API's base URL and headers."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        max_retries: int,
        session: requests.Session | None,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_retry_after: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.session = session if session is not None else requests.Session()
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self.sleep = sleep
        #: Sent to the API only (never to presigned URLs): CLIENT-UUID once known.
        self.api_headers: dict[str, str] = {}

    # --- the API -----------------------------------------------------------------------------

    def api_url(self, path: str) -> str:
        """`models/1/` and `/api/v1/models/1/` both name `<base>/api/v1/models/1/`."""
        if path.startswith("/api/v1/"):
            return f"{self.base_url}{path}"
        return f"{self.base_url}/api/v1/{path.lstrip('/')}"

    def api(
        self,
        method: str,
        path: str,
        json_body: Any = NO_BODY,
        *,
        encoded: bytes | None = None,
        params: Mapping[str, str | int] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> Answer:
        """One API request (`json_body`, or `encoded` by `encode_json`), retried on timeouts, connection errors, 429 and 5xx (and, for a POST's
        retry, on 409: the service is still answering the first attempt of the same key).

        Every POST carries an Idempotency-Key, the same on every attempt, and the body is encoded
        once, so that each attempt sends the same bytes (the service compares them).
        """
        url = self.api_url(path)
        sent_headers = {"Accept": "application/json", **self.api_headers, **(headers or {})}
        data = encoded if encoded is not None else None if json_body is NO_BODY else encode_json(json_body)
        if data is not None:
            sent_headers["Content-Type"] = "application/json"
        if method.upper() == "POST":
            sent_headers["Idempotency-Key"] = idempotency_key or str(uuid_module.uuid4())
        return self.send_json(method, url, data, sent_headers, params)

    def send_json(
        self, method: str, url: str, data: bytes | None, headers: Mapping[str, str], params: Mapping[str, str | int] | None = None
    ) -> Answer:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.session.request(
                    method, url, data=data, headers=dict(headers), params=params, timeout=(self.timeout, self.timeout)
                )
            except TRANSIENT_ERRORS as error:
                self.retry_or_raise(attempt, error, method, url)
                continue
            status = response.status_code
            if 200 <= status < 300:
                return Answer(status, parse_body(response), response.headers, attempt)
            body = parse_body(response)
            retryable = status == 429 or status >= 500 or (status == 409 and attempt > 1 and "Idempotency-Key" in headers)
            if retryable and attempt <= self.max_retries:
                self.backoff(attempt, retry_after_seconds(response.headers.get("Retry-After")))
                continue
            raise FmaApiError(status, body, method=method, url=url, attempts=attempt)

    # --- presigned URLs ------------------------------------------------------------------------

    def put_presigned(self, url: str, body: SizedBody, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        """PUTs `body` (re-iterated on each attempt) to a presigned URL, retried like the API; with
        any other `headers` the URL was signed with."""
        sent = {**(headers or {}), "Content-Type": content_type}
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.session.put(url, data=body, headers=sent, timeout=(self.timeout, self.timeout))
            except TRANSIENT_ERRORS as error:
                self.retry_or_raise(attempt, error, "PUT", "(presigned upload URL)")
                continue
            status = response.status_code
            if 200 <= status < 300:
                return
            if (status == 429 or status >= 500) and attempt <= self.max_retries:
                self.backoff(attempt, retry_after_seconds(response.headers.get("Retry-After")))
                continue
            raise FmaApiError(status, parse_body(response), method="PUT", url="(presigned upload URL)")

    def fetch_into(self, url: str, target: memoryview, sha256: str) -> None:
        """Streams a presigned GET into `target` (exactly its size), checking the bytes' SHA-256.

        Nothing but `target` and one chunk is held, whatever the size. A body of another size, or
        with another SHA-256, is FmaIntegrityError; a broken transfer is retried from the start.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                with self.session.get(
                    url, stream=True, headers={"Accept-Encoding": "identity"}, timeout=(self.timeout, self.timeout)
                ) as response:
                    status = response.status_code
                    if not 200 <= status < 300:
                        body = parse_body(response)
                        if (status == 429 or status >= 500) and attempt <= self.max_retries:
                            self.backoff(attempt, retry_after_seconds(response.headers.get("Retry-After")))
                            continue
                        raise FmaApiError(status, body, method="GET", url="(presigned download URL)")
                    received, actual = read_hashing(response.raw, target)
            except TRANSIENT_ERRORS as error:
                self.retry_or_raise(attempt, error, "GET", "(presigned download URL)")
                continue
            if received > len(target):
                raise FmaIntegrityError(f"the download holds more than the {len(target)} bytes announced")
            if received < len(target):
                raise FmaIntegrityError(f"the download holds {received} bytes, not the {len(target)} announced")
            if actual != sha256:
                raise FmaIntegrityError(f"the download's SHA-256 is {actual}, not the {sha256} announced")
            return

    # --- retries -------------------------------------------------------------------------------

    def retry_or_raise(self, attempt: int, error: BaseException, method: str, url: str) -> None:
        if attempt > self.max_retries:
            raise FmaTransportError(f"{method} {url} failed after {attempt} attempts: {error}") from error
        self.backoff(attempt, None)

    def backoff(self, attempt: int, retry_after: float | None) -> None:
        """Full jitter: a uniform wait in [0, min(cap, base * 2^(attempt-1))], but at least Retry-After."""
        delay = random.uniform(0.0, min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_retry_after))
        self.sleep(delay)


def read_hashing(raw: Any, target: memoryview) -> tuple[int, str]:
    """Reads a body into `target` while another thread hashes the parts already in place (socket
    reads and hashlib both release the GIL, so the two overlap). Returns the bytes received (more
    than `target` holds counts as len(target) + 1) and their SHA-256.

    When the body is not encoded, it is read with http.client's readinto straight into `target`
    (urllib3 keeps that response as `_fp`): no intermediate bytes objects, no copies. Otherwise,
    or where that attribute is missing, through urllib3's read() a chunk at a time.
    """
    size = len(target)
    ready: queue.SimpleQueue[tuple[int, int] | None] = queue.SimpleQueue()
    digest = hashlib.sha256()

    def hash_parts() -> None:
        while (span := ready.get()) is not None:
            digest.update(target[span[0] : span[1]])

    hasher = threading.Thread(target=hash_parts, name="fma-sha256", daemon=True)
    hasher.start()
    offset = 0
    direct = getattr(raw, "_fp", None)
    encoded = str(getattr(raw, "headers", {}).get("Content-Encoding", "identity")).lower() not in ("", "identity")
    try:
        if direct is not None and hasattr(direct, "readinto") and not encoded:
            while offset < size:
                read = direct.readinto(target[offset : offset + DOWNLOAD_CHUNK_BYTES])
                if not read:
                    break
                ready.put((offset, offset + read))
                offset += read
            if offset == size and direct.read(1):
                return size + 1, ""
        else:
            while True:
                chunk = raw.read(DOWNLOAD_CHUNK_BYTES, decode_content=True)
                if not chunk:
                    break
                end = offset + len(chunk)
                if end > size:
                    return size + 1, ""
                target[offset:end] = chunk
                ready.put((offset, end))
                offset = end
    finally:
        ready.put(None)
        hasher.join()
    return offset, digest.hexdigest()


def iter_pages(fetch: Callable[[int], list[Any]], page_size: int) -> Iterable[Any]:
    """Items of a paginated list, page after page, until a short or missing page."""
    page = 1
    while True:
        try:
            items = fetch(page)
        except FmaApiError as error:
            if error.status == 404 and page > 1:  # a page past the last: DRF's "Invalid page."
                return
            raise
        yield from items
        if len(items) < page_size:
            return
        page += 1
