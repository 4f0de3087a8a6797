"""`WebClient`: FMA's `fma_connect.WebClient`, same constructor, methods, arguments and answers
(the API's JSON as dicts and lists), on fma-serverless.

What it adds: each call is retried on timeouts, connection errors, 429 and 5xx (POSTs with an
Idempotency-Key, so a retried update is stored once); an update of more than
`binary_threshold_bytes` goes as bytes through a presigned URL; an answer too large for JSON
(413 naming a download route) is read as bytes through that route and given back as JSON would be.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
import requests

from .._weights import layers_to_json, prepare_weights
from ..client import FmaClient
from ..errors import FmaApiError
from . import settings
from .exceptions import APIException

T = TypeVar("T")

#: The route a 413 names for reading the same weights as bytes.
WEIGHTS_ROUTE = re.compile(r"(/api/v1/\S+?/weights/)")


class WebClient:
    """REST API wrapper to interact with the federated learning service (FMA's API)."""

    def __init__(
        self,
        federated_model_id: int,
        uuid: str | None = None,
        url: str | None = None,
        *,
        binary_threshold_bytes: int | None = None,
        timeout: float = 10.0,
        max_retries: int = 5,
        session: requests.Session | None = None,
    ) -> None:
        if url is None:
            url = settings.default_url
        self._url = url
        self._federated_model_id = federated_model_id
        self._is_registered = False
        self._last_model_aggregate: int | None = None
        self._client = FmaClient(
            url,
            federated_model_id,
            uuid=uuid,
            timeout=timeout,
            max_retries=max_retries,
            binary_threshold_bytes=settings.binary_threshold_bytes if binary_threshold_bytes is None else binary_threshold_bytes,
            session=session,
        )

    @property
    def uuid(self) -> str:
        """Client uuid (registers first when there is none, as FMA's client)."""
        if self._client.uuid is None:
            return self.register()
        return self._client.uuid

    @property
    def url(self) -> str:
        """URL of the API."""
        return self._url

    @property
    def federated_model_id(self) -> int:
        """ID of the federated model for which to send updates."""
        return self._federated_model_id

    def register(self) -> str:
        """Registers the client with the federated model (a known uuid is answered as itself)."""
        registered = _api(self._client.register)
        self._is_registered = True
        return registered

    def send_update(self, data: Any, base_aggregate: int | None = None) -> dict[str, Any]:
        """Sends an update: `data` as FMA takes it (a flat list, or a list of layers; numpy arrays
        too). Larger than `binary_threshold_bytes`, it goes as bytes (float64 for Python floats,
        else the arrays' dtype). Returns the service's answer (the update, with "id")."""
        try:
            prepared = prepare_weights(data)
        except (TypeError, ValueError):
            prepared = None  # not weights as we read them (ragged, ...): let the service say what is wrong
        if prepared is not None and prepared.nbytes > self._client.binary_threshold_bytes:
            return _api(lambda: self._client.send_update(prepared, base_aggregate=base_aggregate))
        params = {"federated_model": self._federated_model_id, "data": _plain(data), "base_aggregate": base_aggregate}
        return _api(lambda: _object(self._client._http.api("POST", "model_updates/", params).body))

    def check_for_new_model_aggregate(self, update_after: int | None = None) -> dict[str, Any] | None:
        """The latest aggregate (`{"id", "result", "validation_score", ...}`) if newer than
        `update_after` (or than the last one this client saw), else None."""
        model_agg = self._get_json(f"models/{self._federated_model_id}/get_latest_aggregate/", "result")
        if not model_agg:
            return None
        return self._newer(model_agg, int(model_agg["id"]), update_after)

    def check_for_latest_model(self, update_after: int | None = None) -> dict[str, Any] | None:
        """`{"values", "aggregate"}` of the newest aggregate, else of the artifact, if newer than
        `update_after` (or than the last one this client saw), else None."""
        model_agg = self._get_json(f"models/{self._federated_model_id}/get_latest_model/", "values")
        if not model_agg:
            return None
        aggregate = model_agg.get("aggregate")
        return self._newer(model_agg, aggregate if isinstance(aggregate, int) else -1, update_after)

    def get_current_artifact(self) -> dict[str, Any]:
        """The published artifact (`{"id", "version", "values", ...}`), or `{}` (as FMA's client)."""
        return _api(lambda: _object(self._client._http.api("GET", f"models/{self._federated_model_id}/get_current_artifact/").body))

    def send_val_results(self, results: Any, aggregate_id: int) -> dict[str, Any]:
        """Sends validation results for an aggregate."""
        params = {
            "validation_results": results,
            "federated_model": self._federated_model_id,
            "aggregate": aggregate_id,
            "client": self._client.uuid,
        }
        return _api(lambda: _object(self._client._http.api("POST", "client_aggregate_scores/", params).body))

    # --- internals -----------------------------------------------------------------------------

    def _newer(self, model_agg: dict[str, Any], response_agg_id: int, update_after: int | None) -> dict[str, Any] | None:
        # FMA's rule: not newer than update_after (or, without it, the last one seen) is None.
        last = update_after or self._last_model_aggregate
        answer: dict[str, Any] | None = model_agg
        if last is not None and last >= response_agg_id:
            answer = None
        if update_after and self._last_model_aggregate is not None:
            response_agg_id = max(response_agg_id, self._last_model_aggregate)
        self._last_model_aggregate = response_agg_id
        return answer

    def _get_json(self, path: str, weights_key: str) -> dict[str, Any]:
        """A GET of weights as JSON; too large for JSON (413 naming a weights route), the same
        answer built from the bytes of that route."""
        try:
            return _object(self._client._http.api("GET", path).body)
        except FmaApiError as error:
            route = WEIGHTS_ROUTE.search(error.message) if error.status == 413 else None
            if route is None:
                raise APIException(status_code=error.status, message=error.body) from error
        return _api(lambda: self._from_weights_route(route.group(1), weights_key))

    def _from_weights_route(self, route: str, weights_key: str) -> dict[str, Any]:
        descriptor = _object(self._client._http.api("GET", route).body)
        if "url" not in descriptor:
            return {}
        values = layers_to_json(self._client._download(descriptor), descriptor["layout"])
        aggregate = descriptor.get("aggregate")
        if weights_key == "values":
            return {"values": values, "aggregate": aggregate}
        meta = self._client._aggregate_metadata(int(aggregate)) if isinstance(aggregate, int) else {}
        return {**meta, "result": values}


def _api(call: Callable[[], T]) -> T:
    """Runs a call, raising error answers as FMA's APIException (which is also an FmaApiError)."""
    try:
        return call()
    except APIException:
        raise
    except FmaApiError as error:
        raise APIException(status_code=error.status, message=error.body) from error


def _object(body: Any) -> dict[str, Any]:
    return body if isinstance(body, dict) else {}


def _plain(data: Any) -> Any:
    """numpy values as JSON lists and numbers; anything else as given."""
    if isinstance(data, np.ndarray):
        return data.tolist()
    if isinstance(data, np.generic):
        return data.item()
    if isinstance(data, Mapping):
        return [_plain(value) for value in data.values()]
    if isinstance(data, (list, tuple)):
        return [_plain(item) for item in data]
    return data
