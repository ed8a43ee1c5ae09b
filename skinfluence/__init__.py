"""skinfluence: which training rows drive a prediction, and which can be dropped or fixed.

Influence functions, memorisation, difficulty scores and data pruning as scikit-learn
estimators. ``import skinfluence`` never imports torch or matplotlib.
"""

from . import exceptions
from ._audit import AuditResult, audit
from .scorers import (
    BanzhafScorer,
    CombinedScorer,
    DataOOBScorer,
    EL2NScorer,
    GradientOutlierScorer,
    GraNdScorer,
    InfluenceScorer,
    KNNShapleyScorer,
    LeaveOneGroupOutScorer,
    LeaveOneOutScorer,
    LossScorer,
    MemorizationScorer,
    OutOfBagScorer,
    PrototypeScorer,
    ResidualScorer,
    TracInScorer,
    TRAKScorer,
    TurnOverDropoutScorer,
)
from .selection import CleansingSelector, PruningSelector

__version__ = "0.1.0.dev0"

__all__ = [
    "AuditResult",
    "BanzhafScorer",
    "CleansingSelector",
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
    "PruningSelector",
    "ResidualScorer",
    "TRAKScorer",
    "TracInScorer",
    "TurnOverDropoutScorer",
    "audit",
    "exceptions",
]
