"""``jaxloss demo``: the lesson "loss functions and backpropagation", step by step in JAX.

Parts 1-3 (the losses and their gradients) need only jaxloss; parts 4-5 (Tudui) need flax,
from the ``train`` extra. JAX and flax are imported when the demo runs, so that the command
refuses a bad flag before JAX starts.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import sys
from typing import TextIO

from jaxloss.tudui.cifar10 import check_sources

MAX_LIMIT = 100  # the most images of part 4 (--limit), one line each


def _show(out: TextIO, code: str, value) -> None:
    out.write(f"  {code:<52} # -> {value}\n")


def lesson(out: TextIO) -> None:
    """Parts 1-3: L1Loss, MSELoss and CrossEntropyLoss (the lesson printed tensor(0.6667),
    tensor(2.), tensor(1.3333), tensor(1.1019)), then jax.grad in place of loss.backward()."""
    import jax
    import jax.numpy as jnp

    from jaxloss import CrossEntropyLoss, L1Loss, MSELoss

    def vector(g) -> str:
        return "[" + ", ".join(f"{v:.4f}" for v in g.reshape(-1)) + "]"

    out.write("1. L1Loss / MSELoss: inputs [1, 2, 3], targets [1, 2, 5], shape (1, 1, 1, 3)\n")
    inputs = jnp.reshape(jnp.array([1, 2, 3], dtype=jnp.float32), (1, 1, 1, 3))
    targets = jnp.reshape(jnp.array([1, 2, 5], dtype=jnp.float32), (1, 1, 1, 3))
    _show(out, "L1Loss()(inputs, targets)", f"{L1Loss()(inputs, targets):.4f}")
    _show(
        out,
        "L1Loss(reduction='sum')(inputs, targets)",
        f"{L1Loss(reduction='sum')(inputs, targets):.1f}",
    )
    _show(out, "MSELoss()(inputs, targets)", f"{MSELoss()(inputs, targets):.4f}")
    out.write("2. CrossEntropyLoss: scores x = [0.1, 0.2, 0.3] for 3 classes, class y = 1\n")
    x, y = jnp.array([[0.1, 0.2, 0.3]]), jnp.array([1])  # (N, C), (N,)
    _show(out, "CrossEntropyLoss()(x, y)", f"{CrossEntropyLoss()(x, y):.4f}")
    out.write("3. Backpropagation: jax.grad gives what loss.backward() puts in .grad\n")
    _show(out, "jax.grad(L1Loss())(inputs, targets)", vector(jax.grad(L1Loss())(inputs, targets)))
    _show(out, "jax.grad(CrossEntropyLoss())(x, y)", vector(jax.grad(CrossEntropyLoss())(x, y)))


def test_images(args: argparse.Namespace, out: TextIO):
    """The CIFAR-10 test split, or a clearly labelled synthetic CIFAR-shaped batch.

    Only missing data falls back to the synthetic batch; a damaged or unsafe file raises
    (``CorruptDataError``, ``UnsafePickleError``), which the command reports in one line.
    """
    from jaxloss.tudui import cifar10

    try:
        images, labels = cifar10.load_cifar10(
            "test",
            data_dir=args.data_dir,
            manual_dir=args.manual_dir,
            torchvision_dir=args.torchvision_dir,
        )
    except cifar10.DataUnavailableError as e:
        reason = str(e).splitlines()[0]
        out.write(
            f"   {reason} (provide it with --data-dir, --manual-dir or --torchvision-dir); "
            f"continuing on a SYNTHETIC batch (seed {args.seed}): `jaxloss train "
            "--synthetic`'s images, a bright square whose place is the class, not CIFAR-10\n"
        )
        # a fixed set of at least 256 images, so that image i is the same for any --limit
        images, labels = cifar10.synthetic_dataset(max(args.limit, 256), seed=args.seed)
        return images, labels, [f"synthetic class {i}" for i in range(10)]
    out.write(f"   CIFAR-10 test split: {len(images)} images, uint8 NHWC {images.shape[1:]}\n")
    return images, labels, cifar10.LABEL_NAMES


@functools.cache
def _jitted():
    """``CrossEntropyLoss()(tudui(imgs), targets)`` as a function of Tudui's parameters, and
    its gradient w.r.t. them, jitted once per process."""
    import jax
    from flax import nnx

    from jaxloss import CrossEntropyLoss

    def loss(graphdef, params, imgs, targets):
        return CrossEntropyLoss()(nnx.merge(graphdef, params)(imgs), targets)

    return jax.jit(loss, static_argnums=0), jax.jit(jax.grad(loss, argnums=1), static_argnums=0)


def tudui_walkthrough(args: argparse.Namespace, out: TextIO) -> None:
    """Parts 4-5: Tudui on CIFAR-10 with batch size 1, then backprop.

    torch: for imgs, targets in DataLoader(test_set, batch_size=1):
               result_loss = loss(tudui(imgs), targets); result_loss.backward()
    JAX:   the model is split into a graph and a parameter pytree; jax.grad of the
           loss with respect to the parameters returns the gradients as a new pytree.
    """
    import numpy as np
    from flax import nnx

    from jaxloss.tudui.cifar10 import iterate_batches
    from jaxloss.tudui.model import Tudui, num_params
    from jaxloss.tudui.torch_interop import LAYERS

    out.write(
        "4. Tudui on CIFAR-10, batch size 1: loss = CrossEntropyLoss()(tudui(imgs), targets)\n"
    )
    images, labels, names = test_images(args, out)
    tudui = Tudui(rngs=nnx.Rngs(args.seed))
    out.write(
        f"   Tudui(rngs=nnx.Rngs({args.seed})): {num_params(tudui):,} parameters, "
        "untrained (as in the lesson)\n"
    )
    graphdef, params = nnx.split(tudui)
    loss_jit, grad_jit = _jitted()
    batches = list(iterate_batches(images[: args.limit], labels[: args.limit], 1))
    for i, (imgs, targets) in enumerate(batches):
        target = int(targets[0])
        loss = float(loss_jit(graphdef, params, imgs, targets))
        _show(out, f"image {i}: target {target} ({names[target]})", f"loss {loss:.4f}")

    out.write(
        "5. Backpropagation: result_loss.backward() -> "
        "grads = jax.grad(loss)(params, imgs, targets)\n"
        "   before jax.grad: no gradients (torch's weight.grad is None; "
        "JAX parameters carry no .grad)\n"
    )
    if not batches:
        return
    grads = grad_jit(graphdef, params, *batches[0])
    torch_names = {
        f"{layer}.{p}": f"{prefix}.{t}"
        for layer, prefix, _ in LAYERS
        for p, t in (("kernel", "weight"), ("bias", "bias"))
    }
    out.write(
        "   after jax.grad of image 0's loss, every parameter has a gradient:\n"
        f"   {'parameter':<16} {'torch name':<17} {'shape':<16} {'grad norm':>11} "
        f"{'mean |grad|':>11}\n"
    )
    for path, g in nnx.to_flat_state(grads):
        g = np.asarray(g[...])
        name = ".".join(str(p) for p in path)
        out.write(
            f"   {name:<16} {torch_names[name]:<17} {str(g.shape):<16} "
            f"{np.linalg.norm(g):>11.4e} {np.mean(np.abs(g)):>11.4e}\n"
        )


def run_demo(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """The lesson; parts 4-5 are one line saying what the ``train`` extra adds when flax is
    missing."""
    out = sys.stdout if out is None else out
    check_sources(args.data_dir, args.manual_dir, args.torchvision_dir)
    out.write("jaxloss demo: the lesson 'loss functions and backpropagation' in JAX\n\n")
    lesson(out)
    if importlib.util.find_spec("flax") is None:
        out.write(
            "4-5. Tudui on CIFAR-10 and its gradients need flax, which is not installed: "
            "pip install 'jaxloss[train]' adds them, and `jaxloss train`\n"
        )
        return 0
    tudui_walkthrough(args, out)
    return 0
