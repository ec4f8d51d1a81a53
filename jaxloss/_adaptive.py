"""torch.nn.AdaptiveLogSoftmaxWithLoss: a model head that owns its parameters.

The adaptive softmax of Grave et al. (2017): the ``cutoffs[0]`` most frequent classes
(the shortlist) and one logit per tail cluster share a "head" linear layer; cluster
``i`` (classes ``cutoffs[i-1] .. cutoffs[i] - 1``, the last ending at ``n_classes``)
has its own two-layer projection ``in_features -> hsz_i -> osz_i``. The log-probability
of a class in cluster ``i`` is ``log p(cluster i | x) + log p(class | cluster i, x)``.

torch evaluates a cluster only on the rows whose target lies in it (``nonzero()``, a
data-dependent shape). Here every cluster is evaluated on every row with the other rows
zeroed and then masked out, so shapes are static under ``jax.jit``; a row outside a
cluster contributes exactly zero to that cluster's gradients, as in torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from . import _errors, _math
from ._errors import fmt_shape
from ._interop import to_numpy
from ._matmul import PrecisionLike, linear, resolve_precision
from ._module import Module, array_field

_Tail = tuple[tuple[jax.Array, jax.Array], ...]


class _ASMoutput(NamedTuple):
    """torch's ``_ASMoutput``: the target log-probabilities and the mean NLL loss."""

    output: jax.Array
    loss: jax.Array


# --------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------


def _hidden_size(in_features: int, div_value: float, cluster: int) -> int:
    # torch: hsz = int(in_features // (div_value ** (i + 1))), cluster i from 0
    return int(in_features // (div_value ** (cluster + 1)))


def _floating_or_none(fn: str, name: str, x: Any) -> jax.Array | None:
    return None if x is None else _errors.floating_array(fn, name, x)


def _check_params(
    fn: str,
    head_weight: ArrayLike,
    tail: Sequence[Sequence[ArrayLike]],
    cutoffs: tuple[int, ...],
    head_bias: ArrayLike | None,
) -> tuple[jax.Array, jax.Array | None, _Tail, int]:
    """Validate the parameter shapes against ``cutoffs``; returns them and n_classes."""
    w = _errors.floating_array(fn, "head_weight", head_weight)
    n_clusters = len(cutoffs)
    head_size = cutoffs[0] + n_clusters
    _errors.check_layout(
        fn,
        "head_weight",
        w,
        w.ndim == 2 and w.shape[0] == head_size,
        f"(shortlist_size + n_clusters, in_features) = ({head_size}, in_features)",
        f" for cutoffs={list(cutoffs)}",
    )
    in_features = w.shape[1]
    b = _floating_or_none(fn, "head_bias", head_bias)
    if b is not None:
        _errors.check_shape(fn, "head_bias", b, (head_size,), " (one per head output)")
    tail = tuple(tail)
    why = f" (a (projection, output) weight pair per cluster of cutoffs={list(cutoffs)})"
    _errors.check_length(fn, "tail", tail, n_clusters, why)
    checked = []
    for i, pair in enumerate(tail):
        _errors.check_length(fn, f"tail[{i}]", pair, 2, " (a (projection, output) weight pair)")
        proj = _errors.floating_array(fn, f"tail[{i}][0]", pair[0])
        out = _errors.floating_array(fn, f"tail[{i}][1]", pair[1])
        ok = proj.ndim == 2 and proj.shape[1] == in_features
        _errors.check_layout(fn, f"tail[{i}][0]", proj, ok, f"(hsz, in_features={in_features})")
        if i < n_clusters - 1:
            why = f" (cluster size cutoffs[{i + 1}] - cutoffs[{i}], hsz)"
            _errors.check_shape(
                fn, f"tail[{i}][1]", out, (cutoffs[i + 1] - cutoffs[i], proj.shape[0]), why
            )
        else:
            ok = out.ndim == 2 and out.shape[0] >= 1 and out.shape[1] == proj.shape[0]
            accepted = f"(n_classes - cutoffs[-1], hsz={proj.shape[0]})"
            _errors.check_layout(fn, f"tail[{i}][1]", out, ok, accepted)
        checked.append((proj, out))
    return w, b, tuple(checked), cutoffs[-1] + checked[-1][1].shape[0]


def _check_call(fn: str, x: jax.Array, t: jax.Array, in_features: int) -> None:
    """torch's forward checks: (N,) target with (N, in_features) input, or () with
    (in_features,); a ValueError naming both shapes otherwise."""
    # torch: "0D or 1D target tensor expected, multi-target not supported"
    accepted = "a 0-d or 1-d target of class indices"
    _errors.check_layout(fn, "target", t, t.ndim <= 1, accepted, " (multi-target is not supported)")
    if t.ndim == 1:
        why = f" for a target of shape {fmt_shape(t.shape)}"
        _errors.check_shape(fn, "input", x, (t.shape[0], in_features), why)
    else:
        _errors.check_shape(fn, "input", x, (in_features,), " for a 0-d (unbatched) target")


def _check_rows(fn: str, x: jax.Array, in_features: int) -> tuple[jax.Array, bool]:
    """(N, in_features) input for log_prob/predict; (in_features,) is a batch of one."""
    if x.ndim == 1:
        _errors.check_shape(fn, "input", x, (in_features,))
        return x[None], True
    ok = x.ndim == 2 and x.shape[1] == in_features
    accepted = f"(N, in_features={in_features}) or (in_features,)"
    _errors.check_layout(fn, "input", x, ok, accepted)
    return x, False


# --------------------------------------------------------------------------------------
# the computation
# --------------------------------------------------------------------------------------


class _Matmul(NamedTuple):
    """How the layers multiply: precision, operand dtype, accumulation (and softmax) dtype."""

    precision: Any
    operand: np.dtype
    compute: np.dtype


def _matmul(fn: str, precision: PrecisionLike, dtype: Any) -> _Matmul:
    operand = np.dtype(dtype)
    compute, _ = _errors.compute_dtype(operand)  # half types compute in float32
    return _Matmul(resolve_precision(fn, precision, operand), operand, compute)


def _linear(
    mm: _Matmul, x: jax.Array, weight: jax.Array, bias: jax.Array | None = None
) -> jax.Array:
    """``x @ weight.T + bias`` in ``mm.compute``; bfloat16/float16 operands stay as they are."""
    y = linear(x.astype(mm.operand), weight.astype(mm.operand), mm.precision, mm.compute)
    return y if bias is None else y + bias.astype(mm.compute)


def _cluster_log_prob(mm: _Matmul, x: jax.Array, proj: jax.Array, out: jax.Array) -> jax.Array:
    """log_softmax of a tail cluster; its hidden layer enters the second product in the
    operands' dtype, as torch's bfloat16 ``Linear`` returns it."""
    hidden = _linear(mm, x, proj).astype(mm.operand)
    return jax.nn.log_softmax(_linear(mm, hidden, out), axis=1)


def _cast(dtype: Any, *arrays: Any) -> Any:
    return tuple(None if a is None else a.astype(dtype) for a in arrays)


def _full_log_prob(
    mm: _Matmul, x: jax.Array, head_lp: jax.Array, tail: _Tail, shortlist: int
) -> jax.Array:
    """torch's ``_get_full_log_prob``: (N, n_classes) log-probabilities."""
    parts = [head_lp[:, :shortlist]]
    for i, (proj, out) in enumerate(tail):
        cluster_lp = _cluster_log_prob(mm, x, proj, out)
        parts.append(cluster_lp + head_lp[:, shortlist + i, None])
    return jnp.concatenate(parts, axis=1)


def _target_log_prob(
    mm: _Matmul,
    x: jax.Array,
    t: jax.Array,
    head_lp: jax.Array,
    tail: _Tail,
    cutoffs: tuple[int, ...],
    n_classes: int,
) -> jax.Array:
    """log p(t_n | x_n) for (N, F) ``x`` and (N,) ``t``; nan where t_n is out of range."""
    shortlist = cutoffs[0]
    t = _math.as_index(t)
    in_range = (t >= 0) & (t < n_classes)
    cluster = sum((t >= c).astype(jnp.int32) for c in cutoffs)  # 0: shortlist, i: cluster i
    gather = jnp.where(cluster == 0, t, shortlist + cluster - 1)
    gather = jnp.where(in_range, gather, 0)
    head_part = jnp.take_along_axis(head_lp, gather[:, None], axis=1)[:, 0]
    local = jnp.zeros_like(head_part)
    for i, (proj, out) in enumerate(tail):
        rows = in_range & (cluster == i + 1)
        # torch runs the cluster on its rows only; zeroing the other rows (not just
        # masking their result) keeps their gradient exactly 0 even for inf/nan input
        xi = jnp.where(rows[:, None], x, jnp.zeros((), x.dtype))
        cluster_lp = _cluster_log_prob(mm, xi, proj, out)
        rel = jnp.where(rows, t - cutoffs[i], 0)
        picked = jnp.take_along_axis(cluster_lp, rel[:, None], axis=1)[:, 0]
        local = jnp.where(rows, picked, local)
    # torch: output = cluster log-prob (0 in the shortlist), then output += head log-prob
    output = local + head_part
    # jit: an out-of-range class gives nan, never a wrapped or clamped class
    return jnp.where(in_range, output, jnp.nan)


def adaptive_log_softmax_with_loss(
    input: ArrayLike,
    target: ArrayLike,
    head_weight: ArrayLike,
    tail: Sequence[Sequence[ArrayLike]],
    cutoffs: Sequence[int],
    head_bias: ArrayLike | None = None,
    *,
    precision: PrecisionLike = None,
) -> _ASMoutput:
    """Adaptive softmax: target log-probabilities and their mean negative log-likelihood.

    With ``head = log_softmax(input @ head_weight.T + head_bias)`` and, for cluster i,
    ``c_i = log_softmax(input @ tail[i][0].T @ tail[i][1].T)``:
      ``output_n = head[n, y_n]`` if ``y_n < cutoffs[0]``, else
      ``output_n = head[n, cutoffs[0] + i] + c_i[n, y_n - lo_i]`` for ``y_n`` in cluster i
      (classes ``lo_i = cutoffs[i] .. cutoffs[i+1] - 1``, the last ending at n_classes);
      ``loss = mean_n(-output_n)`` (nan for an empty batch).

    Args:
      input: (N, in_features) or (in_features,) features, floating point.
      target: (N,) or () class indices in [0, n_classes), any integer dtype.
      head_weight: (cutoffs[0] + len(cutoffs), in_features), torch's ``head.weight``.
      tail: one (projection (hsz_i, in_features), output (osz_i, hsz_i)) weight pair per
        cluster, torch's ``tail[i][0].weight`` and ``tail[i][1].weight``.
      cutoffs: torch's constructor ``cutoffs`` (without n_classes), sorted unique > 0.
        n_classes is ``cutoffs[-1] + tail[-1][1].shape[0]``.
      head_bias: optional (cutoffs[0] + len(cutoffs),) head bias. Default None.
      precision: not in torch: the linear layers' matmul precision, anything
        ``jax.lax.dot_general`` takes (keyword only). None (default) is the user's
        ``jax_default_matmul_precision`` where set, else torch's default on every
        backend: float32/float64 at full precision (``lax.Precision.HIGHEST``),
        bfloat16/float16 operands as they are, accumulated in float32 (the
        log-softmaxes too; output and loss return in the parameters' dtype).

    Shape:
      Input: (N, F) or (F,), F = in_features, N the batch. Target: (N) or ().
      Output: a named tuple ``(output, loss)`` (torch's ``_ASMoutput``): output (N) or (),
      loss a scalar.

    Example:
      >>> import jax.numpy as jnp
      >>> from jaxloss import adaptive_log_softmax_with_loss
      >>> x = jnp.array([[1.0, 0.0], [0.0, 1.0]])
      >>> head = jnp.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])  # 2 shortlist + 1 cluster
      >>> tail = [(jnp.ones((1, 2)), jnp.array([[1.0], [-1.0]]))]  # classes 2 and 3
      >>> out, loss = adaptive_log_softmax_with_loss(x, jnp.array([0, 3]), head, tail, [2])
      >>> print(out.round(4), f"{loss:.4f}")  # torch 2.13, same weights, div_value=2.0
      [-0.6803 -3.3072] 1.9937

    Matches the forward of torch.nn.AdaptiveLogSoftmaxWithLoss, gradients included.
    Differences: shapes are checked up front (ValueError naming them, where torch
    raises RuntimeError from inside); a concrete out-of-range target raises
    IndexError naming the value (torch: RuntimeError), under jit it gives nan; mixed
    input/parameter dtypes promote (torch refuses); integral float cutoffs (2.0) are
    taken as ints (torch fails later with a TypeError).
    """
    fn = "adaptive_log_softmax_with_loss"
    cut = _errors.check_cutoffs(fn, cutoffs, None)
    w, b, tl, n_classes = _check_params(fn, head_weight, tail, cut, head_bias)
    x = _errors.floating_array(fn, "input", input)
    t = _errors.integer_array(fn, "target", target, " (class indices)")
    _check_call(fn, x, t, w.shape[1])
    _errors.check_class_indices(fn, t, n_classes)
    dtype = jnp.result_type(x, w, *([] if b is None else [b]), *jax.tree.leaves(tl))
    x, w, b = _cast(dtype, x, w, b)
    tl = jax.tree.map(lambda a: a.astype(dtype), tl)
    unbatched = t.ndim == 0
    xb, tb = (x[None], t[None]) if unbatched else (x, t)
    mm = _matmul(fn, precision, dtype)
    head_lp = jax.nn.log_softmax(_linear(mm, xb, w, b), axis=1)
    output = _target_log_prob(mm, xb, tb, head_lp, tl, cut, n_classes)
    loss = jnp.mean(-output).astype(dtype)
    output = output.astype(dtype)
    return _ASMoutput(output[0] if unbatched else output, loss)


# --------------------------------------------------------------------------------------
# the module
# --------------------------------------------------------------------------------------


def _init_params(
    key: jax.Array,
    in_features: int,
    head_size: int,
    head_bias: bool,
    sizes: tuple[tuple[int, int], ...],
    dtype: Any,
) -> tuple[jax.Array, jax.Array | None, _Tail]:
    """torch's nn.Linear reset_parameters for the head and each cluster's (hsz, osz):
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias (kaiming_uniform_ with
    a=sqrt(5)); a zero-element tensor stays empty. One draw of U(-1, 1), cut and scaled,
    so that initialisation is one random op, not one per tensor."""
    shapes: list[tuple[tuple[int, ...], int]] = [((head_size, in_features), in_features)]
    if head_bias:
        shapes.append(((head_size,), in_features))
    for hsz, osz in sizes:
        shapes += [((hsz, in_features), in_features), ((osz, hsz), hsz)]
    counts = [math.prod(shape) for shape, _ in shapes]
    u = jax.random.uniform(key, (sum(counts),), dtype, -1.0, 1.0)
    parts = []
    for (shape, fan_in), start, count in zip(shapes, np.cumsum([0] + counts), counts):
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        parts.append((u[start : start + count] * bound).reshape(shape))
    w, b = parts[0], (parts[1] if head_bias else None)
    rest = parts[2 if head_bias else 1 :]
    return w, b, tuple(zip(rest[0::2], rest[1::2]))


def _state_shapes(state: Mapping[str, Any]) -> tuple[int, ...]:
    """The torch ``cutoffs`` a state dict's shapes imply (shortlist, then cluster ends)."""
    n_clusters = 0
    while f"tail.{n_clusters}.0.weight" in state:
        n_clusters += 1
    fn = "AdaptiveLogSoftmaxWithLoss"
    _errors.check_state_dict(
        fn,
        "head.weight" in state and n_clusters > 0,
        f"has keys {sorted(state)}",
        "needs 'head.weight' and 'tail.0.0.weight', 'tail.0.1.weight', ...",
    )
    _errors.check_ndim(fn, "state_dict['head.weight']", state["head.weight"], 2)
    cut = [int(np.shape(state["head.weight"])[0]) - n_clusters]
    for i in range(n_clusters - 1):
        cut.append(cut[-1] + int(np.shape(state.get(f"tail.{i}.1.weight", ()))[0]))
    return tuple(cut)


class AdaptiveLogSoftmaxWithLoss(Module):
    """torch.nn.AdaptiveLogSoftmaxWithLoss as an immutable pytree of its parameters.

    Args:
      in_features: number of input features.
      n_classes: number of classes; labels sorted by decreasing frequency.
      cutoffs: sorted unique ints in [1, n_classes - 1]: the shortlist is classes
        ``0 .. cutoffs[0] - 1``, cluster i classes ``cutoffs[i-1] .. cutoffs[i] - 1``
        (the last ending at n_classes - 1).
      div_value: cluster i (from 1) projects to ``floor(in_features / div_value**i)``
        features. Default 4.0.
      head_bias: whether the head has a bias. Default False.
      key: PRNG key for torch's nn.Linear initialisation (keyword only).
      dtype: parameter dtype (keyword only). Default float32, as torch's default.
      precision: the linear layers' matmul precision (keyword only; not in torch), as
        in ``adaptive_log_softmax_with_loss``. Default None: torch's default.

    Fields: the parameters ``head_weight`` (torch's ``head.weight``), ``head_bias_vector``
    (``head.bias``, or None) and ``tail`` (``((tail.0.0.weight, tail.0.1.weight), ...)``)
    are the pytree's leaves, so ``jax.grad(lambda m: m(x, y).loss)(model)`` is a
    model-shaped gradient; the configuration is static. ``cutoffs`` is the
    constructor's argument (torch's attribute also ends with n_classes).

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from jaxloss import AdaptiveLogSoftmaxWithLoss
      >>> asm = AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6], key=jax.random.key(0))
      >>> out, loss = asm(jnp.ones((4, 8)), jnp.array([0, 4, 7, 9]))
      >>> out.shape, asm.log_prob(jnp.ones((4, 8))).shape, asm.predict(jnp.ones((4, 8))).shape
      ((4,), (4, 10), (4,))

    Matches torch.nn.AdaptiveLogSoftmaxWithLoss (values and gradients of forward,
    log_prob and predict); load torch's weights with ``from_torch_state_dict``.
    Deliberate differences: log_prob and predict also take an unbatched
    (in_features,) input (torch raises), so they vmap; errors as in
    ``adaptive_log_softmax_with_loss``.
    """

    in_features: int
    n_classes: int
    cutoffs: tuple[int, ...]
    div_value: float
    head_bias: bool
    precision: PrecisionLike
    head_weight: jax.Array = array_field()
    head_bias_vector: jax.Array | None = array_field()
    tail: _Tail = array_field()

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        cutoffs: Sequence[int],
        div_value: float = 4.0,
        head_bias: bool = False,
        *,
        key: jax.Array,
        dtype: Any = jnp.float32,
        precision: PrecisionLike = None,
    ) -> None:
        fn = "AdaptiveLogSoftmaxWithLoss"
        cut = _errors.check_cutoffs(fn, cutoffs, n_classes)
        bounds = cut + (n_classes,)
        head_size = cut[0] + len(cut)
        sizes = tuple(
            (_hidden_size(in_features, div_value, i), bounds[i + 1] - bounds[i])
            for i in range(len(cut))
        )
        w, b, tail = _init_params(
            key, in_features, head_size, bool(head_bias), sizes, jnp.dtype(dtype)
        )
        self._set(
            head_weight=w,
            head_bias_vector=b,
            tail=tail,
            in_features=in_features,
            n_classes=n_classes,
            cutoffs=cut,
            div_value=div_value,
            head_bias=bool(head_bias),
            precision=precision,
        )

    @classmethod
    def _init_extras(cls, kept: dict[str, Any]) -> dict[str, Any]:
        # replace(): the kept parameters replace the ones initialised from this key
        return dict(key=jax.random.key(0), dtype=kept["head_weight"].dtype)

    # -- construction from parameters ---------------------------------------------------
    @classmethod
    def from_params(
        cls,
        head_weight: ArrayLike,
        tail: Sequence[Sequence[ArrayLike]],
        cutoffs: Sequence[int],
        head_bias: ArrayLike | None = None,
        div_value: float = 4.0,
        *,
        precision: PrecisionLike = None,
    ) -> AdaptiveLogSoftmaxWithLoss:
        """A module holding these parameters (shapes as in
        ``adaptive_log_softmax_with_loss``); in_features and n_classes follow from them.
        Each projection must have torch's size ``floor(in_features / div_value**i)``."""
        fn = "AdaptiveLogSoftmaxWithLoss.from_params"
        cut = _errors.check_cutoffs(fn, cutoffs, None)
        w, b, tl, n_classes = _check_params(fn, head_weight, tail, cut, head_bias)
        in_features = w.shape[1]
        for i, (proj, _) in enumerate(tl):
            hsz = _hidden_size(in_features, div_value, i)
            _errors.check_fits(
                fn,
                f"tail[{i}][0]",
                proj,
                proj.shape[0] == hsz,
                f"div_value={div_value} gives ({hsz}, {in_features}); pass the div_value the "
                "torch module was built with",
            )
        obj = object.__new__(cls)
        obj._set(
            head_weight=w,
            head_bias_vector=b,
            tail=tl,
            in_features=in_features,
            n_classes=n_classes,
            cutoffs=cut,
            div_value=div_value,
            head_bias=b is not None,
            precision=precision,
        )
        return obj

    @classmethod
    def from_torch_state_dict(
        cls,
        state_dict: Mapping[str, Any],
        div_value: float = 4.0,
        *,
        precision: PrecisionLike = None,
    ) -> AdaptiveLogSoftmaxWithLoss:
        """A module from a torch ``AdaptiveLogSoftmaxWithLoss.state_dict()`` (torch tensors,
        numpy or jax arrays under keys ``head.weight``, ``head.bias``, ``tail.{i}.0.weight``,
        ``tail.{i}.1.weight``). cutoffs, n_classes and head_bias follow from the shapes;
        ``div_value`` (not stored by torch) must be the one torch's module was built with.
        Arrays keep their dtype (float64 needs jax's x64 mode).

        Only shapes are read, so the arrays may be traced: it works inside ``jax.jit`` and
        ``jax.grad`` (e.g. ``jax.grad`` of a function of a state dict of jax arrays gives
        the gradient under torch's keys)."""
        state = {k: to_numpy(v) for k, v in state_dict.items()}
        cut = _state_shapes(state)
        expected = {"head.weight"} | {
            f"tail.{i}.{j}.weight" for i in range(len(cut)) for j in (0, 1)
        }
        if "head.bias" in state:
            expected.add("head.bias")
        _errors.check_state_dict(
            "AdaptiveLogSoftmaxWithLoss",
            set(state) == expected,
            f"has keys {sorted(state)}",
            f"{sorted(expected)} were expected",
        )
        tail = [(state[f"tail.{i}.0.weight"], state[f"tail.{i}.1.weight"]) for i in range(len(cut))]
        return cls.from_params(
            state["head.weight"], tail, cut, state.get("head.bias"), div_value, precision=precision
        )

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> AdaptiveLogSoftmaxWithLoss:
        """A new module with this one's configuration and dtype and torch's weights
        (torch's strict ``load_state_dict``: keys and shapes must match exactly). As
        ``from_torch_state_dict``, it works on traced arrays (inside ``jax.jit`` or
        ``jax.grad``)."""
        new = type(self).from_torch_state_dict(state_dict, self.div_value, precision=self.precision)
        _errors.check_state_dict(
            f"{type(self).__name__}.load_state_dict",
            new.config() == self.config(),
            f"is for {new!r}",
            f"this module is {self!r}",
        )
        return jax.tree.map(lambda a, ref: jnp.asarray(a, ref.dtype), new, self)

    def state_dict(self) -> dict[str, np.ndarray]:
        """The parameters as numpy arrays under torch's state_dict keys.

        Needs concrete parameters: call it outside ``jax.jit``/``jax.grad`` (inside, the
        module itself is the pytree of its parameters)."""
        _errors.check_concrete(
            f"{type(self).__name__}.state_dict",
            "the parameters",
            self,
            "call state_dict outside the transformation, and use the module itself (a pytree "
            "of its parameters) inside it",
        )
        state = {"head.weight": np.asarray(self.head_weight)}
        if self.head_bias_vector is not None:
            state["head.bias"] = np.asarray(self.head_bias_vector)
        for i, (proj, out) in enumerate(self.tail):
            state[f"tail.{i}.0.weight"] = np.asarray(proj)
            state[f"tail.{i}.1.weight"] = np.asarray(out)
        return state

    # -- torch's attributes --------------------------------------------------------------
    def config(self) -> tuple[Any, ...]:
        """(in_features, n_classes, cutoffs, div_value, head_bias)."""
        return (self.in_features, self.n_classes, self.cutoffs, self.div_value, self.head_bias)

    @property
    def shortlist_size(self) -> int:
        return self.cutoffs[0]

    @property
    def n_clusters(self) -> int:
        return len(self.cutoffs)

    @property
    def head_size(self) -> int:
        return self.shortlist_size + self.n_clusters

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(in_features={self.in_features}, n_classes="
            f"{self.n_classes}, cutoffs={list(self.cutoffs)}, div_value={self.div_value}, "
            f"head_bias={self.head_bias})"
        )

    # -- forward -------------------------------------------------------------------------
    def __call__(self, input_: ArrayLike, target_: ArrayLike) -> _ASMoutput:
        """The named tuple ``(output, loss)``; see ``adaptive_log_softmax_with_loss``."""
        return adaptive_log_softmax_with_loss(
            input_,
            target_,
            self.head_weight,
            self.tail,
            self.cutoffs,
            self.head_bias_vector,
            precision=self.precision,
        )

    def _head(self, fn: str, input: ArrayLike) -> tuple[_Matmul, jax.Array, jax.Array, _Tail, bool]:
        x = _errors.floating_array(fn, "input", input)
        xb, unbatched = _check_rows(fn, x, self.in_features)
        leaves = [self.head_weight, self.head_bias_vector, self.tail]
        dtype = jnp.result_type(xb, *jax.tree.leaves(leaves))
        xb, w, b = _cast(dtype, xb, self.head_weight, self.head_bias_vector)
        tail = jax.tree.map(lambda a: a.astype(dtype), self.tail)
        mm = _matmul(fn, self.precision, dtype)
        return mm, xb, _linear(mm, xb, w, b), tail, unbatched

    def log_prob(self, input: ArrayLike) -> jax.Array:
        """Log-probabilities of all n_classes: (N, in_features) -> (N, n_classes)."""
        mm, xb, head_out, tail, unbatched = self._head("log_prob", input)
        head_lp = jax.nn.log_softmax(head_out, axis=1)
        out = _full_log_prob(mm, xb, head_lp, tail, self.shortlist_size).astype(mm.operand)
        return out[0] if unbatched else out

    def predict(self, input: ArrayLike) -> jax.Array:
        """The most probable class: (N, in_features) -> (N,) integer classes."""
        mm, xb, head_out, tail, unbatched = self._head("predict", input)
        best = jnp.argmax(head_out, axis=1)
        # torch: the head's argmax stands when it is a shortlist class; other rows take
        # the argmax of the full distribution
        head_lp = jax.nn.log_softmax(head_out, axis=1)
        full = jnp.argmax(_full_log_prob(mm, xb, head_lp, tail, self.shortlist_size), axis=1)
        out = jnp.where(best < self.shortlist_size, best, full)
        return out[0] if unbatched else out
