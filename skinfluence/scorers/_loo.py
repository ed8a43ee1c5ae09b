"""``LeaveOneOutScorer``: actual leave-one-out retraining, the ground truth for influence."""

import copy
import numbers

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import is_classifier
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing, gen_even_slices
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted
from tqdm.auto import tqdm

from .._validation import n_jobs_constraint
from ..models import GeneralizedLinear, adapter_for
from ._base import BaseTrainingScorer, fit_clone, sample_weight_param, validated_sample_weight
from ._loo_newton import newton_leave_one_out


def per_sample_loss(estimator, X, y):
    """Per-sample loss of a fitted estimator: the adapter's loss where there is one (the loss
    the model minimises), else the log-loss of ``predict_proba`` (classifiers) or the
    squared error (regressors)."""
    try:
        return adapter_for(estimator).loss(X, y)
    except TypeError:
        pass
    if is_classifier(estimator) and hasattr(estimator, "predict_proba"):
        proba = np.clip(estimator.predict_proba(X), 1e-15, 1.0)
        codes = np.searchsorted(estimator.classes_, y)
        return -np.log(proba[np.arange(len(codes)), codes])
    pred = np.asarray(estimator.predict(X), dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return ((pred - y) ** 2).reshape(len(y), -1).sum(axis=1)


def n_parallel_batches(n_fits, n_jobs, verbose=0):
    """How many joblib tasks to split ``n_fits`` fits into.

    About four tasks per worker of the *active* joblib backend (``effective_n_jobs`` reads
    ``joblib.parallel_config``, so a dask cluster's workers count), one task when
    sequential, at least 20 with a progress bar so that it moves.
    """
    workers = effective_n_jobs(n_jobs)
    n_tasks = 1 if workers == 1 else 4 * workers
    if verbose:
        n_tasks = max(n_tasks, 20)
    return max(1, min(n_fits, n_tasks))


_QUASI_NEWTON = ("lbfgs", "newton-cg", "sag", "saga")


def _final_step(estimator):
    return estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator


def _tightened(estimator, tol):
    """A clone-able copy of ``estimator`` with a tight tolerance, where it has one."""
    est = copy.deepcopy(estimator)
    step = _final_step(est)
    params = step.get_params(deep=False)
    if tol is not None and "tol" in params and params["tol"] is not None:
        step.set_params(tol=tol)
        if "max_iter" in params and params["max_iter"] is not None:
            step.set_params(max_iter=max(params["max_iter"], 10_000))
        if type(step).__name__ == "LogisticRegression" and params.get("solver") in _QUASI_NEWTON:
            # Same objective and minimiser; Newton's method reaches 1e-10 where L-BFGS stalls
            # around 1e-6 in the loss, which is the size of the smallest influences.
            step.set_params(solver="newton-cholesky")
    return est


# The Newton refits keep a dense p × p inverse Hessian, as the ``direct`` solver does.
_NEWTON_MAX_PARAMS = 5000


def _newton_adapter(base):
    """The adapter whose objective the Newton refits may minimise, or None.

    Only an estimator with a :class:`~skinfluence.models.GeneralizedLinear` adapter (closed-form
    curvature), not a Pipeline (its preprocessing
    is refitted too) and not ``class_weight='balanced'`` (the weights change with the rows).
    """
    if isinstance(base, Pipeline) or getattr(base, "class_weight", None) == "balanced":
        return None
    try:
        adapter = adapter_for(base)
    except TypeError:
        return None
    if not isinstance(adapter, GeneralizedLinear) or adapter.n_params > _NEWTON_MAX_PARAMS:
        return None
    return adapter


def _refit_without(base, X, y, sample_weight, rows, warm_start):
    """Fit a copy of ``base`` without each row in ``rows``; returns the fitted copies."""
    n = len(y)
    models = []
    for i in rows:
        keep = np.delete(np.arange(n), i)
        model = copy.deepcopy(base)
        if warm_start:
            _final_step(model).set_params(warm_start=True)
        fit_params = {}
        if sample_weight is not None:
            fit_params = sample_weight_param(model, sample_weight[keep])
        model.fit(_safe_indexing(X, keep), y[keep], **fit_params)
        models.append(model)
    return models


class LeaveOneOutScorer(BaseTrainingScorer):
    """Exact leave-one-out influence by retraining the model without each training row.

    ``influence(X_test, y_test)[t, i] = L(z_t; θ₋ᵢ) − L(z_t; θ)`` measured by refitting:
    the ground truth that :class:`InfluenceScorer` approximates, in the same units and sign
    (positive = row i helps z_t). ``scores_`` is each row's actual self-influence
    ``L(z_i; θ₋ᵢ) − L(z_i; θ)``. Works for any estimator (the loss is the model's own for
    supported families, else log-loss or squared error).

    Parameters
    ----------
    estimator : estimator object
        Any scikit-learn estimator; ``fit`` fits clones.
    warm_start : bool, default=True
        Start each refit from the full-data solution. For ``LogisticRegression`` (l2 or no
        penalty), ``Ridge`` and ``LinearRegression`` (not inside a Pipeline, not
        ``class_weight='balanced'``) the refits are Newton iterations on the objective
        without the row, all preconditioned by the one full-data Hessian factorisation and run
        together as matrix products (see Notes): 16-95× faster than separate fits in
        ``benchmarks/bench_retraining.py``, to the same ``refit_tol``. Other models that have
        a ``warm_start`` parameter get it set. False: every refit starts from scratch with
        the model's own solver.
    refit_tol : float or None, default=1e-10
        Tolerance set on the model (and on the full-data fit it is compared with) where it
        has a ``tol`` parameter, so that differences reflect the data, not the optimiser.
        None keeps the model's own tolerance.
    n_jobs : int, default=None
        Refits run in parallel through joblib (``joblib.parallel_config`` selects the
        backend, e.g. dask).
    verbose : int, default=0
        Progress bar over refits when > 0.

    Attributes
    ----------
    estimator_ : estimator
        The model refitted on all rows with ``refit_tol``.
    estimators_ : list of estimators
        ``estimators_[i]`` was fitted without row i.
    refit_method_ : {"newton", "refit", "mixed"}
        How the leave-one-out models were obtained: shared-factorisation Newton iterations,
        the model's own ``fit``, or both (rows whose Newton iteration did not converge in 50
        iterations are refitted with ``fit``).
    n_iter_ : ndarray of shape (n_train,)
        Newton iterations of each refit (0 where the model's ``fit`` was used).
    scores_ : ndarray of shape (n_train,)
        Actual self-influence.

    Notes
    -----
    Cost: n + 1 fits (n training rows) and memory for n fitted models; one prediction per
    model and test batch for ``influence``. Use on small data or subsets, as ground truth.

    The Newton refits (``warm_start=True`` on the linear models above) solve
    ``min J(θ) − w_i ℓ_i(θ)`` by ``θ ← θ − (H − w_i ∇²ℓ_i(θ̂))⁻¹ ∇J₋ᵢ(θ)`` from the full-data
    solution θ̂, with the Woodbury identity on one factorisation of the full-data Hessian H
    (K × K solves per row; K outputs). The fixed point is the exact minimiser; the iteration
    stops at scikit-learn's criterion max|∇J₋ᵢ| / Σ_{j≠i} w_j ≤ ``refit_tol``. Cost: one
    O(n p² + p³) factorisation, then O(n · nnz(X) · K) per iteration for all n refits
    together (typically 3-6 iterations), memory O(p² + 32 MiB). They are used only when θ̂ is
    a stationary point of skinfluence's objective to 100 × ``refit_tol`` — a check that the
    objective is the one the model minimises — and the tests compare them with the model's
    own cold refits.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import scale
    >>> from skinfluence import LeaveOneOutScorer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = scale(X)[:60]; y = y[:60]
    >>> loo = LeaveOneOutScorer(LogisticRegression()).fit(X, y)
    >>> loo.influence(X[:2], y[:2]).shape
    (2, 60)
    """

    score_name = "loo_self_influence"

    _parameter_constraints = {  # noqa: RUF012
        "estimator": [object],
        "warm_start": ["boolean"],
        "refit_tol": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "n_jobs": n_jobs_constraint(),
        "verbose": ["verbose"],
    }

    def __init__(self, estimator, *, warm_start=True, refit_tol=1e-10, n_jobs=None, verbose=0):
        self.estimator = estimator
        self.warm_start = warm_start
        self.refit_tol = refit_tol
        self.n_jobs = n_jobs
        self.verbose = verbose

    def fit(self, X, y, sample_weight=None):
        """Refit the model without each row; compute ``scores_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : LeaveOneOutScorer
        """
        self._validate_params()
        X, y = self._validate_Xy(X, y, reset=True)
        sample_weight = validated_sample_weight(sample_weight, len(y))
        if type(self.estimator).__name__ == "FrozenEstimator":
            raise TypeError(
                "LeaveOneOutScorer retrains the model; pass the unfitted estimator, not a "
                "FrozenEstimator."
            )
        base = fit_clone(_tightened(self.estimator, self.refit_tol), X, y, sample_weight)
        n = len(y)
        bar = tqdm(total=n, desc="LeaveOneOutScorer", unit="fit", disable=not self.verbose)
        models = [None] * n
        self.n_iter_ = np.zeros(n, dtype=int)
        adapter = _newton_adapter(base) if self.warm_start and self.refit_tol else None
        if adapter is not None:
            thetas, n_iter, converged = newton_leave_one_out(
                adapter, X, y, sample_weight, tol=self.refit_tol, progress=bar.update
            )
            if thetas is None:  # not a stationary point of the adapter's objective
                bar.reset()
            else:
                for i in np.flatnonzero(converged):
                    models[i] = adapter.with_params(thetas[i]).estimator
                self.n_iter_[converged] = n_iter[converged]
                bar.update(-int(np.sum(~converged)))
        todo = np.array([i for i, m in enumerate(models) if m is None], dtype=int)
        self.refit_method_ = "newton" if len(todo) == 0 else "refit" if len(todo) == n else "mixed"
        warm = self.warm_start and "warm_start" in _final_step(base).get_params(deep=False)
        if len(todo):
            n_tasks = n_parallel_batches(len(todo), self.n_jobs, self.verbose)
            parallel = Parallel(n_jobs=self.n_jobs, return_as="generator")
            batches = [todo[s] for s in gen_even_slices(len(todo), n_tasks)]
            tasks = parallel(
                delayed(_refit_without)(base, X, y, sample_weight, rows, warm) for rows in batches
            )
            for rows, fitted in zip(batches, tasks, strict=True):
                for i, m in zip(rows, fitted, strict=True):
                    models[i] = m
                bar.update(len(rows))
        bar.close()
        self.estimators_ = models
        self.estimator_ = base
        self.scores_ = np.array(
            [
                per_sample_loss(m, _safe_indexing(X, [i]), y[[i]])[0]
                for i, m in enumerate(self.estimators_)
            ]
        ) - per_sample_loss(base, X, y)
        return self

    def influence(self, X_test, y_test, *, aggregate=None):
        """Actual change of each test row's loss when each training row is left out.

        Same signature, shape and units as :meth:`InfluenceScorer.influence`.
        """
        check_is_fitted(self)
        if aggregate not in (None, "sum", "mean"):
            raise ValueError(f"aggregate must be None, 'sum' or 'mean'; got {aggregate!r}.")
        X_test, y_test = self._validate_Xy(X_test, y_test, reset=False)
        full = per_sample_loss(self.estimator_, X_test, y_test)
        infl = np.stack([per_sample_loss(m, X_test, y_test) for m in self.estimators_], axis=1)
        infl -= full[:, None]
        if aggregate == "sum":
            return infl.sum(axis=0)
        if aggregate == "mean":
            return infl.mean(axis=0)
        return infl

    def score_samples(self, X, y=None):
        """Mean over the leave-one-out models of the loss increase of labelled rows.

        Actual self-influence is defined for training rows only (``scores_``); for other
        rows this is their average influence from one removed training row, shape
        (n_samples,). ``y=None`` uses the fitted model's predictions.
        """
        check_is_fitted(self)
        if y is None:
            y = self.predicted_labels(self._validate_X(X, reset=False))
        return self.influence(X, y).mean(axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.sparse = not self._accepts_raw_X()
        return tags
