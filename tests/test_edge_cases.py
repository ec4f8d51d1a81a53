"""Edge cases from ../shared/TORCH_SEMANTICS.md for the four lesson losses, each compared with
live torch 2.13 (values and gradients) via the parity harness."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_parity import check_parity

import jaxloss

REDUCTIONS = ["none", "mean", "sum"]
NEG_INF = -np.inf


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_l1_kink_gradient_is_zero_like_torch(reduction):
    x = np.array([0.0, 1.5, -2.0, 3.0], np.float32)
    y = np.array([0.0, 1.5, -1.0, 3.0], np.float32)  # three exact ties
    check_parity(jaxloss.l1_loss, F.l1_loss, (x, y), dict(reduction=reduction), grad_argnums=(0, 1))
    # and the naive JAX gradient really is different here (so this test can fail)
    naive = jax.grad(lambda a: jnp.mean(jnp.abs(a - y)))(x)
    assert naive[0] != 0.0


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "row,label,smoothing",
    [
        ([NEG_INF, 1.0, 2.0], 1, 0.0),  # non-target -inf: finite loss, zero grad there
        ([NEG_INF, 1.0, 2.0], 1, 0.1),  # ... with label smoothing: inf
        ([NEG_INF, 1.0, 2.0], 0, 0.0),  # target logit -inf: inf
        ([NEG_INF, NEG_INF, NEG_INF], 2, 0.0),  # all -inf: nan
        ([1e4, -1e4, 0.0], 1, 0.0),  # huge logits stay finite
        ([1e4, -1e4, 0.0], 0, 0.2),
    ],
)
def test_cross_entropy_infinite_and_huge_logits(reduction, row, label, smoothing):
    x = np.array([row, [0.5, -0.5, 0.25]], np.float32)
    t = np.array([label, 2])
    check_parity(
        jaxloss.cross_entropy,
        F.cross_entropy,
        (x, t),
        dict(reduction=reduction, label_smoothing=smoothing),
    )


def test_non_target_neg_inf_logit_has_finite_loss_and_zero_grad():
    x = jnp.array([[-jnp.inf, 1.0, 2.0]])
    loss, g = jax.value_and_grad(jaxloss.cross_entropy)(x, jnp.array([1]))
    expected = -torch.log_softmax(torch.tensor([[-np.inf, 1.0, 2.0]]), 1)[0, 1].item()
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    assert float(g[0, 0]) == 0.0


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_all_targets_ignored(rng, fn, reduction, weighted):
    x = rng.normal(size=(3, 4)).astype(np.float32)
    t = np.array([-100, -100, -100])
    kwargs = dict(reduction=reduction)
    if weighted:
        kwargs["weight"] = rng.uniform(0.5, 2, size=4).astype(np.float32)
    check_parity(getattr(jaxloss, fn), getattr(F, fn), (x, t), kwargs)
    if reduction == "mean":  # nan value, zero (not nan) gradients, as torch
        value, g = jax.value_and_grad(getattr(jaxloss, fn))(jnp.asarray(x), jnp.asarray(t))
        assert np.isnan(value) and np.all(np.asarray(g) == 0.0)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_all_ignored_with_label_smoothing(rng, reduction):
    x = rng.normal(size=(2, 3)).astype(np.float32)
    check_parity(
        jaxloss.cross_entropy,
        F.cross_entropy,
        (x, np.array([-100, -100])),
        dict(reduction=reduction, label_smoothing=0.3),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ignore_index_that_is_a_valid_class(rng, reduction):
    # pytorch#63004: class 1 is ignored as a target but still sits in the softmax denominator
    x = rng.normal(size=(4, 3)).astype(np.float32)
    t = np.array([1, 0, 1, 2])
    check_parity(
        jaxloss.cross_entropy,
        F.cross_entropy,
        (x, t),
        dict(reduction=reduction, ignore_index=1, label_smoothing=0.2),
    )


def test_unbatched_input_with_length_one_target(rng):
    x = rng.normal(size=(5,)).astype(np.float32)
    for reduction in REDUCTIONS:
        check_parity(
            jaxloss.cross_entropy, F.cross_entropy, (x, np.array(3)), dict(reduction=reduction)
        )
        # torch's forward accepts a (1,) target here but its backward raises "size mismatch",
        # so only the value can be compared
        check_parity(
            jaxloss.cross_entropy,
            F.cross_entropy,
            (x, np.array([3])),
            dict(reduction=reduction),
            grad_argnums=(),
        )


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss"])
def test_empty_pointwise(name):
    x = np.zeros((0, 3), np.float32)
    for reduction in REDUCTIONS:
        check_parity(
            getattr(jaxloss, name), getattr(F, name), (x, x.copy()), dict(reduction=reduction)
        )


@pytest.mark.parametrize("weighted", [False, True])
def test_empty_cross_entropy(weighted):
    x = np.zeros((0, 3), np.float32)
    kw = dict(weight=np.ones(3, np.float32)) if weighted else {}
    for reduction in REDUCTIONS:
        check_parity(
            jaxloss.cross_entropy,
            F.cross_entropy,
            (x, np.zeros((0,), np.int64)),
            dict(reduction=reduction, **kw),
        )
        check_parity(
            jaxloss.cross_entropy,
            F.cross_entropy,
            (x, x.copy()),
            dict(reduction=reduction, **kw),
            grad_argnums=(0, 1),
        )


def test_negative_label_smoothing_acts_as_zero(rng):
    x = rng.normal(size=(4, 3)).astype(np.float32)
    t = np.array([0, 1, 2, 1])
    check_parity(jaxloss.cross_entropy, F.cross_entropy, (x, t), dict(label_smoothing=-0.5))


@pytest.mark.parametrize("target", [5, -1])
def test_out_of_range_index_is_nan_under_jit(target):
    x = jnp.zeros((2, 3))
    t = jnp.array([0, target])
    for reduction in ("mean", "sum"):
        loss = jax.jit(lambda a, b: jaxloss.cross_entropy(a, b, reduction=reduction))(x, t)
        assert np.isnan(loss)
    per = jax.jit(lambda a, b: jaxloss.nll_loss(a, b, reduction="none"))(x, t)
    assert per[0] == 0.0 and np.isnan(per[1])  # the valid row is unaffected, never wrapped
    with pytest.raises(IndexError):  # and torch refuses it
        F.cross_entropy(torch.zeros(2, 3), torch.tensor([0, target]))


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16])
@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "cross_entropy", "nll_loss"])
def test_half_precision_returns_half(dtype, name):
    x = jnp.array([[0.1, 0.2, 0.3], [1.0, -1.0, 0.5]], dtype)
    y = jnp.array([1, 2]) if name in ("cross_entropy", "nll_loss") else x[::-1]
    out = getattr(jaxloss, name)(x, y)
    tx = torch.tensor(np.asarray(x, np.float32)).to(
        torch.float16 if dtype == jnp.float16 else torch.bfloat16
    )
    ty = (
        torch.tensor(np.asarray(y, np.int64))
        if y.dtype.kind == "i"
        else torch.tensor(np.asarray(y, np.float32)).to(tx.dtype)
    )
    expected = getattr(F, name)(tx, ty)
    assert out.dtype == dtype
    assert float(out) == pytest.approx(float(expected), rel=1e-2)
    g = jax.grad(getattr(jaxloss, name))(x, y)
    assert g.dtype == dtype
