"""Scorers: the estimators users call. One score per training row; higher = more suspect."""

from ._banzhaf import BanzhafScorer
from ._base import BaseInfluenceScorer, BaseTrainingScorer
from ._combined import (
    CombinedScorer,
    family_fit,
    family_fit_regression,
    family_weights,
    rank_average,
)
from ._data_oob import DataOOBScorer
from ._el2n import EL2NScorer
from ._gradient_outlier import GradientOutlierScorer
from ._grand import GraNdScorer
from ._influence import InfluenceScorer
from ._knn_shapley import KNNShapleyScorer
from ._loo import LeaveOneOutScorer
from ._loo_groups import LeaveOneGroupOutScorer
from ._loss import LossScorer
from ._losses import per_sample_loss
from ._memorization import MemorizationScorer
from ._out_of_bag import OutOfBagScorer
from ._prototype import PrototypeScorer
from ._residual import ResidualScorer
from ._tracin import TracInScorer
from ._trak import RandomProjection, TRAKScorer
from ._turnover import TurnOverDropoutScorer

__all__ = [
    "BanzhafScorer",
    "BaseInfluenceScorer",
    "BaseTrainingScorer",
    "CombinedScorer",
    "DataOOBScorer",
    "EL2NScorer",
    "GraNdScorer",
    "GradientOutlierScorer",
    "InfluenceScorer",
    "KNNShapleyScorer",
    "LeaveOneGroupOutScorer",
    "LeaveOneOutScorer",
    "LossScorer",
    "MemorizationScorer",
    "OutOfBagScorer",
    "PrototypeScorer",
    "RandomProjection",
    "ResidualScorer",
    "TRAKScorer",
    "TracInScorer",
    "TurnOverDropoutScorer",
    "family_fit",
    "family_fit_regression",
    "family_weights",
    "per_sample_loss",
    "rank_average",
]
