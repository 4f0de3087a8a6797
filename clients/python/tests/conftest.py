"""Fixtures for tests against the real service (serverless-offline, started by
scripts/python-tests.ts, which sets FMA_BASE_URL and FMA_DEVELOPER_TOKEN)."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

from fma_serverless import FmaClient

_names = itertools.count(1)


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run these tests with `npm run test:python` (scripts/python-tests.ts)", pytrace=False)
    return value


class Developer:
    """The model owner and operator: creates models, starts aggregation runs, lists, publishes."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"

    def request(self, method: str, path: str, body: Any = None, expect: int = 200) -> requests.Response:
        response = self.session.request(method, f"{self.base_url}{path}", json=body, timeout=60)
        assert response.status_code == expect, f"{method} {path} answered {response.status_code}: {response.text[:2000]}"
        return response

    def create_model(self, **settings: Any) -> int:
        body = {"name": f"python-client-{next(_names)}-{time.time_ns()}", "aggregator": "avg_values_if_data", **settings}
        return int(self.request("POST", "/api/v1/models/", body, expect=201).json()["id"])

    def run_aggregation(self, model: int, timeout: float = 240.0) -> dict[str, Any]:
        """Starts a run (POST /aggregation/run) and polls its status_url until it ends; it must succeed."""
        started = self.request("POST", "/aggregation/run", {"model": model}, expect=200).json()
        deadline = time.monotonic() + timeout
        while True:
            status = self.request("GET", started["status_url"]).json()
            if status["status"] == "SUCCEEDED":
                return status  # type: ignore[no-any-return]
            assert status["status"] != "FAILED", f"the run failed: {json.dumps(status)[:2000]}"
            assert time.monotonic() < deadline, f"the run did not end within {timeout} s: {status}"
            time.sleep(0.1)

    def updates(self, model: int) -> tuple[list[dict[str, Any]], int]:
        """The model's updates (first page, oldest first) and their total (X-Total-Count)."""
        response = self.request("GET", f"/api/v1/model_updates/?federated_model={model}&ordering=created_on&page_size=20")
        return response.json(), int(response.headers["X-Total-Count"])

    def aggregates(self, model: int) -> list[dict[str, Any]]:
        return self.request("GET", f"/api/v1/model_aggregates/?federated_model={model}").json()  # type: ignore[no-any-return]

    def publish(self, aggregate: int, version: str) -> dict[str, Any]:
        return self.request(  # type: ignore[no-any-return]
            "POST", f"/api/v1/model_aggregates/{aggregate}/publish_aggregate/", {"version": version}, expect=201
        ).json()


@pytest.fixture(scope="session")
def base_url() -> str:
    return _env("FMA_BASE_URL").rstrip("/")


@pytest.fixture(scope="session")
def developer(base_url: str) -> Developer:
    return Developer(base_url, _env("FMA_DEVELOPER_TOKEN"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(_env("FMA_REPO_ROOT"))


@pytest.fixture
def model(developer: Developer) -> int:
    """A fresh model (avg_values_if_data), so that each test has its own round."""
    return developer.create_model()


@pytest.fixture
def make_client(base_url: str) -> Callable[..., FmaClient]:
    """Registered FmaClients of a model; fast retries, so that the retry tests stay short."""

    def make(model: int, *, register: bool = True, **options: Any) -> FmaClient:
        options.setdefault("backoff_base", 0.05)
        client = FmaClient(base_url, model, **options)
        if register:
            client.register()
        return client

    return make


def expected_mean(updates: list[list[np.ndarray]], dtype: str = "float64") -> list[np.ndarray]:
    """The service's mean, as it computes it: a float64 sum over the updates in the order they
    were stored, then one division; cast to the aggregate's dtype."""
    result = []
    for layer in range(len(updates[0])):
        total = np.zeros(updates[0][layer].shape, dtype=np.float64)
        for update in updates:
            total += update[layer].astype(np.float64)
        result.append((total / len(updates)).astype(dtype))
    return result


def assert_bitwise_equal(actual: list[np.ndarray], expected: list[np.ndarray]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
        assert got.shape == want.shape, (got.shape, want.shape)
        assert got.tobytes() == want.tobytes(), "the values differ in at least one bit"


@dataclass
class Call:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    status: int | None = None

    @property
    def route(self) -> str:
        """The API route (`model_updates/`), or "(store)" for a presigned URL."""
        path = self.url.split("?")[0]
        return path.split("/api/v1/", 1)[1] if "/api/v1/" in path else "(store)"

    def json(self) -> Any:
        assert self.body is not None
        return json.loads(self.body)


Inject = Callable[[requests.PreparedRequest, int, Callable[[], requests.Response]], requests.Response]


class Recorder(requests.adapters.HTTPAdapter):
    """A transport adapter that records each request and can inject faults before or after the
    real request (`inject(request, index, send)`); the service itself is never imitated."""

    def __init__(self, inject: Inject | None = None) -> None:
        super().__init__()
        self.inject = inject
        self.calls: list[Call] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        body = request.body if isinstance(request.body, bytes) else request.body.encode() if isinstance(request.body, str) else None
        call = Call(str(request.method), str(request.url), dict(request.headers), body)
        self.calls.append(call)

        def real() -> requests.Response:
            response = super(Recorder, self).send(request, *args, **kwargs)
            call.status = response.status_code
            return response

        return self.inject(request, len(self.calls) - 1, real) if self.inject is not None else real()

    def session(self) -> requests.Session:
        session = requests.Session()
        session.mount("http://", self)
        session.mount("https://", self)
        return session

    def routes(self) -> list[tuple[str, str]]:
        return [(call.method, call.route) for call in self.calls]


@pytest.fixture
def node_sdk(repo_root: Path) -> Callable[[str, dict[str, Any]], Any]:
    """Runs an ES module script in node from the repository's root, where `@fma-serverless/client`
    (the TypeScript SDK, sdk/) resolves; the script reads its input from FMA_NODE_INPUT and
    prints one JSON line."""

    def run(script: str, payload: dict[str, Any]) -> Any:
        completed = subprocess.run(
            ["node", "--input-type=module", "-e", script],
            cwd=repo_root,
            env={**os.environ, "FMA_NODE_INPUT": json.dumps(payload)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert completed.returncode == 0, f"node failed ({completed.returncode}):\n{completed.stderr}\n{completed.stdout}"
        return json.loads(completed.stdout.strip().splitlines()[-1])

    return run

