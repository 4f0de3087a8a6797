"""Issue #26 from Python: the float16, bfloat16 and int8 encoders against numpy's float16, the
bit-manipulation bfloat16 reference and the numpy blockwise quantiser of the repository's fixture
(test/fixtures/encodings/make_fixtures.py), a round that mixes every encoding against the service,
compact downloads, stochastic rounding and error feedback."""

from __future__ import annotations

import base64
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from conftest import Developer
from fma_serverless import ErrorFeedback, FmaClient
from fma_serverless.encodings import decode, encode, encoded_nbytes


@pytest.fixture(scope="module")
def reference(repo_root: Path) -> ModuleType:
    """The fixture's numpy reference (quantize_int8, dequantize_int8, bfloat16_bits)."""
    spec = importlib.util.spec_from_file_location("make_fixtures", repo_root / "test/fixtures/encodings/make_fixtures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fixture(repo_root: Path) -> dict[str, Any]:
    return json.loads((repo_root / "test/fixtures/encodings/encodings.json").read_text())  # type: ignore[no-any-return]


def test_encoders_give_the_reference_bytes(fixture: dict[str, Any], reference: ModuleType) -> None:
    rng = np.random.default_rng(5)
    for case in fixture["cases"]:
        values = np.asarray(case["values"], dtype=np.float64)
        assert base64.b64encode(encode(values, "float16")).decode() == case["float16"]
        assert base64.b64encode(encode(values, "bfloat16")).decode() == case["bfloat16"]
        assert base64.b64encode(encode(np.asarray(case["int8_input"]), "int8")).decode() == case["int8"]
    for x in (rng.normal(size=10_001).astype(np.float32), rng.normal(size=777) * 1e-3, np.zeros(130)):
        assert encode(x, "int8") == reference.quantize_int8(x)
        assert encode(x, "float16") == x.astype("<f2").tobytes()
        assert encode(x, "bfloat16") == reference.bfloat16_bits(x).astype("<u2").tobytes()
        data = encode(x, "int8")
        assert len(data) == encoded_nbytes("int8", x.size) == x.size + 4 * -(-x.size // 64)
        assert decode(data, "int8", x.size).tobytes() == reference.dequantize_int8(data, x.size).tobytes()
    with pytest.raises(ValueError, match="not finite"):
        encode(np.array([1.0, np.inf]), "int8")


def test_stochastic_rounding_keeps_the_format_and_is_unbiased() -> None:
    x = np.full(64, 0.004)
    x[0] = 1.27
    rng = np.random.default_rng(1)
    encoded = [encode(x, "int8", stochastic=True, rng=rng) for _ in range(2000)]
    assert {len(data) for data in encoded} == {68}
    assert {int(np.frombuffer(data, dtype=np.int8)[4 + 5]) for data in encoded} == {0, 1}
    decoded = np.stack([decode(data, "int8", 64) for data in encoded])
    assert abs(float(decoded[:, 5].mean()) - 0.004) < 0.0004
    assert float(decode(encode(x, "int8"), "int8", 64)[5]) == 0.0


def test_error_feedback_sends_the_sum_of_the_updates_up_to_one_residual() -> None:
    rng = np.random.default_rng(3)
    feedback = ErrorFeedback("int8")
    sent = np.zeros(1000)
    plain = np.zeros(1000)
    truth = np.zeros(1000)
    for _ in range(20):
        update = rng.normal(scale=0.01, size=1000)
        update[0] = 1.0
        sent += decode(feedback.encode(update), "int8", 1000)
        plain += decode(encode(update, "int8"), "int8", 1000)
        truth += update
    assert feedback.residual is not None
    assert np.max(np.abs(sent + feedback.residual - truth)) < 1e-12
    assert np.linalg.norm(sent - truth) < np.linalg.norm(plain - truth) / 2


def test_a_round_of_every_encoding_aggregates_to_the_weighted_mean_of_the_decoded_values(
    developer: Developer, make_client: Callable[..., FmaClient]
) -> None:
    model = developer.create_model(aggregator="weighted_fedavg")
    rng = np.random.default_rng(26)
    shapes = [(40, 30), (30,), (7, 3)]
    total = np.zeros(sum(int(np.prod(s)) for s in shapes))
    examples = 0
    sizes = {}
    for i, dtype in enumerate(["float32", "float16", "bfloat16", "int8"]):
        layers = [rng.normal(scale=0.1, size=shape).astype(np.float32) for shape in shapes]
        client = make_client(model)
        sent = client.send_update(layers, num_examples=10 * (i + 1), dtype=dtype) if dtype != "float32" else client.send_update(layers, num_examples=10)
        assert isinstance(sent["id"], int)
        flat = np.concatenate([layer.reshape(-1) for layer in layers])
        decoded = flat.astype(np.float64) if dtype == "float32" else decode(encode(flat, dtype), dtype, flat.size).astype(np.float64)
        sizes[dtype] = len(encode(flat, dtype))
        total += (10 * (i + 1)) * decoded
        examples += 10 * (i + 1)
    assert sizes == {"float32": 5_004, "float16": 2_502, "bfloat16": 2_502, "int8": 1_251 + 4 * 20}
    developer.run_aggregation(model)
    latest = make_client(model).get_latest_model()
    assert latest is not None
    flat = np.concatenate([layer.reshape(-1) for layer in latest.values])
    assert flat.dtype == np.float64
    assert flat.tobytes() == (total / examples).tobytes()
    compact = make_client(model).get_aggregate(int(latest.aggregate or 0), dtype="int8")
    assert compact.dtype == "int8"
    assert [layer.shape for layer in compact.values] == shapes
    got = np.concatenate([layer.reshape(-1) for layer in compact.values])
    assert got.tobytes() == decode(encode(flat, "int8"), "int8", flat.size).tobytes()


def test_error_feedback_through_send_update(developer: Developer, make_client: Callable[..., FmaClient]) -> None:
    model = developer.create_model()
    client = make_client(model)
    feedback = ErrorFeedback("int8")
    update = np.linspace(-1, 1, 1000)
    client.send_update(update, error_feedback=feedback)
    assert feedback.residual is not None and np.max(np.abs(feedback.residual)) > 0
    developer.run_aggregation(model)
    latest = client.get_latest_model()
    assert latest is not None
    expected = decode(encode(update, "int8"), "int8", 1000).astype(np.float64)
    assert latest.values[0].tobytes() == expected.tobytes()
