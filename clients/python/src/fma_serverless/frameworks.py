"""Weights of PyTorch and Keras models as layers for `FmaClient.send_update`, and back.

Neither framework is imported here at module level, and these helpers only use what a tensor or
a model offers (`.detach().cpu().numpy()`, `get_weights()`, `set_weights()`), so they work with
any object that offers the same. `torch` is imported only to build tensors back
(`state_dict_from_layers`); install the extras `fma-serverless-client[torch]` or `[tensorflow]`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._weights import FloatArray


def _to_numpy(value: Any) -> FloatArray:
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "detach"):  # a torch.Tensor (or Parameter): off the graph, onto the CPU
        value = value.detach()
        if hasattr(value, "cpu"):
            value = value.cpu()
    if hasattr(value, "numpy"):
        return np.asarray(value.numpy())
    return np.asarray(value)


def layers_from_state_dict(state_dict: Mapping[str, Any]) -> tuple[list[FloatArray], list[str]]:
    """A PyTorch `state_dict()` as layers (numpy arrays, in the dict's order) and their names.

    Floating tensors keep their dtype; integer and boolean buffers (BatchNorm's
    `num_batches_tracked`) become the floating dtype of the others, so that one update has one
    dtype (`state_dict_from_layers` gives them back their own).
    """
    names = list(state_dict.keys())
    arrays = [_to_numpy(state_dict[name]) for name in names]
    floating = [array.dtype for array in arrays if array.dtype.kind == "f"]
    fallback = np.result_type(*floating) if floating else np.dtype(np.float64)
    layers = [array if array.dtype.kind == "f" else array.astype(fallback) for array in arrays]
    return layers, names


def state_dict_from_layers(layers: Sequence[Any], template_state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Layers (e.g. `Aggregate.values`) as a state dict shaped and typed like `template_state_dict`.

    Each layer is reshaped to the template's tensor and cast to its dtype; the template's values
    are not changed. With torch tensors in the template, the result holds torch tensors on the
    template's devices (ready for `model.load_state_dict`); otherwise numpy arrays.
    """
    names = list(template_state_dict.keys())
    if len(names) != len(layers):
        raise ValueError(f"{len(layers)} layers for a state dict of {len(names)} entries")
    result: dict[str, Any] = {}
    for name, layer in zip(names, layers):
        template = template_state_dict[name]
        like = _to_numpy(template)
        array = np.asarray(layer)
        if array.size != like.size:
            raise ValueError(f"{name}: {array.size} values for a tensor of shape {tuple(like.shape)}")
        # A C-ordered copy (np.ascontiguousarray would turn a 0-d buffer into shape (1,)).
        array = array.reshape(like.shape).astype(like.dtype, order="C")
        if hasattr(template, "detach") and hasattr(template, "device"):
            torch = importlib.import_module("torch")
            result[name] = torch.from_numpy(array).to(template.device)
        else:
            result[name] = array
    return result


def layers_from_keras(model_or_weights: Any) -> list[FloatArray]:
    """A Keras model's weights (`model.get_weights()`), or such a list, as layers."""
    weights = model_or_weights.get_weights() if hasattr(model_or_weights, "get_weights") else model_or_weights
    return [np.asarray(weight) for weight in weights]


def keras_weights_from_layers(layers: Sequence[Any], model: Any | None = None) -> list[FloatArray]:
    """Layers back as a list for Keras' `model.set_weights()`; with `model`, also set on it
    (reshaped and cast to the model's own weights)."""
    arrays = [np.asarray(layer) for layer in layers]
    if model is not None:
        current = model.get_weights()
        if len(current) != len(arrays):
            raise ValueError(f"{len(arrays)} layers for a model of {len(current)} weights")
        arrays = [
            np.asarray(array).reshape(np.shape(like)).astype(np.asarray(like).dtype, copy=False)
            for array, like in zip(arrays, current)
        ]
        model.set_weights(arrays)
    return arrays
