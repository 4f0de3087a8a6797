"""Secure rounds (fma-secagg/v1, docs/secure-aggregation-protocol.md) from Python clients against the
running service: four clients of a model with `secure_aggregation` run one round concurrently, and
the aggregate the package reads back is the mean of their clipped values within the fixed-point
rounding (c / (2S)) and float32's; with a client that drops out after sharing, the mean of the
other three."""

from __future__ import annotations

import threading
from functools import partial
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from conftest import Developer
from fma_serverless import FmaClient
from fma_serverless import secure_aggregation as sa

LENGTH = 50
CLIP, BITS = 1.0, 16
SETTINGS = {"threshold": 3, "clip_range": CLIP, "bits": BITS, "stage_seconds": 20}
#: c / (2S): the most a value of the mean may differ from the mean of the clipped values.
ROUNDING = CLIP / (2 * (2 ** (BITS - 1) - 1))
FLOAT32 = 2.0**-23  # one ulp at 1.0: the aggregate is stored as float32


def secure_model(developer: Developer) -> int:
    # initial_model fixes the model's weights shape (the round's `length` and `shapes`).
    return developer.create_model(aggregator="avg_values_if_data", secure_aggregation=SETTINGS, initial_model=[0.0] * LENGTH)


def run_concurrently(jobs: Sequence[Callable[[], Any]], timeout: float = 240.0) -> list[Any]:
    """Runs each job in its own thread; the results (or the exceptions raised) in order."""
    results: list[Any] = [None] * len(jobs)

    def run(number: int) -> None:
        try:
            results[number] = jobs[number]()
        except BaseException as error:  # noqa: BLE001 - returned, asserted by the caller
            results[number] = error

    threads = [threading.Thread(target=run, args=(number,), daemon=True) for number in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), f"a participant did not finish within {timeout} s"
    return results


def assert_mean_of(aggregate: np.ndarray, updates: Sequence[np.ndarray]) -> None:
    expected = np.mean([np.clip(update.astype(np.float64), -CLIP, CLIP) for update in updates], axis=0)
    error = np.max(np.abs(aggregate.astype(np.float64) - expected))
    assert error <= ROUNDING + FLOAT32, f"the aggregate is {error} from the mean of the clipped values (bound {ROUNDING} + {FLOAT32})"
    # and it is the service's decoding of the sum of the encodings (T_i / W * c / S, as float32)
    total = np.zeros(LENGTH + 1, dtype=np.uint32)
    for update in updates:
        total += sa.encode_fixed_point(update, CLIP, BITS)  # mod 2^32, as the service sums
    decoded = sa.decode_sum(total, CLIP, BITS)
    assert np.max(np.abs(aggregate.astype(np.float64) - decoded.astype(np.float64))) <= FLOAT32


def latest_values(client: FmaClient, aggregate_id: int) -> np.ndarray:
    latest = client.get_latest_model()
    assert latest is not None and latest.aggregate == aggregate_id, latest
    assert latest.shapes == [(LENGTH,)]
    return np.concatenate([layer.reshape(-1) for layer in latest.values])


def test_four_python_clients_run_a_secure_round_and_read_the_mean_of_their_clipped_values(
    developer: Developer, make_client: Callable[..., FmaClient]
) -> None:
    model = secure_model(developer)
    # Every client of the model is expected to advertise keys: register exactly the four.
    clients = [make_client(model) for _ in range(4)]
    rng = np.random.default_rng(2026)
    updates = [rng.uniform(-1.3, 1.3, LENGTH).astype(np.float32) for _ in clients]

    results = run_concurrently([partial(client.secure_round, update, poll_interval=0.2, timeout=200) for client, update in zip(clients, updates)])
    for result in results:
        assert isinstance(result, dict), result
        assert result["status"] == "complete" and result["failure_reason"] is None
    final = results[0]
    assert {result["round"] for result in results} == {final["round"]} and {result["aggregate"] for result in results} == {final["aggregate"]}
    # The round names clients by their public ids (each sees its own as `caller`), never by the UUID they authenticate with.
    ids = sorted(result["caller"] for result in results)
    assert len(set(ids)) == 4 and not set(ids) & {str(client.uuid) for client in clients}
    assert sorted(entry["client"] for entry in final["participants"]) == ids
    assert sorted(entry["index"] for entry in final["participants"]) == [1, 2, 3, 4]
    assert sorted(final["sharers"]) == ids and sorted(final["maskers"]) == ids and sorted(final["revealers"]) == ids
    assert final["length"] == LENGTH and final["threshold"] == 3 and final["weighted"] is False
    assert isinstance(final["aggregate"], int)

    assert_mean_of(latest_values(clients[0], final["aggregate"]), updates)
    aggregate = clients[1].get_aggregate(final["aggregate"])
    assert aggregate.federated_model == model
    assert_mean_of(np.concatenate([layer.reshape(-1) for layer in aggregate.values]), updates)


def test_a_client_that_drops_out_after_sharing_is_unmasked_away_and_the_others_get_their_mean(
    developer: Developer, make_client: Callable[..., FmaClient]
) -> None:
    model = secure_model(developer)
    clients = [make_client(model) for _ in range(4)]
    rng = np.random.default_rng(7)
    updates = [rng.uniform(-1.0, 1.0, LENGTH) for _ in clients]
    dropout = sa.SecureRoundParticipant(clients[3], poll_interval=0.2, timeout=200)

    def drop_after_sharing() -> dict[str, Any]:
        dropout.advertise()
        dropout.share()  # then nothing: the masked input stage closes at its deadline (20 s) without it
        return dropout.wait_for_result()

    jobs = [partial(client.secure_round, update, poll_interval=0.2, timeout=200) for client, update in zip(clients[:3], updates[:3])]
    results = run_concurrently([*jobs, drop_after_sharing])
    for result in results:
        assert isinstance(result, dict), result
        assert result["status"] == "complete", result
    final = results[0]
    gone = dropout.me
    assert gone in final["sharers"] and gone not in final["maskers"] and gone not in final["revealers"]
    assert len(final["maskers"]) == 3
    assert_mean_of(latest_values(clients[0], final["aggregate"]), updates[:3])


#: Three TypeScript SDK clients in one node process, each running the whole round (its input: FMA_NODE_INPUT).
SDK_SECURE_ROUND = """
import { FmaClient } from '@fma-serverless/client';
const input = JSON.parse(process.env.FMA_NODE_INPUT);
const rounds = await Promise.all(input.clients.map((clientUuid, i) =>
  new FmaClient({ baseUrl: input.baseUrl, federatedModelId: input.model, clientUuid, timeoutMs: 30000 })
    .secureRound(input.values[i], { pollMs: 200, timeoutMs: 200000 })));
console.log(JSON.stringify(rounds.map((r) => ({ status: r.status, round: r.round, aggregate: r.aggregate, caller: r.caller }))));
"""


def test_typescript_and_python_clients_share_one_secure_round(
    developer: Developer, make_client: Callable[..., FmaClient], node_sdk: Callable[[str, dict[str, Any]], Any], base_url: str
) -> None:
    """Issue #28: a round may mix the SDKs. Three Python clients (threads) and three TypeScript
    clients (the built SDK in node) of one model run one round together; the aggregate is the
    decoding of the sum of all six encodings."""
    model = secure_model(developer)
    # All six are members before anyone advertises: key advertisement waits for every member.
    clients = [make_client(model) for _ in range(6)]
    python_clients, typescript_uuids = clients[:3], [str(client.uuid) for client in clients[3:]]
    rng = np.random.default_rng(28)
    updates = [rng.uniform(-1.2, 1.2, LENGTH) for _ in clients]
    jobs: list[Callable[[], Any]] = [partial(client.secure_round, update, poll_interval=0.2, timeout=200) for client, update in zip(python_clients, updates[:3])]
    jobs.append(lambda: node_sdk(SDK_SECURE_ROUND, {"baseUrl": base_url, "model": model, "clients": typescript_uuids, "values": [u.tolist() for u in updates[3:]]}))
    python_results = run_concurrently(jobs)
    for result in python_results:
        assert not isinstance(result, BaseException), result
    typescript_results = python_results.pop()
    results = [*python_results, *typescript_results]
    assert [result["status"] for result in results] == ["complete"] * 6, results
    assert len({result["aggregate"] for result in results}) == 1 and len({result["round"] for result in results}) == 1
    final = python_results[0]
    assert sorted(final["maskers"]) == sorted(result["caller"] for result in results)
    assert_mean_of(latest_values(clients[0], final["aggregate"]), updates)
