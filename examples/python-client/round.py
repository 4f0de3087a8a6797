"""
A whole round through a Python client generated from the service's OpenAPI description
(README, "The OpenAPI description"): a developer creates a model, two clients register and send
updates, a run aggregates them, a client scores the aggregate, the developer publishes it.

    python round.py http://127.0.0.1:3000 <developer token>
"""
import sys, time
from fma_client import AuthenticatedClient, Client
from fma_client.api.models import post_models, post_models_id_register_client, get_models_id_get_latest_model
from fma_client.api.model_updates import post_model_updates
from fma_client.api.model_aggregates import get_model_aggregates, post_model_aggregates_id_publish_aggregate
from fma_client.api.client_aggregate_scores import post_client_aggregate_scores
from fma_client.api.aggregation import post_aggregation_run, get_aggregation_runs_name
from fma_client.models import (PostModelsBody, PostModelUpdatesBody, PostClientAggregateScoresBody,
    PostModelAggregatesIdPublishAggregateBody, PostAggregationRunBody,
    FederatedModel, RegisteredClient, ClientModelUpdate)

base, token = sys.argv[1], sys.argv[2]
developer = AuthenticatedClient(base_url=base, token=token, prefix="Token", auth_header_name="Authorization")
model = post_models.sync(client=developer, body=PostModelsBody(name="from-python", aggregator="avg_values_if_data"))
assert isinstance(model, FederatedModel), model
clients = []
for values in ([1.0, 2.0], [3.0, 4.0]):
    registered = post_models_id_register_client.sync(id=model.id, client=Client(base_url=base))
    assert isinstance(registered, RegisteredClient), registered
    client = AuthenticatedClient(base_url=base, token=str(registered.uuid), prefix="", auth_header_name="CLIENT-UUID")
    update = post_model_updates.sync(client=client, body=PostModelUpdatesBody(federated_model=model.id, data=values))
    assert isinstance(update, ClientModelUpdate), update
    clients.append(client)
run = post_aggregation_run.sync(client=developer, body=PostAggregationRunBody(model=model.id))
while get_aggregation_runs_name.sync(name=run.run, client=developer).status == "RUNNING":
    time.sleep(0.2)
[aggregate] = get_model_aggregates.sync(client=developer, federated_model=str(model.id))
latest = get_models_id_get_latest_model.sync(id=model.id, client=clients[0])
print("aggregate", aggregate.id, "values", latest.values)
results = {"accuracy": 0.9}
score = post_client_aggregate_scores.sync(client=clients[1], body=PostClientAggregateScoresBody(aggregate=aggregate.id, validation_results=results))
artifact = post_model_aggregates_id_publish_aggregate.sync(id=aggregate.id, client=developer, body=PostModelAggregatesIdPublishAggregateBody(version="1.0.0"))
print("score", score.id, "artifact", artifact.version)
