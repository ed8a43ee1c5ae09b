"""Data cleansing against a validation set: drop the rows that hurt it most, refit, compare.

With a gradient model, the rows removed are those whose influence on the total validation
loss is most negative (removing them lowers it most, to first order): one inverse-Hessian
solve with :meth:`InfluenceScorer.influence` and ``aggregate="sum"``. Without gradients, the
combined suspicion score chooses. The combined score is always shown beside it.
"""

import numpy as np
from sklearn.base import clone
from sklearn.utils import Bunch

from ..scorers import InfluenceScorer

PERCENTS = (0, 1, 2, 5)


def _accuracy_after_removing(ctx, order, percents, X_eval, y_eval):
    n = len(ctx.y)
    accuracies, removed = [], []
    for k in percents:
        n_drop = round(k / 100 * n)
        keep = np.ones(n, dtype=bool)
        keep[order[:n_drop]] = False
        if len(np.unique(ctx.y[keep])) < len(np.unique(ctx.y)):
            accuracies.append(float("nan"))  # a whole class removed: no comparable refit
        else:
            model = clone(ctx.model).fit(ctx.Z[keep], ctx.y[keep])
            accuracies.append(float(model.score(X_eval, y_eval)))
        removed.append(n_drop)
    return accuracies, removed


def cleanse(ctx, combined, X_select, y_select, X_eval, y_eval, percents=PERCENTS):
    """Held-out accuracy after removing the k% most harmful rows, k in ``percents``."""
    if ctx.has_gradients():
        influence = (
            InfluenceScorer(ctx.gradient_model())
            .fit(ctx.Z, ctx.y)
            .influence(X_select, y_select, aggregate="sum")
        )
        harm_order = np.argsort(influence, kind="stable")  # most negative first
        harm_name = "validation influence"
    else:
        harm_order = np.argsort(-combined, kind="stable")
        harm_name = "combined score (no gradients)"
    accuracy_harm, n_removed = _accuracy_after_removing(ctx, harm_order, percents, X_eval, y_eval)
    accuracy_combined, _ = _accuracy_after_removing(
        ctx, np.argsort(-combined, kind="stable"), percents, X_eval, y_eval
    )
    return Bunch(
        percents=list(percents),
        n_removed=n_removed,
        accuracy_harm=accuracy_harm,
        accuracy_combined=accuracy_combined,
        harm_name=harm_name,
        n_evaluate=len(y_eval),
    )
