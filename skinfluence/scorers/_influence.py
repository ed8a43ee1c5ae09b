"""``InfluenceScorer``: influence functions (Koh & Liang 2017) in leave-one-out units."""

import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from sklearn_compat.utils.validation import validate_data

from .._utils._batches import gen_batches
from .._utils._docstring import inject_docs
from .._utils._progress import progress
from .._validation import check_chunk_size, check_damping, shared_constraints
from ..exceptions import ApproximationWarning
from ..inverse import available_methods, make_solver
from ..inverse._auto import DEFAULT_MEMORY_BUDGET, direct_bytes, plan_route
from ..inverse._explicit import explicit_inverse
from ..models import GeneralizedLinear, LinearGradientMatrix, adapter_for, training_gradients
from ..models._curvature import HESSIAN_OPTIONS, resolve_curvature, with_curvature
from ..models._sparse_rows import sparse_self_quadratic
from ..trees import is_tree_ensemble
from . import _dask_linear as dask_path  # InfluenceScorer on dask input (never imports dask)
from . import _device as device_path  # torch models: gradients and solves on the net's device
from ._base import BaseInfluenceScorer, _check_aggregate, _n_rows, fit_clone
from ._newton import leverage_blocks, newton_residuals, output_blocks
from ._newton_refine import refined_shifts, refinement, step_sizes
from ._target_influence import is_default, target_influence
from ._train_cache import (
    FitState,
    FitStateContainer,
    build_training_cache,
    cache_from_curvature_pass,
    products_into,
    request_curvature_residuals,
)
from ._tree_influence import TREE_METHODS, fit_trees, tree_influence, tree_score_samples

# "auto": skinfluence.inverse._auto.choose_method (memory budget and cost, not p alone).
# Default chunk: rows whose dense gradients take 1 MiB (enough rows that per-chunk Python
# overhead is small next to the chunk's GEMM; small enough that blocks stay in cache and
# are not fresh pages to fault in: 4 MiB and 16 MiB blocks measured 1.2-1.6× slower), but
# never fewer than 256 rows.
DEFAULT_CHUNK_BYTES = 2**20
MIN_DEFAULT_CHUNK = 256


@inject_docs
class InfluenceScorer(BaseInfluenceScorer):
    """Influence of each training row on the loss of test rows, in leave-one-out units.

    ``influence(X_test, y_test)[t, i]`` estimates ``L(z_t; θ fitted without row i) −
    L(z_t; θ)``: **positive when row i helps test row t** (removing it would raise t's loss),
    negative when it harms it. ``scores_`` is each training row's self-influence, the
    increase of its own loss when it is left out (≥ 0 for convex models): large for
    mislabelled and atypical rows, so higher = more suspect, as for every scorer here.

    Read more in the :ref:`User Guide <influence_scorer>`.

    Parameters
    ----------
    %(estimator_fitted)s
        A supported model (see :func:`skinfluence.models.adapter_for`).
    method : {"auto", "direct", "leafinfluence", "boostin", "leafrefit"} or other \
registered solver, default="auto"
        How ``(H + λI)⁻¹`` is applied. "direct": dense Hessian and Cholesky (exact).
        "pcg": preconditioned block CG (exact to its tolerance; on sparse rows linear models'
        self-influence estimated from probe solves, with a standard error, ``scores_error_``,
        and probes added until its stated correlation with the exact scores reaches 0.96).
        "auto", for linear models (also in a Pipeline, e.g. TF-IDF text): the cheaper of
        "direct" (only while its dense arrays, 4 × 8 p² bytes, fit ``memory_budget``) and
        "pcg" at measured flop rates; where pcg was chosen but its estimate falls short of
        0.96 within the factorisation's cost, ``scores_`` are computed exactly by it
        instead (``method_reason_`` says which and why). For other models
        "direct" within the budget, else "cg"
        (exact to its tolerance) with at most 1 000 training rows, else "arnoldi" (rank 200,
        a fixed cost for any number of rows, but its self-influence is a low-rank
        approximation, Pearson 0.26 against the exact one on sparse linear data: a warning
        says so). See :mod:`skinfluence.inverse`. "kfac" / "ekfac": layer-wise Kronecker
        factors of the Gauss–Newton matrix (torch nets' ``nn.Linear`` layers).
        Boosted trees (HistGradientBoosting, GradientBoosting; leaf values as parameters,
        structure fixed) take only the tree methods: "leafrefit" (the fixed-structure
        leave-one-out, exact, O(n² T K)), "leafinfluence" (its first-order approximation
        through the boosting recursion: O(m n T K) per influence matrix, O(n² T K) for
        ``scores_``), "boostin" (shared-leaf gradient products, O(n T K) for ``scores_``);
        "auto" is "leafinfluence" while n² T K ≤ 4·10⁹, else "boostin" (T iterations, K
        trees each). See :ref:`tree_influence`.
    hessian : {"auto", "exact", "gauss-newton"}, default="auto"
        The curvature H that the solver inverts. "exact": the Hessian of the training
        objective. "gauss-newton": the generalised Gauss–Newton matrix ``Σ_i w_i J_iᵀ Λ_i
        J_i + ∇²R`` (J_i the Jacobian of row i's outputs, Λ_i the loss's Hessian in them),
        positive semi-definite for convex losses such as cross-entropy and squared error,
        even for a net away from a minimum. "auto": "exact" for models linear in θ through
        their outputs (their two curvatures are the same matrix) and "gauss-newton" for
        every other model that has one (nets). See ``curvature_``. Boosted trees take
        only "auto".
    damping : float or "auto", default="auto"
        λ ≥ 0 added to the curvature's diagonal. "auto": 0 for convex models (linear in θ
        through their outputs, HuberRegressor) on the exact curvature (their flat
        directions are handled exactly), else a thousandth of the curvature's mean
        eigenvalue trace(H)/p (exact with "direct", else from 16 Hutchinson probes), so
        that the default call on a net is well-posed. See ``damping_``.
    newton_step : bool, default=False
        Replace the first-order parameter change ``w_i H⁻¹∇ℓ_i`` by one Newton step that
        also removes row i's own curvature, ``(H − w_i∇²ℓ_i)⁻¹ w_i∇ℓ_i``, and evaluate the
        test loss exactly at the stepped parameters. Much closer to actual leave-one-out on
        high-leverage rows, exact for Ridge/LinearRegression. Linear models with
        ``method="direct"`` only. Costs an extra O(n d² K²) once and, with K > 1 classes,
        K times the first-order cost per test row.
    newton_refine : int or "auto", default="auto"
        With ``newton_step=True``: the number of rows whose Newton step is iterated to the
        exact leave-one-out refit, those with the largest steps ``‖Δθᵢ‖_H`` (where the
        single step's second-order error concentrates; for a piecewise-quadratic loss
        such as LinearSVC's squared hinge the active set is updated at each iterate).
        Every target, ``scores_`` included, is evaluated at the same refined parameters.
        0: the single step everywhere; an int ≥ n: every row (exact leave-one-out);
        "auto": ⌈√n⌉ rows, at most 256. Costs O(nnz(X) K + p²) per refined row and
        iteration (usually 2–6) once, plus O(m k p) per call on m test rows. See
        ``newton_refined_``.
    solver_params : dict, default=None
        Extra parameters of the solver (e.g. ``{"rtol": 1e-8}`` for CG, ``{"n_probes":
        256}`` for "pcg").
    memory_budget : int, default=None
        Bytes ``method="auto"`` lets the dense factorisation take (p × p arrays, 4 × 8 p²
        bytes at the peak); None: 1 GiB (p ≤ 5 792).
    %(chunk_size)s
        Default: as many rows as fit a 1 MiB block of dense gradients (at least 256),
        e.g. 6 553 rows for 20 parameters, 1 310 for 100.
    %(verbose)s
        The loop is over chunks of training rows.

    Attributes
    ----------
    estimator_ : estimator
        The fitted model.
    adapter_ : ModelAdapter
        Its gradient adapter.
    solver_ : InverseHessianSolver or None
        The fitted inverse-Hessian solver (None for boosted trees).
    method_ : str
        The method ``"auto"`` resolved to.
    method_reason_ : str or None
        Why ``"auto"`` chose it (None when ``method`` was given).
    curvature_ : {"exact", "gauss-newton"} or None
        The curvature it inverts (None for boosted trees).
    damping_ : float or None
        The damping it used (None for boosted trees).
    ensemble_ : TreeEnsemble or None
        Boosted trees: the fitted model read with its training rows
        (:func:`skinfluence.trees.read_ensemble`); None for other models.
    scores_ : ndarray of shape (n_train,)
        Self-influence of each training row. Computed on first access and kept (``fit``
        followed by ``influence`` does not pay its O(n p²)); defined from ``fit`` on, also
        on an unpickled scorer, which computes it from its fitted state.
    newton_refined_ : ndarray of int or None
        With ``newton_step=True``: the training rows whose Newton step was iterated to the
        exact refit (``newton_refine``), computed on first use; None otherwise.
    scores_exact_ : bool or None
        Whether ``scores_`` are exact (to rounding, or to an iterative solver's tolerance:
        "direct", "cg", "pcg" on few rows) or estimated ("pcg" on many rows, "arnoldi",
        "lissa", "kfac", "ekfac", "identity"); None for boosted trees.
    scores_error_ : ndarray of shape (n_train,) or None
        The standard error of each estimated score where the method states one ("pcg":
        the probes' spread / √n_probes), else None.
    train_weights_ : ndarray of shape (n_train,)
        Weight of each row in the training objective (sample × class weight).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has string column names.

    See Also
    --------
    LeaveOneOutScorer : the same quantity by actual retraining (ground truth).
    TracInScorer : Hessian-free gradient similarity along training.
    skinfluence.inverse : the inverse-Hessian solvers behind ``method``.

    Notes
    -----
    In the sum form of the objective ``J(θ) = Σ w_i ℓ(z_i; θ) + R(θ)`` (every supported
    estimator's objective rescaled so that its minimiser is unchanged, see
    :mod:`skinfluence.models`), removing row i changes θ by ``w_i H⁻¹ ∇ℓ_i`` to first
    order, hence ``influence[t, i] = w_i ∇ℓ(z_t)ᵀ H⁻¹ ∇ℓ(z_i)``: Koh & Liang's
    ``−I_up,loss / n`` for a mean loss.

    Cost (n training rows, m test rows, p parameters, K outputs, linear model): fitting
    O(n p² + p³) with "direct"; the training rows' features and residuals are built on the
    first ``influence`` or ``scores_`` and kept (the training array itself when the model
    reads it unchanged, else a copy of at most 128 MiB; see
    :mod:`skinfluence.scorers._train_cache`); ``influence`` O(n p m) time, with memory
    O(chunk·(p + K m) + n m) — per-sample gradients are never materialised; self-influence
    O(n p²), or
    O(nnz(X) · p · K) on sparse X with "direct" (each row's quadratic form over its
    non-zeros against the explicit inverse).

    On a dask array or DataFrame X (linear models), ``fit`` reduces H over the row chunks
    on the workers and ``scores_`` and ``influence`` are lazy dask arrays made where the
    chunks live; nothing n × p comes back to the client (:ref:`scaling_dask_influence`).

    First-order influence drifts from actual leave-one-out on weakly regularised, nearly
    separable data (few rows with large leverage): ``newton_step=True`` fixes most of it,
    and ``newton_refine`` the rest, by iterating the refits of the rows with the largest
    steps to their fixed point (the single step is a local approximation: removing a row
    that changes the fit a lot, e.g. logistic regression with a large C on almost separable
    data or a support row of a squared-hinge LinearSVC, needs the iterated refit).

    References
    ----------
    Koh, P. W. & Liang, P. (2017). Understanding black-box predictions via influence
    functions. ICML.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skinfluence import InfluenceScorer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), LogisticRegression())
    >>> scorer = InfluenceScorer(model).fit(X[:400], y[:400])
    >>> scorer.influence(X[400:405], y[400:405]).shape
    (5, 400)
    >>> scorer.explain(X[400:401], y[400:401], k=3).helpful_indices.shape
    (1, 3)

    Boosted trees, through the same methods (LeafInfluence by default):

    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> trees = HistGradientBoostingClassifier(max_iter=10, random_state=0)
    >>> tree_scorer = InfluenceScorer(trees).fit(X[:300], y[:300])
    >>> tree_scorer.method_, tree_scorer.influence(X[400:402], y[400:402]).shape
    ('leafinfluence', (2, 300))
    """

    score_name = "self_influence"

    _parameter_constraints = {  # noqa: RUF012
        **BaseInfluenceScorer._parameter_constraints,
        **shared_constraints("chunk_size", "verbose"),
        "method": [str],
        "hessian": [StrOptions(set(HESSIAN_OPTIONS))],
        "damping": [Interval(numbers.Real, 0, None, closed="left"), StrOptions({"auto"})],
        "newton_step": ["boolean"],
        "newton_refine": [Interval(numbers.Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "solver_params": [dict, None],
        "memory_budget": [Interval(numbers.Integral, 0, None, closed="left"), None],
    }

    def __init__(
        self,
        estimator,
        *,
        method="auto",
        hessian="auto",
        damping="auto",
        newton_step=False,
        newton_refine="auto",
        solver_params=None,
        memory_budget=None,
        chunk_size=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.method = method
        self.hessian = hessian
        self.damping = damping
        self.newton_step = newton_step
        self.newton_refine = newton_refine
        self.solver_params = solver_params
        self.memory_budget = memory_budget
        self.chunk_size = chunk_size
        self.verbose = verbose

    # State computed on first use (scores_, H⁻¹, the kept training features, ...) lives in
    # one container set by fit, so that transform or influence never change the scorer's
    # __dict__ (scikit-learn's check_dict_unchanged).
    _scores = FitState("_scores")
    _scores_error = FitState("_scores_error")
    _train_cache = FitState("_train_cache")
    _inverse_cache = FitState("_inverse_cache")
    _share_solved = FitState("_share_solved")
    _newton_inverses = FitState("_newton_inverses")
    _train_rho = FitState("_train_rho")
    _train_share_outputs = FitState("_train_share_outputs")
    _train_step_sizes = FitState("_train_step_sizes")
    _newton_refinement = FitState("_newton_refinement")

    # -- fitting -------------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None):
        """Fit the scorer on the training rows and compute ``scores_``.

        Parameters
        ----------
        X : {array-like, sparse matrix, dask array, dask DataFrame} of shape \
(n_samples, n_features)
            Training rows. A dask collection (linear models) is scored where its chunks
            live: see :ref:`scaling_dask_influence`.
        y : array-like or dask array of shape (n_samples,)
            Their labels (targets for regressors).
        sample_weight : array-like or dask array of shape (n_samples,), default=None
            Weights of the rows in the model's objective, passed to the model's ``fit``.

        Returns
        -------
        self : object
            The fitted scorer.
        """
        self._dask = None
        if dask_path.is_dask_collection(X):  # linear models on row chunks
            return dask_path.fit_dask(self, X, y, sample_weight)
        return super().fit(X, y, sample_weight)

    def score_samples(self, X, y=None):
        if dask_path.is_dask_collection(X):
            return dask_path.dask_score_samples(self, X, y)
        return super().score_samples(X, y)

    score_samples.__doc__ = BaseInfluenceScorer.score_samples.__doc__

    def explain(self, X_test, y_test, k=5):
        if dask_path.fitted_on_dask(self):
            return dask_path.dask_explain(self, X_test, y_test, k)
        return super().explain(X_test, y_test, k)

    explain.__doc__ = BaseInfluenceScorer.explain.__doc__

    def _fit(self, X, y, sample_weight):
        self._fit_state = FitStateContainer()
        damping = check_damping(self.damping)
        known = ["auto", *available_methods(), *TREE_METHODS]
        if self.method not in known:
            raise ValueError(f"Unknown method {self.method!r}; choose one of {known}.")
        trees = is_tree_ensemble(self.estimator)
        if self.method in TREE_METHODS and not trees:
            raise ValueError(
                f"method={self.method!r} is for boosted tree ensembles (HistGradientBoosting, "
                f"GradientBoosting, LightGBM, XGBoost); {type(self.estimator).__name__} is "
                f"not one. Choose one of {['auto', *available_methods()]}."
            )
        self.estimator_ = fit_clone(self.estimator, X, y, sample_weight)
        self.adapter_ = adapter_for(self.estimator_)
        if trees:
            self.method_reason_ = None
            fit_trees(self, X, y, sample_weight)
            return
        self.ensemble_ = None
        self.method_ = self._resolve_method(X, len(y))
        if self.newton_step and not (
            isinstance(self.adapter_, GeneralizedLinear) and self.method_ == "direct"
        ):
            raise ValueError(
                "newton_step=True needs a linear model and method='direct'; got "
                f"{type(self.estimator_).__name__} with method={self.method_!r}."
            )
        self.curvature_ = resolve_curvature(self.adapter_, self.hessian)
        if self.method_ in ("kfac", "ekfac") and self.curvature_ == "exact":
            raise ValueError(
                f"method={self.method_!r} factors the Gauss–Newton matrix; use "
                "hessian='gauss-newton' (or 'auto'), or another method for the exact Hessian."
            )
        # Convex models' flat directions are handled exactly, not damped (a GeneralizedLinear
        # has one matrix under either curvature).
        convex = isinstance(self.adapter_, GeneralizedLinear) or (
            self.adapter_.convex_objective and self.curvature_ == "exact"
        )
        if damping == "auto" and convex:
            damping = 0.0
        plan = getattr(self, "_auto_plan", None)
        params = {**(plan.solver_params if plan is not None else {}), **(self.solver_params or {})}
        self.solver_ = make_solver(self.method_, damping=damping, **params)
        curvature = with_curvature(self.adapter_, self.curvature_)
        request_curvature_residuals(self.adapter_, X)  # the training cache takes them below
        self.solver_.fit(curvature, X, y, sample_weight=sample_weight)
        # auto → pcg may fall back to the exact factorisation for scores_ (plan_route)
        self._fallback_weight = (
            (sample_weight,) if plan is not None and plan.fallback_direct else None
        )
        self.damping_ = self.solver_.damping_
        # SGD fits rarely sit at the optimum: the adapter measures the distance and warns
        self.adapter_.check_optimum(X, y, sample_weight, solve=self.solver_.solve)
        self.train_X_ = X
        self.train_y_ = y
        self.train_weights_ = self.adapter_.row_weights(y, sample_weight)
        # The penalty share each row carries (families that minimise a mean loss plus a
        # penalty): removing row i also removes c_i q, see skinfluence.models._base.
        self._share_gradient = self.adapter_.penalty_share_gradient()
        self.train_shares_ = (
            None if self._share_gradient is None else self.adapter_.penalty_shares(y, sample_weight)
        )
        self._inverse_cache = None
        self._share_solved = None
        self._newton_inverses = {}
        self._train_rho = None
        self._newton_refinement = None
        self._train_cache = cache_from_curvature_pass(
            self.adapter_,
            X,
            y,
            self.train_weights_,
            self.train_shares_,
            self._share_gradient,
        )
        # scores_ is computed on first access (see the property): fit + influence need not
        # pay for every row's self-influence.
        self._scores = None

    @property
    def scores_(self):
        """Self-influence of each training row, computed on first access and kept."""
        if "_fit_state" not in self.__dict__:
            raise AttributeError(
                f"This {type(self).__name__} instance is not fitted yet: call fit first."
            )
        scores = self._scores
        if scores is None:
            if "train_weights_" not in self.__dict__:
                raise AttributeError(
                    f"This {type(self).__name__} instance is not fitted yet: call fit first."
                )
            scores = self._self_influence(
                self.train_X_, self.train_y_, self.train_weights_, self.train_shares_
            )
            self._scores = scores
        return scores

    @scores_.setter
    def scores_(self, value):
        self._scores = value

    @property
    def newton_refined_(self):
        """The training rows whose Newton step is refined to the exact refit, or None."""
        check_is_fitted(self)
        if not self.newton_step:
            return None
        return self._refined_steps()[0]

    def _train_newton_terms(self):
        """ρ and share outputs of the training rows' Newton steps, and the steps' sizes
        ``‖Δθᵢ‖²_H`` (which ``newton_refine`` ranks), computed once per fit."""
        if self._train_rho is None:
            M, self._train_rho, self._train_share_outputs = self._newton_terms(
                self.train_X_, self.train_y_, self.train_weights_, self.train_shares_
            )
            self._train_step_sizes = step_sizes(M, self._train_rho)
        return self._train_rho, self._train_share_outputs

    def _refined_steps(self):
        """(rows, θ₋ᵢ − θ̂ of shape (k, p)) of the refined rows (``newton_refine``)."""
        self._train_newton_terms()
        return refinement(self, self._train_step_sizes)

    @property
    def scores_error_(self):
        """Standard error of each estimated self-influence score, or None where exact."""
        _ = self.scores_  # the error is computed with the scores
        return self._scores_error

    @property
    def scores_exact_(self):
        """Whether ``scores_`` are exact (None for boosted trees)."""
        check_is_fitted(self)
        if self._is_tree:
            return None
        if self.method_ == "pcg":  # exact on few rows, estimated from probes on many
            return self.scores_error_ is None
        return self.method_ in ("direct", "cg")

    def __getstate__(self):
        state = dict(super().__getstate__())
        if "_fit_state" in state:  # the kept features are rebuilt on first use, not pickled
            kept = FitStateContainer()
            kept.__dict__.update(state["_fit_state"].__dict__, _train_cache=None)
            state["_fit_state"] = kept
        return state

    def _training_cache(self):
        """All training rows' training-side gradients over kept features and residuals
        (:mod:`skinfluence.scorers._train_cache`), or None where they are not kept."""
        if self._train_cache is None:
            built = build_training_cache(
                self.adapter_,
                self.train_X_,
                self.train_y_,
                self.train_weights_,
                self.train_shares_,
                self._share_gradient,
                self._chunk,
            )
            self._train_cache = built if built is not None else False
        return self._train_cache or None

    def _resolve_method(self, X, n_samples):
        self.method_reason_ = None
        self._auto_plan = None
        if self.method != "auto":
            return self.method
        budget = DEFAULT_MEMORY_BUDGET if self.memory_budget is None else self.memory_budget
        plan = plan_route(self.adapter_, X, n_samples, budget)
        need = direct_bytes(self.adapter_.n_params)
        if self.newton_step and plan.method == "pcg" and need <= budget:
            plan = plan._replace(
                method="direct",
                reason=f"newton_step=True needs the factorisation (the dense Hessian takes "
                f"{need / 2**20:.0f} MiB)",
                solver_params={},
                fallback_direct=False,
            )
        method, self.method_reason_ = plan.method, plan.reason
        self._auto_plan = plan
        if method == "arnoldi":
            warnings.warn(
                f"method='auto' chose 'arnoldi' ({self.method_reason_}, {n_samples} rows): "
                "its self-influence (scores_) is a rank-200 approximation that can be poor "
                "(Pearson 0.26 against the exact one measured on sparse linear data); "
                "influence() on test rows is closer. Raise memory_budget for 'direct', or "
                "pass method='cg' for exact self-influence at one solve per row.",
                ApproximationWarning,
                stacklevel=4,
            )
        return method

    @property
    def _chunk(self):
        n_params = getattr(getattr(self, "adapter_", None), "n_params", 1)
        default = max(MIN_DEFAULT_CHUNK, DEFAULT_CHUNK_BYTES // (8 * n_params))
        return check_chunk_size(self.chunk_size, default=default)

    # -- self-influence ------------------------------------------------------------------
    def _validate_X(self, X, *, reset):
        # Boosted trees take missing values (HistGradientBoosting routes them in its splits).
        if self._accepts_raw_X() or not is_tree_ensemble(getattr(self, "estimator", None)):
            return super()._validate_X(X, reset=reset)
        return validate_data(self, X, reset=reset, dtype=np.float64, ensure_all_finite="allow-nan")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if is_tree_ensemble(getattr(self, "estimator", None)):
            tags.input_tags.allow_nan = True
            tags.input_tags.sparse = False
        return tags

    def _score_samples(self, X, y):
        if self._is_tree:
            return tree_score_samples(self, X, y)
        # New rows: the fitted θ is the model without them. To first order this equals
        # scores_ for training rows; the Newton step adds the row's curvature instead of
        # removing it.
        shares = None if self._share_gradient is None else self.adapter_.penalty_shares(y)
        return self._self_influence(X, y, self.adapter_.row_weights(y), shares, in_training=False)

    def _self_influence(self, X, y, weights, shares=None, *, in_training=True):
        if self.newton_step:
            M, rho, share_outputs = self._newton_terms(
                X, y, weights, shares, adding=not in_training
            )
            eta = self.adapter_.outputs(self.adapter_.features(X))
            step = np.einsum("nce,ne->nc", M, rho)  # U_iᵀ(θ₋ᵢ − θ), or U_iᵀ(θ − θ₊ᵢ) when adding
            if share_outputs is not None:
                step += shares[:, None] * share_outputs
            loss = self.adapter_.loss_from_outputs
            if in_training:
                if X is self.train_X_:  # the refined rows' own outputs at their refits
                    rows, steps = self._refined_steps()
                    if len(rows):
                        dense = self.adapter_.gradients(_safe_indexing(X, rows), y[rows])
                        own = refined_shifts(
                            steps, dense.dense_features(slice(None)), step.shape[1]
                        )
                        step[rows] = own[np.arange(len(rows)), np.arange(len(rows))]
                return loss(eta + step, y) - loss(eta, y)
            return loss(eta, y) - loss(eta - step, y)
        n, p = _n_rows(X), self.adapter_.n_params
        # Sparse linear rows: O(nnz_i²) against the explicit inverse, or pcg's probed estimate
        fast = sparse_self_quadratic(self, X, y)
        if fast is not None:
            out, error = fast
            self._scores_error = None if error is None else error * weights
            return self._add_share_terms(out * weights, X, y, shares)
        device = device_path.device_backend(self)
        if device is not None:
            out = device_path.self_influence(self, device, X, y, np.empty(n)) * weights
            return self._add_share_terms(out, X, y, shares)
        # With the dense factorisation at hand, g_iᵀ H⁻¹ g_i is one GEMM against the explicit
        # inverse (p solves, once): a triangular solve with thousands of right-hand sides
        # runs several times slower than GEMM in OpenBLAS.
        explicit = self.method_ == "direct" and (self._inverse_cache is not None or n >= p)
        H_inv = self._inverse_hessian() if explicit else None
        blocks = None  # H⁻¹'s output blocks, made once for the sparse path below
        cache = self._training_cache() if in_training and X is self.train_X_ else None
        if explicit and cache is not None:
            # g_iᵀ H⁻¹ g_i = r_iᵀ M_i r_i, M_i = U_iᵀ H⁻¹ U_i on the kept features: one
            # GEMM per chunk on x̃_i (d wide) instead of on the dense gradient rows.
            G = cache.loss_gradients
            M = leverage_blocks(G, H_inv, G.n_outputs, G.fit_intercept, self._chunk)
            if G.n_outputs == 1:  # r_i² M_i, without einsum's setup
                out = M[:, 0, 0] * G.R[:, 0] ** 2
            else:
                out = np.einsum("nc,nce,ne->n", G.R, M, G.R)
            out *= weights
            if self._share_gradient is not None:
                out += shares * G.matmul(self._solved_share())[:, 0]
            return out
        out = np.empty(n)
        for rows in self._progress(gen_batches(n, self._chunk), n):
            G = self._gradient_matrix(X, y, rows)
            if explicit and isinstance(G, LinearGradientMatrix) and sp.issparse(G.X):
                # g_i = x̃_i ⊗ r_i: g_iᵀ H⁻¹ g_i = r_iᵀ M_i r_i with M_i = U_iᵀ H⁻¹ U_i, which
                # touches only row i's non-zeros (O(nnz · p) instead of O(n p²)).
                if blocks is None:
                    blocks = output_blocks(H_inv, G.n_outputs)
                M = leverage_blocks(G, H_inv, G.n_outputs, G.fit_intercept, len(G), blocks=blocks)
                out[rows] = np.einsum("nc,nce,ne->n", G.R, M, G.R)
                continue
            block = G.dense_rows(slice(None))
            solved = block @ H_inv if explicit else self.solver_.solve(block.T).T
            out[rows] = np.einsum("ij,ij->i", block, solved)
        out *= weights
        return self._add_share_terms(out, X, y, shares)

    def _add_share_terms(self, out, X, y, shares):
        if self._share_gradient is not None:
            # g_iᵀ H⁻¹ (w_i g_i + c_i ∇q): the test side is row i's own loss, without penalty.
            for rows in gen_batches(len(out), self._chunk):
                G = self._gradient_matrix(X, y, rows)
                out[rows] += shares[rows] * G.matmul(self._solved_share())[:, 0]
        return out

    def _solved_share(self):
        """``(H + λI)⁻¹ ∇q`` as a (p, 1) column, solved once per fit."""
        if self._share_solved is None:
            self._share_solved = self.solver_.solve(self._share_gradient[:, None])
        return self._share_solved

    def _inverse_hessian(self):
        """Dense ``(H + λI)⁻¹`` (p × p), computed once per fit (direct solver only)."""
        if self._inverse_cache is None:
            # C order: cho_solve returns Fortran order, which every GEMM below would copy.
            self._inverse_cache = explicit_inverse(self.solver_)
        return self._inverse_cache

    def _gradient_rows(self, X, y, rows):
        """Dense per-sample gradients of ``rows`` of (X, y), shape (len(rows), p).

        Gradients are formed chunk by chunk from the raw rows, so that neither the n × p
        gradient matrix nor a Pipeline's transformed training set is ever held whole.
        """
        return self._gradient_matrix(X, y, rows).dense_rows(slice(None))

    def _training_rows(self, rows):
        """Dense training-side gradients ``w_i g_i + c_i ∇q`` of training ``rows``."""
        return self._training_matrix(rows).dense_rows(slice(None))

    def _training_matrix(self, rows):
        """Training-side gradients of training ``rows`` as a TrainingGradientMatrix."""
        X, y = self.train_X_, self.train_y_
        X_rows = X[rows] if isinstance(X, np.ndarray) or sp.issparse(X) else _safe_indexing(X, rows)
        shares = None if self.train_shares_ is None else self.train_shares_[rows]
        return training_gradients(self.adapter_, X_rows, y[rows], self.train_weights_[rows], shares)

    def _gradient_matrix(self, X, y, rows):
        """The per-sample gradients of ``rows`` of (X, y) as the adapter's GradientMatrix."""
        X_rows = X[rows] if isinstance(X, np.ndarray) or sp.issparse(X) else _safe_indexing(X, rows)
        return self.adapter_.gradients(X_rows, y[rows])

    def _newton_inverse(self, shares, adding):
        """The inverse the Newton step expands around: ``H⁻¹``, or with a penalty share
        ``(H ∓ c̄ ∇²q)⁻¹``, the Hessian less (plus, when adding rows) the share's curvature of
        the mean share c̄ of the rows; exact for equal shares (SGD, unweighted GLMs), within
        ``|c_i − c̄| ∇²q`` otherwise. O(p³) once per (c̄, sign)."""
        H_inv = self._inverse_hessian()
        if self._share_gradient is None:
            return H_inv
        c_bar = float(np.mean(shares)) if len(shares) else 0.0
        key = (bool(adding), c_bar)
        if self._newton_inverses.get("key") != key:
            # (H ∓ c̄D)⁻¹ = (I ∓ c̄ H⁻¹D)⁻¹ H⁻¹, from the solver's own H⁻¹ (damping, null space)
            D = self.adapter_.penalty_share_diagonal()
            sign = 1.0 if adding else -1.0
            A = np.eye(len(D)) + sign * c_bar * H_inv * D[None, :]
            inverse = np.linalg.solve(A, H_inv)
            self._newton_inverses = {"key": key, "inverse": 0.5 * (inverse + inverse.T)}
        return self._newton_inverses["inverse"]

    def _newton_terms(self, X, y, weights, shares=None, *, adding=False):
        """(M, ρ, u) of the Newton-step correction for rows (X, y): leverage blocks, steps
        and, with a penalty share, the outputs ``u_i = U_iᵀ H̃⁻¹ ∇q`` (else None), with H̃ the
        Hessian of :meth:`_newton_inverse`."""
        H_inv = self._newton_inverse(shares, adding)
        R, S = self.adapter_.newton_factors(X, y)
        G = self.adapter_.gradients(X, y)
        glm = self.adapter_  # a GeneralizedLinear (newton_step is refused otherwise)
        M = leverage_blocks(G, H_inv, glm.n_outputs, glm.fit_intercept, self._chunk)
        if self._share_gradient is None:
            return M, newton_residuals(R, S, M, weights, adding=adding), None
        share_outputs = G.outputs_dot(H_inv @ self._share_gradient[:, None])[:, :, 0]
        rho = newton_residuals(
            R, S, M, weights, adding=adding, shares=shares, share_outputs=share_outputs
        )
        return M, rho, share_outputs

    # -- influence on test rows ----------------------------------------------------------
    def influence(
        self,
        X_test,
        y_test,
        *,
        aggregate=None,
        target="loss",
        target_class=None,
        test_groups=None,
        groups=None,
        group_correction=None,
        dtype=np.float64,
        out=None,
    ):
        """Influence of every training row (or group of rows) on a target of the test rows.

        Always ``target(θ without the row) − target(θ)`` (see :ref:`influence_targets`);
        the training side is the training loss whatever the target.

        Parameters
        ----------
        %(X_test)s
        %(y_test)s
        %(aggregate)s
            "sum" and "mean" take one solve instead of n_test.
        target : {"loss", "prediction", "margin", "logit", "worst_group_loss", \
"loss_gap"}, OutputMetric or callable, default="loss"
            What is influenced. Per test row: "loss" (positive = the row helps);
            "prediction", the predicted probability of the row's label ``y_test`` (or of
            ``target_class``) for classifiers, the prediction for regressors (positive =
            removing the row raises it: the row pushes it down); "margin", the label's
            logit minus the largest other one (±η for one-output classifiers); "logit",
            the label's logit. Of the whole test set (the result has one number per
            training row or group): a callable ``f(P, y) -> float`` of the model's outputs
            P (``predict_proba`` / ``decision_function`` / ``predict``) or an
            :class:`~skinfluence.models.OutputMetric` (e.g. the AUROC surrogate
            :class:`~skinfluence.models.AUROCSurrogate`); "worst_group_loss" and
            "loss_gap" (:class:`~skinfluence.models.WorstGroupLoss`,
            :class:`~skinfluence.models.GroupLossGap`), which need ``test_groups``.
            Families declare what they support
            (:meth:`~skinfluence.models.ModelAdapter.supported_targets`): linear models in
            closed form, scikit-learn MLPs by their backward pass, torch nets by
            autograd, other families "loss" and the loss-group targets.
        target_class : label or int, default=None
            For "prediction" / "margin" / "logit": the class whose probability (logit,
            margin) is the target for every test row, instead of each row's label; for a
            multi-output regressor, the output index.
        test_groups : array-like of shape (n_test,), default=None
            A group label per test row, for the group targets.
        groups : array-like of shape (n_train,), default=None
            A group label per *training* row: the result has one column per group (in the
            order of ``np.unique(groups)``), the effect of removing the whole group. First
            order it is the sum of its rows' columns, computed from per-group gradient sums
            (the n columns are never formed).
        group_correction : {None, "newton"}, default=None
            With ``groups``: "newton" replaces the first-order step ``H⁻¹ S_G`` by one
            Newton step on the objective without the group, ``(H − H_G)⁻¹ S_G`` (Koh et
            al. 2019), and evaluates the target exactly at the stepped parameters (linear
            models, ``method="direct"``; O(p³) per group). First order underestimates
            large, coherent groups; the step corrects most of it (see
            :ref:`influence_groups`).
        dtype : {np.float64, np.float32}, default=np.float64
            Dtype of the result (computation is always float64).
        out : ndarray of shape (n_test, n_train), default=None
            Write the result here (e.g. a ``np.memmap`` for results larger than memory);
            not with ``aggregate``.

        Returns
        -------
        influence : ndarray
            ``[t, i]`` ≈ ``target_t(θ₋ᵢ) − target_t(θ)``, shape (n_test, n_train); with
            ``groups``, (n_test, n_groups); with ``aggregate`` or a set target, one number
            per training row (n_train,) or group (n_groups,). For "loss", positive = row i
            helps z_t.
        """
        if not is_default(target, target_class, test_groups, groups, group_correction):
            if dask_path.fitted_on_dask(self):
                raise ValueError(
                    "target, target_class, test_groups, groups and group_correction are not "
                    "available on a scorer fitted on dask input; fit it on an in-memory sample "
                    "(NumPy, pandas or SciPy sparse) for these targets."
                )
            if out is not None:
                raise ValueError("out is only available with the default target and no groups.")
            check_is_fitted(self)
            _check_aggregate(aggregate)
            X_test, y_test = self._validate_Xy(X_test, y_test, reset=False)
            return target_influence(
                self,
                X_test,
                y_test,
                target=target,
                target_class=target_class,
                test_groups=test_groups,
                groups=groups,
                group_correction=group_correction,
                aggregate=aggregate,
                dtype=dtype,
            )
        if dask_path.fitted_on_dask(self):  # a lazy dask array, made where the chunks live
            return dask_path.dask_influence(
                self, X_test, y_test, aggregate=aggregate, dtype=dtype, out=out
            )
        result = super().influence(X_test, y_test, aggregate=aggregate, dtype=dtype, out=out)
        return result if aggregate is None else result.astype(dtype, copy=False)

    @property
    def _is_tree(self):
        return getattr(self, "ensemble_", None) is not None

    def _total_influence(self, X_test, y_test, dtype=np.float64, out=None):
        if out is not None:
            raise ValueError("out is only available with aggregate=None.")
        if self._is_tree:
            return tree_influence(self, X_test, y_test, aggregate=True)
        if self.newton_step:
            # The stepped loss is not linear in the test set: sum the rows.
            return self._influence(X_test, y_test).sum(axis=0)
        m, n = len(y_test), len(self.train_y_)
        device = device_path.device_backend(self)
        if device is not None:
            return device_path.total_influence(self, device, X_test, y_test, np.empty((1, n)))[0]
        g_sum = self.adapter_.gradients(X_test, y_test).rmatmul(np.ones((m, 1)))
        result = np.empty((1, n))
        self._train_products_into(self.solver_.solve(g_sum), result)
        return result[0]

    def _influence(self, X_test, y_test, dtype=np.float64, out=None):
        m, n = len(y_test), len(self.train_y_)
        if out is None:
            out = np.empty((m, n), dtype=dtype)
        elif out.shape != (m, n):
            raise ValueError(f"out has shape {out.shape}; expected {(m, n)}.")
        if self._is_tree:
            out[...] = tree_influence(self, X_test, y_test)
            return out
        if self.newton_step:
            # The stepped outputs are (test rows × n_train × K): bound them, not just p.
            K = self.adapter_.n_outputs  # Newton steps exist for linear adapters only
            rows_per_chunk = max(1, min(self._chunk, NEWTON_CHUNK_ELEMENTS // (n * K)))
            for rows in gen_batches(m, rows_per_chunk):
                out[rows] = self._newton_influence(_safe_indexing(X_test, rows), y_test[rows])
            return out
        device = device_path.device_backend(self)
        if device is not None:
            return device_path.influence_into(self, device, X_test, y_test, out)
        G_test = self.adapter_.gradients(X_test, y_test)
        for rows, block in G_test.iter_dense(self._chunk):
            self._train_products_into(self.solver_.solve(block.T), out[rows])
        return out

    def _train_products_into(self, A, out):
        """``out[:, i] = w_i g_iᵀ A`` for every training row i; A is (p, k), out (k, n_train).

        One GEMM per chunk of training rows, written straight into ``out`` (no (n, k)
        temporary, no transposed copy); O(chunk · (p + k)) extra memory.
        """
        n = out.shape[1]
        cache = self._training_cache()
        if cache is not None:
            if sp.issparse(cache.loss_gradients.X):
                out[:] = cache.matmul(A).T  # sparse rows: O(nnz · K · k), no dense blocks
                return
            products_into(cache, A, out, self._progress(gen_batches(n, self._chunk), n))
            return
        At = np.ascontiguousarray(A.T)
        direct = out.dtype == np.float64
        for rows in self._progress(gen_batches(n, self._chunk), n):
            T = self._training_matrix(rows)
            loss_gradients = T.loss_gradients
            if isinstance(loss_gradients, LinearGradientMatrix) and sp.issparse(loss_gradients.X):
                # Sparse rows: O(nnz · K · k) through the features, no dense (chunk × p) block
                out[:, rows] = T.matmul(A).T
                continue
            block = T.dense_rows(slice(None))  # a fresh array: w_i g_i + c_i ∇q
            if direct:
                np.matmul(At, block.T, out=out[:, rows])
            else:
                out[:, rows] = At @ block.T

    def _newton_influence(self, X_test, y_test):
        """Exact test loss at the Newton-stepped parameters, shape (m, n_train)."""
        adapter = self.adapter_  # a GeneralizedLinear (newton_step is refused otherwise)
        self._train_newton_terms()
        share_inverse = (
            None
            if self._share_gradient is None
            else self._newton_inverse(self.train_shares_, adding=False)
        )
        Xt = adapter.features(X_test)
        eta = adapter.outputs(Xt)  # (m, K)
        K = adapter.n_outputs
        feats = adapter.gradients(X_test, y_test)
        Xt_dense = feats.dense_features(slice(None))  # (m, d)
        G_train = adapter.gradients(self.train_X_, self.train_y_)
        n, m = G_train.shape[0], len(eta)
        delta = np.empty((m, n, K))
        for c in range(K):
            U_c = np.zeros((Xt_dense.shape[1], K, m))
            U_c[:, c, :] = Xt_dense.T
            if share_inverse is None:
                B_c = self.solver_.solve(U_c.reshape(-1, m))  # H⁻¹ U_t e_c, (p, m)
            else:
                B_c = share_inverse @ U_c.reshape(-1, m)
            for rows in gen_batches(n, self._chunk):
                step = type(G_train)(G_train.X[rows], self._train_rho[rows], G_train.fit_intercept)
                delta[:, rows, c] = step.matmul(B_c).T
        if self._share_gradient is not None:
            # + c_i U_tᵀ H⁻¹ ∇q: the share's part of every step, the same direction for all i
            share_t = feats.outputs_dot(share_inverse @ self._share_gradient[:, None])[:, :, 0]
            delta += self.train_shares_[None, :, None] * share_t[:, None, :]
        rows, steps = self._refined_steps()  # iterated to the exact refits (newton_refine)
        delta[:, rows] = refined_shifts(steps, Xt_dense, K)
        stepped = adapter.loss_from_outputs(
            (eta[:, None, :] + delta).reshape(-1, K), np.repeat(y_test, n, axis=0)
        ).reshape(m, n)
        return stepped - adapter.loss_from_outputs(eta, y_test)[:, None]

    def _progress(self, batches, n_rows):
        total = -(-n_rows // self._chunk)
        return progress(
            batches, verbose=self.verbose, total=total, desc=type(self).__name__, unit="chunk"
        )


# Test rows per chunk on the Newton path keep the (rows × n_train × K) stepped outputs at
# about this many doubles (32 MiB per temporary).
NEWTON_CHUNK_ELEMENTS = 2**22
