"""Adapters of ``Lasso``, ``ElasticNet`` and their cross-validated forms, on the active set.

scikit-learn minimises the *mean* form (``_coordinate_descent.py``; sample weights ``s_i`` are
rescaled to sum to n, which is the same as dividing by ``Σ s_i``)::

    1/(2 Σ s_i) Σ_i s_i (y_i − x_iᵀw − b)² + α ρ ‖w‖₁ + α (1 − ρ)/2 ‖w‖²,

ρ = ``l1_ratio`` (1 for Lasso). Times ``2 Σ s_i`` this is the sum
``Σ_i s_i [(y_i − η_i)² + q(w)]`` with ``q(w) = 2αρ‖w‖₁ + α(1 − ρ)‖w‖²``: every row carries the
share ``c_i = s_i`` of q (see "Penalty shares" in :mod:`skinfluence.models._base`), and the
refit without row i minimises the same sum without ``s_i (ℓ_i + q)``.

The l1 norm is not differentiable at 0, where most coefficients sit. Influence is restricted to
the **active set** A = {j : ŵ_j ≠ 0} (the standard treatment): to first order a removed row
moves neither a zero coefficient off zero (its subgradient condition ``|∇_j| < 2αρ Σc`` holds
strictly, with some room) nor a non-zero one to zero, and on A with the signs of ŵ fixed
``‖w‖₁ = sign(ŵ_A)ᵀ w_A`` is linear. So the adapter is Ridge-like on the columns A (plus the
unpenalised intercept): θ = ``[w_A, b]``, ``∇q = 2αρ sign(w_A) + 2α(1 − ρ) w_A``,
``∇²q = 2α(1 − ρ) I``. The approximation is exact while removing a row keeps the support (the
tests compare it with leave-one-out retraining on those rows) and breaks, as every local
method does, where a removal adds or drops a feature.
"""

import copy

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import ElasticNet, ElasticNetCV, Lasso, LassoCV

from .._utils._docstring import inherit_docstrings
from ._linear import _as_float, _SquaredLossAdapter
from ._registry import AdapterExample, register_adapter, squared_error_per_sample


@inherit_docstrings
class ElasticNetAdapter(_SquaredLossAdapter):
    """Adapter of ``ElasticNet``/``Lasso`` (and their CV forms) on the active set.

    θ = ``[coef_[active_], intercept_]``; the features of a row are its active columns.
    Objective in sum form ``Σ_i s_i [(y_i − η_i)² + q(w)]``, ``q = 2αρ sign(ŵ_A)ᵀw_A +
    α(1 − ρ)‖w_A‖²`` (ρ = ``l1_ratio``): a penalty share ``c_i = s_i`` per row (scikit-learn's
    objective is a mean), removed with the row. Zero coefficients stay zero to first order
    (see :mod:`skinfluence.models._sparse_linear`).

    Parameters
    ----------
    estimator : ElasticNet, Lasso, ElasticNetCV or LassoCV
        Fitted on one target (a 2-D ``y`` fits one model per target, each with its own
        support: adapt them one at a time).

    Attributes
    ----------
    active_ : ndarray of int
        Indices of the non-zero coefficients.
    n_features_in_ : int
        The estimator's number of input features.

    See Also
    --------
    RidgeAdapter : the l2 penalty alone, in sum form.

    Notes
    -----
    The CV forms are taken at their selected ``alpha_`` (and ``l1_ratio_``), the selection
    held fixed (``fit_selects_hyperparameters``).

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Lasso
    >>> from skinfluence.models import adapter_for
    >>> X, y = load_diabetes(return_X_y=True)
    >>> adapter = adapter_for(Lasso(alpha=0.5).fit(X, y))
    >>> adapter.active_.tolist(), adapter.n_params  # four active features and the intercept
    ([2, 3, 6, 8], 5)
    """

    def __init__(self, estimator):
        if np.ndim(estimator.coef_) != 1:
            raise TypeError(
                f"{type(estimator).__name__} fitted on a 2-D y is one model per target, each "
                "with its own active set; adapt one target at a time (fit it on y[:, k])."
            )
        coef = np.asarray(estimator.coef_, dtype=np.float64)
        self.active_ = np.flatnonzero(coef)
        self.n_features_in_ = len(coef)
        view = copy.copy(estimator)
        view.coef_ = coef[self.active_]
        super().__init__(view)
        self.estimator = estimator
        self.multi_output = False

    @property
    def fit_selects_hyperparameters(self):
        """Whether the estimator is a CV form (its fit reruns the selection)."""
        return isinstance(self.estimator, (ElasticNetCV, LassoCV))

    def _alpha_rho(self):
        est = self.estimator
        if isinstance(est, LassoCV):
            return float(est.alpha_), 1.0
        if isinstance(est, ElasticNetCV):
            return float(est.alpha_), float(est.l1_ratio_)
        return float(est.alpha), float(est.l1_ratio)

    def features(self, X):
        X = _as_float(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[-1] if X.ndim else 0} features, but "
                f"{type(self.estimator).__name__} was fitted with {self.n_features_in_}."
            )
        return X[:, self.active_] if not sp.issparse(X) else X[:, self.active_].tocsr()

    def penalty_share_strength(self):
        alpha, rho = self._alpha_rho()
        return 2.0 * alpha * (1.0 - rho)

    def penalty_share_diagonal(self):
        """Return the diagonal of ∇²q, ``2α(1 − ρ)`` on the active coefficients, 0 on b.

        Returns
        -------
        diagonal : ndarray of shape (n_params,)
            Zeros for Lasso (q is linear on the active set), never None: every row carries a
            share.
        """
        diag = np.zeros((self.n_features + self.fit_intercept, 1))
        diag[: self.n_features] = self.penalty_share_strength()
        return diag.ravel()

    def penalty_share_gradient(self):
        """Return ``∇q = 2αρ sign(w_A) + 2α(1 − ρ) w_A`` (0 on the intercept).

        Returns
        -------
        gradient : ndarray of shape (n_params,)
            The gradient of the penalty each unit of row share carries, at θ.
        """
        alpha, rho = self._alpha_rho()
        w = self.coef_[0]
        grad = np.zeros(self.n_params)
        grad[: self.n_features] = 2.0 * alpha * rho * np.sign(w) + 2.0 * alpha * (1 - rho) * w
        return grad

    def with_params(self, theta):
        """Return an adapter of a copy of the estimator at other active-set parameters.

        The copy's ``coef_`` is ``theta``'s coefficients on ``active_`` and zero elsewhere.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
            ``[w_A, b]``.

        Returns
        -------
        adapter : ElasticNetAdapter
            On the same active set (coefficients of ``theta`` at exactly 0 are kept in it).
        """
        theta = np.asarray(theta, dtype=np.float64)
        est = copy.deepcopy(self.estimator)
        coef = np.zeros(self.n_features_in_)
        coef[self.active_] = theta[: self.n_features]
        est.coef_ = coef
        if self.fit_intercept:
            est.intercept_ = float(theta[self.n_features])
        new = copy.copy(self)
        new.estimator = est
        new.coef_ = theta[: self.n_features][None].copy()
        new.intercept_ = np.array([est.intercept_ if self.fit_intercept else 0.0])
        return new


# -- examples for the common adapter tests ---------------------------------------------------
def sparse_linear_example(estimator, weighted=False, sparse=False):
    """``estimator`` on 60 rows, 6 features of which 3 are inactive, fitted to ``tol=1e-12``."""
    rng = np.random.RandomState(4)
    X = rng.randn(60, 6)
    y = X @ np.array([2.0, -1.5, 0.0, 1.0, 0.0, 0.0]) + 0.5 + 0.3 * rng.randn(60)
    sw = rng.uniform(0.5, 2.0, 60) if weighted else None
    Xfit = sp.csr_matrix(X) if sparse else X
    model = estimator.set_params(tol=1e-12, max_iter=100_000).fit(Xfit, y, sample_weight=sw)
    if isinstance(model, LassoCV):
        alpha, rho = model.alpha_, 1.0
    elif isinstance(model, ElasticNetCV):
        alpha, rho = model.alpha_, model.l1_ratio_
    else:
        alpha, rho = model.alpha, model.l1_ratio
    active = np.flatnonzero(model.coef_)
    signs = np.sign(model.coef_[active])
    k = len(active)

    def share(theta):
        # 1/(2Σs) Σ s_i r_i² + αρ‖w‖₁ + α(1−ρ)/2 ‖w‖², times 2Σs: each row's share of
        # 2αρ‖w‖₁ + α(1−ρ)‖w‖², with ‖w‖₁ = sign(ŵ)ᵀw on the active set.
        w = np.asarray(theta)[:k]
        return float(2 * alpha * rho * signs @ w + alpha * (1 - rho) * w @ w)

    return AdapterExample(
        model,
        Xfit,
        y,
        penalty=lambda theta: 0.0,
        penalty_share=share,
        sample_weight=sw,
        reference_loss=squared_error_per_sample,
        invalid_y=np.zeros((2, 2)),
        id=f"{type(model).__name__}-weighted{weighted}-sparse{sparse}-active{k}",
    )


register_adapter(
    Lasso,
    ElasticNetAdapter,
    name="Lasso (active set)",
    examples=[
        lambda: sparse_linear_example(Lasso(alpha=0.2)),
        lambda: sparse_linear_example(Lasso(alpha=0.1, fit_intercept=False), weighted=True),
    ],
)
register_adapter(
    ElasticNet,
    ElasticNetAdapter,
    name="ElasticNet (active set)",
    examples=[
        lambda: sparse_linear_example(ElasticNet(alpha=0.2, l1_ratio=0.5), weighted=True),
        lambda: sparse_linear_example(ElasticNet(alpha=0.1, l1_ratio=0.7), sparse=True),
    ],
)
register_adapter(
    LassoCV,
    ElasticNetAdapter,
    name="LassoCV (active set, at alpha_)",
    examples=[lambda: sparse_linear_example(LassoCV(alphas=[0.05, 0.2, 0.5], cv=3))],
)
register_adapter(
    ElasticNetCV,
    ElasticNetAdapter,
    name="ElasticNetCV (active set, at alpha_ and l1_ratio_)",
    examples=[
        lambda: sparse_linear_example(
            ElasticNetCV(alphas=[0.05, 0.2], l1_ratio=[0.3, 0.8], cv=3), weighted=True
        )
    ],
)
