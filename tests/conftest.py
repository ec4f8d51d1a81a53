import numpy as np
import pytest
import torch


@pytest.fixture
def rng():
    """Seeded numpy generator: every random input in the suite comes from a fixed seed."""
    return np.random.default_rng(20261126)


torch.manual_seed(0)
torch.set_num_threads(1)
