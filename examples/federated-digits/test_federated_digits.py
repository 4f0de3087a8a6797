"""
Tests of the federated-digits example.

The unit tests (data split, central training) need nothing but the example's requirements. The
last test runs the short form against the service: it reads FMA_BASE_URL (e.g.
http://127.0.0.1:3000) and FMA_DEVELOPER_TOKEN (the key `npm start` prints) from the
environment; without them it is skipped, except under CI (CI=true), where it fails.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from digits_data import (
    NUM_CLASSES,
    dirichlet_label_split,
    label_distribution,
    load_scaled_digits,
    make_federated_split,
    total_variation,
)
from digits_mlp import NUM_PARAMETERS, accuracy, init_weights, train_sgd

SEEDS = range(10)


@pytest.mark.parametrize("num_clients", [8, 10])
def test_the_test_split_and_the_clients_partition_the_digits(num_clients: int) -> None:
    x, y = load_scaled_digits()
    for seed in SEEDS:
        split = make_federated_split(num_clients, seed)
        parts = [split.test_indices, *split.client_indices]
        together = np.concatenate(parts)
        assert len(together) == len(y) == 1797
        assert np.array_equal(np.sort(together), np.arange(len(y))), "some example is missing or in two places"
        for client, indices in zip(split.clients, split.client_indices):
            assert len(client.y_train) + len(client.y_val) == len(indices)
            assert len(client.y_val) >= 1 and client.num_examples >= 1
            # Each client's examples are the rows its indices name: train first, validation last.
            assert np.array_equal(np.concatenate([client.y_train, client.y_val]), y[indices])
            assert np.array_equal(np.concatenate([client.x_train, client.x_val]), x[indices])


def test_the_held_out_test_split_is_stratified_and_fixed_by_the_seed() -> None:
    _, y = load_scaled_digits()
    a, b = make_federated_split(10, 3), make_federated_split(10, 3)
    assert np.array_equal(a.test_indices, b.test_indices)
    assert total_variation(label_distribution(a.y_test), label_distribution(y)) < 0.02
    assert not np.array_equal(a.test_indices, make_federated_split(10, 4).test_indices)


@pytest.mark.parametrize("num_clients", [8, 10])
def test_every_client_sees_a_skewed_label_distribution(num_clients: int) -> None:
    for seed in SEEDS:
        split = make_federated_split(num_clients, seed)
        pooled = label_distribution(split.pooled_training_data()[1])
        skews = [
            total_variation(label_distribution(np.concatenate([c.y_train, c.y_val])), pooled) for c in split.clients
        ]
        # An IID split of ~140 examples per client differs from the pool by about 0.1 (sampling
        # noise; measured below); Dirichlet(0.5) gives every client at least 0.15, half of them 0.3.
        assert min(skews) >= 0.15, (seed, skews)
        assert np.median(skews) >= 0.3, (seed, skews)


def test_an_iid_split_would_fail_the_skew_check() -> None:
    """The skew test can fail: a uniformly random split of the same sizes is far less skewed."""
    _, y = load_scaled_digits()
    rng = np.random.default_rng(0)
    pooled = label_distribution(y)
    skews = [total_variation(label_distribution(part), pooled) for part in np.array_split(rng.permutation(y), 10)]
    assert np.median(skews) < 0.15


def test_the_dirichlet_split_gives_every_client_enough_examples_or_refuses() -> None:
    labels = np.repeat(np.arange(NUM_CLASSES), 30)
    parts = dirichlet_label_split(labels, 6, np.random.default_rng(1), min_examples=20)
    assert min(len(p) for p in parts) >= 20
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(len(labels)))
    with pytest.raises(ValueError):
        dirichlet_label_split(labels, 16, np.random.default_rng(1), min_examples=20)


def test_central_training_learns_the_digits() -> None:
    split = make_federated_split(10, 0)
    x, y = split.pooled_training_data()
    weights = init_weights(0)
    before = accuracy(weights, split.x_test, split.y_test)
    after = accuracy(train_sgd(weights, x, y, epochs=10, rng=np.random.default_rng(0)), split.x_test, split.y_test)
    assert sum(w.size for w in weights) == NUM_PARAMETERS == 2410
    assert before < 0.3
    assert after >= 0.9, after


def test_local_training_from_a_client_s_skewed_data_alone_generalises_worse_than_central() -> None:
    """Why federate at all: one client's few labels do not make a model of all ten digits."""
    split = make_federated_split(10, 0)
    x, y = split.pooled_training_data()
    central = accuracy(train_sgd(init_weights(0), x, y, epochs=10, rng=np.random.default_rng(0)), split.x_test, split.y_test)
    client = split.clients[0]
    local = accuracy(
        train_sgd(init_weights(0), client.x_train, client.y_train, epochs=10, rng=np.random.default_rng(0)),
        split.x_test,
        split.y_test,
    )
    assert local < central - 0.2, (local, central)


def service_or_skip() -> tuple[str, str]:
    base_url, token = os.environ.get("FMA_BASE_URL"), os.environ.get("FMA_DEVELOPER_TOKEN")
    if not base_url or not token:
        message = "FMA_BASE_URL and FMA_DEVELOPER_TOKEN name the service to run against (npm start prints the token)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return base_url, token


def test_the_short_form_converges_against_the_service() -> None:
    """8 clients, 6 rounds through the real service, within CI's thresholds."""
    base_url, token = service_or_skip()
    from federated_digits import (
        SHORT_FORM,
        SHORT_FORM_MAX_GAP,
        SHORT_FORM_MIN_ACCURACY,
        Options,
        check_thresholds,
        run_federated,
    )

    options = Options(
        base_url=base_url, token=token, seed=int(os.environ.get("FMA_DIGITS_SEED", "0")),
        min_accuracy=SHORT_FORM_MIN_ACCURACY, max_gap=SHORT_FORM_MAX_GAP, **SHORT_FORM,
    )
    result = run_federated(options)
    assert [r.round for r in result.rounds] == list(range(1, SHORT_FORM["rounds"] + 1))
    # Each round made one new aggregate, the weighted mean of that round's updates (checked in run_federated).
    assert len({r.aggregate for r in result.rounds}) == SHORT_FORM["rounds"]
    assert all(r.aggregate_max_abs_error <= 1e-6 for r in result.rounds)
    assert result.rounds[-1].test_accuracy > result.rounds[0].test_accuracy
    assert check_thresholds(result, options) == [], (result.final_accuracy, result.central_accuracy)


def test_the_short_form_with_int8_updates_is_within_a_point_of_float32() -> None:
    """The same 8 clients × 6 rounds with int8 updates (issue #26): every update about a quarter
    of float32's bytes, each aggregate the weighted mean of the decoded updates, and the final
    accuracy within 1 point of the float32 run's."""
    base_url, token = service_or_skip()
    from federated_digits import SHORT_FORM, Options, run_federated

    seed = int(os.environ.get("FMA_DIGITS_SEED", "0"))
    runs = {dtype: run_federated(Options(base_url=base_url, token=token, seed=seed, dtype=dtype, **SHORT_FORM), log=lambda *_: None)
            for dtype in ("float32", "int8")}
    assert runs["int8"].route == "binary"
    assert runs["int8"].bytes_per_update < 0.27 * runs["float32"].bytes_per_update
    assert all(r.aggregate_max_abs_error <= 1e-6 for r in runs["int8"].rounds)
    assert abs(runs["int8"].final_accuracy - runs["float32"].final_accuracy) <= 0.01, (runs["int8"].final_accuracy, runs["float32"].final_accuracy)


def test_the_short_form_through_secure_aggregation_matches_the_plain_run() -> None:
    """The same 8 clients × 6 rounds with `--secure` (issue #28): every round's aggregate is made by
    a complete secure round, the model holds no update in the clear, each aggregate is within the
    fixed-point rounding (clip_range / (2 × 32767)) of the weighted mean of what the clients
    trained, and the final accuracy meets the short form's threshold and is within 0.02 of the plain
    run with the same seed. (Measured, seeds 0–12: the same final accuracy in 12, one test image
    (0.0028) better in seed 11; offline the rounding changed no other run.)"""
    base_url, token = service_or_skip()
    from federated_digits import SHORT_FORM, SHORT_FORM_MIN_ACCURACY, Developer, Options, run_federated

    seed = int(os.environ.get("FMA_DIGITS_SEED", "0"))
    runs = {secure: run_federated(Options(base_url=base_url, token=token, seed=seed, secure=secure, **SHORT_FORM), log=lambda *_: None)
            for secure in (False, True)}
    plain, secure = runs[False], runs[True]
    assert secure.route == "secure" and secure.secure_aggregation is not None
    parameters = secure.secure_aggregation
    assert parameters["max_weight"] == max(secure.num_examples)
    assert SHORT_FORM["clients"] * parameters["max_weight"] * (2**15 - 1) < 2**31
    rounding = parameters["clip_range"] / (2 * (2**15 - 1))

    developer = Developer(base_url, token)
    # The same listing shows the plain run's updates (its first page), so the check can fail.
    assert developer.model_updates(plain.model) != []
    assert developer.model_updates(secure.model) == [], "a secure model took an update in the clear"
    assert [r.round for r in secure.rounds] == list(range(1, SHORT_FORM["rounds"] + 1))
    for figures in secure.rounds:
        round_ = developer.secure_round(secure.model, figures.round)
        assert round_["status"] == "complete" and round_["aggregate"] == figures.aggregate, round_
        assert figures.secure_round == round_["id"] == f"{secure.model}:{figures.round}"
        assert len(round_["maskers"]) == len(round_["participants"]) == SHORT_FORM["clients"]
        assert figures.clipped_values == 0
        assert figures.aggregate_max_abs_error_fixed_point <= 1e-6
        assert figures.aggregate_max_abs_error <= rounding + 1e-6, (figures.aggregate_max_abs_error, rounding)
    assert len({r.aggregate for r in secure.rounds}) == SHORT_FORM["rounds"]

    assert secure.final_accuracy >= SHORT_FORM_MIN_ACCURACY, secure.final_accuracy
    assert abs(secure.final_accuracy - plain.final_accuracy) <= 0.02, (secure.final_accuracy, plain.final_accuracy)
