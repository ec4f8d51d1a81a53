"""The lesson's PyTorch code, line for line in JAX, asserting the numbers it printed.

Expected values are the ones the lesson printed from torch (tensor(0.6667), tensor(2.),
tensor(1.3333), tensor(1.1019)), checked to the 4 decimals it shows.
"""

import jax
import jax.numpy as jnp
import pytest

import jaxloss
from jaxloss import CrossEntropyLoss, L1Loss, MSELoss


def lesson_inputs():
    inputs = jnp.array([1, 2, 3], dtype=jnp.float32)
    targets = jnp.array([1, 2, 5], dtype=jnp.float32)
    inputs = jnp.reshape(inputs, (1, 1, 1, 3))  # 1 batch_size, 1 channel, 1 row, 3 columns
    targets = jnp.reshape(targets, (1, 1, 1, 3))
    return inputs, targets


def test_l1_mean():
    inputs, targets = lesson_inputs()
    loss = L1Loss()
    result = loss(inputs, targets)
    assert f"{float(result):.4f}" == "0.6667"


def test_l1_sum():
    inputs, targets = lesson_inputs()
    loss = L1Loss(reduction="sum")
    assert f"{float(loss(inputs, targets)):.1f}" == "2.0"


def test_mse():
    inputs, targets = lesson_inputs()
    loss_mse = MSELoss()
    assert f"{float(loss_mse(inputs, targets)):.4f}" == "1.3333"


def test_cross_entropy():
    x = jnp.array([0.1, 0.2, 0.3])
    y = jnp.array([1])
    x = jnp.reshape(x, (1, 3))  # (N, C): N batch size, C classes
    loss_cross = CrossEntropyLoss()
    assert f"{float(loss_cross(x, y)):.4f}" == "1.1019"


def test_backward_gradients_by_hand():
    # loss.backward() on the lesson's L1: d/dx mean|x - y| = sign(x - y) / 3
    # = [0, 0, -1/3]; torch's sign(0) = 0, not jnp.abs's 1.
    inputs, targets = lesson_inputs()
    g = jax.grad(L1Loss())(inputs, targets)
    assert g.reshape(-1).tolist() == pytest.approx([0.0, 0.0, -1 / 3])
    # MSE: 2 (x - y) / 3 = [0, 0, -4/3]
    g = jax.grad(MSELoss())(inputs, targets)
    assert g.reshape(-1).tolist() == pytest.approx([0.0, 0.0, -4 / 3])


def test_jit_gives_the_same_numbers():
    inputs, targets = lesson_inputs()
    f = jax.jit(lambda a, b: jaxloss.l1_loss(a, b, reduction="sum"))
    assert float(f(inputs, targets)) == 2.0
