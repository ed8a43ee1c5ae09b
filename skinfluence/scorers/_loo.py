"""``LeaveOneOutScorer``: actual leave-one-out retraining, the ground truth for influence."""

import copy
import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing, gen_even_slices
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.parallel import Parallel, delayed

from .._utils._docstring import inject_docs
from .._utils._estimators import final_estimator
from .._utils._parallel import n_parallel_batches
from .._utils._progress import progress_bar
from .._validation import shared_constraints
from ..models import GeneralizedLinear, adapter_for
from ._base import BaseInfluenceScorer, fit_clone, refuse_frozen, sample_weight_param
from ._loo_logistic_cv import estimator_at as logistic_cv_estimator_at
from ._loo_logistic_cv import logistic_cv_applies, logistic_cv_leave_one_out
from ._loo_losses import own_losses, stacked_losses
from ._loo_newton import newton_leave_one_out
from ._loo_ridge_cv import estimator_at, ridge_cv_applies, ridge_cv_leave_one_out
from ._losses import per_sample_loss
from ._target_influence import target_differences

_QUASI_NEWTON = ("lbfgs", "newton-cg", "sag", "saga")


def _tightened(estimator, tol):
    """A clone-able copy of ``estimator`` with a tight tolerance, where it has one."""
    est = copy.deepcopy(estimator)
    step = final_estimator(est)
    params = step.get_params(deep=False)
    if tol is not None and "tol" in params and params["tol"] is not None:
        step.set_params(tol=tol)
        if "max_iter" in params and params["max_iter"] is not None:
            step.set_params(max_iter=max(params["max_iter"], 10_000))
        if type(step) is LogisticRegression and params.get("solver") in _QUASI_NEWTON:
            # Same objective and minimiser; Newton's method reaches 1e-10 where L-BFGS stalls
            # around 1e-6 in the loss, which is the size of the smallest influences.
            step.set_params(solver="newton-cholesky")
        elif type(step) is LogisticRegressionCV and _l2_quasi_newton_cv(params):
            # The same for every C of the search: at 1e-10 newton-cholesky is faster than
            # lbfgs at the default 1e-4 (benchmarks/README.md, "Speed against pyinfluence").
            step.set_params(solver="newton-cholesky")
    return est


def resolve_refit_tol(estimator, refit_tol):
    """``refit_tol="auto"``: 1e-10, or None (the model's own) for a model that runs an
    internal cross-validated search (see ``LeaveOneOutScorer``)."""
    if not (isinstance(refit_tol, str) and refit_tol == "auto"):
        return refit_tol
    step = final_estimator(estimator)
    searches = type(step).__name__.endswith("CV") and "cv" in step.get_params(deep=False)
    return None if searches else 1e-10


def _l2_quasi_newton_cv(params):
    """Whether a LogisticRegressionCV's search is over l2 fits by lbfgs / newton-cg (which
    newton-cholesky solves to the same minimisers)."""
    ratios = params.get("l1_ratios")
    l2 = ratios in ("warn", None) or (np.ndim(ratios) == 1 and not np.any(ratios))
    return (
        params.get("solver") in ("lbfgs", "newton-cg")
        and params.get("penalty") in ("deprecated", "l2")
        and l2
        and not params.get("dual", False)
    )


# The Newton refits keep a dense p × p inverse Hessian, as the ``direct`` solver does.
_NEWTON_MAX_PARAMS = 5000


def _newton_adapter(base):
    """The adapter whose objective the Newton refits may minimise, or None.

    Only an estimator with a :class:`~skinfluence.models.GeneralizedLinear` adapter (closed-form
    curvature), not a Pipeline (its preprocessing is refitted too), not
    ``class_weight='balanced'`` (the weights change with the rows) and not a model that selects
    its hyper-parameters when fitted (``RidgeCV``, ``LogisticRegressionCV``: actual
    leave-one-out re-runs the selection, which a Newton refit at the selected value would not).
    """
    if isinstance(base, Pipeline) or getattr(base, "class_weight", None) == "balanced":
        return None
    try:
        adapter = adapter_for(base)
    except TypeError:
        return None
    if not isinstance(adapter, GeneralizedLinear) or adapter.n_params > _NEWTON_MAX_PARAMS:
        return None
    return None if adapter.fit_selects_hyperparameters else adapter


def _refit_without(base, X, y, sample_weight, rows, warm_start):
    """Fit a copy of ``base`` without each row in ``rows``; returns the fitted copies."""
    n = len(y)
    models = []
    for i in rows:
        keep = np.delete(np.arange(n), i)
        if warm_start:
            model = copy.deepcopy(base)  # its fitted state is the starting point
            final_estimator(model).set_params(warm_start=True)
        else:
            model = clone(base)  # a cold refit needs only the parameters
        fit_params = {}
        if sample_weight is not None:
            fit_params = sample_weight_param(model, sample_weight[keep])
        X_keep = X[keep] if isinstance(X, np.ndarray) or sp.issparse(X) else _safe_indexing(X, keep)
        model.fit(X_keep, y[keep], **fit_params)
        models.append(model)
    return models


@inject_docs
class LeaveOneOutScorer(BaseInfluenceScorer):
    """Exact leave-one-out influence by retraining the model without each training row.

    ``influence(X_test, y_test)[t, i] = L(z_t; θ₋ᵢ) − L(z_t; θ)`` measured by refitting:
    the ground truth that :class:`InfluenceScorer` approximates, in the same units and sign
    (positive = row i helps z_t). ``scores_`` is each row's actual self-influence
    ``L(z_i; θ₋ᵢ) − L(z_i; θ)``. Works for any estimator (the loss is the model's own for
    supported families, else log-loss or squared error).

    Read more in the :ref:`User Guide <leave_one_out>`.

    Parameters
    ----------
    %(estimator_retrained)s
        Any scikit-learn estimator.
    warm_start : bool, default=True
        Start each refit from the full-data solution. For the models whose adapter is
        :class:`~skinfluence.models.GeneralizedLinear` (``LogisticRegression`` with l2 or no
        penalty, ``Ridge``, ``LinearRegression``, ``RidgeClassifier``; not inside a Pipeline,
        not ``class_weight='balanced'``, not a model that selects its hyper-parameters when
        fitted) the refits are Newton iterations on the objective
        without the row, all preconditioned by the one full-data Hessian factorisation and run
        together as matrix products (see Notes; their speed-up over separate fits is
        measured in the :ref:`User Guide <leave_one_out>`), to the same ``refit_tol``.
        ``RidgeCV`` (``cv=None``, ``scoring=None``, one target, no sample weights, dense X)
        gets every refit, its selection of α included, in closed form from the full-data
        hat matrix (exact; O(n² p) per α, see :mod:`skinfluence.scorers._loo_ridge_cv`).
        ``LogisticRegressionCV`` (l2, ``refit=True``, lbfgs / newton-cg / newton-cholesky,
        the default, ``"accuracy"`` or ``"neg_log_loss"`` scoring, no ``class_weight`` or
        sample weights, dense X) re-runs its C search without each row by Newton refits:
        every (fold, C) model without the row, the fold scores without it, the first best C,
        then the final model at that C (:mod:`skinfluence.scorers._loo_logistic_cv`; about
        F · C · (1 − 1/F)² + 1 times the ``LogisticRegression`` cost, for F folds and C
        values in ``Cs``). The
        folds held fixed are the full data's with the row taken out: scikit-learn's own refit
        re-splits the n − 1 rows for an integer ``cv`` (the same as an explicit list of
        splits in the remaining rows' indices; the difference is measured in
        benchmarks/README.md).
        Other models that have a ``warm_start`` parameter get it set. False: every refit
        starts from scratch with the model's own solver.
    refit_tol : float, None or "auto", default="auto"
        Tolerance set on the model (and on the full-data fit it is compared with) where it
        has a ``tol`` parameter, so that differences reflect the data, not the optimiser.
        None keeps the model's own tolerance. "auto": 1e-10 (also for the Newton refits of
        ``LogisticRegressionCV`` above), except for a model that selects
        its hyper-parameters by an internal cross-validation (``LogisticRegressionCV``
        otherwise, ``LassoCV``, ...: a class whose name ends in "CV" with a ``cv`` parameter),
        refitted n times by its own solver, which keeps its own tolerance: re-running the search at
        1e-10 costs 2-4× more (newton-cholesky or lbfgs), while its leave-one-out at the
        model's tol agrees with the 1e-10 one to Pearson 0.99999 (LogisticRegressionCV, 300
        rows, 50 features: benchmarks/README.md), far inside what the re-run selection itself
        changes. See ``refit_tol_``.
    %(n_jobs)s
    %(verbose)s

    Attributes
    ----------
    refit_tol_ : float or None
        The tolerance ``refit_tol`` resolved to (None: the model's own).
    estimator_ : estimator
        The model refitted on all rows with ``refit_tol_``.
    estimators_ : list of estimators
        ``estimators_[i]`` was fitted without row i.
    refit_method_ : {"newton", "closed-form", "refit", "mixed"}
        How the leave-one-out models were obtained: shared-factorisation Newton iterations
        (for ``LogisticRegressionCV``, of its whole search),
        ``RidgeCV``'s closed form, the model's own ``fit``, or both (rows whose Newton
        iteration did not converge in 50 iterations are refitted with ``fit``).
    n_iter_ : ndarray of shape (n_train,)
        Newton iterations of each refit (0 where the model's ``fit`` was used, and for the
        ``LogisticRegressionCV`` search, whose refits are many per row).
    scores_ : ndarray of shape (n_train,)
        Actual self-influence.

    See Also
    --------
    InfluenceScorer : the first-order (or Newton-step) approximation of this matrix.
    MemorizationScorer : the same question answered by subsampling, K + 1 fits for any n.
    skinfluence.metrics.agreement : compare an approximation with this ground truth.

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

    References
    ----------
    Cook, R. D. (1977). Detection of influential observation in linear regression.
    Technometrics.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
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
        **BaseInfluenceScorer._parameter_constraints,
        **shared_constraints("n_jobs", "verbose"),
        "warm_start": ["boolean"],
        "refit_tol": [
            Interval(numbers.Real, 0, None, closed="neither"),
            None,
            StrOptions({"auto"}),
        ],
    }

    def __init__(self, estimator, *, warm_start=True, refit_tol="auto", n_jobs=None, verbose=0):
        self.estimator = estimator
        self.warm_start = warm_start
        self.refit_tol = refit_tol
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _fit(self, X, y, sample_weight):
        refuse_frozen(self)
        # LogisticRegressionCV with its search re-run by Newton refits (_loo_logistic_cv):
        # "auto" is the 1e-10 of the other Newton refits.
        search = self.warm_start and logistic_cv_applies(self.estimator, X, y, sample_weight)
        auto = isinstance(self.refit_tol, str) and self.refit_tol == "auto"
        tol = 1e-10 if search and auto else resolve_refit_tol(self.estimator, self.refit_tol)
        self.refit_tol_ = tol
        base = fit_clone(_tightened(self.estimator, tol), X, y, sample_weight)
        n = len(y)
        bar = progress_bar(verbose=self.verbose, total=n, desc=type(self).__name__, unit="fit")
        models = [None] * n
        self.n_iter_ = np.zeros(n, dtype=int)
        adapter = _newton_adapter(base) if self.warm_start and tol else None
        # Rows refitted by Newton iterations: their θ₋ᵢ, evaluated in blocks (_loo_losses).
        self._newton_rows = np.zeros(0, dtype=int)
        self._newton_thetas = None
        self._newton_base = adapter
        if adapter is not None:
            thetas, n_iter, converged = newton_leave_one_out(
                adapter, X, y, sample_weight, tol=tol, progress=bar.update
            )
            if thetas is None:  # not a stationary point of the adapter's objective
                bar.reset()
            else:
                for i in np.flatnonzero(converged):
                    models[i] = adapter.with_params(thetas[i]).estimator
                self._newton_rows = np.flatnonzero(converged)
                self._newton_thetas = thetas[converged]
                self.n_iter_[converged] = n_iter[converged]
                bar.update(-int(np.sum(~converged)))
        if adapter is None and self.warm_start and ridge_cv_applies(base, X, y, sample_weight):
            # RidgeCV: every refit, selection included, in closed form (_loo_ridge_cv).
            thetas, alphas, best = ridge_cv_leave_one_out(base, X, y)
            if thetas is not None:
                self._newton_base = adapter_for(base)
                models = [
                    estimator_at(self._newton_base, thetas[i], alphas[i], best[i]) for i in range(n)
                ]
                self._newton_rows, self._newton_thetas = np.arange(n), thetas
                bar.update(n)
        if adapter is None and search and tol:
            # LogisticRegressionCV: every fold model and the final one by Newton refits.
            thetas, Cs, _, converged = logistic_cv_leave_one_out(base, X, y, tol=tol)
            if thetas is not None:
                self._newton_base = adapter_for(base)
                done = np.flatnonzero(converged)
                for i in done:
                    models[i] = logistic_cv_estimator_at(self._newton_base, thetas[i], Cs[i])
                self._newton_rows, self._newton_thetas = done, thetas[done]
                bar.update(len(done))
                adapter = self._newton_base  # refit_method_: "newton" (or "mixed")
            elif auto:  # the folds did not qualify: the model's own refits, at its own tol
                self.refit_tol_ = tol = resolve_refit_tol(self.estimator, self.refit_tol)
                base = fit_clone(_tightened(self.estimator, tol), X, y, sample_weight)
        todo = np.array([i for i, m in enumerate(models) if m is None], dtype=int)
        self.refit_method_ = "newton" if len(todo) == 0 else "refit" if len(todo) == n else "mixed"
        if len(todo) == 0 and adapter is None:
            self.refit_method_ = "closed-form"
        warm = self.warm_start and "warm_start" in final_estimator(base).get_params(deep=False)
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
        own = np.empty(n)
        newton = self._newton_rows
        if len(newton):
            own[newton] = own_losses(self._newton_base, X, y, newton, self._newton_thetas)
        indexable = isinstance(X, np.ndarray) or sp.issparse(X)
        for i in self._refitted_rows():
            X_i = X[i : i + 1] if indexable else _safe_indexing(X, [i])
            own[i] = per_sample_loss(self.estimators_[i], X_i, y[i : i + 1])[0]
        self.scores_ = own - per_sample_loss(base, X, y)

    def _refitted_rows(self):
        """Rows whose model came from the estimator's own ``fit`` (not a Newton refit)."""
        mask = np.ones(len(self.estimators_), dtype=bool)
        mask[getattr(self, "_newton_rows", [])] = False
        return np.flatnonzero(mask)

    def _influence(self, X_test, y_test, target="loss", target_class=None, test_groups=None):
        if not (isinstance(target, str) and target == "loss"):
            # the same targets as InfluenceScorer.influence, measured on every refit model
            return target_differences(
                self.estimator_,
                self.estimators_,
                X_test,
                y_test,
                target,
                target_class,
                test_groups,
            )
        full = per_sample_loss(self.estimator_, X_test, y_test)
        infl = np.empty((len(y_test), len(self.estimators_)))
        newton = getattr(self, "_newton_rows", np.zeros(0, dtype=int))
        if len(newton):
            infl[:, newton] = stacked_losses(self._newton_base, X_test, y_test, self._newton_thetas)
        for i in self._refitted_rows():
            infl[:, i] = per_sample_loss(self.estimators_[i], X_test, y_test)
        infl -= full[:, None]
        return infl

    def _score_samples(self, X, y):
        # Actual self-influence exists for training rows only (scores_): for other rows, the
        # mean loss increase over the leave-one-out models.
        return self._influence(X, y).mean(axis=1)
