"""``jaxloss.functional``: the losses under torch.nn.functional's names."""

from ._binary import binary_cross_entropy as binary_cross_entropy
from ._binary import binary_cross_entropy_with_logits as binary_cross_entropy_with_logits
from ._binary import multilabel_soft_margin_loss as multilabel_soft_margin_loss
from ._binary import soft_margin_loss as soft_margin_loss
from ._classification import cross_entropy as cross_entropy
from ._classification import nll_loss as nll_loss
from ._ctc import ctc_loss as ctc_loss
from ._divergence import kl_div as kl_div
from ._embedding import cosine_embedding_loss as cosine_embedding_loss
from ._embedding import pairwise_distance as pairwise_distance
from ._embedding import triplet_margin_loss as triplet_margin_loss
from ._embedding import triplet_margin_with_distance_loss as triplet_margin_with_distance_loss
from ._linear_cross_entropy import linear_cross_entropy as linear_cross_entropy
from ._margin import hinge_embedding_loss as hinge_embedding_loss
from ._margin import margin_ranking_loss as margin_ranking_loss
from ._margin import multi_margin_loss as multi_margin_loss
from ._margin import multilabel_margin_loss as multilabel_margin_loss
from ._regression import gaussian_nll_loss as gaussian_nll_loss
from ._regression import huber_loss as huber_loss
from ._regression import l1_loss as l1_loss
from ._regression import mse_loss as mse_loss
from ._regression import poisson_nll_loss as poisson_nll_loss
from ._regression import smooth_l1_loss as smooth_l1_loss

__all__ = [
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
]
