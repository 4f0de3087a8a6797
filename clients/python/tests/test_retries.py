"""Retries and errors, with faults injected in the client's transport (an adapter that drops an
answer the service has already acted on, or answers 429/503 in front of it)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
import requests

from conftest import Developer, Recorder
from fma_serverless import FmaApiError, FmaClient, FmaTransportError


def drop_first_answer(route: str, method: str = "POST") -> Callable[[requests.PreparedRequest, int, Callable[[], requests.Response]], requests.Response]:
    """The first request to `route` reaches the service, which acts on it; its answer is lost (a timeout)."""
    dropped: list[int] = []

    def inject(request: requests.PreparedRequest, index: int, send: Callable[[], requests.Response]) -> requests.Response:
        response = send()
        if not dropped and request.method == method and route in str(request.url):
            dropped.append(index)
            response.close()
            raise requests.ReadTimeout(f"injected: the answer to {method} {route} was lost")
        return response

    return inject


def synthetic(request: requests.PreparedRequest, status: int, headers: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers)
    response._content = b'{"detail": "injected"}'
    response.request = request
    response.url = str(request.url)
    return response


def test_an_update_whose_answer_timed_out_is_retried_with_its_key_and_stored_once(
    developer: Developer, make_client: Callable[..., FmaClient], model: int
) -> None:
    replayed: list[str | None] = []

    def inject(request: requests.PreparedRequest, index: int, send: Callable[[], requests.Response]) -> requests.Response:
        response = drop_inner(request, index, send)
        if str(request.url).endswith("/api/v1/model_updates/"):
            replayed.append(response.headers.get("Idempotent-Replayed"))
        return response

    drop_inner = drop_first_answer("/api/v1/model_updates/")
    recorder = Recorder(inject)
    client = make_client(model, session=recorder.session())
    sent = client.send_update([np.array([[1.0, 2.0]]), np.array([3.0])])

    attempts = [call for call in recorder.calls if call.route == "model_updates/"]
    assert len(attempts) == 2
    assert attempts[0].headers["Idempotency-Key"] == attempts[1].headers["Idempotency-Key"]
    assert attempts[0].body == attempts[1].body
    assert replayed == ["true"]  # the second attempt was answered with the first one's update
    listed, total = developer.updates(model)
    assert total == 1 and [update["id"] for update in listed] == [sent["id"]]


def test_a_presigned_put_whose_answer_was_lost_is_retried_on_the_same_url_without_a_new_declaration(
    developer: Developer, make_client: Callable[..., FmaClient], model: int
) -> None:
    def inject(request: requests.PreparedRequest, index: int, send: Callable[[], requests.Response]) -> requests.Response:
        if request.method == "PUT" and not any(call.method == "PUT" for call in recorder.calls[:index]):
            raise requests.ConnectionError("injected: connection reset before the upload")
        return lost(request, index, send)

    lost = drop_first_answer("", method="PUT")  # and the second attempt's answer is lost after the store took it
    recorder = Recorder(inject)
    client = make_client(model, session=recorder.session(), binary_threshold_bytes=0)
    values = np.linspace(-1, 1, 1000, dtype=np.float32)
    sent = client.send_update(values)

    puts = [call for call in recorder.calls if call.method == "PUT"]
    assert len(puts) == 3 and len({call.url for call in puts}) == 1
    assert puts[2].status == 200
    assert [call.route for call in recorder.calls].count("model_updates/uploads/") == 1
    _, total = developer.updates(model)
    assert total == 1
    developer.run_aggregation(model)
    aggregate = client.get_aggregate(developer.aggregates(model)[0]["id"])
    assert aggregate.values[0].tolist() == values.astype(np.float64).tolist()
    assert sent["id"] == developer.updates(model)[0][0]["id"]


def test_429_waits_for_retry_after_and_503_is_retried(make_client: Callable[..., FmaClient], model: int) -> None:
    def inject(request: requests.PreparedRequest, index: int, send: Callable[[], requests.Response]) -> requests.Response:
        if "get_latest_model" in str(request.url):
            if index == first:
                return synthetic(request, 429, {"Retry-After": "1"})
            if index == first + 1:
                return synthetic(request, 503, {})
        return send()

    recorder = Recorder(inject)
    client = make_client(model, session=recorder.session())
    first = len(recorder.calls)
    started = time.monotonic()
    assert client.get_latest_model() is None
    assert time.monotonic() - started >= 1.0
    assert [call.route for call in recorder.calls[first:]] == [f"models/{model}/get_latest_model/weights/"] * 3


def test_retries_end_after_max_retries_with_the_last_error(make_client: Callable[..., FmaClient], model: int) -> None:
    def timeouts(request: requests.PreparedRequest, index: int, send: Callable[[], requests.Response]) -> requests.Response:
        raise requests.ConnectTimeout("injected")

    recorder = Recorder(timeouts)
    client = make_client(model, register=False, session=recorder.session(), max_retries=2)
    with pytest.raises(FmaTransportError, match="after 3 attempts"):
        client.register()
    assert len(recorder.calls) == 3
    assert len({call.headers["Idempotency-Key"] for call in recorder.calls}) == 1

    unavailable = Recorder(lambda request, index, send: synthetic(request, 503, {}))
    client = make_client(model, register=False, session=unavailable.session(), max_retries=1)
    with pytest.raises(FmaApiError) as raised:
        client.get_latest_model()
    assert raised.value.status == 503 and raised.value.attempts == 2 and len(unavailable.calls) == 2


def test_4xx_answers_are_fma_api_errors_with_the_apis_message_and_are_not_retried(
    developer: Developer, make_client: Callable[..., FmaClient], model: int
) -> None:
    recorder = Recorder()
    client = make_client(model, session=recorder.session())
    before = len(recorder.calls)
    with pytest.raises(FmaApiError) as raised:
        client.send_update([1.0, 2.0], base_aggregate=999_999)
    assert raised.value.status == 400
    assert raised.value.message.startswith("base_aggregate: Invalid pk")
    assert raised.value.body == {"base_aggregate": [raised.value.message.removeprefix("base_aggregate: ")]}
    assert len(recorder.calls) == before + 1

    outsider = make_client(developer.create_model(), register=False, uuid=client.uuid)
    with pytest.raises(FmaApiError) as forbidden:
        outsider.send_update([1.0, 2.0])
    assert forbidden.value.status == 403 and forbidden.value.message == "This client is not registered with this model."


def test_register_uses_the_join_secret_and_a_known_uuid_is_answered_as_itself(
    developer: Developer, make_client: Callable[..., FmaClient]
) -> None:
    model = developer.create_model(join_secret="open sesame")
    with pytest.raises(FmaApiError) as refused:
        make_client(model)
    assert refused.value.status == 403
    client = make_client(model, join_secret="open sesame")
    assert client.uuid is not None
    again = make_client(model, register=False, uuid=client.uuid)
    assert again.register() == client.uuid


def test_a_score_whose_answer_was_lost_is_answered_by_the_stored_score(
    developer: Developer, make_client: Callable[..., FmaClient], model: int
) -> None:
    make_client(model).send_update([1.0, 2.0])
    developer.run_aggregation(model)
    [aggregate] = developer.aggregates(model)
    recorder = Recorder(drop_first_answer("/api/v1/client_aggregate_scores/"))
    client = make_client(model, session=recorder.session())
    score = client.send_scores(aggregate["id"], {"accuracy": 0.75, "loss": 0.5})
    assert score["aggregate"] == aggregate["id"] and score["validation_results"] == {"accuracy": 0.75, "loss": 0.5}
    posts = [call for call in recorder.calls if call.method == "POST" and call.route == "client_aggregate_scores/"]
    assert len(posts) == 2 and posts[1].status == 400
    scores = developer.request("GET", f"/api/v1/client_aggregate_scores/?aggregate={aggregate['id']}").json()
    assert [s["id"] for s in scores] == [score["id"]]
    with pytest.raises(FmaApiError) as second:
        client.send_scores(aggregate["id"], {"accuracy": 0.9})
    assert second.value.status == 400
