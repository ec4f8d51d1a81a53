"""jaxloss: PyTorch's loss functions for JAX, with PyTorch's exact values and gradients.

Functional losses live under their torch.nn.functional names (``jaxloss.l1_loss``,
also ``jaxloss.functional.l1_loss``) and the torch.nn classes under theirs
(``jaxloss.L1Loss``).
"""

from . import functional as functional
from ._modules import CrossEntropyLoss as CrossEntropyLoss
from ._modules import L1Loss as L1Loss
from ._modules import MSELoss as MSELoss
from ._modules import NLLLoss as NLLLoss
from .functional import *  # noqa: F401,F403  (the functional losses, re-exported)

__version__ = "0.1.0"

# --- classes (issue 5) ---
from ._modules import CTCLoss as CTCLoss
from ._modules import BCELoss as BCELoss
from ._modules import BCEWithLogitsLoss as BCEWithLogitsLoss
from ._modules import GaussianNLLLoss as GaussianNLLLoss
from ._modules import HuberLoss as HuberLoss
from ._modules import KLDivLoss as KLDivLoss
from ._modules import MultiLabelSoftMarginLoss as MultiLabelSoftMarginLoss
from ._modules import PoissonNLLLoss as PoissonNLLLoss
from ._modules import SmoothL1Loss as SmoothL1Loss
from ._modules import SoftMarginLoss as SoftMarginLoss
from ._modules import CosineEmbeddingLoss as CosineEmbeddingLoss
from ._modules import HingeEmbeddingLoss as HingeEmbeddingLoss
from ._modules import MarginRankingLoss as MarginRankingLoss
from ._modules import MultiLabelMarginLoss as MultiLabelMarginLoss
from ._modules import MultiMarginLoss as MultiMarginLoss
from ._modules import PairwiseDistance as PairwiseDistance
from ._modules import TripletMarginLoss as TripletMarginLoss
from ._modules import TripletMarginWithDistanceLoss as TripletMarginWithDistanceLoss
