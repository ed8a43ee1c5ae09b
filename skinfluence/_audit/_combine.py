"""The combined score: mean rank of the scores, over the model families that fit best.

Scores computed from the same model family (the ``--model``, or the extremely randomised
forest) are averaged by rank. Each family is then judged by how well its model predicts the
given labels *out of sample* (out-of-fold predictions of the model, out-of-bag votes of the
forest), and only the families that fit as well as the best one enter the combination:

1. **Selection.** A family is kept unless its out-of-sample accuracy is significantly below
   the best family's: a paired test on the rows (the difference of the two per-row
   correctness indicators, mean over its standard error, must not exceed
   :data:`SELECTION_Z` = 1.96, the two-sided 5% level). Why: a row's rank in a family's
   scores is high where that family's model misfits it, and a family that fits worse misfits
   more *correctly labelled* rows; averaging its ranks in adds those false alarms to the top
   of the ranking (measured on digits: the forest alone finds flips with AUPRC 0.994, the
   rank average with logistic-regression scores 0.990, see benchmarks/README.md).
   Families that fit equally well make different mistakes, and averaging them helps.
2. **Weights.** The kept families are weighted by Cohen's kappa of those same predictions
   (clipped at 0), so that two families that fit equally well count equally.

Selection and weights use only the given labels, never the (unknown) truth.
"""

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import cohen_kappa_score

from ._scores import SCORES

#: z of the paired test that drops a family fitting significantly worse than the best: the
#: usual 5% level, not tuned (z = 1 or 3 moved no AUPRC of the mislabel benchmark by more
#: than 0.003 with logistic regression).
SELECTION_Z = 1.96


def family_proba(ctx, family):
    """Out-of-sample class probabilities of a family's model (columns: sorted classes)."""
    if family == "model":
        return ctx.out_of_fold_proba()
    return ctx.forest_oob_proba()


def family_fit(ctx, families):
    """Per family: (kappa, accuracy, kept) of its out-of-sample predictions."""
    classes = np.unique(ctx.y)
    correct = {f: classes[np.argmax(family_proba(ctx, f), axis=1)] == ctx.y for f in families}
    best = max(families, key=lambda f: correct[f].mean())
    fit = {}
    for f in families:
        diff = correct[best].astype(np.float64) - correct[f]
        se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
        kept = diff.mean() <= SELECTION_Z * se
        predicted = classes[np.argmax(family_proba(ctx, f), axis=1)]
        kappa = float(cohen_kappa_score(ctx.y, predicted))
        fit[f] = (kappa, float(correct[f].mean()), bool(kept))
    return fit


def family_weights(ctx, names):
    """Weight of each model family among ``names`` (0 for a family left out).

    One family: weight 1. Several: Cohen's kappa (clipped at 0) of the families that fit as
    well as the best one, 0 for the others; equal weights when no kept family beats chance.
    """
    families = sorted({SCORES[name].family for name in names})
    if len(families) < 2:
        return dict.fromkeys(families, 1.0)
    fit = family_fit(ctx, families)
    weights = {f: max(0.0, kappa) if kept else 0.0 for f, (kappa, _, kept) in fit.items()}
    if sum(weights.values()) == 0:  # no kept family beats chance: keep every score, equally
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
