"""jaxloss: PyTorch's loss functions for JAX, with PyTorch's exact values and gradients.

The functional losses live under their torch.nn.functional names (``jaxloss.l1_loss``, also
``jaxloss.functional.l1_loss``), the torch.nn classes under theirs (``jaxloss.L1Loss``, also
``jaxloss.nn.L1Loss``) and torchvision.ops' losses under theirs
(``jaxloss.sigmoid_focal_loss``, also ``jaxloss.ops.sigmoid_focal_loss``). This package needs
jax and numpy only; the lesson's application (``jaxloss.tudui``) needs the ``train`` extra.
"""

from importlib.metadata import PackageNotFoundError, version

from . import functional as functional
from . import nn as nn
from . import ops as ops
from ._adaptive import adaptive_log_softmax_with_loss as adaptive_log_softmax_with_loss
from ._linear_cross_entropy import (
    vocab_parallel_linear_cross_entropy as vocab_parallel_linear_cross_entropy,
)
from .functional import binary_cross_entropy as binary_cross_entropy
from .functional import binary_cross_entropy_with_logits as binary_cross_entropy_with_logits
from .functional import cosine_embedding_loss as cosine_embedding_loss
from .functional import cross_entropy as cross_entropy
from .functional import ctc_loss as ctc_loss
from .functional import gaussian_nll_loss as gaussian_nll_loss
from .functional import hinge_embedding_loss as hinge_embedding_loss
from .functional import huber_loss as huber_loss
from .functional import kl_div as kl_div
from .functional import l1_loss as l1_loss
from .functional import linear_cross_entropy as linear_cross_entropy
from .functional import margin_ranking_loss as margin_ranking_loss
from .functional import mse_loss as mse_loss
from .functional import multi_margin_loss as multi_margin_loss
from .functional import multilabel_margin_loss as multilabel_margin_loss
from .functional import multilabel_soft_margin_loss as multilabel_soft_margin_loss
from .functional import nll_loss as nll_loss
from .functional import pairwise_distance as pairwise_distance
from .functional import poisson_nll_loss as poisson_nll_loss
from .functional import smooth_l1_loss as smooth_l1_loss
from .functional import soft_margin_loss as soft_margin_loss
from .functional import triplet_margin_loss as triplet_margin_loss
from .functional import triplet_margin_with_distance_loss as triplet_margin_with_distance_loss
from .nn import AdaptiveLogSoftmaxWithLoss as AdaptiveLogSoftmaxWithLoss
from .nn import BCELoss as BCELoss
from .nn import BCEWithLogitsLoss as BCEWithLogitsLoss
from .nn import CosineEmbeddingLoss as CosineEmbeddingLoss
from .nn import CrossEntropyLoss as CrossEntropyLoss
from .nn import CTCLoss as CTCLoss
from .nn import GaussianNLLLoss as GaussianNLLLoss
from .nn import HingeEmbeddingLoss as HingeEmbeddingLoss
from .nn import HuberLoss as HuberLoss
from .nn import KLDivLoss as KLDivLoss
from .nn import L1Loss as L1Loss
from .nn import LinearCrossEntropyLoss as LinearCrossEntropyLoss
from .nn import LinearCrossEntropyOptions as LinearCrossEntropyOptions
from .nn import MarginRankingLoss as MarginRankingLoss
from .nn import MSELoss as MSELoss
from .nn import MultiLabelMarginLoss as MultiLabelMarginLoss
from .nn import MultiLabelSoftMarginLoss as MultiLabelSoftMarginLoss
from .nn import MultiMarginLoss as MultiMarginLoss
from .nn import NLLLoss as NLLLoss
from .nn import NLLLoss2d as NLLLoss2d
from .nn import PairwiseDistance as PairwiseDistance
from .nn import PoissonNLLLoss as PoissonNLLLoss
from .nn import SmoothL1Loss as SmoothL1Loss
from .nn import SoftMarginLoss as SoftMarginLoss
from .nn import TripletMarginLoss as TripletMarginLoss
from .nn import TripletMarginWithDistanceLoss as TripletMarginWithDistanceLoss
from .ops import complete_box_iou_loss as complete_box_iou_loss
from .ops import distance_box_iou_loss as distance_box_iou_loss
from .ops import generalized_box_iou_loss as generalized_box_iou_loss
from .ops import sigmoid_focal_loss as sigmoid_focal_loss

try:
    __version__ = version("jaxloss")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "__version__",
    "functional",
    "nn",
    "ops",
    "adaptive_log_softmax_with_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cosine_embedding_loss",
    "cross_entropy",
    "ctc_loss",
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "linear_cross_entropy",
    "margin_ranking_loss",
    "mse_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "nll_loss",
    "pairwise_distance",
    "poisson_nll_loss",
    "smooth_l1_loss",
    "soft_margin_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "vocab_parallel_linear_cross_entropy",
    "sigmoid_focal_loss",
    "generalized_box_iou_loss",
    "distance_box_iou_loss",
    "complete_box_iou_loss",
    "AdaptiveLogSoftmaxWithLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CTCLoss",
    "CosineEmbeddingLoss",
    "CrossEntropyLoss",
    "GaussianNLLLoss",
    "HingeEmbeddingLoss",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "LinearCrossEntropyLoss",
    "LinearCrossEntropyOptions",
    "MSELoss",
    "MarginRankingLoss",
    "MultiLabelMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "NLLLoss",
    "NLLLoss2d",
    "PairwiseDistance",
    "PoissonNLLLoss",
    "SmoothL1Loss",
    "SoftMarginLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
]
