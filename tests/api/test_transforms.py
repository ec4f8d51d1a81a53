"""jit / vmap / grad / hessian, default dtypes, and the classes as jit-able values.
References: live torch 2.13 (hessians, per-sample values) and hand derivations (stated)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_parity import assert_close, check_hessian, precision

import jaxloss


def test_vmap_matches_per_sample_torch(rng):
    x = rng.normal(size=(5, 4, 3)).astype(np.float32)  # 5 independent (N=4, C=3) problems
    t = rng.integers(0, 3, size=(5, 4))
    w = rng.uniform(0.5, 2, size=3).astype(np.float32)
    f = jax.vmap(lambda a, b: jaxloss.cross_entropy(a, b, weight=w, label_smoothing=0.1))
    got = jax.jit(f)(x, t)
    expected = torch.stack(
        [
            F.cross_entropy(
                torch.tensor(x[i]), torch.tensor(t[i]), weight=torch.tensor(w), label_smoothing=0.1
            )
            for i in range(5)
        ]
    )
    assert_close(got, expected, np.float32, "vmap cross_entropy")
    # vmap of grad
    g = jax.vmap(jax.grad(lambda a, b: jaxloss.l1_loss(a, b)))(x, x * 0.5)
    xt = torch.tensor(x, requires_grad=True)
    torch.stack([F.l1_loss(xt[i], xt[i].detach() * 0.5) for i in range(5)]).sum().backward()
    assert_close(g, xt.grad, np.float32, "vmap grad l1")


def test_vmap_over_targets_out_of_range_is_nan():
    # inside vmap targets are traced: out-of-range gives nan rather than an error
    x = jnp.zeros((2, 3))
    out = jax.vmap(lambda t: jaxloss.cross_entropy(x, t))(jnp.array([[0, 1], [0, 9]]))
    assert np.isfinite(out[0]) and np.isnan(out[1])


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_hessian(rng, reduction, smoothing):
    x = rng.normal(size=(3, 4))
    t = rng.integers(0, 4, size=3)
    w = rng.uniform(0.5, 2, size=4)
    check_hessian(
        lambda a: jaxloss.cross_entropy(
            a, jnp.asarray(t), weight=jnp.asarray(w), reduction=reduction, label_smoothing=smoothing
        ),
        lambda a: F.cross_entropy(
            a,
            torch.tensor(t),
            weight=torch.tensor(w),
            reduction=reduction,
            label_smoothing=smoothing,
        ),
        x,
    )


def test_probability_target_hessian(rng):
    x = rng.normal(size=(2, 3))
    p = rng.dirichlet(np.ones(3), size=2)
    check_hessian(
        lambda a: jaxloss.cross_entropy(a, jnp.asarray(p)),
        lambda a: F.cross_entropy(a, torch.tensor(p)),
        x,
    )


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss"])
def test_pointwise_hessian(rng, name):
    x = rng.normal(size=(2, 3))
    y = rng.normal(size=(2, 3))
    y[0, 0] = x[0, 0]  # the l1 kink: torch's second derivative there is 0 too
    check_hessian(
        lambda a: getattr(jaxloss, name)(a, jnp.asarray(y)),
        lambda a: getattr(F, name)(a, torch.tensor(y)),
        x,
    )


def test_nll_hessian_is_zero_like_torch(rng):
    x = rng.normal(size=(3, 4))
    t = rng.integers(0, 4, size=3)
    check_hessian(
        lambda a: jaxloss.nll_loss(a, jnp.asarray(t)), lambda a: F.nll_loss(a, torch.tensor(t)), x
    )


def test_default_dtype_float32_and_x64():
    x = [[0.1, 0.2, 0.3]]
    assert jaxloss.cross_entropy(x, [1]).dtype == jnp.float32
    assert jaxloss.l1_loss([1.0, 2.0], [1.0, 3.0]).dtype == jnp.float32
    with precision(np.float64):
        assert jaxloss.cross_entropy(x, [1]).dtype == jnp.float64
        assert jaxloss.mse_loss([1.0, 2.0], [1.0, 3.0]).dtype == jnp.float64
        # f32 inputs stay f32 under x64, as torch keeps float32
        assert (
            jaxloss.l1_loss(jnp.ones(2, jnp.float32), jnp.ones(2, jnp.float32)).dtype == jnp.float32
        )


def test_classes_through_jit_as_pytrees(rng):
    x = rng.normal(size=(6, 4)).astype(np.float32)
    t = rng.integers(0, 4, size=6)
    w = rng.uniform(0.5, 2, size=4).astype(np.float32)
    loss = jaxloss.CrossEntropyLoss(weight=jnp.asarray(w), ignore_index=2, label_smoothing=0.1)
    leaves, treedef = jax.tree_util.tree_flatten(loss)
    assert len(leaves) == 1 and leaves[0].shape == (4,)  # weight is the only leaf
    rebuilt = jax.tree_util.tree_unflatten(treedef, leaves)
    assert rebuilt.ignore_index == 2 and rebuilt.label_smoothing == 0.1

    got = jax.jit(lambda l, a, b: l(a, b))(loss, x, t)
    expected = torch.nn.CrossEntropyLoss(
        weight=torch.tensor(w), ignore_index=2, label_smoothing=0.1
    )(torch.tensor(x), torch.tensor(t))
    assert_close(got, expected, np.float32, "class through jit")


def test_classes_hashable_as_static_args(rng):
    x = rng.normal(size=(4, 3)).astype(np.float32)
    y = rng.normal(size=(4, 3)).astype(np.float32)
    f = jax.jit(lambda l, a, b: l(a, b), static_argnums=0)
    for jl, tl in [
        (jaxloss.L1Loss(reduction="sum"), torch.nn.L1Loss(reduction="sum")),
        (jaxloss.MSELoss(), torch.nn.MSELoss()),
    ]:
        assert hash(jl) == hash(type(jl)(reduction=jl.reduction))
        assert jl == type(jl)(reduction=jl.reduction)
        assert_close(f(jl, x, y), tl(torch.tensor(x), torch.tensor(y)), np.float32, repr(jl))


def test_class_constructor_mirrors_torch():
    # torch's positional order: (weight, size_average, ignore_index, reduce, reduction, label_smoothing)
    loss = jaxloss.CrossEntropyLoss(None, None, 5, None, "sum", 0.25)
    assert (loss.weight, loss.ignore_index, loss.reduction, loss.label_smoothing) == (
        None,
        5,
        "sum",
        0.25,
    )
    with pytest.warns(DeprecationWarning):
        assert jaxloss.L1Loss(size_average=False).reduction == "sum"
    with pytest.warns(DeprecationWarning):
        assert jaxloss.NLLLoss(reduce=False).reduction == "none"
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        assert torch.nn.L1Loss(size_average=False).reduction == "sum"  # torch maps it the same way
    assert repr(jaxloss.L1Loss(reduction="sum")) == "L1Loss(reduction='sum')"


def test_grad_through_class_and_closure(rng):
    x = rng.normal(size=(4, 3)).astype(np.float32)
    t = np.array([0, 2, 1, 1])
    loss = jaxloss.CrossEntropyLoss(reduction="sum")
    g = jax.jit(jax.grad(lambda a: loss(a, t)))(x)
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.CrossEntropyLoss(reduction="sum")(xt, torch.tensor(t)).backward()
    assert_close(g, xt.grad, np.float32, "grad via class")
