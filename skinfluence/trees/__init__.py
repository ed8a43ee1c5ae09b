"""Influence for gradient-boosted trees: leaf values as parameters, tree structure fixed.

A layer like :mod:`skinfluence.models`: readers turn a fitted boosted ensemble
(scikit-learn's HistGradientBoosting and GradientBoosting here; LightGBM and XGBoost when
installed) into one :class:`TreeEnsemble`, checked against the model's own predictions, and
the methods (LeafInfluence, BoostIn, the fixed-structure leave-one-out) work on it alone.
Importing this package imports neither LightGBM nor XGBoost.
"""

from ._adapter import TreeEnsembleAdapter, register_tree_model
from ._ensemble import (
    TreeEnsemble,
    check_ensemble,
    refit_leaf_values,
)
from ._methods import (
    boostin,
    boostin_self,
    leaf_influence,
    leaf_influence_self,
    leaf_refit,
    leaf_refit_self,
)
from ._readers import (
    _register_boosting,
    _register_sklearn,
    is_tree_ensemble,
    read_ensemble,
    register_reader,
)

_register_sklearn()
_register_boosting()

__all__ = [
    "TreeEnsemble",
    "TreeEnsembleAdapter",
    "boostin",
    "boostin_self",
    "check_ensemble",
    "is_tree_ensemble",
    "leaf_influence",
    "leaf_influence_self",
    "leaf_refit",
    "leaf_refit_self",
    "read_ensemble",
    "refit_leaf_values",
    "register_reader",
    "register_tree_model",
]
