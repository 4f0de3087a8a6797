"""What the client returns: weights as numpy arrays with what the service says about them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._weights import FloatArray


@dataclass(frozen=True)
class LatestModel:
    """The weights to train from: the newest aggregate's, else the current artifact's.

    `values` holds one array per stored shape (one 1-d array for a flat vector), in the dtype the
    service stores (`dtype`: aggregates are float64).
    """

    values: list[FloatArray]
    aggregate: int | None
    artifact: int | None
    dtype: str
    layout: str
    shapes: list[tuple[int, ...]]
    sha256: str


@dataclass(frozen=True)
class Aggregate:
    """An aggregate with its weights (`values`, shaped as stored) and its metadata."""

    id: int
    federated_model: int
    values: list[FloatArray]
    dtype: str
    layout: str
    shapes: list[tuple[int, ...]]
    sha256: str
    parent: int | None = None
    level: int | None = None
    validation_score: float | None = None
    created_on: str | None = None
    run: str | None = None
    #: The API's representation of the aggregate (without its weights).
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Artifact:
    """A published artifact: its version and weights."""

    id: int
    federated_model: int
    version: str
    values: list[FloatArray]
    created_on: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
