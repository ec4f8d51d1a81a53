"""``jaxloss.functional``: the losses under torch.nn.functional's names."""

from ._classification import cross_entropy as cross_entropy
from ._classification import nll_loss as nll_loss
from ._regression import l1_loss as l1_loss
from ._regression import mse_loss as mse_loss

# --- regression losses (issue 5) ---

# --- binary and divergence losses (issue 5) ---

# --- margin and embedding losses (issue 5) ---

# --- sequence losses (issue 5) ---
