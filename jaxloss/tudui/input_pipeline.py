"""The data a training run sees: CIFAR-10 or the synthetic stand-in, and the test batches.

Images stay uint8 (0-255) on the host, as ``load_cifar10`` returns them; the batches are
float32 in [0, 1] (``iterate_batches`` divides by 255), which is what ``Tudui`` takes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from jaxloss.tudui.cifar10 import iterate_batches, load_cifar10

if TYPE_CHECKING:
    from jaxloss.tudui.config import TrainConfig

Split = tuple[np.ndarray, np.ndarray]  # uint8 images (N, 32, 32, 3), int64 labels (N,)

# Where class c's square sits (top-left corner) for c = 0..8: a 3 x 3 grid; class 9 is a frame.
_SQUARE = 10
_CORNERS = [(r, c) for r in (1, 11, 21) for c in (1, 11, 21)]


def synthetic_dataset(n: int, seed: int) -> Split:
    """A learnable CIFAR-shaped stand-in: uint8 (n, 32, 32, 3) images, int64 (n,) labels.

    Class c (0..8) is a bright 10 x 10 square at the c-th place of a 3 x 3 grid, shifted by
    up to 2 pixels; class 9 is a bright 2-pixel frame. Every image has its own dark
    background colour and bright foreground colour (so colour says nothing about the
    class) and Gaussian pixel noise (sd 0.1 of the range). Each class is a different
    *place*, which Tudui's convolutions and max-pools pick up quickly: at ``jaxloss train
    --synthetic``'s defaults (SGD lr 0.01, batch 64, 4096 training and 512 test images, seed
    0) the test accuracy is 34.4% after epoch 1 and 100% after epoch 2 (10% is chance).
    Used only when asked for (``synthetic=True``), never as a fallback.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10).astype(np.int64)
    background = rng.uniform(0.1, 0.4, size=(n, 1, 1, 3))
    foreground = rng.uniform(0.7, 1.0, size=(n, 3))
    shifts = rng.integers(-2, 3, size=(n, 2))
    images = np.broadcast_to(background, (n, 32, 32, 3)).copy()
    frame = np.ones((32, 32), bool)
    frame[2:-2, 2:-2] = False
    for i, label in enumerate(labels):
        if label == 9:
            images[i][frame] = foreground[i]
        else:
            r, c = np.clip(np.array(_CORNERS[label]) + shifts[i], 0, 32 - _SQUARE)
            images[i, r : r + _SQUARE, c : c + _SQUARE] = foreground[i]
    images += rng.normal(0.0, 0.1, size=images.shape)
    return np.clip(np.rint(images * 255), 0, 255).astype(np.uint8), labels


def load_data(config: TrainConfig) -> tuple[Split, Split, str]:
    """(train, test, name): CIFAR-10 through ``load_cifar10``, or the synthetic set when
    ``config.synthetic``. Data errors propagate: there is no silent fallback."""
    if config.synthetic:
        train = synthetic_dataset(config.synthetic_train_size, config.seed * 2 + 1)
        test = synthetic_dataset(config.synthetic_test_size, config.seed * 2 + 2)
    else:
        train, test = (
            load_cifar10(
                split,
                data_dir=config.data_dir,
                manual_dir=config.manual_dir,
                torchvision_dir=config.torchvision_dir,
            )
            for split in ("train", "test")
        )
    train = (train[0][: config.max_train_examples], train[1][: config.max_train_examples])
    test = (test[0][: config.max_test_examples], test[1][: config.max_test_examples])
    return train, test, "synthetic" if config.synthetic else "cifar10"


def eval_batches(
    split: Split, batch_size: int
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Unshuffled test batches ``(images, labels, mask)``; the last is padded to
    ``batch_size`` with mask 0."""
    for x, y in iterate_batches(*split, batch_size):
        n = len(y)
        mask = (np.arange(batch_size) < n).astype(np.float32)
        x = np.concatenate([x, np.zeros((batch_size - n,) + x.shape[1:], x.dtype)])
        y = np.concatenate([y, np.zeros((batch_size - n,), y.dtype)])
        yield x, y, mask
