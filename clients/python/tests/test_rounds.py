"""Whole rounds from Python, as JSON and as bytes, against numpy's mean and, bit for bit, against
the same round driven by the TypeScript SDK (@fma-serverless/client) in node."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import Developer, Recorder, assert_bitwise_equal, expected_mean
from fma_serverless import FmaClient

SHAPES = [(3, 4), (5,), (2, 2, 3)]

# Registers one SDK client per update file, sends each (JSON nested lists, or bytes with their
# shapes), then downloads the aggregate the Python side names as bytes into a file.
SDK_SEND = """
import { FmaClient } from '@fma-serverless/client';
import { readFileSync } from 'node:fs';
const input = JSON.parse(process.env.FMA_NODE_INPUT);
const size = (shape) => shape.reduce((a, b) => a * b, 1);
const nest = (values, shape) => shape.length === 1 ? Array.from(values)
  : Array.from({ length: shape[0] }, (_, i) => nest(values.subarray(i * size(shape.slice(1)), (i + 1) * size(shape.slice(1))), shape.slice(1)));
const ids = [];
const uuids = [];
for (const file of input.files) {
  const client = new FmaClient({ baseUrl: input.baseUrl, federatedModelId: input.model });
  uuids.push(await client.register());
  const values = new Float32Array(new Uint8Array(readFileSync(file)).buffer);
  let update;
  if (input.binary) {
    update = await client.sendUpdateBinary(values, { shapes: input.shapes });
  } else {
    let offset = 0;
    const layers = input.shapes.map((shape) => { const layer = nest(values.subarray(offset, offset + size(shape)), shape); offset += size(shape); return layer; });
    update = await client.sendUpdate(layers);
  }
  ids.push(update.id);
}
console.log(JSON.stringify({ ids, uuids }));
"""

SDK_DOWNLOAD = """
import { FmaClient } from '@fma-serverless/client';
import { writeFileSync } from 'node:fs';
const input = JSON.parse(process.env.FMA_NODE_INPUT);
const client = new FmaClient({ baseUrl: input.baseUrl, federatedModelId: input.model, clientUuid: input.uuid });
const found = await client.downloadAggregate(input.aggregate);
writeFileSync(input.out, new Uint8Array(found.values.buffer, found.values.byteOffset, found.values.byteLength));
console.log(JSON.stringify({ sha256: found.sha256, dtype: found.values instanceof Float64Array ? 'float64' : 'float32', shapes: found.shapes, layout: found.layout }));
"""


def make_updates(seed: int, count: int = 3) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(shape).astype(np.float32) for shape in SHAPES] for _ in range(count)]


def python_round(developer: Developer, make_client: Callable[..., FmaClient], updates: list[list[np.ndarray]], **options: Any) -> tuple[int, list[Recorder]]:
    model = developer.create_model()
    recorders = []
    for update in updates:
        recorder = Recorder()
        client = make_client(model, session=recorder.session(), **options)
        sent = client.send_update(update)
        assert isinstance(sent["id"], int)
        recorders.append(recorder)
    developer.run_aggregation(model)
    return model, recorders


def sdk_round(developer: Developer, node_sdk: Callable[[str, dict[str, Any]], Any], base_url: str, updates: list[list[np.ndarray]], tmp_path: Path, binary: bool) -> tuple[int, str]:
    model = developer.create_model()
    files = []
    for index, update in enumerate(updates):
        path = tmp_path / f"update-{index}.f32"
        path.write_bytes(b"".join(layer.astype("<f4").tobytes() for layer in update))
        files.append(str(path))
    sent = node_sdk(SDK_SEND, {"baseUrl": base_url, "model": model, "files": files, "shapes": [list(s) for s in SHAPES], "binary": binary})
    assert len(sent["ids"]) == len(updates)
    developer.run_aggregation(model)
    return model, sent["uuids"][0]


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_a_round_from_python_gives_numpys_mean_and_the_typescript_sdks_aggregate_bit_for_bit(
    binary: bool,
    developer: Developer,
    make_client: Callable[..., FmaClient],
    node_sdk: Callable[[str, dict[str, Any]], Any],
    base_url: str,
    tmp_path: Path,
) -> None:
    updates = make_updates(seed=7 if binary else 3)
    model, recorders = python_round(developer, make_client, updates, binary_threshold_bytes=0 if binary else 1_048_576)
    # The route each update took: bytes PUT to a presigned URL, or one JSON POST.
    for recorder in recorders:
        routes = recorder.routes()
        if binary:
            assert ("POST", "model_updates/uploads/") in routes and ("PUT", "(store)") in routes
            assert ("POST", "model_updates/") not in routes
        else:
            assert ("POST", "model_updates/") in routes and ("PUT", "(store)") not in routes

    reader = make_client(model)
    aggregate = reader.check_for_new_aggregate()
    assert aggregate is not None
    assert aggregate.dtype == "float64" and aggregate.layout == "layers" and aggregate.shapes == SHAPES
    assert aggregate.federated_model == model and aggregate.created_on
    assert_bitwise_equal(aggregate.values, expected_mean(updates, aggregate.dtype))
    assert_bitwise_equal(reader.get_aggregate(aggregate.id).values, aggregate.values)
    latest = reader.get_latest_model()
    assert latest is not None and latest.aggregate == aggregate.id and latest.sha256 == aggregate.sha256
    assert_bitwise_equal(latest.values, aggregate.values)

    # The same round through the TypeScript SDK, and its download of its aggregate.
    sdk_model, sdk_uuid = sdk_round(developer, node_sdk, base_url, updates, tmp_path, binary)
    [sdk_aggregate] = developer.aggregates(sdk_model)
    out = tmp_path / "sdk-aggregate.bin"
    downloaded = node_sdk(SDK_DOWNLOAD, {"baseUrl": base_url, "model": sdk_model, "uuid": sdk_uuid, "aggregate": sdk_aggregate["id"], "out": str(out)})
    assert downloaded["sha256"] == aggregate.sha256
    assert out.read_bytes() == b"".join(layer.tobytes() for layer in aggregate.values)
    from_python = make_client(sdk_model).get_aggregate(sdk_aggregate["id"])
    assert_bitwise_equal(from_python.values, aggregate.values)


def test_check_for_new_aggregate_downloads_nothing_until_a_newer_one_exists(
    developer: Developer, make_client: Callable[..., FmaClient], model: int
) -> None:
    recorder = Recorder()
    client = make_client(model, session=recorder.session())
    assert client.check_for_new_aggregate() is None
    assert client.get_latest_model() is None
    client.send_update(np.array([1.0, 2.0, 4.0]))
    developer.run_aggregation(model)
    first = client.check_for_new_aggregate()
    assert first is not None and first.layout == "vector" and first.shapes == [(3,)]
    assert_bitwise_equal(first.values, [np.array([1.0, 2.0, 4.0])])
    downloads = recorder.routes().count(("GET", "(store)"))
    assert downloads == 1
    assert client.check_for_new_aggregate(since=first.id) is None
    assert recorder.routes().count(("GET", "(store)")) == downloads

    client.send_update(np.array([3.0, 2.0, 0.0]), base_aggregate=first.id)
    developer.run_aggregation(model)
    second = client.check_for_new_aggregate(since=first.id)
    assert second is not None and second.id > first.id
    assert second.values[0].tolist() == [3.0, 2.0, 0.0]


def test_float64_and_mapping_updates_keep_their_dtype_and_order_on_both_routes(
    developer: Developer, make_client: Callable[..., FmaClient], model: int
) -> None:
    rng = np.random.default_rng(11)
    first = {"weight": rng.standard_normal((4, 3)), "bias": rng.standard_normal(3)}
    second = {"weight": rng.standard_normal((4, 3)), "bias": rng.standard_normal(3)}
    make_client(model).send_update(first)  # JSON
    make_client(model, binary_threshold_bytes=0).send_update(second)  # bytes, float64
    developer.run_aggregation(model)
    aggregate = make_client(model).check_for_new_aggregate()
    assert aggregate is not None and aggregate.shapes == [(4, 3), (3,)]
    assert_bitwise_equal(aggregate.values, expected_mean([list(first.values()), list(second.values())]))


def test_a_float32_update_declared_as_float64_is_sent_as_float64(make_client: Callable[..., FmaClient], model: int) -> None:
    recorder = Recorder()
    client = make_client(model, session=recorder.session(), binary_threshold_bytes=0)
    client.send_update(np.arange(6, dtype=np.float32), dtype="float64")
    [declared] = [call for call in recorder.calls if call.route == "model_updates/uploads/"]
    assert declared.json()["dtype"] == "float64" and declared.json()["shapes"] == [[6]] and declared.json()["layout"] == "vector"
    [put] = [call for call in recorder.calls if call.method == "PUT"]
    assert put.status == 200 and put.headers["Content-Length"] == "48"
    with pytest.raises(ValueError, match="dtype"):
        client.send_update(np.arange(6, dtype=np.float32), dtype="int4")  # int8 is an encoding now (issue #26); int4 is no dtype


def test_weights_the_service_would_refuse_are_refused_before_any_upload(make_client: Callable[..., FmaClient], model: int) -> None:
    recorder = Recorder()
    client = make_client(model, session=recorder.session(), binary_threshold_bytes=0)
    calls = len(recorder.calls)
    with pytest.raises(ValueError, match="finite"):
        client.send_update(np.array([1.0, np.nan, 3.0]))
    with pytest.raises(ValueError, match="finite"):
        client.send_update(np.array([1.0, 1e200]))
    assert len(recorder.calls) == calls
