"""Scorers: the estimators users call. One score per training row; higher = more suspect."""

from ._banzhaf import BanzhafScorer
from ._base import BaseInfluenceScorer, BaseTrainingScorer
from ._data_oob import DataOOBScorer
from ._el2n import EL2NScorer
from ._gradient_outlier import GradientOutlierScorer
from ._grand import GraNdScorer
from ._influence import InfluenceScorer
from ._knn_shapley import KNNShapleyScorer
from ._loo import LeaveOneOutScorer
from ._losses import per_sample_loss
from ._memorization import MemorizationScorer
from ._prototype import PrototypeScorer
from ._tracin import TracInScorer
from ._turnover import TurnOverDropoutScorer

__all__ = [
    "BanzhafScorer",
    "BaseInfluenceScorer",
    "BaseTrainingScorer",
    "DataOOBScorer",
    "EL2NScorer",
    "GraNdScorer",
    "GradientOutlierScorer",
    "InfluenceScorer",
    "KNNShapleyScorer",
    "LeaveOneOutScorer",
    "MemorizationScorer",
    "PrototypeScorer",
    "TracInScorer",
    "TurnOverDropoutScorer",
    "per_sample_loss",
]
