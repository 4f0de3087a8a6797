"""fma_serverless.frameworks with stand-ins for PyTorch tensors and Keras models (objects with
the same methods), so that no framework is needed; and a round trip through the service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from conftest import Developer
from fma_serverless import FmaClient
from fma_serverless.frameworks import keras_weights_from_layers, layers_from_keras, layers_from_state_dict, state_dict_from_layers


class FakeTensor:
    """What the helpers use of a torch.Tensor: `.detach().cpu().numpy()`; counts the calls."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.calls: list[str] = []

    def detach(self) -> FakeTensor:
        self.calls.append("detach")
        return self

    def cpu(self) -> FakeTensor:
        self.calls.append("cpu")
        return self

    def numpy(self) -> np.ndarray:
        self.calls.append("numpy")
        return self.array


class FakeKerasModel:
    """What the helpers use of a Keras model: `get_weights()` and `set_weights()`."""

    def __init__(self, weights: list[np.ndarray]) -> None:
        self.weights = weights

    def get_weights(self) -> list[np.ndarray]:
        return [weight.copy() for weight in self.weights]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        assert [w.shape for w in weights] == [w.shape for w in self.weights]
        self.weights = list(weights)


def state_dict() -> dict[str, Any]:
    rng = np.random.default_rng(1)
    return {
        "conv.weight": FakeTensor(rng.standard_normal((4, 1, 3, 3)).astype(np.float32)),
        "conv.bias": FakeTensor(rng.standard_normal(4).astype(np.float32)),
        "bn.num_batches_tracked": FakeTensor(np.array(7, dtype=np.int64)),
        "fc.weight": FakeTensor(rng.standard_normal((2, 4)).astype(np.float32)),
    }


def test_a_state_dict_becomes_layers_in_its_order_and_comes_back_shaped_and_typed_as_the_template() -> None:
    template = state_dict()
    layers, names = layers_from_state_dict(template)
    assert names == ["conv.weight", "conv.bias", "bn.num_batches_tracked", "fc.weight"]
    assert [layer.shape for layer in layers] == [(4, 1, 3, 3), (4,), (), (2, 4)]
    assert all(layer.dtype == np.float32 for layer in layers)  # the int buffer joins the float dtype
    assert template["conv.weight"].calls == ["detach", "cpu", "numpy"]

    flat = [layer.astype(np.float64).reshape(-1) * 2 for layer in layers]  # as an aggregate might come back
    rebuilt = state_dict_from_layers(flat, template)
    assert list(rebuilt) == names
    assert rebuilt["bn.num_batches_tracked"].dtype == np.int64 and int(rebuilt["bn.num_batches_tracked"]) == 14
    assert rebuilt["conv.weight"].dtype == np.float32 and rebuilt["conv.weight"].shape == (4, 1, 3, 3)
    assert np.array_equal(rebuilt["fc.weight"], template["fc.weight"].array * 2)
    assert np.array_equal(template["conv.bias"].array, state_dict()["conv.bias"].array)  # template untouched

    with pytest.raises(ValueError, match="layers for a state dict"):
        state_dict_from_layers(flat[:2], template)
    with pytest.raises(ValueError, match="values for a tensor"):
        state_dict_from_layers([flat[1], flat[0], flat[2], flat[3]], template)


def test_keras_weights_become_layers_and_are_set_back_on_the_model() -> None:
    model = FakeKerasModel([np.ones((3, 2), np.float32), np.zeros(2, np.float32)])
    layers = layers_from_keras(model)
    assert layers_from_keras(model.get_weights())[0].tolist() == layers[0].tolist()
    new = [np.full(6, 0.5), np.array([1.0, 2.0])]  # float64, flat: as downloaded
    arrays = keras_weights_from_layers(new, model)
    assert [a.shape for a in model.weights] == [(3, 2), (2,)] and all(a.dtype == np.float32 for a in model.weights)
    assert model.weights[0].tolist() == [[0.5, 0.5]] * 3 and arrays[1].tolist() == [1.0, 2.0]
    assert [a.tolist() for a in keras_weights_from_layers(new)] == [a.tolist() for a in new]


def test_a_state_dict_goes_through_a_round_and_loads_back(
    developer: Developer, make_client: Callable[..., FmaClient], model: int
) -> None:
    template = state_dict()
    layers, _ = layers_from_state_dict(template)
    make_client(model).send_update(layers)
    make_client(model, binary_threshold_bytes=0).send_update([layer * 3 for layer in layers])
    developer.run_aggregation(model)
    aggregate = make_client(model).check_for_new_aggregate()
    assert aggregate is not None
    # 0-d layers travel as shape (1,); the template shapes them back.
    assert aggregate.shapes == [(4, 1, 3, 3), (4,), (1,), (2, 4)]
    loaded = state_dict_from_layers(aggregate.values, template)
    assert int(loaded["bn.num_batches_tracked"]) == 14  # (7 + 21) / 2
    assert np.array_equal(loaded["conv.weight"], (template["conv.weight"].array.astype(np.float64) * 2).astype(np.float32))
