"""``replace`` on every class, and the immutability error that points to it.

Setting an attribute is how torch code changes a loss (yolov5's FocalLoss sets
``loss_fcn.reduction = 'none'`` on a ``BCEWithLogitsLoss(pos_weight=...)``); jaxloss classes
are immutable, so the error names the ``replace`` call that keeps every other setting.
Expected values come from live torch 2.13; inputs from the seeded ``rng`` fixture.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from torch_parity import assert_close

import jaxloss
import jaxloss.nn

W3 = np.array([0.5, 2.0, 1.5], np.float32)

# class -> (constructor keywords with settings away from their defaults, a change,
#           a bad change: its error is the constructor's, or None where __init__ checks
#           nothing of that class)
CASES: dict[str, tuple[dict, dict, dict | None]] = {
    "L1Loss": (dict(reduction="sum"), dict(reduction="none"), None),
    "MSELoss": (dict(reduction="sum"), dict(reduction="none"), None),
    "NLLLoss": (dict(weight=W3, ignore_index=255), dict(reduction="sum"), None),
    "NLLLoss2d": (dict(weight=W3, ignore_index=255), dict(weight=W3[::-1].copy()), None),
    "CrossEntropyLoss": (
        dict(weight=W3, ignore_index=1, label_smoothing=0.1),
        dict(reduction="none"),
        None,
    ),
    "SmoothL1Loss": (dict(beta=0.5), dict(reduction="sum"), None),
    "HuberLoss": (dict(delta=0.5), dict(reduction="sum"), dict(delta="wide")),
    "PoissonNLLLoss": (dict(log_input=False, full=True, eps=1e-4), dict(reduction="sum"), None),
    "GaussianNLLLoss": (dict(full=True, eps=1e-3), dict(reduction="none"), None),
    "BCELoss": (dict(weight=W3), dict(reduction="sum"), None),
    "BCEWithLogitsLoss": (dict(weight=W3, pos_weight=W3 * 2), dict(reduction="none"), None),
    "KLDivLoss": (dict(log_target=True), dict(reduction="batchmean"), None),
    "SoftMarginLoss": (dict(reduction="sum"), dict(reduction="none"), None),
    "MultiLabelSoftMarginLoss": (dict(weight=W3), dict(reduction="sum"), None),
    "HingeEmbeddingLoss": (dict(margin=0.5), dict(reduction="sum"), None),
    "MarginRankingLoss": (dict(margin=0.5), dict(reduction="sum"), None),
    "MultiMarginLoss": (dict(p=2, margin=0.5, weight=W3), dict(reduction="sum"), dict(p=3)),
    "MultiLabelMarginLoss": (dict(reduction="sum"), dict(reduction="none"), None),
    "CosineEmbeddingLoss": (dict(margin=0.5), dict(reduction="sum"), None),
    "PairwiseDistance": (dict(p=3.0, keepdim=True), dict(eps=1e-3), None),
    "TripletMarginLoss": (dict(margin=0.5, p=1.0, swap=True), dict(eps=1e-3), dict(margin=-1)),
    "TripletMarginWithDistanceLoss": (
        dict(margin=0.5, swap=True, distance_function=jaxloss.PairwiseDistance(p=1.0)),
        dict(reduction="sum"),
        dict(margin=0.0),
    ),
    "CTCLoss": (dict(blank=2, zero_infinity=True), dict(reduction="sum"), None),
    "LinearCrossEntropyLoss": (
        dict(in_features=4, num_classes=3, bias=True, weight=W3, key=jax.random.key(1)),
        dict(label_smoothing=0.2),
        dict(label_smoothing=1.5),
    ),
    "AdaptiveLogSoftmaxWithLoss": (
        dict(in_features=8, n_classes=10, cutoffs=[3, 6], head_bias=True, key=jax.random.key(2)),
        dict(div_value=4.0),  # the default: the same parameter shapes
        dict(cutoffs=[6, 3]),
    ),
}


def _public_classes() -> list[str]:
    return sorted(
        name
        for name, obj in vars(jaxloss.nn).items()
        if isinstance(obj, type)
        and issubclass(obj, jaxloss.nn.Module)
        and not name.startswith("_")
        and obj is not jaxloss.nn.Module
    )


def _build(name: str, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # NLLLoss2d's deprecation
        return getattr(jaxloss, name)(**kwargs)


def _same(a, b) -> bool:
    """Two settings hold the same value (arrays compared by value)."""
    if hasattr(a, "shape") or hasattr(b, "shape") or isinstance(a, tuple) and a and not b:
        return all(
            np.array_equal(np.asarray(x), np.asarray(y))
            for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
        ) and jax.tree.structure(a) == jax.tree.structure(b)
    return a == b


def test_every_class_has_a_case():
    assert sorted(CASES) == _public_classes()


@pytest.mark.parametrize("name", sorted(CASES))
def test_replace_keeps_every_other_setting(name):
    init, change, _ = CASES[name]
    loss = _build(name, **init)
    cls = type(loss)
    by_keyword = {kw: s for s, kw in cls._init_keyword.items()}
    changed = {by_keyword.get(k, k) for k in change}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # dataclasses.replace builds NLLLoss2d
        replaced = (loss.replace(**change), dataclasses.replace(loss, **change))
    for new in replaced:
        assert type(new) is cls
        for setting in cls._settings():
            expected = change.get(setting, getattr(loss, setting))
            if setting in changed and setting not in change:  # changed by its __init__ name
                expected = change[cls._init_keyword[setting]]
            assert _same(getattr(new, setting), expected), (name, setting)
        # the same as building it with the change in the constructor's own keywords
        direct = _build(name, **{**init, **change})
        for setting in cls._taken_by_init():
            assert _same(getattr(new, setting), getattr(direct, setting)), (name, setting)


@pytest.mark.parametrize("name", sorted(CASES))
def test_replace_runs_the_constructor(name):
    init, change, bad = CASES[name]
    calls = []
    base = getattr(jaxloss, name)

    class Recorded(base):  # the same class, recording each __init__ call
        @functools.wraps(base.__init__)
        def __init__(self, *args, **kwargs):
            calls.append(kwargs)
            super().__init__(*args, **kwargs)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # NLLLoss2d's deprecation
        loss = Recorded(**init)
    calls.clear()
    loss.replace(**change)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        dataclasses.replace(loss, **change)
    assert len(calls) == 2, calls
    loss = _build(name, **init)
    if bad is None:
        return
    # a bad value raises what the constructor raises for it, word for word
    with pytest.raises(Exception) as direct:
        _build(name, **{**init, **bad})
    for call in (lambda: loss.replace(**bad), lambda: dataclasses.replace(loss, **bad)):
        with pytest.raises(type(direct.value), match=f"^{re.escape(str(direct.value))}$"):
            call()


@pytest.mark.parametrize("name", sorted(CASES))
def test_setting_an_attribute_names_a_call_that_works(name):
    init, _, _ = CASES[name]
    loss = _build(name, **init)
    cls = type(loss)
    params = inspect.signature(cls.__init__).parameters
    for setting in cls._settings():
        value = getattr(loss, setting)
        with pytest.raises(dataclasses.FrozenInstanceError) as err:
            setattr(loss, setting, value)
        message = str(err.value)
        match = re.fullmatch(
            rf"{cls.__name__} is immutable; use loss\.replace\((\w+)=(.+?)\)( \(keeps (.+)\))?",
            message,
        )
        assert match, message
        keyword, shown = match.group(1), match.group(2)
        # an __init__ keyword, or a setting __init__ initialises rather than takes
        assert keyword in params or setting not in cls._taken_by_init(), message
        if hasattr(value, "shape"):
            assert shown == f"<array shape {tuple(value.shape)}>", message  # never in full
        kept = loss.replace(**{keyword: value})
        for other in cls._settings():
            assert _same(getattr(kept, other), getattr(loss, other)), (message, other)
        # every setting __init__ was given away from its default is named as kept
        named = (match.group(4) or "").split(", ")
        for other, v in init.items():
            if other in params and other != keyword and other not in ("key", "bias"):
                assert other in named, (message, other)


def test_following_the_message_keeps_pos_weight(rng):
    # yolov5's FocalLoss: loss_fcn = BCEWithLogitsLoss(pos_weight=...); loss_fcn.reduction = 'none'
    x = rng.normal(size=(4, 3)).astype(np.float32)
    y = rng.uniform(size=(4, 3)).round().astype(np.float32)
    pos_weight = np.array([3.0, 0.5, 2.0], np.float32)
    loss = jaxloss.BCEWithLogitsLoss(pos_weight=jnp.asarray(pos_weight), reduction="mean")
    with pytest.raises(dataclasses.FrozenInstanceError) as err:
        loss.reduction = "none"
    message = str(err.value)
    assert message == (
        "BCEWithLogitsLoss is immutable; use loss.replace(reduction='none') (keeps pos_weight)"
    )
    call = re.search(r"use (loss\.replace\(.*?\))", message).group(1)
    followed = eval(call, {"loss": loss})  # the call exactly as the message writes it
    expected = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight), reduction="none")(
        torch.tensor(x), torch.tensor(y)
    )
    assert_close(followed(x, y), expected, np.float32, "followed the message")
    assert_close(jax.jit(followed)(x, y), expected, np.float32, "followed the message, jit")
    dropped = jaxloss.BCEWithLogitsLoss(reduction="none")(x, y)  # the old suggestion
    assert not np.allclose(np.asarray(dropped), expected.numpy())


def test_replacing_the_weight_keeps_ignore_index(rng):
    # segmentation code sets `self.nll_loss.weight = w` per image on NLLLoss2d(ignore_index=255)
    x = torch.log_softmax(torch.from_numpy(rng.normal(size=(2, 3, 4, 4))), 1).float().numpy()
    t = rng.integers(0, 3, size=(2, 4, 4))
    t[0, :2] = 255
    w = rng.uniform(0.5, 2.0, size=3).astype(np.float32)
    with pytest.warns(FutureWarning, match="NLLLoss2d") as record:
        loss = jaxloss.NLLLoss2d(weight=jnp.ones(3), ignore_index=255)
    assert record[0].filename == __file__  # the line that builds it, as torch's warning
    with pytest.raises(dataclasses.FrozenInstanceError) as err:
        loss.weight = jnp.asarray(w)
    assert str(err.value) == (
        "NLLLoss2d is immutable; use loss.replace(weight=<array shape (3,)>) (keeps ignore_index)"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # built once: replace does not warn again
        followed = loss.replace(weight=jnp.asarray(w))
    expected = torch.nn.NLLLoss(weight=torch.tensor(w), ignore_index=255)(
        torch.tensor(x), torch.tensor(t)
    )
    assert_close(followed(x, t), expected, np.float32, "NLLLoss2d with the new weight")


def test_pairwise_distance_p_is_stored_as_norm():
    d = jaxloss.PairwiseDistance(p=3.0)
    with pytest.raises(dataclasses.FrozenInstanceError, match=re.escape("loss.replace(p=1.0)")):
        d.norm = 1.0
    assert d.replace(p=1.0).norm == d.replace(norm=1.0).norm == 1.0
    assert torch.nn.PairwiseDistance(p=3.0).norm == d.norm  # torch's attribute name


def test_replace_refuses_what_is_not_a_setting():
    loss = jaxloss.CrossEntropyLoss()
    with pytest.raises(TypeError, match="CrossEntropyLoss.replace: 'smoothing' is not a setting"):
        loss.replace(smoothing=0.1)
    with pytest.raises(dataclasses.FrozenInstanceError, match="has no setting 'smoothing'"):
        loss.smoothing = 0.1


def test_kept_weights_must_fit_the_new_settings():
    head = jaxloss.LinearCrossEntropyLoss(4, 3, key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"make linear_weight <array shape \(5, 4\)> but the kept"):
        head.replace(num_classes=5)
    w = jnp.ones((5, 4))
    assert head.replace(num_classes=5, linear_weight=w).linear_weight is w


def test_replace_under_jit(rng):
    x = rng.normal(size=(4, 3)).astype(np.float32)
    t = np.array([0, 2, 1, 1])

    @jax.jit
    def per_sample(weight):
        return jaxloss.CrossEntropyLoss(weight=weight, reduction="sum").replace(reduction="none")(
            x, t
        )

    expected = torch.nn.CrossEntropyLoss(weight=torch.tensor(W3), reduction="none")(
        torch.tensor(x), torch.tensor(t)
    )
    assert_close(per_sample(W3), expected, np.float32, "replace under jit")


def test_init_must_set_every_declared_setting():
    class Forgetful(jaxloss.nn._Loss):
        margin: float

        def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
            super().__init__(reduction=reduction)  # margin is never set

    with pytest.raises(TypeError, match=r"^Forgetful.__init__ did not set margin$"):
        Forgetful()


# AdaptiveLogSoftmaxWithLoss's repr is its own: torch's whole configuration (test_adaptive.py)
@pytest.mark.parametrize("name", sorted(set(CASES) - {"AdaptiveLogSoftmaxWithLoss"}))
def test_repr_shows_the_settings_away_from_the_init_defaults(name):
    init, _, _ = CASES[name]
    loss = _build(name, **init)
    cls = type(loss)
    params = inspect.signature(cls.__init__).parameters
    inner = repr(loss)[len(name) + 1 : -1]
    while re.search(r"\([^()]*\)", inner):  # drop nested reprs: PairwiseDistance(norm=1.0)
        inner = re.sub(r"\([^()]*\)", "", inner)
    shown = re.findall(r"(\w+)=", inner)
    expected = []
    for setting in cls._settings():
        param = params.get(cls._init_keyword.get(setting, setting))
        value = getattr(loss, setting)
        if value is None:
            continue
        if param is None or param.default is inspect.Parameter.empty:
            expected.append(setting)  # no default to compare with
        elif param.default is None or hasattr(value, "shape"):
            expected.append(setting)  # given (a default None became a value)
        elif value != param.default:
            expected.append(setting)
    assert shown == expected, repr(loss)


def test_replace_docstring_example_runs():
    import doctest

    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    tests = finder.find(jaxloss.nn.Module.replace, "replace", globs={})
    assert tests and tests[0].examples
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
