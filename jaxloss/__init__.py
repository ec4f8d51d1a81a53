"""jaxloss: PyTorch's loss functions for JAX, with PyTorch's exact values and gradients.

The functional losses live under their torch.nn.functional names (``jaxloss.l1_loss``, also
``jaxloss.functional.l1_loss``), the torch.nn classes under theirs (``jaxloss.L1Loss``, also
``jaxloss.nn.L1Loss``) and torchvision.ops' losses under torchvision's
(``jaxloss.sigmoid_focal_loss``, also ``jaxloss.ops.sigmoid_focal_loss``). This package needs
jax and numpy only; the lesson's application (``jaxloss.tudui``) needs the ``train`` extra.

Each public name is written once, in the ``__all__`` of the module that owns it
(``functional``, ``nn``, ``ops``); this module re-exports them wholesale.
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from . import functional as functional
from . import nn as nn
from . import ops as ops
from ._adaptive import adaptive_log_softmax_with_loss as adaptive_log_softmax_with_loss
from ._derivatives import checked as checked
from ._linear_cross_entropy import (
    vocab_parallel_linear_cross_entropy as vocab_parallel_linear_cross_entropy,
)
from .functional import *  # noqa: F403  (functional.__all__)
from .nn import *  # noqa: F403  (nn.__all__)
from .ops import *  # noqa: F403  (ops.__all__)

try:
    __version__ = _version("jaxloss")
except _PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "__version__",
    "functional",
    "nn",
    "ops",
    "adaptive_log_softmax_with_loss",
    "vocab_parallel_linear_cross_entropy",
    "checked",
]
__all__ += functional.__all__
__all__ += ops.__all__
__all__ += nn.__all__
