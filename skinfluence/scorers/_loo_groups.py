"""``LeaveOneGroupOutScorer``: actual leave-one-group-out retraining, ground truth for groups."""

import copy
import numbers
import warnings

import numpy as np
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import Interval

from .._utils._docstring import inject_docs
from .._utils._estimators import final_estimator
from .._validation import shared_constraints
from ..exceptions import IllConditionedHessianWarning
from ..inverse import DirectSolver
from ..models import LinearGradientMatrix
from ._base import BaseInfluenceScorer, fit_clone, refuse_frozen, sample_weight_param
from ._loo import _newton_adapter, _tightened
from ._losses import per_sample_loss
from ._target_influence import target_differences


def newton_leave_group_out(adapter, X, y, sample_weight, codes, n_groups, *, tol, max_iter=50):
    """Parameters of the model refitted without each group, by Newton's method.

    Full Newton iterations ``θ ← θ − H₋G(θ)⁻¹ ∇J₋G(θ)`` on the objective without the group,
    from the full-data optimum, each with its own Hessian (O(n d² K² + p³) per iteration);
    the fixed point is the exact minimiser. Stops at scikit-learn's criterion
    ``max|∇J₋G| / Σ_{j∉G} w_j ≤ tol``.

    Returns
    -------
    thetas : ndarray of shape (n_groups, p) or None
        None when θ̂ is not a stationary point of the adapter's objective (refit instead).
    converged : ndarray of bool, shape (n_groups,)
    """
    Xf = adapter.features(X)
    t = adapter.encode_target(y)
    w = adapter.row_weights(y, sample_weight)
    n = len(t)
    share = adapter.penalty_share_diagonal()
    c = adapter.penalty_shares(y, sample_weight) if share is not None else np.zeros(n)
    base_penalty = adapter.penalty_diagonal()  # R₀'s diagonal; the shares' part is added
    share = np.zeros_like(base_penalty) if share is None else share
    B = adapter.null_space()

    def gradient_and_hessian(theta, keep):
        at = adapter.with_params(theta)
        Xk = Xf[keep]
        R, S = at.output_derivatives(at.outputs(Xk), t[keep])
        penalty = base_penalty + c[keep].sum() * share
        feats = LinearGradientMatrix(Xk, R, adapter.fit_intercept)
        g = feats.features_rmatmul(w[keep, None] * R)[:, 0] + penalty * theta
        H = at.hessian_from_curvature(Xk, w[keep, None, None] * S, float(c[keep].sum()))
        if B is not None:
            H += B @ B.T
        return g, H

    theta_hat = adapter.params()
    g_full, _ = gradient_and_hessian(theta_hat, np.arange(n))
    if np.abs(g_full).max() > 100 * tol * max(w.sum(), np.finfo(float).tiny):
        return None, np.zeros(n_groups, dtype=bool)
    thetas = np.tile(theta_hat, (n_groups, 1))
    converged = np.zeros(n_groups, dtype=bool)
    for g in range(n_groups):
        keep = np.flatnonzero(codes != g)
        theta = theta_hat.copy()
        scale = max(w[keep].sum(), np.finfo(float).tiny)
        for _ in range(max_iter):
            grad, H = gradient_and_hessian(theta, keep)
            if np.abs(grad).max() <= tol * scale:
                converged[g] = True
                break
            try:
                theta = theta - np.linalg.solve(H, grad)
            except np.linalg.LinAlgError:
                break
        thetas[g] = theta
    return thetas, converged


@inject_docs
class LeaveOneGroupOutScorer(BaseInfluenceScorer):
    """Exact influence of removing each group of training rows, by retraining without it.

    ``fit(X, y, groups=g)`` refits the model once per group, without the group's rows;
    ``influence(X_test, y_test)[t, k] = L(z_t; θ₋G_k) − L(z_t; θ)`` for the k-th group
    (groups in the order of ``np.unique(groups)``): the ground truth of
    ``InfluenceScorer.influence(..., groups=g)``, in the same units and sign, with the same
    ``target=`` options. ``scores_`` is, for each training row, the loss increase of the row
    when its group is left out. ``groups=None`` leaves each row out on its own (then it
    equals :class:`LeaveOneOutScorer`).

    Read more in the :ref:`User Guide <influence_groups>`.

    Parameters
    ----------
    %(estimator_retrained)s
        Any scikit-learn estimator.
    warm_start : bool, default=True
        For the models with a :class:`~skinfluence.models.GeneralizedLinear` adapter that
        :class:`LeaveOneOutScorer` refits by Newton's method (not in a Pipeline, no
        ``class_weight='balanced'``, no hyper-parameter selection), each group's refit is
        Newton iterations with the exact Hessian from the full-data optimum, to
        ``refit_tol``. Otherwise (and where they fail to converge) the model's own ``fit``,
        warm-started where it has ``warm_start``.
    refit_tol : float or None, default=1e-10
        Tolerance of every refit (see :class:`LeaveOneOutScorer`).
    %(verbose)s

    Attributes
    ----------
    estimator_ : estimator
        The model fitted on all rows with ``refit_tol``.
    estimators_ : list of estimators
        ``estimators_[k]`` was fitted without group ``groups_[k]``.
    groups_ : ndarray
        The group labels, sorted.
    refit_method_ : {"newton", "refit", "mixed"}
        How the models were obtained.
    scores_ : ndarray of shape (n_train,)

    See Also
    --------
    LeaveOneOutScorer : one row at a time.
    InfluenceScorer : the first-order and group-Newton estimates (``groups=``).

    Notes
    -----
    Cost: n_groups + 1 fits, or for the Newton refits O(iterations · (n d² K² + p³)) per
    group (typically 3-6 iterations), and memory for n_groups fitted models.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import scale
    >>> from skinfluence import LeaveOneGroupOutScorer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = scale(X)[:100]; y = y[:100]
    >>> logo = LeaveOneGroupOutScorer(LogisticRegression()).fit(X, y, groups=np.arange(100) % 4)
    >>> logo.refit_method_, logo.influence(X[:2], y[:2]).shape
    ('newton', (2, 4))
    """

    score_name = "group_out_self_influence"

    _parameter_constraints = {  # noqa: RUF012
        **BaseInfluenceScorer._parameter_constraints,
        **shared_constraints("verbose"),
        "warm_start": ["boolean"],
        "refit_tol": [Interval(numbers.Real, 0, None, closed="neither"), None],
    }

    def __init__(self, estimator, *, warm_start=True, refit_tol=1e-10, verbose=0):
        self.estimator = estimator
        self.warm_start = warm_start
        self.refit_tol = refit_tol
        self.verbose = verbose

    def fit(self, X, y=None, sample_weight=None, groups=None):
        """Refit the model without each group of rows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training rows.
        y : array-like of shape (n_samples,)
            Their labels (targets for regressors).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in the model's objective.
        groups : array-like of shape (n_samples,), default=None
            A group label per row; None: every row is its own group.

        Returns
        -------
        self : object
            The fitted scorer.
        """
        self._groups_arg = groups
        try:
            return super().fit(X, y, sample_weight)
        finally:
            del self._groups_arg

    def _fit(self, X, y, sample_weight):
        refuse_frozen(self)
        n = len(y)
        groups = getattr(self, "_groups_arg", None)
        groups = np.arange(n) if groups is None else np.asarray(groups)
        if groups.shape != (n,):
            raise ValueError(f"groups must have one label per row ({n}); got {groups.shape}.")
        self.groups_, codes = np.unique(groups, return_inverse=True)
        k = len(self.groups_)
        base = fit_clone(_tightened(self.estimator, self.refit_tol), X, y, sample_weight)
        models = [None] * k
        adapter = _newton_adapter(base) if self.warm_start and self.refit_tol else None
        if adapter is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", IllConditionedHessianWarning)
                ok = DirectSolver().fit(adapter, X, y, sample_weight).cholesky_ is not None
            if ok:
                thetas, converged = newton_leave_group_out(
                    adapter, X, y, sample_weight, codes, k, tol=self.refit_tol
                )
                if thetas is not None:
                    for g in np.flatnonzero(converged):
                        models[g] = adapter.with_params(thetas[g]).estimator
        todo = [g for g in range(k) if models[g] is None]
        self.refit_method_ = "newton" if not todo else "refit" if len(todo) == k else "mixed"
        warm = self.warm_start and "warm_start" in final_estimator(base).get_params(deep=False)
        for g in todo:
            keep = np.flatnonzero(codes != g)
            model = copy.deepcopy(base)
            if warm:
                final_estimator(model).set_params(warm_start=True)
            fit_params = {}
            if sample_weight is not None:
                fit_params = sample_weight_param(model, sample_weight[keep])
            model.fit(_safe_indexing(X, keep), y[keep], **fit_params)
            models[g] = model
        self.estimators_ = models
        self.estimator_ = base
        self._codes = codes
        scores = np.empty(n)
        full = per_sample_loss(base, X, y)
        for g, model in enumerate(models):
            rows = np.flatnonzero(codes == g)
            scores[rows] = per_sample_loss(model, _safe_indexing(X, rows), y[rows]) - full[rows]
        self.scores_ = scores

    def _influence(self, X_test, y_test, target="loss", target_class=None, test_groups=None):
        return target_differences(
            self.estimator_, self.estimators_, X_test, y_test, target, target_class, test_groups
        )

    def _score_samples(self, X, y):
        return self._influence(X, y).mean(axis=1)
