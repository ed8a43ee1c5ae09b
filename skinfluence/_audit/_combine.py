"""The combined score: mean rank of the scores, each model family weighted by its fit.

Scores computed from the same model family (the ``--model`` or the randomised-tree forest)
are averaged by rank; the families are then weighted by how much better than chance their
model predicts the given labels *out of sample*: Cohen's kappa of the out-of-fold predictions
of the model and of the out-of-bag votes of the forest, clipped at 0. A family whose model
cannot fit the data (a linear model on classes arranged in shells) then no longer dilutes
the ranking with noise; two families that fit equally well count equally. Weighting by kappa
uses only the given labels, never the (unknown) truth.
"""

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import cohen_kappa_score

from ._scores import SCORES


def _model_kappa(ctx):
    proba = ctx.out_of_fold_proba()
    classes = np.unique(ctx.y)
    return cohen_kappa_score(ctx.y, classes[np.argmax(proba, axis=1)])


def _forest_kappa(ctx):
    """Kappa of the majority vote, for each row, of the trees that did not see it."""
    memorization = ctx.cache["MemorizationScorer"]
    classes = np.unique(ctx.y)
    votes = np.zeros((len(ctx.y), len(classes)))
    for tree, in_bag in zip(memorization.estimators_, memorization.in_bag_, strict=True):
        out = ~in_bag
        if out.any():
            codes = np.searchsorted(classes, tree.predict(ctx.Z[out]))
            votes[np.flatnonzero(out), codes] += 1
    seen = votes.sum(axis=1) > 0
    return cohen_kappa_score(ctx.y[seen], classes[np.argmax(votes[seen], axis=1)])


FAMILY_KAPPA = {"model": _model_kappa, "forest": _forest_kappa}


def family_weights(ctx, names):
    """Weight of each model family among ``names`` (equal when only one family is present)."""
    families = sorted({SCORES[name].family for name in names})
    if len(families) < 2:
        return dict.fromkeys(families, 1.0)
    weights = {f: max(0.0, float(FAMILY_KAPPA[f](ctx))) for f in families}
    if sum(weights.values()) == 0:  # no family beats chance: keep every score, equally
        return dict.fromkeys(families, 1.0)
    return weights


def combine(scores, weights=None):
    """Weighted mean rank in [0, 1] (higher = more suspect) of a dict of scores.

    ``weights`` maps a model family to its weight (all families 1 if None).
    """
    by_family = {}
    for name, values in scores.items():
        ranks = rankdata(np.nan_to_num(values, nan=-np.inf), method="average") / len(values)
        by_family.setdefault(SCORES[name].family if name in SCORES else name, []).append(ranks)
    weights = weights or dict.fromkeys(by_family, 1.0)
    total = sum(weights[f] for f in by_family)
    return sum(weights[f] * np.mean(r, axis=0) for f, r in by_family.items()) / total
