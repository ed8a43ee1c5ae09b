"""Scorers: the estimators users call. One score per training row; higher = more suspect."""

from ._base import BaseTrainingScorer
from ._influence import InfluenceScorer
from ._loo import LeaveOneOutScorer, per_sample_loss
from ._memorization import MemorizationScorer
from ._turnover import TurnOverDropoutScorer

__all__ = [
    "BaseTrainingScorer",
    "InfluenceScorer",
    "LeaveOneOutScorer",
    "MemorizationScorer",
    "TurnOverDropoutScorer",
    "per_sample_loss",
]
