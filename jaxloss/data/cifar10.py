"""CIFAR-10 for the lesson (STUB: the API contract; the data helper fills it in).

API contract (other modules code against exactly this):

    class DataUnavailableError(RuntimeError)
        raised in seconds when no source can provide the data; its message names the
        three ways to provide it (TFDS data dir / download, --manual-dir archive,
        --torchvision-dir folder).

    load_cifar10(split, *, data_dir=None, manual_dir=None, torchvision_dir=None)
        -> (images uint8 (N, 32, 32, 3) NHWC, labels int64 (N,))
        split: 'train' | 'test'.

    iterate_batches(images, labels, batch_size, *, shuffle=False, seed=0, epoch=0,
                    drop_remainder=False)
        -> iterator of (images float32 (B, 32, 32, 3) in [0, 1], labels int32 (B,));
        the order for a given (seed, epoch) is deterministic.
"""

from __future__ import annotations


class DataUnavailableError(RuntimeError):
    """No source can provide CIFAR-10 here."""


def load_cifar10(split, *, data_dir=None, manual_dir=None, torchvision_dir=None):
    raise NotImplementedError


def iterate_batches(images, labels, batch_size, *, shuffle=False, seed=0, epoch=0,
                    drop_remainder=False):
    raise NotImplementedError
