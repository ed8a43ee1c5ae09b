"""What holding the folds fixed changes: LeaveOneOutScorer(LogisticRegressionCV) against
scikit-learn's actual refits, which re-split the n − 1 remaining rows (``cv=3``).

``LeaveOneOutScorer`` re-runs the C search without row i on the full data's folds with row i
taken out (``skinfluence/scorers/_loo_logistic_cv.py``); ``LogisticRegressionCV(cv=3).fit``
on the n − 1 rows re-splits them by ``StratifiedKFold(3)``. For each setting this prints the
share of rows whose selected C differs and the agreement of the influence matrices (100 test
rows) and of the self-influence. Cold refits at tol 1e-10 (newton-cholesky), so the only
difference is the folds. Usage: ``python benchmarks/bench_loo_logistic_cv_folds.py``.
"""

import warnings

import numpy as np
from sklearn.linear_model import LogisticRegressionCV

from skinfluence import LeaveOneOutScorer
from skinfluence.scorers import per_sample_loss


def _data(n, p, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    w = rng.standard_normal(p) / np.sqrt(p) * 2.0
    y = (X @ w + rng.logistic(size=n) > 0).astype(int)
    return X, y


def main():
    print(
        "| n | p | scoring | rows whose C differs | Pearson influence | Pearson self "
        "| max abs diff / max abs |"
    )
    print("|---|---|---|---|---|---|---|")
    for n, p, scoring in [
        (100, 5, "accuracy"),
        (100, 5, "neg_log_loss"),
        (300, 10, "accuracy"),
        (300, 10, "neg_log_loss"),
    ]:
        X, y = _data(n, p, n + p)
        Xt, yt = _data(100, p, 7)
        params = {
            "Cs": [0.1, 1.0, 10.0],
            "cv": 3,
            "scoring": scoring,
            "l1_ratios": (0,),
            "use_legacy_attributes": False,
        }
        loo = LeaveOneOutScorer(LogisticRegressionCV(**params)).fit(X, y)
        assert loo.refit_method_ == "newton"
        ours = loo.influence(Xt, yt)
        full = per_sample_loss(loo.estimator_, Xt, yt)
        actual = np.empty_like(ours)
        own = np.empty(n)
        differs = 0
        for i in range(n):
            keep = np.delete(np.arange(n), i)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = LogisticRegressionCV(
                    **params, solver="newton-cholesky", tol=1e-10, max_iter=10_000
                ).fit(X[keep], y[keep])
            differs += m.C_ != loo.estimators_[i].C_
            actual[:, i] = per_sample_loss(m, Xt, yt) - full
            own[i] = per_sample_loss(m, X[i : i + 1], y[i : i + 1])[0]
        self_actual = own - per_sample_loss(loo.estimator_, X, y)
        r = np.corrcoef(ours.ravel(), actual.ravel())[0, 1]
        r_self = np.corrcoef(loo.scores_, self_actual)[0, 1]
        rel = np.abs(ours - actual).max() / np.abs(actual).max()
        print(
            f"| {n} | {p} | {scoring} | {differs}/{n} | {r:.5f} | {r_self:.5f} | {rel:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
