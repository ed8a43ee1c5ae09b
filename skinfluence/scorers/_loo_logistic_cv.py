"""Exact leave-one-out of ``LogisticRegressionCV`` *with its C selection re-run*, by Newton refits.

``LogisticRegressionCV(refit=True)`` (l2) fits, for every fold k and every C of ``Cs_``, the
l2 logistic model on the fold's training rows, scores it on the fold's validation rows with its
``scoring``, picks the first C maximising the sum of the fold scores and refits on all rows at
that C. Its leave-one-out model without row i re-runs all of it. Here:

- for every (fold k, C) the fold model is fitted once (``LogisticRegression(C)``,
  newton-cholesky, to ``tol``). ``coefs_paths_`` of a search run at the model's own tolerance
  (lbfgs, 1e-4) are 1e-3 from that optimum (gradient / n ≈ 1e-4 at 10⁴ × 20), no start for the
  refits; those of the search tightened to 1e-10 equal it to 1e-10, but the |folds| × |Cs|
  fits cost about 5 % of the whole (0.5 s of 9.4 s at 10⁴ × 20), so they are simply redone.
  For every row i of the fold's training part, its refit without i comes from the Newton
  iterations of
  :mod:`~skinfluence.scorers._loo_newton` (to ``tol``, vectorised over blocks of rows); the
  fold's validation rows are scored under each refit with the estimator's own scoring;
- a row i in fold k's validation part leaves that fold's model unchanged and is dropped from
  its validation score;
- the fold scores are summed and the first best C is taken (``np.argmax``, as scikit-learn);
- the final model without i at the selected C is the Newton refit of the full-data model at
  that C.

**What is held fixed: the folds.** The folds are those of the full data
(``check_cv(cv, y, classifier=True).split(X, y)``), with row i taken out of its fold. That is
exactly scikit-learn's refit when ``cv`` is an explicit list of splits given in the indices of
the remaining rows; with an integer ``cv`` or a ``(Stratified)KFold`` splitter, scikit-learn's
refit on n − 1 rows re-splits them: unshuffled, each class's contiguous fold blocks shift by
up to one row at each boundary after row i (a few rows change folds); shuffled, the whole
assignment changes. That can change the selected C (how often is measured in
benchmarks/README.md, ``bench_loo_logistic_cv_folds.py``). Supported scorings: the
default (accuracy), ``"accuracy"`` and ``"neg_log_loss"``; anything else, sample weights,
``class_weight``, sparse X, l1/elastic-net, ``refit=False``, liblinear/sag/saga or a fold
without every class is left to the model's own refits.

Cost: per (fold, C) one O(n_k p² + p³) factorisation and O(n_k · nnz(X_k) · K) per Newton
iteration for all n_k refits together, plus O(n_k · n_val · p K) for the validation scores;
then the final refits as for ``LogisticRegression``. About |folds| × |Cs| × (1 − 1/|folds|)²
+ 1 times the ``LogisticRegression`` leave-one-out, against n full CV searches.
"""

import numbers

import numpy as np
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import check_cv
from sklearn.utils import gen_batches

from ..models import adapter_for
from ._loo_newton import _LeaveOneOutProblem, stacked_operands

_SCORINGS = (None, "warn", "accuracy", "neg_log_loss")
_SOLVERS = ("lbfgs", "newton-cg", "newton-cholesky")


def logistic_cv_applies(estimator, X, y, sample_weight):
    """Whether :func:`logistic_cv_leave_one_out` computes ``estimator``'s leave-one-out (the
    unfitted parameters and the data; the folds are checked when it runs)."""
    if type(estimator) is not LogisticRegressionCV or sample_weight is not None:
        return False
    params = estimator.get_params(deep=False)
    if not params["refit"] or params.get("dual") or params.get("class_weight") is not None:
        return False
    if params["solver"] not in _SOLVERS or not _is_l2(params):
        return False
    scoring = params.get("scoring")
    if not (scoring is None or (isinstance(scoring, str) and scoring in _SCORINGS)):
        return False
    if not isinstance(X, np.ndarray) or X.ndim != 2 or np.ndim(y) != 1:
        return False
    if _reshuffles(params["cv"]):
        return False
    return isinstance(params["Cs"], numbers.Integral) or np.all(np.asarray(params["Cs"]) > 0)


def _is_l2(params):
    penalty, ratios = params.get("penalty", "deprecated"), params.get("l1_ratios")
    ratios_l2 = ratios in ("warn", None) or (np.ndim(ratios) == 1 and not np.any(ratios))
    return penalty in ("deprecated", "l2") and ratios_l2


def logistic_cv_leave_one_out(base, X, y, *, tol, max_iter=50):
    """θ₋ᵢ of every row (the adapter layout of ``base``), the C each selects and convergence.

    Parameters
    ----------
    base : LogisticRegressionCV
        Fitted on all rows (to ``tol``).
    X, y
        Its training data.
    tol : float
        Stop every Newton refit at max |∇J₋ᵢ| / (n − 1) ≤ tol.

    Returns
    -------
    thetas : ndarray of shape (n, p) or None
        None when the folds do not qualify (a fold's training part without every class, a
        validation part of one row, folds that cannot be split again as the model did), the
        search on all rows does not select ``base.C_`` (a check that it is the model's own
        search) or a fold model is not a usable start: the caller refits.
    Cs : ndarray of shape (n,)
        The C the search without row i selects.
    cv_scores : ndarray of shape (n, n_Cs)
        The sum over folds of the validation scores without row i (what scikit-learn
        maximises).
    converged : ndarray of bool, shape (n,)
        False where a Newton refit did not converge: refit those rows otherwise.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    n = len(y)
    classes = base.classes_
    codes = np.searchsorted(classes, y)
    Cs = np.asarray(base.Cs_, dtype=np.float64)
    folds = _folds(base.cv, X, y)
    if folds is None:
        return None, None, None, None
    for train, test in folds:
        if len(test) < 2 or np.unique(codes[train]).size != len(classes):
            return None, None, None, None
        if np.min(np.bincount(codes[train], minlength=len(classes))) < 2:
            return None, None, None, None
    scoring = base.scoring if isinstance(base.scoring, str) else None
    log_loss = scoring == "neg_log_loss"
    scores = np.empty((n, len(folds), len(Cs)))
    full_scores = np.empty((len(folds), len(Cs)))
    converged = np.ones(n, dtype=bool)
    for k, (train, test) in enumerate(folds):
        Xv, cv_ = X[test], codes[test]
        in_fold = np.zeros(n, dtype=bool)
        in_fold[test] = True
        for c, C in enumerate(Cs):
            adapter = _fitted_adapter(base, C, X[train], y[train], tol)
            # the fold model without a validation row: unchanged, the row left out of the score
            full = _row_scores(adapter, adapter.params()[None], Xv, cv_, log_loss)[:, 0]
            total = full.sum()
            full_scores[k, c] = full.mean()
            scores[test, k, c] = (total - full) / (len(test) - 1)
            thetas, conv = _newton_rows(adapter, X[train], y[train], tol, max_iter)
            if thetas is None:
                return None, None, None, None
            converged[train] &= conv
            for batch in gen_batches(len(train), 256):
                per = _row_scores(adapter, thetas[batch], Xv, cv_, log_loss)
                scores[train[batch], k, c] = per.mean(axis=0)
    if log_loss:
        scores, full_scores = -scores, -full_scores
    if Cs[np.argmax(full_scores.sum(axis=0))] != np.ravel(base.C_)[0]:
        # not the search the model ran (other folds, or a near-tie scored differently)
        return None, None, None, None
    cv_scores = scores.sum(axis=1)  # over folds, as LogisticRegressionCV
    chosen = np.argmax(cv_scores, axis=1)  # the first best C
    thetas = np.empty((n, adapter_for(base).n_params))
    for c in np.unique(chosen):
        rows = np.flatnonzero(chosen == c)
        adapter = _fitted_adapter(base, Cs[c], X, y, tol)
        theta_c, conv = _newton_rows(adapter, X, y, tol, max_iter, rows)
        if theta_c is None:
            return None, None, None, None
        thetas[rows] = theta_c
        converged[rows] &= conv
    return thetas, Cs[chosen], cv_scores, converged


def _folds(cv, X, y):
    """The full data's folds, or None where splitting again would not give the model's own
    (a shuffling splitter without an integer seed, a splitter that needs groups, a consumed
    iterator)."""
    if _reshuffles(cv):
        return None
    try:
        folds = [
            (np.asarray(tr), np.asarray(te))
            for tr, te in check_cv(cv, y, classifier=True).split(X, y)
        ]
    except (TypeError, ValueError):
        return None
    return folds or None


def _reshuffles(cv):
    """A shuffling splitter without an integer seed: each split differs."""
    seed = getattr(cv, "random_state", None)
    return bool(getattr(cv, "shuffle", False)) and not isinstance(seed, numbers.Integral)


def _fitted_adapter(base, C, X, y, tol):
    """The adapter of ``LogisticRegression(C)`` fitted on (X, y) by newton-cholesky to tol."""
    model = LogisticRegression(
        C=C,
        solver="newton-cholesky",
        tol=tol,
        max_iter=max(int(base.max_iter), 10_000),
        fit_intercept=base.fit_intercept,
    ).fit(X, y)
    return adapter_for(model)


def _newton_rows(adapter, X, y, tol, max_iter, rows=None):
    """θ₋ᵢ of ``rows`` (default all) by the shared-factorisation Newton iterations; None if
    the adapter's θ̂ is not stationary or its Hessian is not usable."""
    problem = _LeaveOneOutProblem(adapter, X, y, None)
    n = problem.n
    rows = np.arange(n) if rows is None else np.asarray(rows, dtype=int)
    if np.abs(problem.g_full).max() > 100 * tol * n or not problem.factorise(rows):
        return None, None
    thetas = np.empty((len(rows), problem.n_params))
    converged = np.zeros(len(rows), dtype=bool)
    for batch in gen_batches(len(rows), problem.block_size):
        thetas[batch], _, converged[batch] = problem.solve(rows[batch], tol, max_iter)
    return thetas, converged


def _row_scores(adapter, thetas, Xv, codes, log_loss):
    """Per validation row and model: correct (accuracy) or log-loss, shape (n_val, b)."""
    b, K = thetas.shape[0], adapter.n_outputs
    coef, intercept = stacked_operands(adapter, thetas)
    eta = (Xv @ coef).reshape(-1, b, K)
    if intercept is not None:
        eta += intercept
    if K == 1:
        if not log_loss:
            return ((eta[:, :, 0] > 0).astype(int) == codes[:, None]).astype(float)
        p1 = 1.0 / (1.0 + np.exp(-eta[:, :, 0]))
        p = np.where(codes[:, None] == 1, p1, 1.0 - p1)
    else:
        if not log_loss:
            return (np.argmax(eta, axis=2) == codes[:, None]).astype(float)
        eta -= eta.max(axis=2, keepdims=True)
        prob = np.exp(eta)
        prob /= prob.sum(axis=2, keepdims=True)
        p = np.take_along_axis(prob, codes[:, None, None], axis=2)[:, :, 0]
    eps = np.finfo(np.float64).eps
    return -np.log(np.clip(p, eps, 1 - eps))


def estimator_at(adapter, theta, C):
    """The LogisticRegressionCV fitted without a row: the adapter's copy at θ with its C_
    (its other search attributes, ``scores_`` and ``coefs_paths_``, are the full data's)."""
    est = adapter.with_params(theta).estimator
    est.C_ = np.full_like(np.asarray(est.C_, dtype=np.float64), C)
    return est
