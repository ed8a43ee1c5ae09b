"""Data cleansing against a validation set, honest about its baselines.

With a gradient model, the rows removed are those whose influence on the total validation loss is
most negative (removing them lowers it most, to first order), as
:class:`~skinfluence.CleansingSelector` ranks them with an ``InfluenceScorer`` and the held-out rows
as ``X_val``: one inverse-Hessian solve with ``aggregate="sum"``. Without gradients, the combined
suspicion score chooses. Each choice is compared with removing as many **random** rows and with
removing none, over :data:`REPEATS` repeats: each repeat splits the held-out rows anew into a half
to select against and a half to measure on (the bundled default measures on its fixed clean test
set, and its repeats draw new random rows), and the report gives the mean accuracy and a paired 95%
interval of the difference with random removal. The combined score's choice is shown beside them.
"""

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch

from ..scorers import InfluenceScorer
from ..selection import CleansingSelector

PERCENTS = (0, 1, 2, 5)
#: Repeats of the comparison (new select / measure halves, new random rows each time).
REPEATS = 5


def _accuracy_after_removing(ctx, order, n_drop, X_eval, y_eval):
    keep = np.ones(len(ctx.y), dtype=bool)
    keep[order[:n_drop]] = False
    if len(np.unique(ctx.y[keep])) < len(np.unique(ctx.y)):
        return float("nan")  # a whole class removed: no comparable refit
    model = clone(ctx.model).fit(ctx.Z[keep], ctx.y[keep])
    return float(model.score(X_eval, y_eval))


def _harm_order(ctx, combined, X_select, y_select, n_remove):
    """The rows to remove, most harmful first (at least ``n_remove`` of them)."""
    if ctx.has_gradients():
        selector = CleansingSelector(
            ctx.model,
            scorer=InfluenceScorer(ctx.gradient_model()),
            criterion="validation",
            fraction=n_remove,
        ).fit(ctx.Z, ctx.y, X_val=X_select, y_val=y_select)
        # one round: the first k rows removed at ``fraction=n_remove`` are those removed at k
        return selector.removed_, "validation influence"
    return np.argsort(-combined, kind="stable"), "combined score (no gradients)"


def _halves(X_held, y_held, X_test, y_test, seed):
    """(X_select, y_select, X_eval, y_eval) of one repeat."""
    if X_test is not None:
        return X_held, y_held, X_test, y_test
    select, evaluate = train_test_split(
        np.arange(len(y_held)), test_size=0.5, stratify=y_held, random_state=seed
    )
    return X_held[select], y_held[select], X_held[evaluate], y_held[evaluate]


def _paired_interval(differences):
    d = np.asarray(differences, dtype=np.float64)
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return (float("nan"),) * 3
    half = 1.96 * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def cleanse(
    ctx,
    combined,
    X_held,
    y_held,
    X_test=None,
    y_test=None,
    percents=PERCENTS,
    repeats=REPEATS,
    random_state=0,
):
    """Held-out accuracy after removing the k% most harmful rows, random rows, or none."""
    n = len(ctx.y)
    rng = np.random.RandomState(random_state)
    combined_order = np.argsort(-combined, kind="stable")
    runs = {"harm": [], "random": [], "combined": []}
    harm_name = None
    for repeat in range(repeats):
        X_sel, y_sel, X_eval, y_eval = _halves(
            X_held, y_held, X_test, y_test, random_state + repeat
        )
        harm_order, harm_name = _harm_order(
            ctx, combined, X_sel, y_sel, round(max(percents) / 100 * n)
        )
        random_order = rng.permutation(n)
        for kind, order in (
            ("harm", harm_order),
            ("random", random_order),
            ("combined", combined_order),
        ):
            runs[kind].append(
                [
                    _accuracy_after_removing(ctx, order, round(k / 100 * n), X_eval, y_eval)
                    for k in percents
                ]
            )
    runs = {kind: np.asarray(values) for kind, values in runs.items()}  # (repeats, percents)
    versus_random = [
        _paired_interval(runs["harm"][:, j] - runs["random"][:, j]) for j in range(len(percents))
    ]
    return Bunch(
        percents=list(percents),
        n_removed=[round(k / 100 * n) for k in percents],
        accuracy_harm=np.nanmean(runs["harm"], axis=0).tolist(),
        accuracy_random=np.nanmean(runs["random"], axis=0).tolist(),
        accuracy_combined=np.nanmean(runs["combined"], axis=0).tolist(),
        harm_minus_random=versus_random,
        harm_name=harm_name,
        n_evaluate=len(y_test) if y_test is not None else len(y_held) - len(y_held) // 2,
        repeats=repeats,
    )
