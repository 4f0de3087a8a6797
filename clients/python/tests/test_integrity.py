"""Downloads are checked against the size and SHA-256 the service announces: bytes tampered with
(or cut short) on their way from the object store raise FmaIntegrityError and give no data."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
import requests
import urllib3

from conftest import Developer, Recorder
from fma_serverless import FmaClient, FmaIntegrityError


def tamper_downloads(change: Callable[[bytes], bytes]) -> Callable[[requests.PreparedRequest, int, Callable[[], requests.Response]], requests.Response]:
    """Reads each presigned GET's real answer from the store and hands the client `change(body)` instead."""

    def inject(request: requests.PreparedRequest, index: int, send: Callable[[], requests.Response]) -> requests.Response:
        response = send()
        if request.method != "GET" or "/api/v1/" in str(request.url):
            return response
        body = change(response.raw.read())
        response.close()
        raw = urllib3.HTTPResponse(
            body=io.BytesIO(body), headers={"Content-Length": str(len(body))}, status=200, preload_content=False
        )
        tampered = requests.adapters.HTTPAdapter().build_response(request, raw)
        return tampered

    return inject


def flip_one_bit(body: bytes) -> bytes:
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1 :]


@pytest.mark.parametrize(
    "change", [flip_one_bit, lambda body: body[:-8], lambda body: body + b"\0" * 8], ids=["one bit flipped", "cut short", "too long"]
)
def test_a_download_that_is_not_what_the_service_announced_raises_and_returns_nothing(
    change: Callable[[bytes], bytes], developer: Developer, make_client: Callable[..., FmaClient], model: int
) -> None:
    values = np.arange(1000, dtype=np.float64)
    make_client(model).send_update(values)
    developer.run_aggregation(model)
    [aggregate] = developer.aggregates(model)

    honest = make_client(model)
    assert honest.get_aggregate(aggregate["id"]).values[0].tolist() == values.tolist()

    recorder = Recorder(tamper_downloads(change))
    client = make_client(model, session=recorder.session())
    with pytest.raises(FmaIntegrityError):
        client.get_aggregate(aggregate["id"])
    with pytest.raises(FmaIntegrityError):
        client.get_latest_model()
    with pytest.raises(FmaIntegrityError):
        client.check_for_new_aggregate()
    # The store was read each time (the check is on the bytes, not skipped).
    assert recorder.routes().count(("GET", "(store)")) == 3
