"""Every functional and class has torch 2.13's parameter names, positional order and defaults,
read from live torch with inspect.signature, so ported torch calls run unchanged; jaxloss.ops'
functions have torchvision 0.28.0's (read from its code, tests/torchvision_ops.py)."""

import inspect

import pytest
import torch.nn as nn
import torch.nn.functional as F
from torchvision_ops import LOSSES as TORCHVISION_LOSSES
from torchvision_ops import TORCHVISION_OPS

import jaxloss
import jaxloss.ops

FUNCTIONS = [
    "l1_loss",
    "mse_loss",
    "cross_entropy",
    "nll_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "kl_div",
    "smooth_l1_loss",
    "huber_loss",
    "poisson_nll_loss",
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "soft_margin_loss",
    "multilabel_soft_margin_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "cosine_embedding_loss",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "ctc_loss",
    "pairwise_distance",
]
CLASSES = [
    "L1Loss",
    "MSELoss",
    "CrossEntropyLoss",
    "NLLLoss",
    "BCELoss",
    "BCEWithLogitsLoss",
    "KLDivLoss",
    "SmoothL1Loss",
    "HuberLoss",
    "PoissonNLLLoss",
    "GaussianNLLLoss",
    "HingeEmbeddingLoss",
    "MarginRankingLoss",
    "SoftMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "MultiLabelMarginLoss",
    "CosineEmbeddingLoss",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
    "CTCLoss",
    "PairwiseDistance",
]


def _params(fn, skip_self=False):
    params = list(inspect.signature(fn).parameters.values())
    if skip_self:
        params = params[1:]
    return [(p.name, p.kind, p.default) for p in params]


def test_all_21_torch_losses_are_covered():
    assert len(FUNCTIONS) == 22 and len(CLASSES) == 22  # 21 losses + pairwise_distance
    torch_losses = {n for n in dir(nn) if n.endswith("Loss") and not n.startswith("_")}
    # Not plain losses: both own a Linear layer's parameters (LinearCrossEntropyLoss is new in
    # torch 2.13, AdaptiveLogSoftmaxWithLoss is a model head); out of jaxloss's scope.
    torch_losses -= {"LinearCrossEntropyLoss", "AdaptiveLogSoftmaxWithLoss"}
    assert torch_losses <= set(CLASSES), torch_losses - set(CLASSES)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_functional_signature_is_torchs(name):
    if name == "pairwise_distance":
        # a C builtin in torch without __text_signature__: compare with torch's documented
        # signature, pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False)
        def torch_fn(x1, x2, p=2.0, eps=1e-6, keepdim=False): ...
    else:
        torch_fn = getattr(F, name)
    assert _params(getattr(jaxloss.functional, name)) == _params(torch_fn)


@pytest.mark.parametrize("name", CLASSES)
def test_class_signature_is_torchs(name):
    assert _params(getattr(jaxloss, name).__init__, True) == _params(
        getattr(nn, name).__init__, True
    )
    # called like torch: loss(input, target) (or the class's forward arguments)
    torch_forward = [p[0] for p in _params(getattr(nn, name).forward, True)]
    ours = [p[0] for p in _params(getattr(jaxloss, name).__call__, True)]
    assert ours == torch_forward


@pytest.mark.parametrize("name", TORCHVISION_LOSSES)
def test_ops_signature_is_torchvisions(name):
    assert _params(getattr(jaxloss.ops, name)) == _params(getattr(TORCHVISION_OPS, name))
