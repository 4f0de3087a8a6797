"""A 20 M-parameter float32 model from Python: bytes through presigned URLs both ways."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from conftest import Developer, Recorder, expected_mean
from fma_serverless import FmaClient

SHAPES = [(4_000, 4_999), (4_000,)]  # 19,996,000 + 4,000 = 20,000,000 values


def test_a_20m_parameter_float32_update_goes_as_bytes_and_aggregates_exactly(
    developer: Developer, make_client: Callable[..., FmaClient], model: int
) -> None:
    assert sum(int(np.prod(shape)) for shape in SHAPES) == 20_000_000
    rng = np.random.default_rng(20)
    updates = [[rng.standard_normal(shape, dtype=np.float32) for shape in SHAPES] for _ in range(2)]
    for update in updates:
        recorder = Recorder()
        started = time.monotonic()
        sent = make_client(model, session=recorder.session()).send_update(update, num_examples=10)
        print(f"20 M float32 update sent in {time.monotonic() - started:.2f} s")
        assert isinstance(sent["id"], int)
        # Declared, PUT once (80 MB, from the arrays' memory), completed: never JSON. 80 MB is over
        # the service's UPLOAD_VERIFY_INLINE_MB (64): the verification function checks it, the
        # first completion answers 202, and the client asks again until it has the update.
        routes = [route for route in recorder.routes() if not route[1].endswith("/register_client/")]
        assert routes[0] == ("POST", "model_updates/uploads/") and routes[1] == ("PUT", "(store)")
        completions = [call for call in recorder.calls if call.route.endswith("/complete/")]
        assert len(routes) == 2 + len(completions) and len(completions) >= 2
        assert all(call.method == "POST" and call.route == completions[0].route for call in completions)
        assert [call.status for call in completions] == [202] * (len(completions) - 1) + [200]
        [declared] = [call for call in recorder.calls if call.route == "model_updates/uploads/"]
        [put] = [call for call in recorder.calls if call.method == "PUT"]
        assert put.headers["Content-Length"] == str(20_000_000 * 4)
        assert declared.json()["shapes"] == [list(shape) for shape in SHAPES] and declared.json()["dtype"] == "float32"
    _, total = developer.updates(model)
    assert total == 2

    developer.run_aggregation(model)
    started = time.monotonic()
    aggregate = make_client(model).check_for_new_aggregate()
    print(f"20 M float64 aggregate downloaded in {time.monotonic() - started:.2f} s")
    assert aggregate is not None
    assert aggregate.dtype == "float64" and aggregate.shapes == SHAPES
    expected = expected_mean(updates)
    for got, want in zip(aggregate.values, expected):
        assert got.shape == want.shape and got.dtype == want.dtype
        assert np.array_equal(got, want)
