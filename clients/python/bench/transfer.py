"""Transfer benchmark of the Python client against raw requests to the object store.

    npm run test:python -- --bench                     (from the repository's root: starts the service)
    npm run test:python -- --bench --values 10000000   (a smaller model)

Each phase runs in a process of its own, so that its peak RSS (resource.getrusage) is its own,
`--repeat` times (5 by default), client and raw in turn; the table shows the median and the best
throughput of each (single runs vary on a shared 2-core machine) and the largest peak RSS:

1. client upload: `FmaClient.send_update` of N float32 values (4N bytes) through the binary route
   (SHA-256, declare, PUT streamed from the array's memory, complete); the PUT alone is timed too;
2. raw upload: the same bytes, `requests.put(url, data=bytes)` straight to the store;
3. an aggregation run over that update (the service's time, for information);
4. client download: `FmaClient.get_aggregate` of the aggregate (float64: 8N bytes) into one
   preallocated array, SHA-256 checked; the presigned GET alone is timed too;
5. raw download: the same object, `requests.get(url, stream=True).raw.read()` in one call.

Needs FMA_BASE_URL, FMA_DEVELOPER_TOKEN, FMA_S3_ENDPOINT and FMA_S3_BUCKET (set by
scripts/python-tests.ts); the raw upload PUTs without a signature, which local stores accept.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import numpy as np
import requests

from fma_serverless import FmaClient

MB = 1_000_000


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def make_values(count: int) -> np.ndarray:
    return np.random.default_rng(100).standard_normal(count, dtype=np.float32)


class TimedSession(requests.Session):
    """Times each request by its route: the PUT to the presigned URL, the declaration and the
    completion (send() returns once the body is sent and the answer read)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: dict[str, float] = {}

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        started = time.perf_counter()
        response = super().send(request, **kwargs)
        url = str(request.url)
        key = "put" if request.method == "PUT" else "complete" if url.endswith("/complete/") else "declare" if url.endswith("/uploads/") else "other"
        self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - started
        return response


def developer_session() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {os.environ['FMA_DEVELOPER_TOKEN']}"
    return session


def phase_client_upload(args: argparse.Namespace) -> dict[str, Any]:
    values = make_values(args.values)
    rss_before = peak_rss_bytes()
    session = TimedSession()
    client = FmaClient(os.environ["FMA_BASE_URL"], args.model, uuid=args.uuid, session=session, timeout=120)
    started = time.perf_counter()
    sent = client.send_update(values)
    total = time.perf_counter() - started
    return {
        "seconds": total,
        "put_seconds": session.seconds["put"],
        "complete_seconds": session.seconds["complete"],
        "client_seconds": total - sum(session.seconds.values()),
        "bytes": values.nbytes,
        "peak_rss": peak_rss_bytes(),
        "rss_with_values": rss_before,
        "update": sent["id"],
    }


def phase_raw_upload(args: argparse.Namespace) -> dict[str, Any]:
    data = make_values(args.values).tobytes()
    url = f"{os.environ['FMA_S3_ENDPOINT'].rstrip('/')}/{os.environ['FMA_S3_BUCKET']}/bench/raw-{uuid.uuid4()}"
    started = time.perf_counter()
    response = requests.put(url, data=data, headers={"Content-Type": "application/octet-stream"}, timeout=120)
    seconds = time.perf_counter() - started
    response.raise_for_status()
    return {"seconds": seconds, "bytes": len(data), "peak_rss": peak_rss_bytes()}


def phase_client_download(args: argparse.Namespace) -> dict[str, Any]:
    client = FmaClient(os.environ["FMA_BASE_URL"], args.model, uuid=args.uuid, timeout=120)
    transport = client._http  # the bench times the GET itself too, around the client's own method
    fetch_into = transport.fetch_into
    fetch_seconds = 0.0

    def timed_fetch_into(url: str, target: memoryview, sha256: str) -> None:
        nonlocal fetch_seconds
        started = time.perf_counter()
        fetch_into(url, target, sha256)
        fetch_seconds += time.perf_counter() - started

    transport.fetch_into = timed_fetch_into  # type: ignore[method-assign]
    started = time.perf_counter()
    aggregate = client.get_aggregate(args.aggregate)
    seconds = time.perf_counter() - started
    size = sum(layer.nbytes for layer in aggregate.values)
    return {"seconds": seconds, "get_seconds": fetch_seconds, "bytes": size, "peak_rss": peak_rss_bytes(), "dtype": aggregate.dtype}


def phase_raw_download(args: argparse.Namespace) -> dict[str, Any]:
    headers = {"CLIENT-UUID": args.uuid}
    descriptor = requests.get(f"{os.environ['FMA_BASE_URL']}/api/v1/model_aggregates/{args.aggregate}/weights/", headers=headers, timeout=60).json()
    started = time.perf_counter()
    with requests.get(descriptor["url"], stream=True, headers={"Accept-Encoding": "identity"}, timeout=120) as response:
        response.raise_for_status()
        data = response.raw.read()
    seconds = time.perf_counter() - started
    assert len(data) == descriptor["byte_size"]
    return {"seconds": seconds, "bytes": len(data), "peak_rss": peak_rss_bytes()}


PHASES = {
    "client-upload": phase_client_upload,
    "raw-upload": phase_raw_upload,
    "client-download": phase_client_download,
    "raw-download": phase_raw_download,
}


def run_phase(name: str, args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    command = [sys.executable, __file__, "--phase", name, "--values", str(args.values)]
    for key, value in extra.items():
        command += [f"--{key}", str(value)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--values", type=int, default=100_000_000, help="float32 values in the update (default 100,000,000: 400 MB)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each phase (default 5)")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    parser.add_argument("--model", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--uuid", help=argparse.SUPPRESS)
    parser.add_argument("--aggregate", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase is not None:
        print(json.dumps(PHASES[args.phase](args)))
        return

    base = os.environ["FMA_BASE_URL"].rstrip("/")
    developer = developer_session()
    models = []
    for _ in range(args.repeat):  # a model per upload, so that the aggregated one holds one update
        model = developer.post(f"{base}/api/v1/models/", json={"name": f"bench-{uuid.uuid4()}", "aggregator": "avg_values_if_data"}, timeout=60).json()["id"]
        models.append((model, FmaClient(base, model).register()))
    print(f"{args.values:,} float32 values ({args.values * 4 / MB:,.0f} MB), {args.repeat} runs of each phase", flush=True)

    uploads, raw_uploads = [], []
    for model, client_uuid in models:
        uploads.append(run_phase("client-upload", args, model=model, uuid=client_uuid))
        raw_uploads.append(run_phase("raw-upload", args))

    model, client_uuid = models[0]
    started = time.perf_counter()
    run = developer.post(f"{base}/aggregation/run", json={"model": model}, timeout=60).json()
    while (status := developer.get(f"{base}{run['status_url']}", timeout=60).json())["status"] == "RUNNING":
        time.sleep(0.2)
    if status["status"] != "SUCCEEDED":
        raise SystemExit(f"the aggregation run did not succeed: {status}")
    aggregation_seconds = time.perf_counter() - started
    [aggregate] = developer.get(f"{base}/api/v1/model_aggregates/?federated_model={model}", timeout=60).json()

    downloads, raw_downloads = [], []
    for _ in range(args.repeat):
        downloads.append(run_phase("client-download", args, model=model, uuid=client_uuid, aggregate=aggregate["id"]))
        raw_downloads.append(run_phase("raw-download", args, model=model, uuid=client_uuid, aggregate=aggregate["id"]))

    def rates(phases: list[dict[str, Any]], key: str = "seconds") -> list[float]:
        return [phase["bytes"] / phase[key] / MB for phase in phases]

    def rss(phases: list[dict[str, Any]]) -> int:
        return max(phase["peak_rss"] for phase in phases)

    upload_bytes, download_bytes = uploads[0]["bytes"], downloads[0]["bytes"]
    rows = [
        ("upload: the PUT, streamed from the array", rates(uploads, "put_seconds"), rates(raw_uploads), rss(uploads), upload_bytes),
        ("upload: all of send_update", rates(uploads), rates(raw_uploads), rss(uploads), upload_bytes),
        ("download: the GET into the array, SHA-256 checked", rates(downloads, "get_seconds"), rates(raw_downloads), rss(downloads), download_bytes),
        (f"download: all of get_aggregate ({downloads[0]['dtype']})", rates(downloads), rates(raw_downloads), rss(downloads), download_bytes),
    ]
    print(f"{'MB/s, median (best)':50} {'client':>13} {'raw':>13} {'client/raw':>12} {'peak RSS':>9} {'RSS/bytes':>9}")
    for label, client_rates, raw_rates, peak, size in rows:
        client_median, raw_median = statistics.median(client_rates), statistics.median(raw_rates)
        print(
            f"{label:50} {client_median:6,.0f} ({max(client_rates):4,.0f}) {raw_median:6,.0f} ({max(raw_rates):4,.0f})"
            f" {client_median / raw_median:5.0%} ({max(client_rates) / max(raw_rates):4.0%}) {peak / MB:7,.0f}MB {peak / size:9.2f}"
        )
    fastest = min(uploads, key=lambda phase: phase["seconds"])
    print(
        f"send_update, fastest run: {fastest['seconds']:.2f} s = SHA-256 and range check {fastest['client_seconds']:.2f} s"
        f" + PUT {fastest['put_seconds']:.2f} s + the service's completion (reads the object back, checks it) {fastest['complete_seconds']:.2f} s"
    )
    print(f"raw peak RSS: upload {rss(raw_uploads) / MB:,.0f} MB, download {rss(raw_downloads) / MB:,.0f} MB")
    print(f"the upload process with only the values in memory: {max(p['rss_with_values'] for p in uploads) / MB:,.0f} MB")
    print(f"aggregation run (the service, for information): {aggregation_seconds:.1f} s")
    print("runs (MB/s): " + json.dumps({
        "client PUT": [round(p["bytes"] / p["put_seconds"] / MB) for p in uploads],
        "raw PUT": [round(p["bytes"] / p["seconds"] / MB) for p in raw_uploads],
        "client GET": [round(p["bytes"] / p["get_seconds"] / MB) for p in downloads],
        "raw GET": [round(p["bytes"] / p["seconds"] / MB) for p in raw_downloads],
    }))


if __name__ == "__main__":
    main()
