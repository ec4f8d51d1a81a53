"""Move ``Tudui`` weights between the lesson's torch model and the flax.nnx module.

The lesson's torch model keeps its layers in ``self.model1 = Sequential(...)``::

    model1.0.weight (32, 3, 5, 5)   model1.0.bias (32,)    -> conv1.kernel (5, 5, 3, 32), conv1.bias
    model1.2.weight (32, 32, 5, 5)  model1.2.bias (32,)    -> conv2
    model1.4.weight (64, 32, 5, 5)  model1.4.bias (64,)    -> conv3
    model1.7.weight (64, 1024)      model1.7.bias (64,)    -> linear1.kernel (1024, 64), .bias
    model1.8.weight (10, 64)        model1.8.bias (10,)    -> linear2

``Tudui`` flattens in torch's C, H, W order, so transposes are all it takes. torch is not a
dependency: ``state_dict`` and ``load_state_dict`` take numpy arrays or anything with
``.detach()``; only the ``.pth`` helpers and ``torch_state_dict`` import torch.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import nnx

# (nnx layer, torch Sequential index, kind), in torch's state_dict order
LAYERS = (
    ("conv1", "model1.0", "conv"),
    ("conv2", "model1.2", "conv"),
    ("conv3", "model1.4", "conv"),
    ("linear1", "model1.7", "linear"),
    ("linear2", "model1.8", "linear"),
)
# flax layout -> torch layout of each kind's weight: HWIO -> OIHW, (in, out) -> (out, in)
_TO_TORCH = {"conv": (3, 2, 0, 1), "linear": (1, 0)}


def _import_torch():
    try:
        import torch
    except ImportError as e:
        raise ImportError(
            "jaxloss.tudui.torch_interop: reading or writing torch .pth files needs PyTorch, "
            "which jaxloss does not depend on; install it (pip install torch) or pass a "
            "state_dict of numpy arrays to load_state_dict instead"
        ) from e
    return torch


def _params(model: nnx.Module):
    """(torch key, nnx Param, its axes in torch's order) for every parameter, in torch order."""
    for layer, prefix, kind in LAYERS:
        module = getattr(model, layer)
        yield f"{prefix}.weight", module.kernel, _TO_TORCH[kind]
        yield f"{prefix}.bias", module.bias, (0,)


def load_state_dict(model: nnx.Module, state_dict: Mapping[str, Any]) -> nnx.Module:
    """Copy a torch ``Tudui`` state_dict into ``model`` in place; returns ``model``.

    Values may be torch tensors or numpy arrays; they are cast to each parameter's dtype
    (as torch's ``load_state_dict`` copies into its own). A ``module.`` prefix (from
    ``DataParallel``) is stripped. Like torch's strict loading, every key must be present
    with the right shape and no other key may appear; nothing is changed on error.
    """
    if not isinstance(state_dict, Mapping):
        raise TypeError(
            f"load_state_dict: state_dict is a {type(state_dict).__name__}, expected a "
            "mapping of parameter names to tensors (torch's model.state_dict())"
        )
    if state_dict and all(str(k).startswith("module.") for k in state_dict):
        state_dict = {k[len("module.") :]: v for k, v in state_dict.items()}
    params = list(_params(model))
    expected = [key for key, _, _ in params]
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    if missing or unexpected:
        raise KeyError(
            f"load_state_dict: the state_dict does not match the lesson's Tudui; missing keys "
            f"{missing}, unexpected keys {unexpected}; expected exactly {expected}"
        )
    new_values = []
    for key, param, axes in params:
        value = state_dict[key]
        if hasattr(value, "detach"):  # a torch tensor; no torch import needed
            value = value.detach().cpu().numpy()
        value = np.asarray(value)
        want = tuple(param.shape[a] for a in axes)
        if value.shape != want:
            raise ValueError(
                f"load_state_dict: {key} has shape {value.shape} but Tudui's "
                f"{key} needs {want} (torch layout)"
            )
        new_values.append(jnp.asarray(value.transpose(np.argsort(axes)), dtype=param.dtype))
    for (_, param, _), new_value in zip(params, new_values):
        param[...] = new_value
    return model


def state_dict(model: nnx.Module) -> OrderedDict[str, np.ndarray]:
    """The torch ``Tudui`` state_dict of ``model`` as numpy arrays in torch layout and order."""
    return OrderedDict(
        (key, np.array(np.asarray(param[...]).transpose(axes), order="C", copy=True))
        for key, param, axes in _params(model)
    )


def torch_state_dict(model: nnx.Module) -> OrderedDict:
    """``state_dict(model)`` as torch tensors: ``torch_tudui.load_state_dict(...)`` takes it."""
    torch = _import_torch()
    return OrderedDict((k, torch.from_numpy(v)) for k, v in state_dict(model).items())


def load_pth(model: nnx.Module, path) -> nnx.Module:
    """Load a ``.pth`` holding a torch Tudui state_dict into ``model`` (weights_only=True)."""
    torch = _import_torch()
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(
            f"load_pth: {path} is not a plain state_dict that torch.load(weights_only=True) can "
            "read (a whole pickled model, as torch.save(tudui, ...) writes, is refused because "
            "unpickling it can run code); save tudui.state_dict() instead"
        ) from e
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = loaded["state_dict"]  # a training checkpoint that wraps the state_dict
    return load_state_dict(model, loaded)


def save_pth(model: nnx.Module, path) -> None:
    """Write ``model``'s weights as a torch Tudui state_dict ``.pth``."""
    torch = _import_torch()
    torch.save(torch_state_dict(model), path)
