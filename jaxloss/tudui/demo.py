"""``jaxloss demo``: the lesson "loss functions and backpropagation", step by step in JAX."""

from __future__ import annotations

import argparse
import functools
import importlib.util
import sys
from collections.abc import Sequence
from typing import TextIO

from jaxloss.tudui.cifar10 import check_sources

MAX_LIMIT = 100  # the most images of part 2 (--limit), one line each


def _show(out: TextIO, code: str, value) -> None:
    out.write(f"  {code:<52} # -> {value}\n")


def lesson_losses(out: TextIO = sys.stdout) -> dict[str, float]:
    """Part 1 of the lesson: L1Loss, L1Loss(sum), MSELoss, CrossEntropyLoss.

    Prints each result beside the line of code that made it (the lesson printed
    tensor(0.6667), tensor(2.), tensor(1.3333), tensor(1.1019)).
    """
    import jax.numpy as jnp

    from jaxloss import CrossEntropyLoss, L1Loss, MSELoss

    out.write("1. L1Loss / MSELoss: inputs [1, 2, 3], targets [1, 2, 5], shape (1, 1, 1, 3)\n")
    inputs = jnp.reshape(jnp.array([1, 2, 3], dtype=jnp.float32), (1, 1, 1, 3))
    targets = jnp.reshape(jnp.array([1, 2, 5], dtype=jnp.float32), (1, 1, 1, 3))
    results = {}
    results["l1_mean"] = float(L1Loss()(inputs, targets))
    _show(out, "L1Loss()(inputs, targets)", f"{results['l1_mean']:.4f}")
    results["l1_sum"] = float(L1Loss(reduction="sum")(inputs, targets))
    _show(out, "L1Loss(reduction='sum')(inputs, targets)", f"{results['l1_sum']:.1f}")
    results["mse"] = float(MSELoss()(inputs, targets))
    _show(out, "MSELoss()(inputs, targets)", f"{results['mse']:.4f}")

    out.write("2. CrossEntropyLoss: scores x = [0.1, 0.2, 0.3] for 3 classes, class y = 1\n")
    x = jnp.reshape(jnp.array([0.1, 0.2, 0.3]), (1, 3))  # (N, C)
    y = jnp.array([1])
    results["cross_entropy"] = float(CrossEntropyLoss()(x, y))
    _show(out, "CrossEntropyLoss()(x, y)", f"{results['cross_entropy']:.4f}")
    return results


def lesson_gradients(out: TextIO = sys.stdout) -> None:
    """loss.backward() the JAX way: jax.grad of the same losses."""
    import jax
    import jax.numpy as jnp

    from jaxloss import CrossEntropyLoss, L1Loss

    out.write("3. Backpropagation: jax.grad gives what loss.backward() puts in .grad\n")
    inputs = jnp.reshape(jnp.array([1, 2, 3], dtype=jnp.float32), (1, 1, 1, 3))
    targets = jnp.reshape(jnp.array([1, 2, 5], dtype=jnp.float32), (1, 1, 1, 3))
    g = jax.grad(L1Loss())(inputs, targets).reshape(-1)
    _show(out, "jax.grad(L1Loss())(inputs, targets)", "[" + ", ".join(f"{v:.4f}" for v in g) + "]")
    x = jnp.reshape(jnp.array([0.1, 0.2, 0.3]), (1, 3))
    g = jax.grad(CrossEntropyLoss())(x, jnp.array([1])).reshape(-1)
    _show(out, "jax.grad(CrossEntropyLoss())(x, y)", "[" + ", ".join(f"{v:.4f}" for v in g) + "]")


def test_images(args: argparse.Namespace, out: TextIO):
    """The CIFAR-10 test split, or a clearly labelled synthetic CIFAR-shaped batch.

    Only missing data falls back to the synthetic batch; a damaged or unsafe file raises
    (``CorruptDataError``, ``UnsafePickleError``), which the command reports in one line.
    """
    from jaxloss.tudui.cifar10 import LABEL_NAMES, DataUnavailableError, load_cifar10
    from jaxloss.tudui.input_pipeline import synthetic_dataset

    try:
        images, labels = load_cifar10(
            "test",
            data_dir=args.data_dir,
            manual_dir=args.manual_dir,
            torchvision_dir=args.torchvision_dir,
        )
        out.write(f"   CIFAR-10 test split: {len(images)} images, uint8 NHWC {images.shape[1:]}\n")
        names: Sequence[str] = LABEL_NAMES
    except DataUnavailableError as e:
        reason = str(e).splitlines()[0]
        out.write(
            f"   {reason} (provide it with --data-dir, --manual-dir or --torchvision-dir); "
            f"continuing on a SYNTHETIC batch (seed {args.seed}): `jaxloss train "
            "--synthetic`'s images, a bright square whose place is the class, not CIFAR-10\n"
        )
        # a fixed set of at least 256 images, so that image i is the same for any --limit
        images, labels = synthetic_dataset(max(args.limit, 256), seed=args.seed)
        images, labels = images[: args.limit], labels[: args.limit]
        names = [f"synthetic class {i}" for i in range(10)]
    return images, labels, names


def tudui_loss(graphdef, params, imgs, targets):
    """``CrossEntropyLoss()(tudui(imgs), targets)`` as a function of Tudui's parameters."""
    from flax import nnx

    from jaxloss import CrossEntropyLoss

    return CrossEntropyLoss()(nnx.merge(graphdef, params)(imgs), targets)


@functools.cache
def _jitted():
    """jax.jit of the loss and of jax.grad(loss) w.r.t. params, compiled once per process."""
    import jax

    return (
        jax.jit(tudui_loss, static_argnums=0),
        jax.jit(jax.grad(tudui_loss, argnums=1), static_argnums=0),
    )


def tudui_walkthrough(args: argparse.Namespace, out: TextIO | None = None) -> dict:
    """Part 2 of the lesson: Tudui on CIFAR-10 with batch size 1, then backprop.

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

    out = sys.stdout if out is None else out
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
    losses, first = [], None
    for i, (imgs, targets) in enumerate(iterate_batches(images, labels, 1)):
        if i >= args.limit:
            break
        first = first or (imgs, targets)
        value = float(loss_jit(graphdef, params, imgs, targets))
        losses.append(value)
        _show(
            out,
            f"image {i}: target {int(targets[0])} ({names[int(targets[0])]})",
            f"loss {value:.4f}",
        )

    out.write(
        "5. Backpropagation: result_loss.backward() -> "
        "grads = jax.grad(loss)(params, imgs, targets)\n"
    )
    out.write(
        "   before jax.grad: no gradients (torch's weight.grad is None; "
        "JAX parameters carry no .grad)\n"
    )
    rows = []
    if first is not None:
        grads = grad_jit(graphdef, params, *first)
        torch_names = {
            f"{layer}.{p}": f"{prefix}.{t}"
            for layer, prefix, _ in LAYERS
            for p, t in (("kernel", "weight"), ("bias", "bias"))
        }
        out.write("   after jax.grad of image 0's loss, every parameter has a gradient:\n")
        out.write(
            f"   {'parameter':<16} {'torch name':<17} {'shape':<16} {'grad norm':>11} "
            f"{'mean |grad|':>11}\n"
        )
        for path, g in nnx.to_flat_state(grads):
            g = np.asarray(g[...])
            name = ".".join(str(p) for p in path)
            rows.append((name, g.shape, float(np.linalg.norm(g)), float(np.mean(np.abs(g)))))
            out.write(
                f"   {name:<16} {torch_names.get(name, ''):<17} {str(g.shape):<16} "
                f"{rows[-1][2]:>11.4e} {rows[-1][3]:>11.4e}\n"
            )
    return {"losses": losses, "gradients": rows}


def run_demo(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """The lesson: parts 1-3 need only jaxloss; parts 4-5 (Tudui) need flax, from the
    ``train`` extra, and are replaced by one line saying so when it is missing."""
    out = sys.stdout if out is None else out
    check_sources(args.data_dir, args.manual_dir, args.torchvision_dir)
    out.write("jaxloss demo: the lesson 'loss functions and backpropagation' in JAX\n\n")
    lesson_losses(out)
    lesson_gradients(out)
    if importlib.util.find_spec("flax") is None:
        out.write(
            "4-5. Tudui on CIFAR-10 and its gradients need flax, which is not installed: "
            "pip install 'jaxloss[train]' adds them, and `jaxloss train`\n"
        )
        return 0
    tudui_walkthrough(args, out)
    return 0
