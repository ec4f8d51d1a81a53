"""Arrays from elsewhere: a torch tensor (duck-typed, torch is never imported) as numpy."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def to_numpy(value: Any) -> np.ndarray | jax.Array:
    """A torch tensor or array-like as a numpy array (without importing torch); a jax
    array, traced ones included (a loader inside ``jax.jit`` or ``jax.grad``), as it is."""
    if hasattr(value, "detach"):  # torch.Tensor
        value = value.detach().cpu().numpy()
    if isinstance(value, jax.Array):
        return value
    return np.asarray(value)
