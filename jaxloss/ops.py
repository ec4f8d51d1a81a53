"""``jaxloss.ops``: torchvision.ops' losses under torchvision's names, signatures and defaults.

``from jaxloss.ops import sigmoid_focal_loss`` where torch code has
``from torchvision.ops import sigmoid_focal_loss``. The same functions are also
``jaxloss.<name>``. torchvision has no classes for them, so neither has jaxloss.
"""

from ._detection import complete_box_iou_loss as complete_box_iou_loss
from ._detection import distance_box_iou_loss as distance_box_iou_loss
from ._detection import generalized_box_iou_loss as generalized_box_iou_loss
from ._detection import sigmoid_focal_loss as sigmoid_focal_loss

__all__ = [
    "complete_box_iou_loss",
    "distance_box_iou_loss",
    "generalized_box_iou_loss",
    "sigmoid_focal_loss",
]
