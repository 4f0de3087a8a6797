"""
The data of the federated-digits example: scikit-learn's bundled digits (1,797 images of 8 x 8
pixels, 10 classes; no download), a held-out test split, and the rest split across clients by
label skew, each client keeping a local validation slice.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

NUM_CLASSES = 10
NUM_FEATURES = 64


@dataclass(frozen=True)
class ClientData:
    """One client's examples: what it trains on and what it scores aggregates with."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray

    @property
    def num_examples(self) -> int:
        """What the client reports as `num_examples` (weighted FedAvg weighs its update by it)."""
        return int(len(self.y_train))


@dataclass(frozen=True)
class FederatedSplit:
    x_test: np.ndarray
    y_test: np.ndarray
    clients: list[ClientData]
    # Index into load_digits' rows of each client's examples (train then validation), so that a
    # test can check that the clients and the test split partition the data set.
    client_indices: list[np.ndarray]
    test_indices: np.ndarray

    def pooled_training_data(self) -> tuple[np.ndarray, np.ndarray]:
        """Every client's training examples together: what central training learns from."""
        return (
            np.concatenate([c.x_train for c in self.clients]),
            np.concatenate([c.y_train for c in self.clients]),
        )


def load_scaled_digits() -> tuple[np.ndarray, np.ndarray]:
    """The digits as float64 pixels in [0, 1] (the raw ones are 0..16) and integer labels."""
    digits = load_digits()
    return digits.data.astype(np.float64) / 16.0, digits.target.astype(np.int64)


def dirichlet_label_split(
    labels: np.ndarray,
    num_clients: int,
    rng: np.random.Generator,
    *,
    alpha: float = 0.5,
    min_examples: int = 20,
    max_tries: int = 1000,
) -> list[np.ndarray]:
    """
    Splits example indices across clients by label skew: for each class, the class's examples
    are dealt to the clients in proportions drawn from Dirichlet(alpha, ..., alpha) (Hsu et al.
    2019). Small alpha means each client sees mostly a few labels. Draws again until every client
    has at least `min_examples`, so that each can keep a validation slice and still train.

    Returns one index array per client; together they are a partition of range(len(labels)).
    """
    if num_clients < 1:
        raise ValueError("num_clients must be at least 1")
    if num_clients * min_examples > len(labels):
        raise ValueError(f"{len(labels)} examples cannot give {num_clients} clients {min_examples} each")
    classes = np.unique(labels)
    for _ in range(max_tries):
        parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
        for label in classes:
            members = rng.permutation(np.flatnonzero(labels == label))
            shares = rng.dirichlet(np.full(num_clients, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(members)).astype(int)
            for client, chunk in enumerate(np.split(members, cuts)):
                parts[client].append(chunk)
        split = [np.sort(np.concatenate(p)) for p in parts]
        if min(len(s) for s in split) >= min_examples:
            return split
    raise RuntimeError(f"no Dirichlet({alpha}) split gave every one of {num_clients} clients {min_examples} examples")


def make_federated_split(
    num_clients: int,
    seed: int,
    *,
    alpha: float = 0.5,
    test_fraction: float = 0.2,
    val_fraction: float = 0.2,
) -> FederatedSplit:
    """
    The whole example's data: a stratified held-out test split (fixed by `seed`), the rest split
    across `num_clients` by `dirichlet_label_split`, and each client's last `val_fraction` (at
    least one example) kept back as its local validation slice.
    """
    x, y = load_scaled_digits()
    rest, test = train_test_split(np.arange(len(y)), test_size=test_fraction, stratify=y, random_state=seed)
    rng = np.random.default_rng(seed)
    clients: list[ClientData] = []
    client_indices: list[np.ndarray] = []
    for local in dirichlet_label_split(y[rest], num_clients, rng, alpha=alpha):
        indices = rng.permutation(rest[local])
        num_val = max(1, int(round(val_fraction * len(indices))))
        train, val = indices[:-num_val], indices[-num_val:]
        clients.append(ClientData(x[train], y[train], x[val], y[val]))
        client_indices.append(indices)
    return FederatedSplit(x[test], y[test], clients, client_indices, np.asarray(test))


def label_distribution(labels: np.ndarray) -> np.ndarray:
    """The share of each of the 10 classes among `labels`."""
    return np.bincount(labels, minlength=NUM_CLASSES) / max(1, len(labels))


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """Half the L1 distance of two distributions: 0 for equal ones, 1 for disjoint ones."""
    return 0.5 * float(np.abs(p - q).sum())
