"""Influence for gradient-boosted trees: leaf values as parameters, tree structure fixed.

A layer like :mod:`skinfluence.models`: readers turn a fitted boosted ensemble
(scikit-learn's HistGradientBoosting and GradientBoosting here; LightGBM and XGBoost when
installed) into one :class:`TreeEnsemble`, checked against the model's own predictions, and
the methods (LeafInfluence, BoostIn, the fixed-structure leave-one-out) work on it alone.
Importing this package imports neither LightGBM nor XGBoost.
"""

from ._ensemble import (
    TreeEnsemble,
    check_ensemble,
    intercept_only,
    leaf_rule,
    loss_gradient_hessian,
    per_row_loss,
    refit_leaf_values,
)
from ._readers import is_tree_ensemble, read_ensemble, register_reader

__all__ = [
    "TreeEnsemble",
    "check_ensemble",
    "intercept_only",
    "is_tree_ensemble",
    "leaf_rule",
    "loss_gradient_hessian",
    "per_row_loss",
    "read_ensemble",
    "refit_leaf_values",
    "register_reader",
]
