"""
A federated training run that converges, against the real service (issue #23).

The digits of scikit-learn (8 x 8 pixels, 10 classes) are split across N clients by label skew
(digits_data.py); each client trains a small NumPy MLP (digits_mlp.py) on its own examples and
sends its weights, with its number of examples, through the Python client `fma_serverless`; the
service aggregates them by weighted FedAvg into the next round's model. Per round the script
prints the federated model's accuracy on a held-out test set beside the accuracy of the same
model trained centrally on all the clients' data (same architecture, same epochs in all).

    python federated_digits.py --base-url http://127.0.0.1:3000 --token <developer token>
    python federated_digits.py --clients 8 --rounds 6 --min-accuracy 0.85 --max-gap 0.12   # CI's short form

A round: every client fetches the latest model (round 1: the model's `initial_model`), trains
`--local-epochs` epochs of minibatch SGD, and sends its weights with `num_examples`; the script
then starts a run (`POST /aggregation/run`), waits for it, and checks the aggregate against the
weighted mean of what was sent; every client fetches the new aggregate and posts its accuracy on
its own validation slice as its score.

`--secure` runs the same rounds through secure aggregation (issue #28): the model is created with
`secure_aggregation`, so the service never sees a client's weights, only masked inputs and their
sum. Each round every client trains as above, then all of them call `secure_round(weights,
num_examples=...)` at once (one thread each: every stage waits for every client); the round's
last stage starts the aggregation run by itself, and the script checks the aggregate against the
weighted mean of the fixed-point encodings the clients sent, then scores it as above.

`--large` adds a padding layer of 10,000,000 zeros to the weights (the MLP never reads it, and
the mean of zeros stays zero), so that every update is over 10 M values and goes by the binary
route (presigned upload) for whole rounds.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from digits_data import FederatedSplit, make_federated_split
from digits_mlp import LAYER_SHAPES, NUM_PARAMETERS, accuracy, init_weights, train_sgd
from fma_serverless import FmaClient
from fma_serverless.encodings import ENCODED_DTYPES, decode, encode, encoded_nbytes

PADDING_VALUES = 10_000_000
# The client sends weights as JSON below this many bytes and by the binary route above it.
BINARY_THRESHOLD_BYTES = 1_048_576
# CI's short form and the thresholds it meets: over 20 seeds simulated offline (the service's
# aggregate equals NumPy's weighted mean), the final accuracy was at least 0.894 and the gap to
# central training at most 0.086.
SHORT_FORM = {"clients": 8, "rounds": 6}
SHORT_FORM_MIN_ACCURACY = 0.85
SHORT_FORM_MAX_GAP = 0.12
# --secure: the model's `secure_aggregation`. Every value a client sends is clipped to
# [-SECURE_CLIP_RANGE, SECURE_CLIP_RANGE] and sent as a 16-bit fixed-point number, so the range must
# hold every client's weights, not only the aggregates. Simulated offline (the plain aggregate is
# NumPy's weighted mean), seeds 0-12: the largest |value| a client sent was 1.61 in the short form
# (8 clients x 6 rounds) and 2.00 in the full run (10 x 25), the largest aggregate's 1.52 and 1.94.
# 4.0 leaves twice that; its resolution is 4 / 32767 = 1.2e-4, so each value of the mean is within
# 4 / (2 * 32767) = 6.1e-5 of the plain mean. (Offline, with that rounding the final accuracies of
# those 26 runs were the plain ones, but for one image in one run.) run_federated counts the values
# clipped each round (RoundFigures.clipped_values) so that a run outgrowing the range shows it.
SECURE_CLIP_RANGE = 4.0
SECURE_BITS = 16
# How long each stage waits for a client that dropped; a round where nobody drops never waits.
SECURE_STAGE_SECONDS = 60
RESULTS_SCHEMA = {
    "type": "object",
    "properties": {"accuracy": {"type": "number", "minimum": 0, "maximum": 1}},
    "required": ["accuracy"],
}


@dataclass
class Options:
    base_url: str = "http://127.0.0.1:3000"
    token: str | None = None
    clients: int = 10
    rounds: int = 25
    local_epochs: int = 5
    learning_rate: float = 0.1
    batch_size: int = 16
    seed: int = 0
    large: bool = False
    dtype: str = "float32"
    plot: str | None = None
    json: str | None = None
    min_accuracy: float | None = None
    max_gap: float | None = None
    run_timeout: float = 600.0
    secure: bool = False
    # --secure: how often each client reads the round while it waits for a stage to close.
    poll_interval: float = 0.25


@dataclass
class RoundFigures:
    round: int
    aggregate: int
    test_accuracy: float
    # Mean of the clients' scores (accuracy on their own validation slices), unweighted.
    mean_client_val_accuracy: float
    # Largest |service's aggregate - NumPy's weighted mean of what the clients sent|.
    aggregate_max_abs_error: float
    seconds: float
    seconds_training: float
    seconds_sending: float
    seconds_aggregating: float
    seconds_scoring: float
    run: str
    # --secure: the round's id ("model:round"); aggregate_max_abs_error is then the fixed-point
    # rounding (at most clip_range / (2 * 32767) unless a value was clipped), and
    # aggregate_max_abs_error_fixed_point the distance to the weighted mean of the encodings the
    # clients sent (float32 rounding only). seconds_sending is the whole secure round (its four
    # stages and the sum), seconds_aggregating only the fetch of its aggregate.
    secure_round: str | None = None
    aggregate_max_abs_error_fixed_point: float | None = None
    clipped_values: int | None = None


@dataclass
class Result:
    model: int
    clients: int
    num_examples: list[int]
    parameters_per_update: int
    bytes_per_update: int
    route: str
    dtype: str
    local_epochs: int
    learning_rate: float
    batch_size: int
    seed: int
    central_epochs: int
    central_accuracy: float
    initial_accuracy: float
    rounds: list[RoundFigures] = field(default_factory=list)
    # --secure: the model's secure_aggregation parameters (None: plain updates).
    secure_aggregation: dict[str, Any] | None = None

    @property
    def final_accuracy(self) -> float:
        return self.rounds[-1].test_accuracy if self.rounds else self.initial_accuracy

    @property
    def gap(self) -> float:
        """How far the federated model ends below central training (negative: above it)."""
        return self.central_accuracy - self.final_accuracy


class ServiceError(RuntimeError):
    pass


class Developer:
    """The developer's and operator's calls, which the client package does not make."""

    def __init__(self, base_url: str, token: str, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, method: str, path: str, body: Any = None, *, developer: bool = True) -> Any:
        headers = {"content-type": "application/json"}
        if developer:
            headers["authorization"] = f"Token {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as error:
            raise ServiceError(f"{method} {path} answered {error.code}: {error.read().decode()[:500]}") from error
        return json.loads(text) if text else None

    def create_model(
        self, name: str, join_secret: str, initial_model: list[np.ndarray] | None, secure_aggregation: dict[str, Any] | None = None
    ) -> dict:
        body: dict[str, Any] = {
            "name": name,
            "aggregator": "weighted_fedavg",
            # Every registered client must have sent its update before a round is aggregated, so
            # the every-minute schedule (allow_aggregation) never takes half a round.
            "requirement": "all_clients",
            "requirement_args": [],
            "allow_aggregation": True,
            "client_agg_results_schema": RESULTS_SCHEMA,
            "join_secret": join_secret,
        }
        if initial_model is not None:
            body["initial_model"] = [layer.tolist() for layer in initial_model]
        if secure_aggregation is not None:
            body["secure_aggregation"] = secure_aggregation
        return self._call("POST", "/api/v1/models/", body)

    def secure_round(self, model: int, number: int) -> dict:
        """The model's secure round `number`, as its developer reads it."""
        return self._call("GET", f"/api/v1/models/{model}/secure_round/?round={number}")

    def model_updates(self, model: int) -> list[dict]:
        """The plain updates sent to the model (its developer sees every client's)."""
        return self._call("GET", f"/api/v1/model_updates/?{urllib.parse.urlencode({'federated_model': model})}")

    def run_aggregation(self, model: int, timeout: float) -> dict:
        """Starts a run of the model (`POST /aggregation/run`) and waits until it has ended."""
        started = self._call("POST", "/aggregation/run", {"model": model}, developer=False)
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            status = self._call("GET", started["status_url"], developer=False)
            if status["status"] != "RUNNING":
                return status
            if time.monotonic() > deadline:
                raise ServiceError(f"run {started['run']} still RUNNING after {timeout:.0f} s")
            time.sleep(delay)
            delay = min(0.5, delay * 1.5)


def as_layers(values: list[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(v, dtype=np.float64) for v in values]


def padded(weights: list[np.ndarray], padding: np.ndarray | None) -> list[np.ndarray]:
    return weights if padding is None else [*weights, padding]


def wait_for_new_aggregate(developer: Developer, client: FmaClient, model: int, since: int | None, timeout: float):
    """
    Aggregates the round and answers its aggregate. A run that finds the round already taken
    (the every-minute schedule may start one as soon as the last update arrives) succeeds with
    nothing to do; then the aggregate is the schedule's, and it is waited for.
    """
    deadline = time.monotonic() + timeout
    runs: list[str] = []
    while time.monotonic() < deadline:
        status = developer.run_aggregation(model, max(1.0, deadline - time.monotonic()))
        runs.append(f"{status['name']}:{status.get('final_state')}")
        if status["status"] == "FAILED":
            raise ServiceError(f"aggregation run failed: {status}")
        aggregate = client.check_for_new_aggregate(since=since)
        if aggregate is not None:
            return aggregate, runs
        time.sleep(1.0)
    raise ServiceError(f"no new aggregate after {timeout:.0f} s (runs: {runs})")


def secure_parameters(num_examples: list[int]) -> dict[str, Any]:
    """The model's `secure_aggregation` for clients of these sizes (weighted FedAvg: each client's
    weight is its num_examples, at most max_weight)."""
    clients, max_weight = len(num_examples), max(num_examples)
    scale = 2 ** (SECURE_BITS - 1) - 1
    # The service adds n words of up to max_weight * scale each as signed 32-bit integers: n x
    # max_weight x (2^15 - 1) < 2^31 keeps the sum from wrapping (the service refuses the round
    # otherwise). 10 clients of at most 195 examples: 63,895,650, 3 % of 2^31.
    if clients * max_weight * scale >= 2**31:
        raise SystemExit(
            f"--secure: {clients} clients x max_weight {max_weight} x {scale} >= 2^31, the sum could wrap: "
            f"use fewer clients or fewer bits"
        )
    return {
        # More than half the clients (the README's advice): a round survives n - t dropouts, and no
        # two disjoint halves of the clients can both reach it.
        "threshold": clients // 2 + 1,
        "clip_range": SECURE_CLIP_RANGE,
        "bits": SECURE_BITS,
        "max_weight": max_weight,
        "stage_seconds": SECURE_STAGE_SECONDS,
    }


def fixed_point(layers: list[np.ndarray], clip_range: float, bits: int) -> tuple[list[np.ndarray], int]:
    """What the client encodes of each value (docs/secure-aggregation-protocol.md), as float64
    integers, and how many values were clipped."""
    scale = 2 ** (bits - 1) - 1
    clipped = sum(int(np.count_nonzero(np.abs(layer) > clip_range)) for layer in layers)
    return [np.floor((np.clip(layer.astype(np.float64), -clip_range, clip_range) / clip_range) * scale + 0.5) for layer in layers], clipped


def run_secure_round(clients: list[FmaClient], updates: list[list[np.ndarray]], num_examples: list[int], options: Options) -> dict:
    """Every client takes part in the model's next secure round, all at once (each stage waits for
    every client), and the round is answered once its aggregate exists. Raises unless every client
    saw the same round complete with one aggregate."""
    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        futures = [
            pool.submit(client.secure_round, update, num_examples=n, poll_interval=options.poll_interval, timeout=options.run_timeout)
            for client, update, n in zip(clients, updates, num_examples)
        ]
        rounds = [future.result() for future in futures]
    seen = {(r.get("id"), r.get("status"), r.get("aggregate")) for r in rounds}
    if len(seen) != 1 or rounds[0].get("status") != "complete" or rounds[0].get("aggregate") is None:
        raise ServiceError(f"the clients' secure rounds disagree or did not complete: {sorted(map(str, seen))}")
    return rounds[0]


def run_federated(options: Options, log=print) -> Result:
    if not options.token:
        raise SystemExit("a developer token is needed: --token or FMA_DEVELOPER_TOKEN (npm start prints one)")
    # float16, bfloat16 and int8 (issue #26) go encoded; the model trains in float32 either way.
    encoded = options.dtype in ENCODED_DTYPES
    dtype = np.dtype("float32" if encoded else options.dtype)
    split: FederatedSplit = make_federated_split(options.clients, options.seed)

    # Central training: the same MLP from the same initial weights, on every client's training
    # examples at once, for as many epochs as each client trains in the whole federated run.
    central_epochs = options.rounds * options.local_epochs
    x_all, y_all = split.pooled_training_data()
    initial = init_weights(options.seed)
    central = train_sgd(
        initial, x_all, y_all, epochs=central_epochs, rng=np.random.default_rng(options.seed),
        learning_rate=options.learning_rate, batch_size=options.batch_size,
    )
    central_accuracy = accuracy(central, split.x_test, split.y_test)

    padding = np.zeros(PADDING_VALUES) if options.large else None
    parameters = NUM_PARAMETERS + (PADDING_VALUES if options.large else 0)
    # --secure: a masked input is one uint32 word per value, and the weight.
    update_bytes = 4 * (parameters + 1) if options.secure else encoded_nbytes(options.dtype, parameters)
    developer = Developer(options.base_url, options.token)
    join_secret = secrets.token_urlsafe(16)
    # A JSON initial_model holds at most 1,000,000 values: with the padding layer the model has
    # none, and the clients start round 1 from the same seeded weights.
    secure = secure_parameters([c.num_examples for c in split.clients]) if options.secure else None
    model = developer.create_model(
        f"federated-digits-{options.clients}x{options.rounds}-seed{options.seed}{'-large' if options.large else ''}"
        f"{'-secure' if options.secure else ''}",
        join_secret,
        None if options.large else initial,
        secure,
    )
    model_id = int(model["id"])
    clients = [
        FmaClient(options.base_url, model_id, join_secret=join_secret, binary_threshold_bytes=BINARY_THRESHOLD_BYTES)
        for _ in split.clients
    ]
    for client in clients:
        client.register()

    result = Result(
        model=model_id, clients=options.clients, num_examples=[c.num_examples for c in split.clients],
        parameters_per_update=parameters, bytes_per_update=update_bytes,
        route="secure" if options.secure else "binary" if encoded or update_bytes >= BINARY_THRESHOLD_BYTES else "json",
        dtype=options.dtype,
        local_epochs=options.local_epochs, learning_rate=options.learning_rate, batch_size=options.batch_size,
        seed=options.seed, central_epochs=central_epochs, central_accuracy=central_accuracy,
        initial_accuracy=accuracy(initial, split.x_test, split.y_test), secure_aggregation=secure,
    )
    log(
        f"model {model_id}: {options.clients} clients ({sum(result.num_examples)} training examples: "
        f"{result.num_examples}), {parameters:,} {options.dtype} values per update "
        f"({update_bytes / 2**20:.1f} MiB, {result.route} route), weighted_fedavg"
        if not secure else
        f"model {model_id}: {options.clients} clients ({sum(result.num_examples)} training examples: "
        f"{result.num_examples}), {parameters:,} values per update ({update_bytes / 2**10:.1f} KiB masked input each), "
        f"weighted_fedavg, secure aggregation {json.dumps(secure)}"
    )
    log(f"central training ({central_epochs} epochs on all clients' data): test accuracy {central_accuracy:.4f}")
    log(f"{'round':>5} {'aggregate':>9} {'federated':>9} {'central':>7} {'clients val':>11} {'seconds':>7}")

    previous: int | None = None
    for round_number in range(1, options.rounds + 1):
        started = time.monotonic()
        total = sum(result.num_examples)
        expected = [np.zeros(layer.shape) for layer in padded(initial, padding)]
        training = sending = 0.0
        updates: list[list[np.ndarray]] = []  # --secure: what each client sends, once all have trained
        expected_fixed = [np.zeros(e.shape) for e in expected] if secure else []
        clipped = 0
        for index, (client, data) in enumerate(zip(clients, split.clients)):
            tick = time.monotonic()
            latest = client.get_latest_model()
            if latest is None:  # no aggregate and no initial_model yet: the shared seeded weights
                start_weights, base = initial, None
            else:
                start_weights, base = as_layers(latest.values)[: len(LAYER_SHAPES)], latest.aggregate
            if base != previous:
                raise ServiceError(f"client {index} got aggregate {base} as the latest, expected {previous}")
            trained = train_sgd(
                start_weights, data.x_train, data.y_train, epochs=options.local_epochs,
                rng=np.random.default_rng([options.seed, round_number, index]),
                learning_rate=options.learning_rate, batch_size=options.batch_size,
            )
            sent = [layer.astype(dtype) for layer in padded(trained, padding)]
            tock = time.monotonic()
            if secure:
                updates.append(sent)
                quantised, count = fixed_point(sent, secure["clip_range"], secure["bits"])
                clipped += count
                for acc, layer in zip(expected_fixed, quantised):
                    acc += data.num_examples * layer  # integers below 2^31: exact in float64
            else:
                client.send_update(sent, base_aggregate=base, num_examples=data.num_examples, dtype=options.dtype)
            sending += time.monotonic() - tock
            training += tock - tick
            if encoded:  # the service aggregates what the bytes decode to
                flat = np.concatenate([layer.reshape(-1) for layer in sent])
                decoded = decode(encode(flat, options.dtype), options.dtype, flat.size)
                sent = [part.reshape(layer.shape) for part, layer in zip(np.split(decoded, np.cumsum([l.size for l in sent])[:-1]), sent)]
            for acc, layer in zip(expected, sent):
                acc += data.num_examples * layer.astype(np.float64)
            del sent, trained, latest

        secure_round: dict | None = None
        if secure:
            tick = time.monotonic()
            secure_round = run_secure_round(clients, updates, result.num_examples, options)
            sending += time.monotonic() - tick
            del updates
            # The round's last stage started the run itself; its aggregate exists once it is complete.
            tick = time.monotonic()
            aggregate = clients[0].check_for_new_aggregate(since=previous)
            if aggregate is None or int(aggregate.id) != int(secure_round["aggregate"]):
                raise ServiceError(f"secure round {secure_round['id']} made aggregate {secure_round['aggregate']}, the client found {aggregate and aggregate.id}")
            runs = [f"secure round {secure_round['id']}"]
            aggregating = time.monotonic() - tick
        else:
            tick = time.monotonic()
            aggregate, runs = wait_for_new_aggregate(developer, clients[0], model_id, previous, options.run_timeout)
            aggregating = time.monotonic() - tick
        values = as_layers(aggregate.values)
        weights = values[: len(LAYER_SHAPES)]
        if [v.shape for v in values] != [e.shape for e in expected]:
            raise ServiceError(f"aggregate {aggregate.id} has layers {[v.shape for v in values]}, expected {[e.shape for e in expected]}")
        error = max(float(np.abs(v - e / total).max()) for v, e in zip(values, expected))
        error_fixed = None
        if secure:
            # The service's mean: T / W * c / S of the summed encodings, stored as float32.
            scale = 2 ** (secure["bits"] - 1) - 1
            error_fixed = max(float(np.abs(v - e / total * secure["clip_range"] / scale).max()) for v, e in zip(values, expected_fixed))
            if error_fixed > 1e-6:
                raise ServiceError(f"aggregate {aggregate.id} is not the weighted mean of the encoded updates (max error {error_fixed})")
        elif error > 1e-6:
            raise ServiceError(f"aggregate {aggregate.id} is not the weighted mean of the updates (max error {error})")
        test_accuracy = accuracy(weights, split.x_test, split.y_test)
        aggregate_id = int(aggregate.id)
        del values, aggregate

        tick = time.monotonic()
        val_scores = []
        for client, data in zip(clients, split.clients):
            mine = client.check_for_new_aggregate(since=previous)
            if mine is None or int(mine.id) != aggregate_id:
                raise ServiceError(f"a client found {mine and mine.id} as the new aggregate, expected {aggregate_id}")
            score = accuracy(as_layers(mine.values)[: len(LAYER_SHAPES)], data.x_val, data.y_val)
            client.send_scores(mine.id, {"accuracy": score})
            val_scores.append(score)
            del mine
        scoring = time.monotonic() - tick

        figures = RoundFigures(
            round=round_number, aggregate=aggregate_id, test_accuracy=test_accuracy,
            mean_client_val_accuracy=float(np.mean(val_scores)), aggregate_max_abs_error=error,
            seconds=time.monotonic() - started, seconds_training=training, seconds_sending=sending,
            seconds_aggregating=aggregating, seconds_scoring=scoring, run=" ".join(runs),
            secure_round=None if secure_round is None else str(secure_round["id"]),
            aggregate_max_abs_error_fixed_point=error_fixed, clipped_values=clipped if secure else None,
        )
        result.rounds.append(figures)
        previous = aggregate_id
        log(
            f"{round_number:>5} {aggregate_id:>9} {test_accuracy:>9.4f} {central_accuracy:>7.4f} "
            f"{figures.mean_client_val_accuracy:>11.4f} {figures.seconds:>7.1f}"
        )
    return result


def write_plot(result: Result, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [0] + [r.round for r in result.rounds]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    ax.plot(rounds, [result.initial_accuracy] + [r.test_accuracy for r in result.rounds], marker="o", markersize=3,
            label="federated (weighted FedAvg), held-out test set")
    ax.plot(rounds[1:], [r.mean_client_val_accuracy for r in result.rounds], linestyle=":", color="tab:green",
            label="clients' scores (mean of local validation accuracy)")
    ax.axhline(result.central_accuracy, color="tab:red", linestyle="--",
               label=f"central training, {result.central_epochs} epochs ({result.central_accuracy:.3f})")
    ax.set_xlabel("round")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.0)
    ax.set_xlim(0, rounds[-1])
    ax.grid(alpha=0.3)
    ax.set_title(f"Federated digits: {result.clients} clients, Dirichlet(0.5) label skew, {result.local_epochs} local epochs",
                 fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", default=os.environ.get("FMA_BASE_URL", Options.base_url))
    parser.add_argument("--token", default=os.environ.get("FMA_DEVELOPER_TOKEN"),
                        help="developer token (default: $FMA_DEVELOPER_TOKEN; npm start prints one)")
    parser.add_argument("--clients", type=int, default=Options.clients)
    parser.add_argument("--rounds", type=int, default=Options.rounds)
    parser.add_argument("--local-epochs", type=int, default=Options.local_epochs)
    parser.add_argument("--learning-rate", type=float, default=Options.learning_rate)
    parser.add_argument("--batch-size", type=int, default=Options.batch_size)
    parser.add_argument("--seed", type=int, default=Options.seed)
    parser.add_argument("--large", action="store_true",
                        help=f"pad every update with {PADDING_VALUES:,} zeros (binary route)")
    parser.add_argument("--dtype", choices=["float32", "float64", "float16", "bfloat16", "int8"], default=Options.dtype,
                        help="the updates' dtype on the wire (float16, bfloat16, int8: encoded, issue #26)")
    parser.add_argument("--plot", metavar="PATH", help="write the accuracy curve (PNG)")
    parser.add_argument("--json", metavar="PATH", help="write the per-round figures (JSON)")
    parser.add_argument("--min-accuracy", type=float, help="fail unless the final federated test accuracy is at least this")
    parser.add_argument("--max-gap", type=float, help="fail unless the final federated accuracy is within this of central training")
    parser.add_argument("--run-timeout", type=float, default=Options.run_timeout, help="seconds to wait for one round's aggregation")
    parser.add_argument("--secure", action="store_true",
                        help="secure aggregation (issue #28): the clients send masked inputs through secure rounds")
    parser.add_argument("--poll-interval", type=float, default=Options.poll_interval,
                        help="--secure: seconds between a client's reads of the round while a stage is open")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.rounds < 1 or args.local_epochs < 1:
        parser.error("--clients, --rounds and --local-epochs must be at least 1")
    if args.secure and (args.large or args.dtype not in ("float32", "float64")):
        parser.error("--secure sends fixed-point values: it takes --dtype float32 or float64, and not --large")
    return Options(**{k: v for k, v in vars(args).items()})


def check_thresholds(result: Result, options: Options) -> list[str]:
    """What the run missed of --min-accuracy and --max-gap (empty: it met both)."""
    missed = []
    if options.min_accuracy is not None and result.final_accuracy < options.min_accuracy:
        missed.append(f"final federated accuracy {result.final_accuracy:.4f} < --min-accuracy {options.min_accuracy}")
    if options.max_gap is not None and result.gap > options.max_gap:
        missed.append(f"gap to central {result.gap:.4f} > --max-gap {options.max_gap}")
    return missed


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    result = run_federated(options)
    print(
        f"final: federated {result.final_accuracy:.4f}, central {result.central_accuracy:.4f}, gap {result.gap:+.4f}; "
        f"{np.mean([r.seconds for r in result.rounds]):.1f} s per round"
    )
    if options.json:
        with open(options.json, "w") as out:
            json.dump({**asdict(result), "final_accuracy": result.final_accuracy, "gap": result.gap}, out, indent=1)
    if options.plot:
        write_plot(result, options.plot)
    missed = check_thresholds(result, options)
    for line in missed:
        print(f"FAILED: {line}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
