"""
The model of the federated-digits example, in NumPy: a small MLP, 64 -> 32 (ReLU) -> 10
(softmax), its weights a list of layers [W1, b1, W2, b2], trained with minibatch SGD on the
cross-entropy. The same code trains each client locally and the central baseline.
"""
from __future__ import annotations

import numpy as np

from digits_data import NUM_CLASSES, NUM_FEATURES

HIDDEN = 32
LAYER_SHAPES: list[tuple[int, ...]] = [(NUM_FEATURES, HIDDEN), (HIDDEN,), (HIDDEN, NUM_CLASSES), (NUM_CLASSES,)]
NUM_PARAMETERS = sum(int(np.prod(shape)) for shape in LAYER_SHAPES)  # 2,410


def init_weights(seed: int) -> list[np.ndarray]:
    """He-initialised weights, zero biases: the same for every caller with the same seed."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0.0, np.sqrt(2.0 / NUM_FEATURES), (NUM_FEATURES, HIDDEN))
    w2 = rng.normal(0.0, np.sqrt(2.0 / HIDDEN), (HIDDEN, NUM_CLASSES))
    return [w1, np.zeros(HIDDEN), w2, np.zeros(NUM_CLASSES)]


def check_weights(weights: list[np.ndarray]) -> list[np.ndarray]:
    """The four layers as float64 arrays of the expected shapes (raises otherwise)."""
    layers = [np.asarray(w, dtype=np.float64) for w in weights]
    shapes = [w.shape for w in layers]
    if shapes != LAYER_SHAPES:
        raise ValueError(f"expected layers of shapes {LAYER_SHAPES}, got {shapes}")
    return layers


def logits(weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    w1, b1, w2, b2 = weights
    return np.maximum(x @ w1 + b1, 0.0) @ w2 + b2


def predict(weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    return np.argmax(logits(weights, x), axis=1)


def accuracy(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(predict(weights, x) == y))


def train_sgd(
    weights: list[np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    rng: np.random.Generator,
    learning_rate: float = 0.1,
    batch_size: int = 16,
) -> list[np.ndarray]:
    """`epochs` passes of minibatch SGD over (x, y) in a fresh random order each; returns new weights."""
    w1, b1, w2, b2 = (np.array(w, dtype=np.float64) for w in check_weights(weights))
    onehot = np.eye(NUM_CLASSES)[y]
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch_size):
            batch = order[start : start + batch_size]
            xb, tb = x[batch], onehot[batch]
            hidden_in = xb @ w1 + b1
            hidden = np.maximum(hidden_in, 0.0)
            out = hidden @ w2 + b2
            out -= out.max(axis=1, keepdims=True)
            probs = np.exp(out)
            probs /= probs.sum(axis=1, keepdims=True)
            grad_out = (probs - tb) / len(batch)
            grad_hidden = (grad_out @ w2.T) * (hidden_in > 0)
            w2 -= learning_rate * (hidden.T @ grad_out)
            b2 -= learning_rate * grad_out.sum(axis=0)
            w1 -= learning_rate * (xb.T @ grad_hidden)
            b1 -= learning_rate * grad_hidden.sum(axis=0)
    return [w1, b1, w2, b2]
