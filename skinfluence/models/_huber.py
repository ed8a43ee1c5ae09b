"""Adapter of scikit-learn's ``HuberRegressor``, whose scale σ is a parameter of the objective.

``HuberRegressor`` minimises jointly over the coefficients w, the intercept c and the scale σ
(``sklearn/linear_model/_huber.py``, after Owen 2007)::

    J(w, c, σ) = Σ_i s_i (σ + H_ε(r_i / σ) σ) + α‖w‖²,      r_i = y_i − x_iᵀw − c,

with ``H_ε(z) = z²`` for ``|z| ≤ ε`` and ``2ε|z| − ε²`` beyond: already a sum over rows, so
``ℓ_i = σ + r_i²/σ`` on the inliers (``|r_i| ≤ εσ``) and ``σ + 2ε|r_i| − ε²σ`` on the outliers.
θ = ``[coef_, intercept_, scale_]`` (the intercept only with ``fit_intercept``), as scikit-learn
lays it out. The loss depends on θ through two numbers per row, η_i = x̃_iᵀ[w, c] and σ, so a
per-sample gradient is ``[x̃_i ∂ℓ/∂η, ∂ℓ/∂σ]`` and the Hessian has a (d × d) block
``X̃ᵀ diag(s ∂²ℓ/∂η²) X̃``, a column ``X̃ᵀ (s ∂²ℓ/∂η∂σ)`` and a corner ``Σ s ∂²ℓ/∂σ²``. Since σ
is shared by every row it is not a :class:`~skinfluence.models.GeneralizedLinear` model (no
Newton step); first-order influence with any solver applies.

The loss is once differentiable (at ``|r| = εσ`` both branches meet with equal slopes) and
piecewise smooth: its second derivatives jump there. ``hessian`` is the generalised Hessian
(the inlier curvature ``(2/σ)[1, r/σ][1, r/σ]ᵀ`` on inliers, 0 on outliers), the Hessian
wherever it exists.
"""

import copy

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import HuberRegressor
from sklearn.utils.validation import check_is_fitted

from .._utils._docstring import inherit_docstrings, inject_docs
from ._base import GradientMatrix, ModelAdapter
from ._linear import LinearGradientMatrix, _as_float, _weighted_gram
from ._registry import AdapterExample, register_adapter


@inherit_docstrings
@inject_docs
class HuberGradientMatrix(GradientMatrix):
    """Per-sample gradients ``[x̃_i r_i, s_i]`` of ``HuberRegressor``, kept as (X, r, s).

    ``r_i = ∂ℓ/∂η_i`` (η = x̃ᵀ[w, c]) and ``s_i = ∂ℓ/∂σ``. Products cost O(nnz(X)·k); no
    n × p array is formed.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n, n_features)
        Features (float64; CSR when sparse).
    r : ndarray of shape (n,)
        ∂ℓ/∂η of each row.
    s : ndarray of shape (n,)
        ∂ℓ/∂σ of each row.
    fit_intercept : bool
        Whether θ has an intercept between the coefficients and σ.

    See Also
    --------
    HuberRegressorAdapter : whose ``gradients`` return this.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.models import HuberGradientMatrix
    >>> G = HuberGradientMatrix(np.array([[1.0, 2.0]]), np.array([0.5]), np.array([-1.0]), True)
    >>> G.dense_rows(slice(None))
    array([[ 0.5,  1. ,  0.5, -1. ]])
    """

    def __init__(self, X, r, s, fit_intercept):
        self.X = X
        self.r = r
        self.s = s
        self.fit_intercept = fit_intercept
        self._linear = LinearGradientMatrix(X, r[:, None], fit_intercept)

    @property
    def shape(self):
        return (self.X.shape[0], self._linear.shape[1] + 1)

    def matmul(self, V):
        V = np.asarray(V, dtype=np.float64).reshape(self.shape[1], -1)
        return self._linear.matmul(V[:-1]) + self.s[:, None] * V[-1]

    def rmatmul(self, U):
        U = np.asarray(U, dtype=np.float64).reshape(self.shape[0], -1)
        return np.vstack([self._linear.rmatmul(U), self.s @ U])

    def dense_rows(self, rows):
        return np.hstack([self._linear.dense_rows(rows), self.s[rows, None]])

    def take(self, rows):
        return HuberGradientMatrix(self.X[rows], self.r[rows], self.s[rows], self.fit_intercept)


@inherit_docstrings
class HuberRegressorAdapter(ModelAdapter):
    """Adapter of scikit-learn's ``HuberRegressor``: coefficients, intercept *and* scale.

    Objective in sum form ``Σ_i s_i ℓ_i + α‖w‖²`` with ``ℓ_i = σ + H_ε(r_i/σ) σ`` (scikit-learn's
    own, already a sum; the intercept and σ are unpenalised), θ = ``[coef_, intercept_,
    scale_]``. Removing a row refits σ too, and influence accounts for it. ``hessian`` is the
    generalised Hessian of this piecewise-smooth loss (see :mod:`skinfluence.models._huber`).
    Not :class:`~skinfluence.models.GeneralizedLinear` (σ is shared by all rows), so there is
    no Newton step; every solver applies.

    Parameters
    ----------
    estimator : HuberRegressor
        Fitted (dense or sparse X).

    See Also
    --------
    RidgeAdapter : the squared loss.
    HuberGradientMatrix : the per-sample gradients.

    Examples
    --------
    Ten coefficients, the intercept and the scale:

    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import HuberRegressor
    >>> from sklearn.preprocessing import scale
    >>> from skinfluence.models import adapter_for
    >>> X, y = load_diabetes(return_X_y=True)
    >>> adapter = adapter_for(HuberRegressor(max_iter=1000).fit(scale(X), y))
    >>> adapter.n_params, bool(adapter.params()[-1] == adapter.estimator.scale_)
    (12, True)
    """

    convex_objective = True  # jointly convex in (w, σ) (Owen 2007)

    def __init__(self, estimator):
        check_is_fitted(estimator)
        super().__init__(estimator)
        self.fit_intercept = bool(estimator.fit_intercept)
        self.coef_ = np.asarray(estimator.coef_, dtype=np.float64).ravel()
        self.intercept_ = float(estimator.intercept_) if self.fit_intercept else 0.0
        self.scale_ = float(estimator.scale_)
        self.n_features = len(self.coef_)

    @property
    def n_params(self):
        return self.n_features + self.fit_intercept + 1

    def params(self):
        return np.r_[self.coef_, [self.intercept_] if self.fit_intercept else [], self.scale_]

    def with_params(self, theta):
        theta = np.asarray(theta, dtype=np.float64)
        est = copy.deepcopy(self.estimator)
        est.coef_ = theta[: self.n_features].copy()
        if self.fit_intercept:
            est.intercept_ = float(theta[self.n_features])
        est.scale_ = float(theta[-1])
        return type(self)(est)

    def features(self, X):
        X = _as_float(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(
                f"X has {X.shape[-1] if X.ndim else 0} features, but HuberRegressor was "
                f"fitted with {self.n_features}."
            )
        return X

    def encode_target(self, y):
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D targets; got shape {y.shape}.")
        return y

    def _residuals(self, X, y):
        Xf = self.features(X)
        r = self.encode_target(y) - np.asarray(Xf @ self.coef_).ravel() - self.intercept_
        return Xf, r, np.abs(r) <= self.estimator.epsilon * self.scale_

    def loss(self, X, y):
        _, r, inlier = self._residuals(X, y)
        sigma, eps = self.scale_, self.estimator.epsilon
        outer = 2.0 * eps * np.abs(r) - eps**2 * sigma
        return sigma + np.where(inlier, r**2 / sigma, outer)

    def _derivatives(self, X, y):
        """Xf, ∂ℓ/∂η, ∂ℓ/∂σ and the generalised second derivatives (ηη, ησ, σσ)."""
        Xf, r, inlier = self._residuals(X, y)
        sigma, eps = self.scale_, self.estimator.epsilon
        d_eta = np.where(inlier, -2.0 * r / sigma, -2.0 * eps * np.sign(r))
        d_sigma = np.where(inlier, 1.0 - (r / sigma) ** 2, 1.0 - eps**2)
        z = np.where(inlier, r / sigma, 0.0)
        c = np.where(inlier, 2.0 / sigma, 0.0)
        return Xf, d_eta, d_sigma, (c, c * z, c * z**2)

    def gradients(self, X, y):
        Xf, d_eta, d_sigma, _ = self._derivatives(X, y)
        return HuberGradientMatrix(Xf, d_eta, d_sigma, self.fit_intercept)

    def _curvature(self, X, y, sample_weight):
        Xf, _, _, (hee, hes, hss) = self._derivatives(X, y)
        w = self.row_weights(y, sample_weight)
        return Xf, w * hee, w * hes, w * hss

    def _penalty(self):
        return 2.0 * self.estimator.alpha  # ∂²(α‖w‖²)/∂w_j²

    def hessian(self, X, y, sample_weight=None):
        """Compute the dense (generalised) Hessian: O(n d²) time, O(d²) memory.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Rows.
        y : array-like of shape (n_samples,)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in the objective.

        Returns
        -------
        H : ndarray of shape (n_params, n_params)
            Symmetric.
        """
        Xf, hee, hes, hss = self._curvature(X, y, sample_weight)
        d = self.n_features + self.fit_intercept
        G = LinearGradientMatrix(Xf, np.zeros((Xf.shape[0], 1)), self.fit_intercept)
        H = np.zeros((d + 1, d + 1))
        H[:d, :d] = _weighted_gram(Xf, hee, self.fit_intercept)
        H[:d, d] = H[d, :d] = G.features_rmatmul(hes[:, None])[:, 0]
        H[d, d] = hss.sum()
        H[np.arange(self.n_features), np.arange(self.n_features)] += self._penalty()
        return H

    def hvp(self, X, y, V, sample_weight=None):
        """Multiply by the (generalised) Hessian: O(nnz(X) k) time, no p × p array.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Rows.
        y : array-like of shape (n_samples,)
            Targets.
        V : ndarray of shape (n_params,) or (n_params, k)
            Vectors.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in the objective.

        Returns
        -------
        HV : ndarray of the shape of V
            ``H @ V``.
        """
        Xf, hee, hes, hss = self._curvature(X, y, sample_weight)
        V = np.asarray(V, dtype=np.float64)
        one_d = V.ndim == 1
        V = V.reshape(self.n_params, -1)
        G = LinearGradientMatrix(Xf, np.zeros((Xf.shape[0], 1)), self.fit_intercept)
        Vl, vs = V[:-1], V[-1]
        XV = G.outputs_dot(Vl)[:, 0, :]  # (n, k)
        top = G.features_rmatmul(hee[:, None] * XV + hes[:, None] * vs[None])
        top[: self.n_features] += self._penalty() * Vl[: self.n_features]
        bottom = hes @ XV + hss.sum() * vs
        out = np.vstack([top, bottom[None]])
        return out.ravel() if one_d else out


# -- examples for the common adapter tests ---------------------------------------------------
def huber_per_sample(estimator, X, y):
    """``σ + H_ε((y − ŷ)/σ) σ`` from ``predict`` and ``scale_`` (reference loss)."""
    r = np.asarray(y, dtype=np.float64) - estimator.predict(X)
    sigma, eps = estimator.scale_, estimator.epsilon
    z = np.abs(r) / sigma
    return sigma + sigma * np.where(z <= eps, z**2, 2 * eps * z - eps**2)


def polish_huber(model, X, y, sample_weight=None):
    """Refine a fitted ``HuberRegressor`` to the optimum of scikit-learn's own objective.

    ``HuberRegressor`` stops L-BFGS-B on scipy's default relative decrease of the objective
    (``ftol`` ≈ 2e-9), which leaves gradients of order 1e-5 relative to their terms whatever
    ``tol``; this reruns L-BFGS-B on ``sklearn.linear_model._huber._huber_loss_and_gradient``
    with ``ftol=0`` from the fitted solution. Used for the examples and the tests.
    """
    from scipy.optimize import minimize
    from sklearn.linear_model._huber import _huber_loss_and_gradient

    sw = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, float)
    w0 = np.r_[model.coef_, [model.intercept_] if model.fit_intercept else [], model.scale_]
    bounds = [(None, None)] * (len(w0) - 1) + [(np.finfo(np.float64).eps * 10, None)]
    res = minimize(
        _huber_loss_and_gradient,
        w0,
        args=(X, y, model.epsilon, model.alpha, sw),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 0.0, "gtol": 1e-13, "maxiter": 10_000},
    )
    model.coef_ = res.x[: X.shape[1]].copy()
    if model.fit_intercept:
        model.intercept_ = float(res.x[-2])
    model.scale_ = float(res.x[-1])
    return model


def huber_example(weighted=False, sparse=False, **params):
    """``HuberRegressor(**params)`` on 80 rows with 8 gross outliers, fitted to 1e-10."""
    rng = np.random.RandomState(7)
    X = rng.randn(80, 4)
    y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 1.0 + 0.3 * rng.randn(80)
    y[:8] += rng.choice([-1, 1], 8) * rng.uniform(5, 10, 8)
    sw = rng.uniform(0.5, 2.0, 80) if weighted else None
    params = {"tol": 1e-10, "max_iter": 10_000, **params}
    Xfit = sp.csr_matrix(X) if sparse else X
    model = polish_huber(HuberRegressor(**params).fit(Xfit, y, sample_weight=sw), Xfit, y, sw)
    alpha = model.alpha

    def penalty(theta):  # α‖w‖²: the coefficients only, neither the intercept nor σ
        return alpha * float(np.sum(np.asarray(theta)[:4] ** 2))

    return AdapterExample(
        model,
        sp.csr_matrix(X) if sparse else X,
        y,
        penalty=penalty,
        sample_weight=sw,
        reference_loss=huber_per_sample,
        invalid_y=np.zeros((2, 2)),
        id=f"Huber-weighted{weighted}-sparse{sparse}-"
        + "-".join(f"{k}={v}" for k, v in params.items()),
    )


register_adapter(
    HuberRegressor,
    HuberRegressorAdapter,
    name="HuberRegressor (scale included)",
    examples=[
        huber_example,
        lambda: huber_example(weighted=True, alpha=1.0, epsilon=1.5),
        lambda: huber_example(sparse=True, fit_intercept=False, alpha=0.1),
    ],
)
