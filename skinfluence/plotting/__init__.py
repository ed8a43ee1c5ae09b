"""Display objects in scikit-learn's style (matplotlib is imported only when drawing)."""

from ._detection_curve import DetectionCurveDisplay
from ._influence_display import InfluenceDisplay
from ._pruning_curve import PruningCurveDisplay
from ._removal_curve import RemovalCurveDisplay

__all__ = [
    "DetectionCurveDisplay",
    "InfluenceDisplay",
    "PruningCurveDisplay",
    "RemovalCurveDisplay",
]
