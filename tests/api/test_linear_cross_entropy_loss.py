"""jaxloss.LinearCrossEntropyLoss (jaxloss/nn.py) against live torch 2.13's
nn.LinearCrossEntropyLoss: the same weights (loaded from torch's state_dict), values and the
gradients of the input, linear weight and bias, every constructor option. Tolerances:
torch_parity.py."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch_parity import assert_close, precision

import jaxloss

CASES = [
    dict(),
    dict(bias=True),
    dict(bias=True, out_features=(3,)),
    dict(out_features=(2, 2), reduction="sum"),
    dict(bias=True, reduction="none", ignore_index=1),
    dict(label_smoothing=0.2, weighted=True),
    dict(bias=True, probabilities=True, label_smoothing=0.1),
]


def _pair(rng, case, dtype):
    case = dict(case)
    probabilities = case.pop("probabilities", False)
    weighted = case.pop("weighted", False)
    d, c, n = 5, 7, 4
    if weighted:
        case["weight"] = rng.uniform(0.5, 2.0, size=(c,)).astype(dtype)
    torch.manual_seed(0)
    tkw = {k: torch.from_numpy(v) if k == "weight" else v for k, v in case.items()}
    tm = torch.nn.LinearCrossEntropyLoss(d, c, dtype=getattr(torch, np.dtype(dtype).name), **tkw)
    out = case.get("out_features", ())
    jkw = {k: v for k, v in case.items() if k not in ("bias", "out_features")}
    jm = jaxloss.LinearCrossEntropyLoss.from_torch_state_dict(
        tm.state_dict(), out_features=out, **jkw
    )
    x = rng.normal(size=(n, d)).astype(dtype)
    if probabilities:
        p = rng.uniform(size=(n, c, *out)).astype(dtype)
        t = p / p.sum(axis=1, keepdims=True)
    else:
        t = rng.integers(0, c, size=(n, *out))
        if case.get("ignore_index") is not None:
            t.flat[0] = case["ignore_index"]
    return tm, jm, x, t


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_matches_torch_module(rng, case, dtype):
    with precision(dtype):
        _check_module(rng, case, dtype)


def _check_module(rng, case, dtype):
    tm, jm, x, t = _pair(rng, case, dtype)
    xt = torch.tensor(x, requires_grad=True)
    expected = tm(xt, torch.from_numpy(t))
    expected.sum().backward()

    def f(m, x):
        return jnp.sum(m(x, t))

    value = jnp.asarray(jm(x, t))
    grads = jax.jit(jax.grad(f, argnums=(0, 1)))(jm, x)
    assert_close(value, expected.detach().numpy(), dtype, "loss")
    assert_close(grads[1], xt.grad.numpy(), dtype, "d/dinput")
    assert_close(grads[0].linear_weight, tm.linear.weight.grad.numpy(), dtype, "d/dweight")
    if tm.linear.bias is not None:
        assert_close(grads[0].linear_bias, tm.linear.bias.grad.numpy(), dtype, "d/dbias")
    else:
        assert grads[0].linear_bias is None


def test_initialised_like_torch_linear():
    # torch's nn.Linear(in, out): U(-1/sqrt(in), 1/sqrt(in)) for weight and bias
    m = jaxloss.LinearCrossEntropyLoss(64, 100, bias=True, key=jax.random.key(3))
    bound = 1 / np.sqrt(64)
    for p in (m.linear_weight, m.linear_bias):
        assert float(jnp.max(jnp.abs(p))) <= bound
        assert float(jnp.max(jnp.abs(p))) > 0.9 * bound  # fills the range
    assert m.linear_weight.shape == tuple(torch.nn.Linear(64, 100).weight.shape)
    assert m.linear_weight.dtype == jnp.float32


def test_pytree_and_grad_of_the_object(rng):
    m = jaxloss.LinearCrossEntropyLoss(4, 6, out_features=(2,), key=jax.random.key(0))
    leaves = jax.tree_util.tree_leaves(m)
    assert [leaf.shape for leaf in leaves] == [(12, 4)]
    x = rng.normal(size=(3, 4)).astype(np.float32)
    t = rng.integers(0, 6, size=(3, 2))
    g = jax.grad(lambda m: m(x, t))(m)
    assert isinstance(g, jaxloss.LinearCrossEntropyLoss) and g.linear_weight.shape == (12, 4)
    # the same as the functional with the reshaped weight
    w = m.linear_weight.reshape(6, 2, 4)
    gw = jax.grad(lambda w: jaxloss.linear_cross_entropy(x, w, t))(w)
    np.testing.assert_allclose(np.asarray(g.linear_weight), np.asarray(gw).reshape(12, 4))


def test_refusals_like_torch():
    with pytest.raises(TypeError, match="LinearCrossEntropyLoss: key is required"):
        jaxloss.LinearCrossEntropyLoss(4, 6)
    with pytest.raises(ValueError, match=r"weight has shape \(5,\) but \(6,\) is required"):
        jaxloss.LinearCrossEntropyLoss(4, 6, weight=jnp.ones(5), key=jax.random.key(0))
    with pytest.raises(RuntimeError, match="expected weight shape"):
        torch.nn.LinearCrossEntropyLoss(4, 6, weight=torch.ones(5))
    # torch's constructor refuses a negative label_smoothing too (its functional uses 0)
    for bad in (1.5, -0.5):
        with pytest.raises(
            ValueError, match=f"label_smoothing must be between 0.0 and 1.0. Got: {bad}"
        ):
            jaxloss.LinearCrossEntropyLoss(4, 6, label_smoothing=bad, key=jax.random.key(0))
        with pytest.raises(RuntimeError, match="label_smoothing"):
            torch.nn.LinearCrossEntropyLoss(4, 6, label_smoothing=bad)
    # nan passes torch's constructor (no comparison holds) and so it passes here
    torch.nn.LinearCrossEntropyLoss(4, 6, label_smoothing=float("nan"))
    jaxloss.LinearCrossEntropyLoss(4, 6, label_smoothing=float("nan"), key=jax.random.key(0))


def test_from_torch_state_dict_works_on_traced_arrays(rng):
    # a state dict of jax arrays differentiated through the loader: torch's weight gradient
    tm = torch.nn.LinearCrossEntropyLoss(4, 6, bias=True)
    x = rng.normal(size=(5, 4)).astype(np.float32)
    t = rng.integers(0, 6, size=5)
    tm(torch.from_numpy(x), torch.from_numpy(t)).backward()
    state = {k: jnp.asarray(v.detach().numpy()) for k, v in tm.state_dict().items()}

    def loss(s):
        return jaxloss.LinearCrossEntropyLoss.from_torch_state_dict(s)(x, t)

    grads = jax.jit(jax.grad(loss))(state)
    for key, p in (("linear.weight", tm.linear.weight), ("linear.bias", tm.linear.bias)):
        np.testing.assert_allclose(grads[key], p.grad.numpy(), rtol=1e-5, atol=1e-6)
