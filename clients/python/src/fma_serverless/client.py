"""FmaClient: a federated client of fma-serverless."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import requests

from ._http import NO_BODY, SizedBody, Transport, encode_json, iter_pages, retry_after_seconds
from ._weights import DTYPES, FloatArray, PreparedWeights, layers_from_json, little_endian, prepare_weights, split_layers
from .encodings import ENCODED_DTYPES, ErrorFeedback, decode, encode, encoded_nbytes
from .errors import FmaApiError, FmaTransportError
from .results import Aggregate, Artifact, LatestModel

#: The service refuses a JSON body over 5 MiB (Lambda takes 6 MB per request); a little under it.
JSON_BODY_LIMIT = 5 * 1024 * 1024 - 4096
#: The service takes at most 1,000,000 values as JSON.
JSON_MAX_VALUES = 1_000_000
#: Aggregates listed per page while looking one up (the API's maximum).
PAGE_SIZE = 20
#: How long a binary update's completion waits for the service to check a large upload (202 answers).
UPLOAD_VERIFICATION_WAIT_SECONDS = 20 * 60


class FmaClient:
    """A federated client of one model: register, send updates (JSON, or bytes straight to the
    object store for large ones), read aggregates and the latest model as numpy arrays, send scores.

    Every POST carries an Idempotency-Key that its retries reuse; timeouts, connection errors, 429
    (after its Retry-After) and 5xx are retried `max_retries` times with capped exponential backoff
    and full jitter. Errors: FmaApiError (an error answer), FmaTransportError (no answer),
    FmaIntegrityError (a download that is not what the service announced).

    >>> client = FmaClient("http://127.0.0.1:3000", 1)                      # doctest: +SKIP
    >>> client.register()                                                   # doctest: +SKIP
    >>> latest = client.get_latest_model()                                  # doctest: +SKIP
    >>> client.send_update(train(latest.values), base_aggregate=latest.aggregate)  # doctest: +SKIP
    """

    def __init__(
        self,
        base_url: str,
        federated_model_id: int,
        *,
        uuid: str | None = None,
        join_secret: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        binary_threshold_bytes: int = 1_048_576,
        session: requests.Session | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
    ) -> None:
        self.federated_model_id = federated_model_id
        self.join_secret = join_secret
        self.binary_threshold_bytes = binary_threshold_bytes
        self._http = Transport(
            base_url,
            timeout=timeout,
            max_retries=max_retries,
            session=session,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
        )
        self._uuid: str | None = None
        self.uuid = uuid

    @property
    def uuid(self) -> str | None:
        """This client's UUID (its credential): as given, or from `register()`."""
        return self._uuid

    @uuid.setter
    def uuid(self, value: str | None) -> None:
        self._uuid = value
        if value:
            self._http.api_headers["CLIENT-UUID"] = value
        else:
            self._http.api_headers.pop("CLIENT-UUID", None)

    @property
    def base_url(self) -> str:
        return self._http.base_url

    # --- calls ---------------------------------------------------------------------------------

    def register(self) -> str:
        """Joins the model (with the join secret, if given) and returns the UUID. With a UUID the
        service knows, it answers that one; a retried registration without one may leave an unused
        client behind (registration has no idempotency key on the service)."""
        body: Any = NO_BODY if self.join_secret is None else {"join_secret": self.join_secret}
        answer = self._http.api("POST", f"models/{self.federated_model_id}/register_client/", body)
        registered = answer.body["uuid"]
        if not isinstance(registered, str):
            raise FmaApiError(answer.status, answer.body, "the registration answered no uuid")
        self.uuid = registered
        return registered

    def send_update(
        self,
        weights: Any,
        *,
        base_aggregate: int | None = None,
        num_examples: int | None = None,
        dtype: str | None = None,
        stochastic: bool = False,
        error_feedback: ErrorFeedback | None = None,
    ) -> dict[str, Any]:
        """Sends trained weights; returns the update's representation (a dict with "id").

        `dtype` "float16", "bfloat16" or "int8" (or an `error_feedback`, in its dtype) sends the
        update encoded (fma_serverless.encodings), always as bytes: 2, 2 and about 1.06 bytes a
        value. `stochastic` rounds int8 stochastically; `error_feedback` adds the residual it
        keeps before encoding and keeps the new one.

        `weights`: a numpy array, a list/tuple of arrays (layers of any shape), or a mapping
        name -> array (its order is kept; names are not sent). Up to `binary_threshold_bytes` of
        values (and a JSON body the service takes) go as JSON; larger ones as little-endian bytes
        through a presigned URL: declared (dtype, shapes, layout, SHA-256), PUT, completed.
        """
        if error_feedback is not None or dtype in ENCODED_DTYPES:
            prepared = prepare_weights(weights, None)
            flat = np.concatenate([np.ascontiguousarray(layer).reshape(-1) for layer in prepared.layers])
            if error_feedback is not None:
                encoded_dtype: str = error_feedback.dtype
                data = error_feedback.encode(flat)
            else:
                encoded_dtype = str(dtype)
                data = encode(flat, encoded_dtype, stochastic=stochastic)
            return self._send_bytes(prepared, encoded_dtype, data, base_aggregate, num_examples)
        prepared = prepare_weights(weights, dtype)
        if prepared.nbytes <= self.binary_threshold_bytes and prepared.length <= JSON_MAX_VALUES:
            body: dict[str, Any] = {
                "federated_model": self.federated_model_id,
                "data": prepared.to_json(),
                "base_aggregate": base_aggregate,
            }
            if num_examples is not None:
                body["num_examples"] = num_examples
            encoded = encode_json(body)
            if len(encoded) <= JSON_BODY_LIMIT:
                return _as_dict(self._http.api("POST", "model_updates/", encoded=encoded).body)
        return self._send_update_binary(prepared, base_aggregate, num_examples)

    def get_latest_model(self, dtype: str | None = None) -> LatestModel | None:
        """The newest aggregate's weights, else the current artifact's; None when there are none.

        Read as bytes through the weights route (a presigned GET, SHA-256 checked), so the values
        come in the dtype the service stores, shaped by the stored shapes; with `dtype`
        ("float16", "bfloat16", "int8"), a smaller copy in that encoding, decoded to float32.
        """
        descriptor = self._http.api("GET", f"models/{self.federated_model_id}/get_latest_model/weights/", params=_dtype_params(dtype)).body
        if not isinstance(descriptor, dict) or "url" not in descriptor:
            return None
        values = self._download(descriptor)
        return LatestModel(
            values=values,
            aggregate=descriptor.get("aggregate"),
            artifact=descriptor.get("artifact"),
            dtype=descriptor["dtype"],
            layout=descriptor["layout"],
            shapes=[tuple(shape) for shape in descriptor["shapes"]],
            sha256=descriptor["sha256"],
        )

    def get_aggregate(self, aggregate_id: int, dtype: str | None = None) -> Aggregate:
        """An aggregate with its weights (bytes through its weights route) and metadata; with
        `dtype`, downloaded in that encoding and decoded to float32."""
        descriptor = self._http.api("GET", f"model_aggregates/{aggregate_id}/weights/", params=_dtype_params(dtype)).body
        return self._aggregate(aggregate_id, _as_dict(descriptor))

    def check_for_new_aggregate(self, since: int | None = None) -> Aggregate | None:
        """The model's newest aggregate if its id is newer than `since` (any, without `since`);
        else None, without downloading any weights."""
        descriptor = self._http.api("GET", f"models/{self.federated_model_id}/get_latest_model/weights/").body
        if not isinstance(descriptor, dict):
            return None
        newest = descriptor.get("aggregate")
        if not isinstance(newest, int) or (since is not None and newest <= since):
            return None
        return self._aggregate(newest, descriptor)

    def send_scores(self, aggregate_id: int, results: Mapping[str, Any]) -> dict[str, Any]:
        """Sends this client's validation results for an aggregate (one score per aggregate and client)."""
        body: dict[str, Any] = {
            "validation_results": dict(results),
            "federated_model": self.federated_model_id,
            "aggregate": aggregate_id,
        }
        if self.uuid is not None:
            body["client"] = self.uuid
        try:
            return _as_dict(self._http.api("POST", "client_aggregate_scores/", body).body)
        except FmaApiError as error:
            # A retry whose first attempt was stored but not answered meets "one score per
            # aggregate": if the stored score is this one, that is the answer.
            if error.status == 400 and error.attempts > 1:
                for score in self._http.api("GET", "client_aggregate_scores/", params={"aggregate": aggregate_id}).body or []:
                    if isinstance(score, dict) and score.get("validation_results") == body["validation_results"]:
                        return score
            raise

    def get_current_artifact(self) -> Artifact | None:
        """The model's published artifact with its weights (float64, from JSON), or None.

        The service has no bytes route for artifacts, so one of more than 250,000 values is
        FmaApiError 413; `get_latest_model()` reads it as bytes while no aggregate is newer.
        """
        answer = self._http.api("GET", f"models/{self.federated_model_id}/get_current_artifact/").body
        if not isinstance(answer, dict) or "id" not in answer:
            return None
        values = layers_from_json(answer["values"]) if "values" in answer else []
        raw = {key: value for key, value in answer.items() if key != "values"}
        return Artifact(
            id=answer["id"],
            federated_model=answer["federated_model"],
            version=answer["version"],
            values=values,
            created_on=answer.get("created_on"),
            raw=raw,
        )

    def secure_round(
        self, values: Any, num_examples: int | None = None, *, poll_interval: float = 1.0, timeout: float = 3600.0
    ) -> dict[str, Any]:
        """Takes part in the model's secure round (secure aggregation, fma-secagg/v1; the model must
        have `secure_aggregation`): advertises keys (joining the open round, or opening one), shares,
        uploads its masked update and reveals, polling the round every `poll_interval` s between
        stages. Returns the final round (status "complete", its new "aggregate" id); raises
        SecureRoundError when the round failed (its `failure_reason`), went on without this client
        (e.g. "not among this round's sharers") or did not end within `timeout` s.

        `values`: as `send_update` takes weights (array, list of arrays, mapping), flattened in the
        same order; each is clipped to the round's clip_range and sent as fixed point.
        `num_examples` is the update's weight in a weighted round (weighted_fedavg), else unused.
        """
        # Imported here, so that `python -m fma_serverless.secure_aggregation` finds it unimported.
        from .secure_aggregation import SecureRoundParticipant

        return SecureRoundParticipant(self, poll_interval=poll_interval, timeout=timeout).run(values, num_examples)

    # --- internals, shared with fma_connect ----------------------------------------------------

    def _send_update_binary(self, prepared: PreparedWeights, base_aggregate: int | None, num_examples: int | None) -> dict[str, Any]:
        """float32/float64 bytes, streamed from the arrays' memory."""
        return self._upload(prepared, prepared.dtype, prepared.sha256_checked(), prepared.nbytes, prepared.body, base_aggregate, num_examples)

    def _send_bytes(
        self, prepared: PreparedWeights, dtype: str, data: bytes, base_aggregate: int | None, num_examples: int | None
    ) -> dict[str, Any]:
        """Bytes already encoded (float16, bfloat16, int8)."""
        return self._upload(prepared, dtype, hashlib.sha256(data).hexdigest(), len(data), lambda: data, base_aggregate, num_examples)

    def _upload(
        self,
        prepared: PreparedWeights,
        dtype: str,
        sha256: str,
        nbytes: int,
        body: Callable[[], SizedBody],
        base_aggregate: int | None,
        num_examples: int | None,
    ) -> dict[str, Any]:
        """Declares an upload, PUTs the bytes to its presigned URL (declaring again if the URL expired
        while retrying), and completes it."""
        declaration_body: dict[str, Any] = {
            "federated_model": self.federated_model_id,
            "base_aggregate": base_aggregate,
            "dtype": dtype,
            "shapes": [list(shape) for shape in prepared.shapes],
            "layout": prepared.layout,
            "sha256": sha256,
        }
        if num_examples is not None:
            declaration_body["num_examples"] = num_examples
        for declarations in (1, 2):
            declared = _as_dict(self._http.api("POST", "model_updates/uploads/", declaration_body).body)
            if declared.get("byte_size") != nbytes:
                raise FmaApiError(201, declared, f"the service expects {declared.get('byte_size')} bytes, not {nbytes}")
            headers = declared.get("headers") or {}
            try:
                self._http.put_presigned(declared["url"], body(), str(headers.get("content-type", "application/octet-stream")))
            except (FmaTransportError, FmaApiError):
                # Retries reuse the URL while it is valid; an expired one needs a new declaration.
                if declarations == 1 and _expired(declared.get("url_expires_at")):
                    continue
                raise
            complete = declared.get("complete") or f"model_updates/uploads/{declared['id']}/complete/"
            return self._complete_upload(str(complete))
        raise AssertionError("unreachable")

    def _complete_upload(self, complete: str) -> dict[str, Any]:
        """Completes an upload. The service checks a large one in the background and answers 202 with
        Retry-After meanwhile: ask again, as told, until it answers the update (201, or 200) or refuses
        the bytes (FmaApiError), for at most UPLOAD_VERIFICATION_WAIT_SECONDS."""
        deadline = time.monotonic() + UPLOAD_VERIFICATION_WAIT_SECONDS
        while True:
            answer = self._http.api("POST", complete, {})
            if answer.status != 202:
                return _as_dict(answer.body)
            if time.monotonic() > deadline:
                raise FmaApiError(202, answer.body, f"the upload was still being checked after {UPLOAD_VERIFICATION_WAIT_SECONDS} s")
            wait = retry_after_seconds(answer.headers.get("Retry-After"))
            self._http.sleep(min(wait, 60.0) if wait is not None and wait > 0 else 2.0)

    def _download(self, descriptor: Mapping[str, Any]) -> list[FloatArray]:
        """Weights from a weights-route answer, into one preallocated array (views per layer)."""
        dtype = descriptor.get("dtype")
        if dtype in ENCODED_DTYPES and descriptor.get("byte_order", "little-endian") == "little-endian":
            length = int(descriptor["length"])
            raw = np.empty(int(descriptor["byte_size"]), dtype=np.uint8)
            if raw.size != encoded_nbytes(str(dtype), length):
                raise FmaApiError(200, dict(descriptor), f"{length} {dtype} values are not {descriptor['byte_size']} bytes")
            self._http.fetch_into(str(descriptor["url"]), raw.data.cast("B"), str(descriptor["sha256"]))
            return split_layers(decode(raw, str(dtype), length), descriptor["shapes"])
        if dtype not in DTYPES or descriptor.get("byte_order", "little-endian") != "little-endian":
            raise FmaApiError(200, dict(descriptor), f"weights in {dtype} ({descriptor.get('byte_order')}) are not supported")
        length = int(descriptor["length"])
        flat = np.empty(length, dtype=little_endian(dtype))
        if flat.nbytes != int(descriptor["byte_size"]):
            raise FmaApiError(200, dict(descriptor), f"{length} {dtype} values are not {descriptor['byte_size']} bytes")
        self._http.fetch_into(str(descriptor["url"]), flat.data.cast("B"), str(descriptor["sha256"]))
        return split_layers(flat, descriptor["shapes"])

    def _aggregate(self, aggregate_id: int, descriptor: dict[str, Any]) -> Aggregate:
        values = self._download(descriptor)
        meta = self._aggregate_metadata(aggregate_id)
        return Aggregate(
            id=aggregate_id,
            federated_model=int(meta.get("federated_model", self.federated_model_id)),
            values=values,
            dtype=descriptor["dtype"],
            layout=descriptor["layout"],
            shapes=[tuple(shape) for shape in descriptor["shapes"]],
            sha256=descriptor["sha256"],
            parent=meta.get("parent"),
            level=meta.get("level"),
            validation_score=meta.get("validation_score"),
            created_on=meta.get("created_on"),
            run=meta.get("run"),
            raw=meta,
        )

    def _aggregate_metadata(self, aggregate_id: int) -> dict[str, Any]:
        """An aggregate's representation without its weights: from the model's list (newest first),
        which never carries weights; else from `/{id}/` (an aggregate of another model)."""

        def page(number: int) -> list[Any]:
            answer = self._http.api(
                "GET",
                "model_aggregates/",
                params={"federated_model": self.federated_model_id, "ordering": "-created_on", "page_size": PAGE_SIZE, "page": number},
            )
            return answer.body if isinstance(answer.body, list) else []

        for item in iter_pages(page, PAGE_SIZE):
            if isinstance(item, dict) and item.get("id") == aggregate_id:
                return item
        found = _as_dict(self._http.api("GET", f"model_aggregates/{aggregate_id}/").body)
        found.pop("result", None)
        return found


def _dtype_params(dtype: str | None) -> dict[str, str] | None:
    return None if dtype is None else {"dtype": dtype}


def _as_dict(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise FmaApiError(200, body, "the service answered something other than a JSON object")
    return body


def _expired(expires_at: Any) -> bool:
    if not isinstance(expires_at, str):
        return False
    try:
        when = dt.datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        return False
    return when <= dt.datetime.now(dt.timezone.utc)
