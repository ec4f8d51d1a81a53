"""``jaxloss.functional``: the losses under torch.nn.functional's names."""

from ._classification import cross_entropy as cross_entropy
from ._classification import nll_loss as nll_loss
from ._regression import l1_loss as l1_loss
from ._regression import mse_loss as mse_loss

# --- regression losses (issue 5) ---
from ._regression import gaussian_nll_loss as gaussian_nll_loss
from ._regression import huber_loss as huber_loss
from ._regression import poisson_nll_loss as poisson_nll_loss
from ._regression import smooth_l1_loss as smooth_l1_loss

# --- binary and divergence losses (issue 5) ---
from ._binary import binary_cross_entropy as binary_cross_entropy
from ._binary import binary_cross_entropy_with_logits as binary_cross_entropy_with_logits
from ._binary import multilabel_soft_margin_loss as multilabel_soft_margin_loss
from ._binary import soft_margin_loss as soft_margin_loss
from ._divergence import kl_div as kl_div

# --- margin and embedding losses (issue 5) ---

# --- sequence losses (issue 5) ---
from ._ctc import ctc_loss as ctc_loss
