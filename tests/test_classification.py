"""cross_entropy and nll_loss (jaxloss/_classification.py) against live torch 2.13: values and
gradients, float32 and float64, eager and jit, every option, the edge cases of
docs/torch_semantics.md and bad input. Tolerances: torch_parity.py."""

import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch_parity import assert_close, check_parity

import jaxloss

DTYPES = [np.float32, np.float64]


REDUCTIONS = ["none", "mean", "sum"]


def _logits(rng, shape, dtype):
    return (3 * rng.normal(size=shape)).astype(dtype)


CE_SHAPES = [(5,), (6, 5), (3, 5, 4), (2, 5, 3, 2), (2, 4, 2, 1, 2)]


def _index_target(rng, shape, num_classes, ignore_index, with_ignored):
    batch = () if len(shape) == 1 else (shape[0],) + shape[2:]
    t = rng.integers(0, num_classes, size=batch)
    if with_ignored and t.size > 1:
        t.flat[1] = ignore_index
    return np.asarray(t)


NEG_INF = -np.inf


def torch_refuses(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises((RuntimeError, ValueError, IndexError, NotImplementedError, TypeError)):
            fn(*args, **kwargs)


X = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]], np.float32)


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", CE_SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_class_index_targets(rng, fn, dtype, reduction, shape, weighted, ignore_index):
    c = shape[0] if len(shape) == 1 else shape[1]
    x = _logits(rng, shape, dtype)
    if fn == "nll_loss":
        x = np.asarray(torch.log_softmax(torch.from_numpy(x), dim=0 if len(shape) == 1 else 1))
    t = _index_target(rng, shape, c, ignore_index, with_ignored=True)
    kwargs = dict(reduction=reduction, ignore_index=ignore_index)
    if weighted:
        kwargs["weight"] = rng.uniform(0.2, 2.0, size=(c,)).astype(dtype)
    check_parity(getattr(jaxloss, fn), getattr(F, fn), (x, t), kwargs, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", CE_SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.1, 0.7, 1.0])
def test_label_smoothing_index_targets(rng, dtype, reduction, shape, weighted, label_smoothing):
    c = shape[0] if len(shape) == 1 else shape[1]
    x = _logits(rng, shape, dtype)
    t = _index_target(rng, shape, c, -100, with_ignored=True)
    kwargs = dict(reduction=reduction, label_smoothing=label_smoothing)
    if weighted:
        kwargs["weight"] = rng.uniform(0.2, 2.0, size=(c,)).astype(dtype)
    check_parity(jaxloss.cross_entropy, F.cross_entropy, (x, t), kwargs, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", CE_SHAPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.25])
def test_probability_targets(rng, dtype, reduction, shape, weighted, label_smoothing):
    c = shape[0] if len(shape) == 1 else shape[1]
    x = _logits(rng, shape, dtype)
    p = rng.dirichlet(np.ones(c), size=int(np.prod(shape)) // c)
    p = np.moveaxis(p.reshape((shape[0],) + shape[2:] + (c,)), -1, 1) if len(shape) > 1 else p[0]
    p = p.astype(dtype)
    kwargs = dict(reduction=reduction, label_smoothing=label_smoothing)
    if weighted:
        kwargs["weight"] = rng.uniform(0.2, 2.0, size=(c,)).astype(dtype)
    # gradients w.r.t. the logits AND the probability target
    check_parity(
        jaxloss.cross_entropy, F.cross_entropy, (x, p), kwargs, grad_argnums=(0, 1), dtype=dtype
    )


@pytest.mark.parametrize("target_dtype", [np.int8, np.uint8, np.int16, np.int32, np.int64])
def test_any_integer_target_dtype(rng, target_dtype):
    x = _logits(rng, (5, 4), np.float32)
    t = np.array([0, 3, 1, 2, 3], dtype=target_dtype)
    check_parity(jaxloss.cross_entropy, F.cross_entropy, (x, t))


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


def test_bool_target_refused():
    with pytest.raises(TypeError, match="l1_loss: target has dtype bool"):
        jaxloss.l1_loss(X, X > 0.15)
    torch_refuses(F.l1_loss, torch.tensor(X), torch.tensor(X > 0.15))


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("target", [3, -1, 7])
def test_out_of_range_target_index_error(fn, target):
    t = np.array([0, target])
    with pytest.raises(IndexError, match=f"Target {target} is out of bounds."):
        getattr(jaxloss, fn)(X, t)
    with pytest.raises(IndexError, match=f"Target {target} is out of bounds."):
        getattr(F, fn)(torch.tensor(X), torch.tensor(t))


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
def test_wrong_weight_size(fn):
    with pytest.raises(
        ValueError,
        match=r"weight has shape \(4,\) but \(3,\) is required \(one weight per class, C=3\)",
    ):
        getattr(jaxloss, fn)(X, np.array([0, 1]), weight=np.ones(4, np.float32))
    torch_refuses(getattr(F, fn), torch.tensor(X), torch.tensor([0, 1]), weight=torch.ones(4))


def test_cross_entropy_target_shape_message():
    # STYLE.md's example message, verbatim in shape
    with pytest.raises(
        ValueError,
        match=re.escape(
            "cross_entropy: target has shape (4, 3) but input (4, 10) needs (4,) for class indices "
            "or (4, 10) for class probabilities"
        ),
    ):
        jaxloss.cross_entropy(np.zeros((4, 10), np.float32), np.zeros((4, 3), np.int32))
    torch_refuses(F.cross_entropy, torch.zeros(4, 10), torch.zeros(4, 3, dtype=torch.long))


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
def test_batch_size_mismatch(fn):
    with pytest.raises(
        ValueError, match=r"target has shape \(3,\) but input \(2, 3\) needs \(2,\)"
    ):
        getattr(jaxloss, fn)(X, np.array([0, 1, 1]))
    torch_refuses(getattr(F, fn), torch.tensor(X), torch.tensor([0, 1, 1]))


def test_spatial_target_mismatch():
    x = np.zeros((2, 3, 4, 5), np.float32)
    with pytest.raises(
        ValueError, match=r"target has shape \(2, 4, 6\) but input \(2, 3, 4, 5\) needs \(2, 4, 5\)"
    ):
        jaxloss.cross_entropy(x, np.zeros((2, 4, 6), np.int32))
    torch_refuses(F.cross_entropy, torch.zeros(2, 3, 4, 5), torch.zeros(2, 4, 6, dtype=torch.long))


def test_float_index_target_refused():
    with pytest.raises(
        TypeError, match=r"target has dtype float32 and shape \(2,\); an integer dtype is required"
    ):
        jaxloss.cross_entropy(X, np.array([0.0, 1.0], np.float32))
    torch_refuses(F.cross_entropy, torch.tensor(X), torch.tensor([0.0, 1.0]))


def test_integer_probability_target_refused():
    with pytest.raises(TypeError, match=r"target \(class probabilities\) has dtype int"):
        jaxloss.cross_entropy(X, np.zeros((2, 3), np.int32))
    torch_refuses(F.cross_entropy, torch.tensor(X), torch.zeros(2, 3, dtype=torch.long))


def test_integer_logits_refused():
    with pytest.raises(TypeError, match="cross_entropy: input has dtype int32"):
        jaxloss.cross_entropy(np.zeros((2, 3), np.int32), np.array([0, 1]))
    torch_refuses(F.cross_entropy, torch.zeros(2, 3, dtype=torch.int32), torch.tensor([0, 1]))


def test_label_smoothing_above_one():
    with pytest.raises(ValueError, match="label_smoothing must be between 0.0 and 1.0. Got: 1.5"):
        jaxloss.cross_entropy(X, np.array([0, 1]), label_smoothing=1.5)
    torch_refuses(F.cross_entropy, torch.tensor(X), torch.tensor([0, 1]), label_smoothing=1.5)


def test_ignore_index_with_probability_targets():
    p = np.full((2, 3), 1 / 3, np.float32)
    with pytest.raises(
        ValueError, match="ignore_index=1 is not supported for class-probability targets"
    ):
        jaxloss.cross_entropy(X, p, ignore_index=1)
    torch_refuses(F.cross_entropy, torch.tensor(X), torch.tensor(p), ignore_index=1)
    jaxloss.cross_entropy(X, p, ignore_index=-1)  # negative values are accepted, as in torch


def test_nll_refuses_probability_targets():
    with pytest.raises(
        TypeError,
        match=r"nll_loss: target has dtype float32 and shape \(2, 3\); an integer dtype is required \(class indices\)",
    ):
        jaxloss.nll_loss(X, X)
    torch_refuses(F.nll_loss, torch.tensor(X), torch.tensor(X))


def test_scalar_input_refused():
    with pytest.raises(ValueError, match=r"input has shape \(\) but \(C,\), \(N, C\)"):
        jaxloss.cross_entropy(jnp.float32(1.0), jnp.int32(0))


# --- traced out-of-range targets: nan values AND nan gradients; checkify -------------------
def _valid_rows_reference(fn, x, t, bad_row, reduction):
    """torch on the rows without the bad target: their 'none' values and gradients."""
    keep = [i for i in range(len(t)) if i != bad_row]
    tx = torch.tensor(x[keep], requires_grad=True)
    out = getattr(F, fn)(tx, torch.tensor(t[keep]), reduction="none")
    out.sum().backward()
    return keep, out.detach().numpy(), tx.grad.numpy()


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("bad", [3, 7, -1])
def test_traced_out_of_range_target_poisons_the_gradient(rng, fn, reduction, bad):
    x = rng.normal(size=(4, 3)).astype(np.float32)
    t = np.array([0, bad, 2, 1])
    with pytest.raises(IndexError, match=f"Target {bad} is out of bounds."):  # torch refuses
        getattr(F, fn)(torch.tensor(x), torch.tensor(t))

    def f(a, b):
        return jnp.sum(getattr(jaxloss, fn)(a, b, reduction=reduction))

    value, grad = jax.jit(jax.value_and_grad(f))(jnp.asarray(x), jnp.asarray(t))
    if reduction != "none":  # the whole gradient: a step on it cannot go unnoticed
        assert np.isnan(value) and np.isnan(grad).all()
        return
    per = jax.jit(lambda a, b: getattr(jaxloss, fn)(a, b, reduction="none"))(x, t)
    keep, ref, ref_grad = _valid_rows_reference(fn, x, t, 1, reduction)
    assert np.isnan(per[1]) and np.isnan(grad[1]).all()  # the bad row only
    np.testing.assert_allclose(per[np.array(keep)], ref, rtol=1e-6)
    np.testing.assert_allclose(grad[np.array(keep)], ref_grad, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
def test_traced_out_of_range_spatial_and_unbatched(rng, fn):
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    t = rng.integers(0, 3, size=(2, 4))
    t[1, 2] = 3
    g = jax.jit(jax.grad(lambda a, b: getattr(jaxloss, fn)(a, b, reduction="none").sum()))(x, t)
    bad = np.isnan(np.asarray(g)).all(axis=1)  # (N, d): which positions' class rows are nan
    assert bad[1, 2] and bad.sum() == 1 and np.isfinite(np.asarray(g)[~np.isnan(g)]).all()
    g1 = jax.jit(jax.grad(lambda a, b: getattr(jaxloss, fn)(a, b, reduction="none")))(x[0, :, 0], 5)
    assert np.isnan(g1).all()


def test_ignored_target_is_not_out_of_range_under_jit(rng):
    x = rng.normal(size=(3, 4)).astype(np.float32)
    t = np.array([1, -100, 2])
    check_parity(jaxloss.cross_entropy, F.cross_entropy, (x, t), dict(reduction="sum"))
    g = jax.jit(jax.grad(lambda a, b: jaxloss.nll_loss(a, b, ignore_index=4)))(
        x, np.array([4, 1, 0])
    )
    assert np.isfinite(g).all()


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("errors", ["user_checks", "all_checks"])
def test_checkify_raises_torchs_message_from_inside_jit(rng, fn, errors):
    from jax.experimental import checkify

    x = rng.normal(size=(3, 4)).astype(np.float32)
    checked = jaxloss.checked()(
        checkify.checkify(
            jax.jit(lambda a, b: getattr(jaxloss, fn)(a, b)), errors=getattr(checkify, errors)
        )
    )
    with pytest.raises(IndexError) as torch_error:
        getattr(F, fn)(torch.tensor(x), torch.tensor([0, 9, 1]))
    err, value = checked(x, np.array([0, 9, 1]))
    assert np.isnan(value)
    with pytest.raises(ValueError, match=re.escape(str(torch_error.value))):
        err.throw()
    # the same message as the concrete check's
    with pytest.raises(IndexError) as ours:
        getattr(jaxloss, fn)(x, np.array([0, 9, 1]))
    assert str(ours.value) in err.get()
    err, value = checked(x, np.array([0, -100, 1]))  # ignored: fine
    assert err.get() is None and np.isfinite(value)
    # under vmap and grad too
    with jaxloss.checked():
        err, _ = checkify.checkify(
            jax.jit(jax.vmap(jax.grad(lambda a, b: getattr(jaxloss, fn)(a, b)), (None, 0))),
            errors=checkify.user_checks,
        )(x, np.array([[0, 1, 2], [0, 1, 4]]))
    assert "Target 4 is out of bounds." in err.get()


def test_unchecked_jit_compiles_the_checks_away(rng):
    # outside jaxloss.checked() the checks cost nothing: no effect in the jaxpr (an effect,
    # as checkify's checks are, takes jit off jax's C++ dispatch fast path), and nothing of
    # them in the compiled program
    x = jnp.asarray(rng.normal(size=(8, 5)).astype(np.float32))
    t = jnp.asarray(rng.integers(0, 5, size=8))
    for fn in (jaxloss.cross_entropy, jaxloss.nll_loss):
        f = jax.value_and_grad(
            lambda a, b, eps: fn(a, b) if fn is jaxloss.nll_loss else fn(a, b, label_smoothing=eps)
        )
        assert jax.make_jaxpr(f)(x, t, 0.1).effects == set()
        hlo = jax.jit(f).lower(x, t, 0.1).compile().as_text().lower()
        assert "callback" not in hlo and "custom-call" not in hlo


def test_checks_are_off_outside_checked_and_jit_traces_again_on_entering_it(rng):
    # outside jaxloss.checked() checkify finds nothing (the checks are not traced at all);
    # entering or leaving it re-traces a jitted function called before, in either order
    from jax.experimental import checkify

    x = rng.normal(size=(3, 4)).astype(np.float32)
    bad = np.array([0, 9, 1])
    f = jax.jit(lambda a, b: jaxloss.cross_entropy(a, b))
    checked = checkify.checkify(f, errors=checkify.user_checks)
    assert np.isnan(f(x, bad))  # traced and cached unchecked first
    err, value = checked(x, bad)
    assert err.get() is None and np.isnan(value)
    with jaxloss.checked():
        err, value = checked(x, bad)
        assert "Target 9 is out of bounds." in err.get() and np.isnan(value)
        assert jax.make_jaxpr(f)(x, bad).effects  # the check is an effect in here
    err, _ = checked(x, bad)
    assert err.get() is None
    assert jax.make_jaxpr(f)(x, bad).effects == set()

    @jaxloss.checked()  # a decorator too: the mode is on while the function runs
    def step(a, b):
        return checked(a, b)

    assert "Target 9 is out of bounds." in step(x, bad)[0].get()
    assert step(x, np.array([0, 3, 1]))[0].get() is None


def test_nll_gradient_is_a_select_not_a_scatter(rng):
    # the gradient of nll writes -w/total into the target positions: one fused select
    x = jnp.asarray(rng.normal(size=(6, 5)).astype(np.float32))
    t = jnp.asarray(rng.integers(0, 5, size=6))
    for fn in (jaxloss.nll_loss, jaxloss.cross_entropy):
        jaxpr = str(jax.make_jaxpr(jax.grad(fn))(x, t))
        assert "scatter" not in jaxpr


# --- +inf logits: torch's log_softmax makes the whole row nan -------------------------------
INF = np.inf


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("label", [0, 1, 2, -100])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_positive_infinite_logit(reduction, label, smoothing, weighted):
    # torch 2.13: logits [1, inf, -2] give nan for every target, an all-nan gradient row
    # (even when the target is ignored: log_softmax's backward multiplies nan by 0)
    x = np.array([[1.0, INF, -2.0], [0.5, 0.1, 0.2], [INF, INF, 0.0]], np.float32)
    kwargs = dict(reduction=reduction, label_smoothing=smoothing)
    if weighted:
        kwargs["weight"] = np.array([0.5, 2.0, 1.5], np.float32)
    check_parity(jaxloss.cross_entropy, F.cross_entropy, (x, np.array([label, 0, 2])), kwargs)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("row", [[1.0, INF, -2.0], [NEG_INF, 1.0, 2.0], [1.0, np.nan, 0.0]])
def test_probability_targets_with_infinite_logits(smoothing, row):
    x = np.array([row, [0.5, 0.1, 0.2]], np.float32)
    p = np.array([[1.0, 0.0, 0.0], [0.2, 0.5, 0.3]], np.float32)
    check_parity(
        jaxloss.cross_entropy,
        F.cross_entropy,
        (x, p),
        dict(reduction="none", label_smoothing=smoothing),
        grad_argnums=(0, 1),
    )


def test_nan_logit_row(rng):
    x = np.array([[1.0, np.nan, 0.0], [0.5, 0.1, 0.2]], np.float32)
    for t in ([0, 1], [-100, 2]):
        check_parity(
            jaxloss.cross_entropy, F.cross_entropy, (x, np.array(t)), dict(reduction="none")
        )


def test_cross_entropy_forward_mode_matches_torch_gradient(rng):
    x = rng.normal(size=(4, 5))
    v = rng.normal(size=(4, 5))
    t = np.array([0, 4, 2, 2])
    w = rng.uniform(0.5, 2, size=5)
    tx = torch.tensor(x, requires_grad=True)
    F.cross_entropy(tx, torch.tensor(t), weight=torch.tensor(w), label_smoothing=0.2).backward()
    with jax.enable_x64(True):
        f = lambda a: jaxloss.cross_entropy(  # noqa: E731
            a, jnp.asarray(t), weight=jnp.asarray(w), label_smoothing=0.2
        )
        _, tangent = jax.jvp(f, (jnp.asarray(x),), (jnp.asarray(v),))
    np.testing.assert_allclose(tangent, np.sum(tx.grad.numpy() * v), rtol=1e-10)


# --- label_smoothing traced ------------------------------------------------------------------
@pytest.mark.parametrize("smoothing", [0.0, 0.3, 1.0, -0.5, float("nan")])
@pytest.mark.parametrize("probabilities", [False, True])
def test_traced_label_smoothing(rng, smoothing, probabilities):
    # a -inf logit: label_smoothing 0 must take torch's plain path (finite), > 0 gives inf
    x = rng.normal(size=(3, 4)).astype(np.float32)
    x[0, 3] = -np.inf
    t = (
        rng.dirichlet(np.ones(4), size=3).astype(np.float32)
        if probabilities
        else np.array([1, 0, 2])
    )
    w = rng.uniform(0.5, 2, size=4).astype(np.float32)
    tx = torch.tensor(x, requires_grad=True)
    expected = F.cross_entropy(
        tx, torch.tensor(t), weight=torch.tensor(w), label_smoothing=smoothing
    )
    expected.backward()
    f = jax.jit(
        jax.value_and_grad(
            lambda a, eps: jaxloss.cross_entropy(a, t, weight=w, label_smoothing=eps)
        )
    )
    value, grad = f(x, jnp.float32(smoothing))
    np.testing.assert_allclose(value, expected.item(), rtol=1e-5)
    np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_traced_label_smoothing_above_one(rng):
    from jax.experimental import checkify

    x = rng.normal(size=(3, 4)).astype(np.float32)
    for t in (np.array([1, 0, 2]), np.full((3, 4), 0.25, np.float32)):
        f = lambda a, eps: jaxloss.cross_entropy(a, t, label_smoothing=eps)  # noqa: E731
        value, grad = jax.jit(jax.value_and_grad(f))(x, 1.5)
        assert np.isnan(value) and np.isnan(grad).all()
        with jaxloss.checked():
            err, _ = checkify.checkify(jax.jit(f), errors=checkify.user_checks)(x, 1.5)
            assert "label_smoothing must be between 0.0 and 1.0. Got: 1.5" in err.get()
            err, _ = checkify.checkify(jax.jit(f), errors=checkify.user_checks)(x, 0.5)
            assert err.get() is None
    torch_refuses(F.cross_entropy, torch.tensor(x), torch.tensor([1, 0, 2]), label_smoothing=1.5)
    # a concrete array is still checked now
    with pytest.raises(ValueError, match="Got: 1.5"):
        jaxloss.cross_entropy(x, np.array([1, 0, 2]), label_smoothing=np.float32(1.5))


# --- weight dtype: torch's class-index kernels refuse a weight of another dtype --------------
WEIGHT_DTYPES = [
    (np.float32, np.float16),
    (np.float32, jnp.bfloat16),
    (np.float32, np.float64),
    (np.float64, np.float32),
    (np.float16, np.float32),
    (jnp.bfloat16, np.float16),
]


def _torch_dtype(dtype):
    return {
        np.dtype(np.float16): torch.float16,
        np.dtype(jnp.bfloat16): torch.bfloat16,
        np.dtype(np.float32): torch.float32,
        np.dtype(np.float64): torch.float64,
    }[np.dtype(dtype)]


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss", "multi_margin_loss"])
@pytest.mark.parametrize("x_dtype,w_dtype", WEIGHT_DTYPES)
def test_weight_of_another_dtype_is_refused(fn, x_dtype, w_dtype):
    x = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]], np.float32)
    t = np.array([0, 2])
    with jax.enable_x64(True):
        xj, wj = jnp.asarray(x, x_dtype), jnp.ones(3, w_dtype)
        message = (
            f"{fn}: weight has dtype {np.dtype(w_dtype).name} but input has dtype "
            f"{np.dtype(x_dtype).name}; torch requires the same dtype"
        )
        with pytest.raises(TypeError, match=f"^{re.escape(message)}"):
            getattr(jaxloss, fn)(xj, t, weight=wj)
        cls = {"cross_entropy": "CrossEntropyLoss", "nll_loss": "NLLLoss"}.get(
            fn, "MultiMarginLoss"
        )
        with pytest.raises(TypeError, match=re.escape(message)):
            getattr(jaxloss, cls)(weight=wj)(xj, t)
    tx = torch.tensor(x).to(_torch_dtype(x_dtype))
    with pytest.raises((RuntimeError, NotImplementedError)):
        getattr(F, fn)(tx, torch.tensor(t), weight=torch.ones(3, dtype=_torch_dtype(w_dtype)))


@pytest.mark.parametrize("x_dtype,w_dtype", [(np.float32, np.float16), (np.float32, np.float64)])
def test_probability_targets_promote_the_weight(rng, x_dtype, w_dtype):
    # torch: the probability path multiplies, so the weight is promoted (float64 result here)
    x = rng.normal(size=(3, 4)).astype(x_dtype)
    p = rng.dirichlet(np.ones(4), size=3).astype(x_dtype)
    w = rng.uniform(0.5, 2, size=4).astype(w_dtype)
    expected = F.cross_entropy(torch.tensor(x), torch.tensor(p), weight=torch.tensor(w))
    with jax.enable_x64(True):
        got = jaxloss.cross_entropy(jnp.asarray(x), jnp.asarray(p), weight=jnp.asarray(w))
    assert got.dtype == np.dtype(str(expected.dtype).replace("torch.", ""))
    np.testing.assert_allclose(got, expected.item(), rtol=1e-3 if w_dtype == np.float16 else 1e-6)


def test_list_weight_takes_the_input_dtype():
    x = np.array([[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]], np.float32)
    expected = F.cross_entropy(
        torch.tensor(x), torch.tensor([0, 2]), weight=torch.tensor([1.0, 2.0, 3.0])
    )
    with jax.enable_x64(True):  # a list becomes float64 there; torch.tensor makes it float32
        got = jaxloss.cross_entropy(x, np.array([0, 2]), weight=[1.0, 2.0, 3.0])
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, expected.item(), rtol=1e-6)


# --- zero classes ----------------------------------------------------------------------------
@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("shape", [(2, 0, 3), (1, 0, 1), (2, 0, 3, 1, 1)])
def test_zero_classes_refused_like_torch(fn, shape):
    # torch 2.13 reshapes 3-D and >= 5-D (N, 0, ...) input to (N, 0, 0, 0): "size mismatch"
    t = np.full((shape[0],) + shape[2:], -100)
    with pytest.raises(RuntimeError, match="size mismatch"):
        getattr(F, fn)(torch.zeros(shape), torch.tensor(t))
    with pytest.raises(ValueError, match=r"C = 0 classes but target .* is not empty"):
        getattr(jaxloss, fn)(np.zeros(shape, np.float32), t)
    with pytest.raises(ValueError, match=r"C = 0 classes"):  # under jit too: a shape check
        jax.jit(getattr(jaxloss, fn))(np.zeros(shape, np.float32), t)


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize(
    "shape,target_shape",
    [((2, 0), (2,)), ((2, 0, 3, 4), (2, 3, 4)), ((0, 0, 3), (0, 3)), ((2, 0, 0), (2, 0))],
)
def test_zero_classes_torch_accepts(fn, shape, target_shape):
    # 2-D and 4-D reach the class check (nan when every target is ignored); empty targets pass
    t = np.full(target_shape, -100)
    for reduction in REDUCTIONS:
        check_parity(
            getattr(jaxloss, fn),
            getattr(F, fn),
            (np.zeros(shape, np.float32), t),
            dict(reduction=reduction),
        )
    if t.size:
        with pytest.raises(IndexError, match="Target 0 is out of bounds."):
            getattr(F, fn)(torch.zeros(shape), torch.zeros(target_shape, dtype=torch.long))
        with pytest.raises(IndexError, match="Target 0 is out of bounds."):
            getattr(jaxloss, fn)(np.zeros(shape, np.float32), np.zeros(target_shape, np.int32))


# --- every array argument traced, or a closed-over constant, under jit -----------------------
def _array_cases():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 5)).astype(np.float32)
    t = np.array([1, 0, 4, 2])
    w = rng.uniform(0.5, 2, size=5).astype(np.float32)
    p = rng.dirichlet(np.ones(5), size=4).astype(np.float32)
    logp = np.asarray(torch.log_softmax(torch.tensor(x), 1))
    return {
        "cross_entropy": dict(input=x, target=t, weight=w, label_smoothing=np.float32(0.2)),
        "cross_entropy_probabilities": dict(
            input=x, target=p, weight=w, label_smoothing=np.float32(0.2)
        ),
        "nll_loss": dict(input=logp, target=t, weight=w),
    }


ARRAY_ARGUMENTS = [(loss, name) for loss, arrays in _array_cases().items() for name in arrays]


@pytest.mark.parametrize("loss,name", ARRAY_ARGUMENTS)
@pytest.mark.parametrize("how", ["traced", "closed_over"])
def test_every_array_argument_traced_or_closed_over(loss, name, how):
    arrays = _array_cases()[loss]
    fn = "cross_entropy" if loss.startswith("cross_entropy") else loss
    torch_kwargs = {
        k: (float(v) if k == "label_smoothing" else torch.tensor(v)) for k, v in arrays.items()
    }
    tx = torch_kwargs["input"].requires_grad_(True)
    expected = getattr(F, fn)(**torch_kwargs)
    expected.backward()
    # the argument under test is traced (a jit argument) or a closed-over jax constant; the
    # input is traced (and differentiated) unless it is the one closed over
    constants = {k: jnp.asarray(v) for k, v in arrays.items()}
    moving = [name] if how == "traced" else (["target"] if name == "input" else ["input"])
    fixed = {k: v for k, v in constants.items() if k not in moving}

    def f(*values):
        return getattr(jaxloss, fn)(**fixed, **dict(zip(moving, values)))

    args = [constants[k] for k in moving]
    value = jax.jit(f)(*args)
    np.testing.assert_allclose(value, expected.item(), rtol=1e-5)
    if moving == ["input"]:
        grad = jax.jit(jax.grad(f))(*args)
        np.testing.assert_allclose(grad, tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_closed_over_out_of_range_target_still_raises():
    # a closed-over target is known while tracing: torch's IndexError, as in eager mode
    x = jnp.zeros((2, 3))
    for t in (np.array([0, 3]), jnp.array([0, 3])):
        for fn in (jaxloss.cross_entropy, jaxloss.nll_loss):
            with pytest.raises(IndexError, match="Target 3 is out of bounds."):
                jax.jit(lambda a: fn(a, t))(x)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_weight_gradient_matches_the_written_out_formula(rng, smoothing):
    # torch refuses d/dweight ("not differentiable with respect to argument 'weight'"); the
    # reference is torch autograd of the documented formula, in float64
    x = rng.normal(size=(5, 4))
    t = np.array([0, 3, -100, 1, 3])
    w = rng.uniform(0.5, 2, size=4)
    tw = torch.tensor(w, requires_grad=True)
    logp = torch.log_softmax(torch.tensor(x), 1)
    keep = torch.tensor(t != -100)
    tt = torch.tensor(np.where(t == -100, 0, t))
    nll = -(tw[tt] * logp.gather(1, tt[:, None])[:, 0])
    smooth = -(logp * tw).sum(1)
    per = (1 - smoothing) * nll + smoothing / 4 * smooth
    ((per * keep).sum() / (tw[tt] * keep).sum()).backward()
    with jax.enable_x64(True):
        g = jax.jit(
            jax.grad(
                lambda v: jaxloss.cross_entropy(
                    jnp.asarray(x), jnp.asarray(t), weight=v, label_smoothing=smoothing
                )
            )
        )(jnp.asarray(w))
    np.testing.assert_allclose(g, tw.grad.numpy(), rtol=1e-10)


def test_checkify_under_vmap_of_an_empty_batch():
    from jax.experimental import checkify

    f = jax.jit(jax.vmap(lambda a, b: jaxloss.cross_entropy(a, b)))
    with jaxloss.checked():
        err, out = checkify.checkify(f)(jnp.zeros((0, 2, 3)), jnp.zeros((0, 2), jnp.int32))
    assert err.get() is None and out.shape == (0,)


@pytest.mark.parametrize("smoothing", [-0.5, float("nan")])
def test_concrete_label_smoothing_below_zero_or_nan_acts_as_zero(rng, smoothing):
    # torch: `if (label_smoothing > 0)`, so a negative or nan value takes the plain path
    x = rng.normal(size=(3, 4)).astype(np.float32)
    t = np.array([1, 0, 2])
    expected = F.cross_entropy(torch.tensor(x), torch.tensor(t), label_smoothing=smoothing)
    assert_close(jaxloss.cross_entropy(x, t, label_smoothing=smoothing), expected, np.float32, "")
