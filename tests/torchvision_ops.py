"""torchvision 0.28.0's loss functions, the reference for ``jaxloss.ops``.

``import torchvision`` needs its compiled operators (e.g. ``torchvision::nms``), which a CPU
build of torch beside the torchvision wheel does not always load. Its loss files
(``torchvision/ops/focal_loss.py``, ``giou_loss.py``, ``diou_loss.py``, ``ciou_loss.py`` and
``_utils.py``) are plain torch, so they are loaded here on their own, by path, from the
installed wheel, under stub ``torchvision`` / ``torchvision.ops`` / ``torchvision.utils``
packages (``_log_api_usage_once`` is torchvision's usage logging: a no-op here). Nothing of
jaxloss is involved.

    from torchvision_ops import TORCHVISION_OPS
    TORCHVISION_OPS.sigmoid_focal_loss(inputs, targets, reduction="mean")
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
import types
from pathlib import Path

VERSION = "0.28.0"
LOSSES = (
    "sigmoid_focal_loss",
    "generalized_box_iou_loss",
    "distance_box_iou_loss",
    "complete_box_iou_loss",
)
_FILES = ("_utils", "focal_loss", "giou_loss", "diou_loss", "ciou_loss")  # dependencies first
_PREFIX = "_torchvision_reference"  # the stub package's name: never the real torchvision


def _ops_dir() -> Path:
    dist = importlib.metadata.distribution("torchvision")
    if dist.version != VERSION:
        raise RuntimeError(f"the reference is torchvision=={VERSION}; found {dist.version}")
    return Path(str(dist.locate_file("torchvision/ops")))


def load() -> types.SimpleNamespace:
    """torchvision's four losses (and CIoU's helper), as functions of torch tensors."""
    ops_dir = _ops_dir()
    package = types.ModuleType(_PREFIX)
    package.__path__ = []
    utils = types.ModuleType(f"{_PREFIX}.utils")
    utils._log_api_usage_once = lambda obj: None  # type: ignore[attr-defined]
    ops = types.ModuleType(f"{_PREFIX}.ops")
    ops.__path__ = [str(ops_dir)]
    sys.modules.update({_PREFIX: package, f"{_PREFIX}.utils": utils, f"{_PREFIX}.ops": ops})
    modules = {}
    for name in _FILES:
        spec = importlib.util.spec_from_file_location(
            f"{_PREFIX}.ops.{name}", ops_dir / f"{name}.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        modules[name] = module
    return types.SimpleNamespace(
        sigmoid_focal_loss=modules["focal_loss"].sigmoid_focal_loss,
        generalized_box_iou_loss=modules["giou_loss"].generalized_box_iou_loss,
        distance_box_iou_loss=modules["diou_loss"].distance_box_iou_loss,
        complete_box_iou_loss=modules["ciou_loss"].complete_box_iou_loss,
        # (DIoU loss, IoU) of two sets of boxes: the helper CIoU builds on
        diou_iou_loss=modules["diou_loss"]._diou_iou_loss,
    )


TORCHVISION_OPS = load()
