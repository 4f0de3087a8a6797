"""fma_serverless.fma_connect: FMA's `fma_connect.WebClient`, by its own method names and
arguments, driving whole rounds; large updates and answers go as bytes."""

from __future__ import annotations


import numpy as np
import pytest

from conftest import Developer, Recorder
from fma_serverless import FmaApiError
from fma_serverless.fma_connect import APIException, WebClient, exceptions, settings


def test_an_fma_client_script_runs_a_whole_round_by_changing_one_import(developer: Developer, base_url: str) -> None:
    model = developer.create_model(aggregator="average_layers")
    # FMA's client takes the service's root URL, with or without its trailing slash.
    first = WebClient(model, url=f"{base_url}/")
    second = WebClient(federated_model_id=model, uuid=None, url=base_url)
    assert first.federated_model_id == model and first.url == f"{base_url}/"
    uuid = first.register()
    assert first.uuid == uuid and second.uuid  # the property registers a client that has no uuid

    assert first.check_for_latest_model() is None
    assert first.check_for_new_model_aggregate() is None
    assert first.get_current_artifact() == {}

    sent = first.send_update([[2.0], [2.0, 4.0, 5.0], [2.0]], None)
    assert sent["data"] == [[2], [2, 4, 5], [2]] and sent["federated_model"] == model
    second.send_update([[3.0], [1.0, 3.0, 4.0], [1.0]], base_aggregate=None)
    developer.run_aggregation(model)

    aggregate = first.check_for_new_model_aggregate()
    assert aggregate is not None
    assert aggregate["result"] == [[2.5], [1.5, 3.5, 4.5], [1.5]]
    assert first.check_for_new_model_aggregate() is None  # nothing newer than the one it saw
    latest = second.check_for_latest_model()
    assert latest == {"values": [[2.5], [1.5, 3.5, 4.5], [1.5]], "aggregate": aggregate["id"]}

    score = first.send_val_results({"accuracy": 0.93}, aggregate["id"])
    assert score["aggregate"] == aggregate["id"] and score["validation_results"] == {"accuracy": 0.93}
    with pytest.raises(APIException) as duplicate:
        first.send_val_results({"accuracy": 0.5}, aggregate_id=aggregate["id"])
    assert duplicate.value.status_code == 400 and isinstance(duplicate.value, FmaApiError)
    assert str(duplicate.value).startswith("An API error occurred (status_code=400): ")

    developer.publish(aggregate["id"], "1.0.0")
    artifact = second.get_current_artifact()
    assert artifact["version"] == "1.0.0" and artifact["values"] == [[2.5], [1.5, 3.5, 4.5], [1.5]]


def test_large_updates_go_as_bytes_and_answers_too_large_for_json_come_through_the_weights_route(
    developer: Developer, base_url: str
) -> None:
    model = developer.create_model()
    count = 300_000  # more than the 250,000 values a JSON answer may carry
    rng = np.random.default_rng(5)
    data = [rng.standard_normal(count).tolist(), rng.standard_normal(count).tolist()]
    recorders = [Recorder(), Recorder()]
    clients = [WebClient(model, url=base_url, session=recorder.session()) for recorder in recorders]
    for client, update in zip(clients, data):
        client.register()
        sent = client.send_update(update)  # a flat list of Python floats: 2.4 MB as float64
        assert isinstance(sent["id"], int)
    assert all(("PUT", "(store)") in recorder.routes() for recorder in recorders)
    developer.run_aggregation(model)

    expected = ((np.array(data[0]) + np.array(data[1])) / 2).tolist()
    aggregate = clients[0].check_for_new_model_aggregate()
    assert aggregate is not None and aggregate["result"] == expected
    assert {"id", "created_on", "validation_score", "federated_model"} <= aggregate.keys()
    assert ("GET", f"models/{model}/get_latest_aggregate/") in recorders[0].routes()
    assert ("GET", f"model_aggregates/{aggregate['id']}/weights/") in recorders[0].routes()  # the route the 413 named
    latest = clients[1].check_for_latest_model()
    assert latest == {"values": expected, "aggregate": aggregate["id"]}


def test_the_settings_and_exceptions_modules_are_there_as_in_fma() -> None:
    assert settings.default_url == "http://127.0.0.1:8000/"
    assert WebClient(1).url == settings.default_url
    error = exceptions.APIException(status_code=404, message={"detail": "Not found."})
    assert str(error) == "An API error occurred (status_code=404): {'detail': 'Not found.'}"
    assert str(exceptions.APIException()) == "An API error occurred (status_code=NULL): Could not connect to the server."


def test_numpy_updates_below_the_threshold_go_as_json(developer: Developer, base_url: str) -> None:
    model = developer.create_model()
    recorder = Recorder()
    client = WebClient(model, url=base_url, session=recorder.session())
    client.register()
    sent = client.send_update([np.array([[1.0, 2.0]], dtype=np.float32), np.array([3.5])])
    assert sent["data"] == [[[1, 2]], [3.5]]
    assert ("PUT", "(store)") not in recorder.routes()
    [post] = [call for call in recorder.calls if call.route == "model_updates/"]
    assert post.json() == {"federated_model": model, "data": [[[1.0, 2.0]], [3.5]], "base_aggregate": None}
