"""Adapter of scikit-learn's ``KernelRidge``: ridge regression in an orthonormal basis of the
span of the training rows' kernel functions.

``KernelRidge`` fits ``f(x) = Σ_j a_j k(x, x_j)`` minimising ``Σ_i w_i ‖y_i − f(x_i)‖² +
α ‖f‖²_H`` (``‖f‖²_H = aᵀKa``, K the training kernel matrix), i.e. ``‖y − Ka‖²_W + α aᵀKa``
over the dual coefficients a. That form is a sum over rows, but its Hessian in a,
``2K(WK + αI)``, is singular wherever K is (a linear or polynomial kernel, duplicated rows) and
badly conditioned in general (it squares K's spectrum). The adapter changes coordinates
instead: with ``K = V Λ Vᵀ`` (the r eigenvalues above ``n ε_mach λ_max``), the *empirical
kernel map* ``φ(x) = Λ^{-1/2} Vᵀ k(X_fit, x)`` is an orthonormal basis of the span of the
training kernel functions, in which ``f(x) = φ(x)ᵀβ`` with ``β = Λ^{1/2} Vᵀ a`` and
``‖f‖²_H = ‖β‖²``. So KernelRidge *is* Ridge, without intercept, on the r features φ:

    J(β) = Σ_i w_i ‖y_i − φ(x_i)ᵀβ‖² + α‖β‖²,

a :class:`~skinfluence.models.GeneralizedLinear` model with a diagonal penalty and Hessian
``2(ΦᵀWΦ + αI)`` (``2(Λ + αI)`` without weights). Removing row i is exact in these
coordinates: by the representer theorem the fit without row i lies in the span of the other
rows' kernel functions, a subspace of this one. Consequences:

* first-order influence is the usual ``w_i ∇ℓ_tᵀ H⁻¹ ∇ℓ_i``;
* the Newton step (``InfluenceScorer(newton_step=True)``) is *exact* leave-one-out: for
  squared loss it is the hat-matrix closed form ``y_i − f₋ᵢ(x_i) = e_i / (1 − h_ii)``,
  ``h_ii = w_i [K(WK + αI)⁻¹]_ii``, evaluated on every test row, and
  ``LeaveOneOutScorer`` gets the same models from one Newton iteration per row;
* any kernel works (every string ``KernelRidge`` accepts and callables), since the adapter
  only calls the estimator's own ``_get_kernel``.

Cost: an eigendecomposition of the n × n training kernel, O(n³) time and **O(n²) memory**
(the kernel and the n × r basis); test rows are mapped in chunks of 1 024, O(1 024 · n) extra
memory, O(m n r) time for m rows.
"""

import copy

import numpy as np
from scipy import linalg
from sklearn.kernel_ridge import KernelRidge
from sklearn.utils import _safe_indexing, gen_batches
from sklearn.utils.validation import _num_samples, check_is_fitted

from .._utils._docstring import inherit_docstrings
from ._linear import _SquaredLossAdapter
from ._registry import AdapterExample, register_adapter, squared_error_per_sample

# Test rows mapped to the basis at once: the (rows × n) kernel block is 1 024 · n doubles.
_KERNEL_CHUNK = 1024


@inherit_docstrings
class KernelRidgeAdapter(_SquaredLossAdapter):
    """Adapter of a fitted ``KernelRidge``: Ridge on the empirical kernel map (no intercept).

    θ = β, the coordinates of the fitted function in an orthonormal basis of the span of the
    training rows' kernel functions (``β = Λ^{1/2} Vᵀ dual_coef_``, ``K = VΛVᵀ``); the
    features of a row are ``φ(x) = Λ^{-1/2} Vᵀ k(X_fit_, x)``. Objective in sum form
    ``Σ_i w_i ‖y_i − φ(x_i)ᵀβ‖² + α‖β‖²`` (``α‖β‖² = α‖f‖²_H``; one α per target when
    ``alpha`` is an array). See :mod:`skinfluence.models._kernel_ridge` for the derivation and
    why the Newton step is exact leave-one-out.

    Parameters
    ----------
    estimator : KernelRidge
        Fitted, any kernel (string or callable), one or several targets.

    Attributes
    ----------
    eigenvalues_ : ndarray of shape (r,)
        The training kernel's eigenvalues kept (r = its numerical rank).
    basis_ : ndarray of shape (n_fit, r)
        ``V Λ^{-1/2}``: ``φ(x) = k(x, X_fit_) @ basis_``.

    See Also
    --------
    RidgeAdapter : the same objective on explicit features, with an intercept.

    Notes
    -----
    Memory O(n²) for n training rows (the kernel matrix while fitting, then the n × r basis);
    O(n³) time to build. The number of parameters is r ≤ n, so ``InfluenceScorer`` takes the
    ``direct`` solver up to 5 000 training rows.

    Examples
    --------
    An RBF kernel on 100 rows of diabetes: one parameter per training row (K has full rank).

    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.kernel_ridge import KernelRidge
    >>> from skinfluence.models import adapter_for
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = KernelRidge(alpha=0.1, kernel="rbf", gamma=10.0).fit(X[:100], y[:100])
    >>> adapter = adapter_for(model)
    >>> adapter.n_params, adapter.fit_intercept
    (100, False)
    """

    layout_depends_on_rows = True  # β lives in a basis of the training kernel functions

    def __init__(self, estimator):
        check_is_fitted(estimator, "dual_coef_")
        self.estimator = estimator
        self._fit_intercept = False
        self.multi_output = np.ndim(estimator.dual_coef_) == 2
        self._basis = None  # built on first use: loss() needs none

    def _build_basis(self):
        if self._basis is None:
            est = self.estimator
            K = np.asarray(est._get_kernel(est.X_fit_), dtype=np.float64)
            lam, V = linalg.eigh(K, overwrite_a=True, check_finite=False)
            keep = lam > max(lam[-1], 0.0) * len(lam) * np.finfo(np.float64).eps
            lam, V = lam[keep], V[:, keep]
            dual = np.asarray(est.dual_coef_, dtype=np.float64)
            beta = np.sqrt(lam)[:, None] * (V.T @ dual.reshape(len(dual), -1))  # (r, K)
            self._basis = (lam, V / np.sqrt(lam), np.ascontiguousarray(beta.T))
        return self._basis

    @property
    def eigenvalues_(self):
        """The training kernel's eigenvalues kept, (r,)."""
        return self._build_basis()[0]

    @property
    def basis_(self):
        """``V Λ^{-1/2}``, (n_fit, r): ``φ(x) = k(x, X_fit_) @ basis_``."""
        return self._build_basis()[1]

    @property
    def coef_(self):
        """The fitted function's coordinates β as a (K, r) matrix."""
        return self._build_basis()[2]

    @property
    def intercept_(self):
        """Zeros (KernelRidge has no intercept)."""
        return np.zeros(self.n_outputs)

    @property
    def n_outputs(self):
        """Number of targets K."""
        return 1 if np.ndim(self.estimator.dual_coef_) == 1 else self.estimator.dual_coef_.shape[1]

    def loss(self, X, y):
        """Compute the squared error ``Σ_k (y_ik − f_k(x_i))²``.

        Through the basis once it is built, else through the estimator's own ``predict``
        (no eigendecomposition: what retraining scorers call on each refitted model).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features_in)
            Rows as the estimator takes them.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.

        Returns
        -------
        loss : ndarray of shape (n_samples,)
            ``Σ_k (y_ik − f_k(x_i))²``.
        """
        t = self.encode_target(y)
        if self._basis is not None:
            return self._loss_from_outputs(self.outputs(self.features(X)), t)
        pred = np.asarray(self.estimator.predict(X), dtype=np.float64).reshape(t.shape)
        return ((t - pred) ** 2).sum(axis=1)

    def features(self, X):
        """Map rows to the empirical kernel map ``φ(x) = k(x, X_fit_) @ basis_``.

        Kernel blocks of 1 024 rows at a time: O(1 024 · n_fit) extra memory.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features_in)
            Rows as the estimator takes them.

        Returns
        -------
        Phi : ndarray of shape (n_samples, r)
            Their coordinates in the orthonormal basis.
        """
        n = _num_samples(X)
        fit_X = self.estimator.X_fit_
        if X is fit_X or (
            isinstance(X, np.ndarray)
            and isinstance(fit_X, np.ndarray)
            and X.shape == fit_X.shape
            and np.array_equal(X, fit_X)
        ):
            # The training rows themselves: K V Λ^{-1/2} = V Λ^{1/2}, no kernel (O(n r)
            # instead of O(n² (p + r))).
            lam, basis, _ = self._build_basis()
            return basis * lam[None, :]
        out = np.empty((n, self.basis_.shape[1]))
        for rows in gen_batches(n, _KERNEL_CHUNK):
            block = self.estimator._get_kernel(_safe_indexing(X, rows), self.estimator.X_fit_)
            np.matmul(np.asarray(block, dtype=np.float64), self.basis_, out=out[rows])
        return out

    def penalty_strength(self):
        """Return ``2α``, the second derivative of ``α‖β‖²`` (one per target if an array).

        Returns
        -------
        strength : float or ndarray of shape (n_targets,)
            ``∂²R/∂β²``.
        """
        return 2.0 * np.asarray(self.estimator.alpha, dtype=np.float64)

    def with_params(self, theta):
        """Return an adapter of a copy of the estimator at other coordinates β.

        The copy's ``dual_coef_`` is ``basis_ @ β`` (shape as the estimator's), so that its
        ``predict`` is the function at ``theta``; the estimator itself is not modified.

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
            β in the (r, K) row-major layout.

        Returns
        -------
        adapter : KernelRidgeAdapter
            Sharing this adapter's basis (no new eigendecomposition).
        """
        beta = np.asarray(theta, dtype=np.float64).reshape(-1, self.n_outputs)
        est = copy.copy(self.estimator)  # X_fit_ shared, dual_coef_ replaced
        est.dual_coef_ = (self.basis_ @ beta).reshape(np.shape(self.estimator.dual_coef_))
        new = copy.copy(self)
        new.estimator = est
        lam, basis, _ = self._build_basis()
        new._basis = (lam, basis, np.ascontiguousarray(beta.T))
        return new


# -- examples for the common adapter tests ---------------------------------------------------
def _laplacian_kernel(a, b):
    """A callable kernel (``exp(−‖a − b‖₁)``), as users pass them."""
    return float(np.exp(-np.abs(a - b).sum()))


def kernel_ridge_example(n_targets=1, weighted=False, **params):
    """``KernelRidge(**params)`` on 40 rows of 3 features, ``n_targets`` targets."""
    rng = np.random.RandomState(n_targets)
    X = rng.randn(40, 3)
    Y = np.column_stack([np.sin(X[:, 0]) + X[:, 1] * (k + 1) for k in range(n_targets)])
    Y += 0.1 * rng.randn(*Y.shape)
    y = Y[:, 0] if n_targets == 1 else Y
    sw = rng.uniform(0.5, 2.0, 40) if weighted else None
    model = KernelRidge(**params).fit(X, y, sample_weight=sw)
    alpha = np.broadcast_to(np.asarray(model.alpha, dtype=np.float64), (n_targets,))
    kernel = model._get_kernel(X)
    at = KernelRidgeAdapter(model).with_params  # built once: the penalty is called often

    def penalty(theta):
        # KernelRidge: ‖y − Ka‖²_W + α aᵀKa, read on the dual coefficients a of the estimator
        # at θ (its predict is checked against the adapter's outputs by the common tests).
        est = at(theta).estimator
        a = np.asarray(est.dual_coef_).reshape(40, -1)
        return float(np.sum(alpha * np.einsum("ik,ij,jk->k", a, kernel, a)))

    return AdapterExample(
        model,
        X,
        y,
        penalty=penalty,
        sample_weight=sw,
        reference_loss=squared_error_per_sample,
        invalid_y=np.zeros((2, n_targets + 1)),
        id=f"KernelRidge-targets{n_targets}-weighted{weighted}-{params.get('kernel')}",
    )


register_adapter(
    KernelRidge,
    KernelRidgeAdapter,
    name="KernelRidge (any kernel)",
    examples=[
        lambda: kernel_ridge_example(kernel="rbf", alpha=0.3, gamma=0.5),
        lambda: kernel_ridge_example(kernel="linear", alpha=1.0, weighted=True),  # rank 3
        lambda: kernel_ridge_example(2, kernel="poly", degree=2, alpha=[0.5, 2.0]),
        lambda: kernel_ridge_example(kernel=_laplacian_kernel, alpha=0.2, weighted=True),
    ],
)
