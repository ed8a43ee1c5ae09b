"""Exact adapters for linear models: logistic regression (binary, multinomial), Ridge, OLS.

All three are generalised linear models: the outputs are ``η = X W + b`` (K columns) and the
per-sample loss depends on θ only through η. Hence a per-sample gradient factors as
``∇ℓ_i = x̃_i ⊗ r_i`` with ``x̃_i = [x_i, 1]`` and ``r_i = ∂ℓ/∂η_i`` (K numbers), and the
Hessian as ``Σ w_i x̃_i x̃_iᵀ ⊗ S_i`` with ``S_i = ∂²ℓ/∂η_i²`` (K × K). Nothing here forms the
n × p gradient matrix: products go through X (dense or sparse) and the n × K residuals.

Parameter layout: θ is the (d, K) matrix ``[coef_.T; intercept_]`` flattened row-major,
d = n_features (+1 with an intercept).
"""

import warnings
from functools import partial

import numpy as np
import scipy.sparse as sp
from scipy.special import log_expit, logsumexp, softmax
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import check_is_fitted

from .._utils._docstring import inherit_docstrings, inject_docs
from .._utils._labels import encode_labels
from .._utils._symmetric import add_to_diagonal
from ..exceptions import IllConditionedHessianWarning
from ._base import GeneralizedLinear, GradientMatrix, ModelAdapter
from ._gram import dense_weighted_gram
from ._linear_examples import least_squares_example, logistic_example
from ._registry import register_adapter


def _shallow_copy(obj):
    """``copy.copy`` without the pickling protocol (sklearn's ``__getstate__`` /
    ``__setstate__`` version checks made it 50 µs per object)."""
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    return new


def _as_float(X):
    if sp.issparse(X):
        return X.astype(np.float64, copy=False).tocsr()
    return np.asarray(X, dtype=np.float64)


def reads_rows_unchanged(adapter, X):
    """Whether ``adapter.features(X)`` is ``X`` itself (no transform, no copy): a
    :class:`LinearModelAdapter` with its own feature map, on a float64 ndarray or CSR matrix."""
    if not isinstance(adapter, LinearModelAdapter):
        return False
    if type(adapter).features is not LinearModelAdapter.features:
        return False
    if sp.issparse(X):
        return X.format == "csr" and X.dtype == np.float64
    return isinstance(X, np.ndarray) and X.dtype == np.float64 and X.ndim == 2


@inherit_docstrings
@inject_docs
class LinearGradientMatrix(GradientMatrix):
    """Per-sample gradients ``x̃_i ⊗ r_i`` of a linear model, kept as (X, R).

    Row i is the gradient of a generalised linear model's loss, ``x̃_i ⊗ r_i`` with
    ``x̃_i = [x_i, 1]`` and ``r_i = ∂ℓ/∂η_i``, in θ's (d, K) row-major layout. Products cost
    O(nnz(X)·K·k) time and O(n·K·k) memory; no n × p array is formed.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n, n_features)
        Mapped features (float64; CSR when sparse).
    R : ndarray of shape (n, K)
        Output gradients ∂ℓ/∂η of each row.
    fit_intercept : bool
        Whether θ ends with a row of K intercepts (``x̃_i`` ends with a 1).

    See Also
    --------
    GradientMatrix : the interface.
    LogisticRegressionAdapter : one of the adapters whose ``gradients`` return this.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.models import LinearGradientMatrix
    >>> G = LinearGradientMatrix(np.array([[1.0, 2.0]]), np.array([[0.5]]), True)
    >>> G.dense_rows(slice(None))
    array([[0.5, 1. , 0.5]])
    """

    def __init__(self, X, R, fit_intercept):
        self.X = X
        self.R = R
        self.fit_intercept = fit_intercept
        self.n_features = X.shape[1]
        self.n_outputs = R.shape[1]

    @property
    def shape(self):
        d = self.n_features + self.fit_intercept
        return (self.X.shape[0], d * self.n_outputs)

    def _split(self, V):
        k = V.shape[1]
        V3 = V.reshape(self.n_features + self.fit_intercept, self.n_outputs, k)
        return V3[: self.n_features], (V3[self.n_features] if self.fit_intercept else None)

    def outputs_dot(self, V):
        """Compute ``x̃_iᵀ V_c`` for every row i, output c and column of V.

        Parameters
        ----------
        V : ndarray of shape (p, k)
            Vectors of the parameter space, read as (d, K, k).

        Returns
        -------
        XV : ndarray of shape (n, K, k)
            The change of each output along each column of V.
        """
        k = V.shape[1]
        Vw, Vb = self._split(V)
        # A C-contiguous right operand keeps the product on BLAS (a strided view of a solver's
        # Fortran-ordered output does not).
        Vw = np.ascontiguousarray(Vw.reshape(self.n_features, -1))
        XV = np.asarray(self.X @ Vw).reshape(-1, self.n_outputs, k)
        if Vb is not None:
            XV += Vb[None]
        return XV

    def matmul(self, V):
        V = np.asarray(V, dtype=np.float64).reshape(self.shape[1], -1)
        return np.einsum("nc,nck->nk", self.R, self.outputs_dot(V))

    def rmatmul(self, U):
        U = np.asarray(U, dtype=np.float64).reshape(self.shape[0], -1)
        return self.features_rmatmul((self.R[:, :, None] * U[:, None, :]).reshape(len(U), -1))

    def features_rmatmul(self, T):
        """Compute ``Σ_i x̃_i ⊗ T_i``, the transpose product with other output coefficients.

        Parameters
        ----------
        T : ndarray of shape (n, K·k)
            Per-row coefficients of the K outputs for each of k columns.

        Returns
        -------
        W : ndarray of shape (p, k)
            In θ's layout.
        """
        k = T.shape[1] // self.n_outputs
        W = np.asarray(self.X.T @ T).reshape(self.n_features, self.n_outputs, k)
        if self.fit_intercept:
            # column sums as a GEMV: numpy's T.sum(axis=0) on a tall C-ordered T is up to 20×
            # slower (107 against 5 µs at 10⁴ × 3)
            sums = np.ones(T.shape[0], dtype=T.dtype) @ T
            W = np.concatenate([W, sums.reshape(1, self.n_outputs, k)], axis=0)
        return W.reshape(-1, k)

    def dense_features(self, rows):
        """Materialise the rows ``x̃_i = [x_i, 1]`` (``[x_i]`` without an intercept).

        %(adapter_params_rows)s

        Returns
        -------
        Xr : ndarray of shape (len(rows), d)
            Dense features, with a column of ones for the intercept.
        """
        Xr = self.X[rows]
        Xr = Xr.toarray() if sp.issparse(Xr) else np.asarray(Xr)
        if self.fit_intercept:
            Xr = np.hstack([Xr, np.ones((Xr.shape[0], 1))])
        return Xr

    def dense_rows(self, rows):
        # One allocation and one pass: x_i ⊗ r_i written in place, then the intercept's r_i.
        # Formed transposed, (p, m) in memory, and returned as its (m, p) view: the product's
        # inner loop then runs along the m rows instead of the K outputs (half the time at
        # K = 1, measured), and the GEMMs that read the block transposed get it contiguous.
        Xr = self.X[rows]
        Xr = Xr.toarray() if sp.issparse(Xr) else np.asarray(Xr)
        Rr = self.R[rows]
        m, n_features = Xr.shape[0], self.n_features
        out = np.empty((n_features + self.fit_intercept, self.n_outputs, m))
        np.multiply(Xr.T[:, None, :], Rr.T[None, :, :], out=out[:n_features])
        if self.fit_intercept:
            out[n_features] = Rr.T
        return out.reshape(-1, m).T

    def take(self, rows):
        return LinearGradientMatrix(self.X[rows], self.R[rows], self.fit_intercept)


@inherit_docstrings
@inject_docs
class LinearModelAdapter(ModelAdapter, GeneralizedLinear):
    """Shared machinery of the GLM adapters; subclasses define the loss in terms of η.

    A subclass writes ``encode_target``, ``_loss_from_outputs`` and ``output_derivatives`` (and
    ``penalty_strength`` where the model is penalised); the rest of :class:`ModelAdapter` and
    :class:`GeneralizedLinear` follows from the (d, K) layout of θ.
    """

    def __init__(self, estimator):
        if not hasattr(estimator, "coef_"):  # the attribute read next (not a scan of vars())
            check_is_fitted(estimator, "coef_")  # raises NotFittedError
        super().__init__(estimator)
        coef = np.asarray(estimator.coef_, dtype=np.float64)
        self.coef_ = coef.reshape(1, -1) if coef.ndim == 1 else coef  # (K, d0)
        self._fit_intercept = bool(getattr(estimator, "fit_intercept", True))
        self.intercept_ = np.zeros(self.coef_.shape[0])
        if self.fit_intercept:  # a scalar or one per output, broadcast as numpy does
            self.intercept_[...] = np.asarray(getattr(estimator, "intercept_", 0.0), np.float64)

    # -- parameters ----------------------------------------------------------------------
    @property
    def fit_intercept(self):
        return self._fit_intercept

    @property
    def n_outputs(self):
        return self.coef_.shape[0]

    @property
    def n_features(self):
        return self.coef_.shape[1]

    @property
    def n_params(self):
        return (self.n_features + self.fit_intercept) * self.n_outputs

    def params(self):
        rows = [self.coef_.T] + ([self.intercept_[None]] if self.fit_intercept else [])
        return np.vstack(rows).ravel()

    def with_params(self, theta):
        """Return an adapter of a copy of the estimator at other parameters.

        The copy's ``coef_`` and ``intercept_`` are ``theta``, with the shapes and types the
        estimator uses; the estimator itself is not modified (the copy is shallow: its other
        fitted attributes are the estimator's own objects).

        %(adapter_params_theta)s

        Returns
        -------
        adapter : LinearModelAdapter
            Of the same class, around the copy.
        """
        # A shallow copy: the fitted attributes other than coef_ / intercept_ (classes_,
        # n_features_in_, ...) are shared, read-only (a deepcopy was 180 µs per Newton refit).
        est = _shallow_copy(self.estimator)
        W = np.asarray(theta, dtype=np.float64).reshape(-1, self.n_outputs)
        est.coef_ = W[: self.n_features].T.reshape(np.shape(self.estimator.coef_)).copy()
        if self.fit_intercept:
            old = self.estimator.intercept_
            b = W[self.n_features]
            est.intercept_ = float(b[0]) if np.ndim(old) == 0 else b.reshape(np.shape(old))
        # The adapter's other state derives from the estimator's configuration, which the
        # copy shares: copy it too rather than re-validate (check_is_fitted) per refit.
        new = _shallow_copy(self)
        new.estimator = est
        new.coef_ = np.ascontiguousarray(W[: self.n_features].T)
        if self.fit_intercept:
            new.intercept_ = W[self.n_features].copy()
        return new

    def penalty_diagonal(self):
        d = self.n_features + self.fit_intercept
        diag = np.zeros((d, self.n_outputs))
        diag[: self.n_features] = self.penalty_strength()
        if self.fit_intercept:
            diag[self.n_features] = self.intercept_penalty_strength()
        return diag.ravel()

    def penalty_share_strength(self):
        """Return ``∂²q/∂W_jc²``, the penalty share's curvature per coefficient (0: no share).

        Families whose estimator minimises a mean loss plus a penalty override it (see
        "Penalty shares" in :mod:`skinfluence.models._base`); the intercepts carry no share.

        Returns
        -------
        strength : float or ndarray of shape (K,)
            Per unit of row share ``c_i``.
        """
        return 0.0

    def penalty_share_diagonal(self):
        strength = np.asarray(self.penalty_share_strength(), dtype=np.float64)
        if not np.any(strength):
            return None
        d = self.n_features + self.fit_intercept
        diag = np.zeros((d, self.n_outputs))
        diag[: self.n_features] = strength
        return diag.ravel()

    def penalty_share_gradient(self):
        diag = self._penalty_diagonals()[1]
        return None if diag is None else diag * self.params()

    def _penalty_diagonals(self):
        """``(penalty_diagonal(), penalty_share_diagonal())``, made once per adapter (both
        follow from the estimator's configuration, not θ); read-only."""
        cached = self.__dict__.get("_penalty_cache")
        if cached is None:
            cached = (self.penalty_diagonal(), self.penalty_share_diagonal())
            for diag in cached:
                if diag is not None:
                    diag.flags.writeable = False  # shared by every later call
            self._penalty_cache = cached
        return cached

    def _penalty_total(self, share_weight):
        """Diagonal of ∇²R on rows whose shares sum to ``share_weight`` (read-only)."""
        diag, share = self._penalty_diagonals()
        return diag if share is None else diag + share_weight * share

    def penalty_strength(self):
        """Return the penalty's second derivative on each coefficient (0: no penalty).

        Returns
        -------
        strength : float or ndarray of shape (K,)
            ``∂²R/∂W_jc²``, the same for every feature j (one per output c where the model
            has one penalty per target).
        """
        return 0.0

    def intercept_penalty_strength(self):
        """Return the penalty's second derivative on each intercept (0: unpenalised).

        Returns
        -------
        strength : float
            ``∂²R/∂b_c²``.
        """
        return 0.0

    # -- η, loss derivatives -------------------------------------------------------------
    def features(self, X):
        X = _as_float(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(
                f"X has {X.shape[-1] if X.ndim else 0} features, but "
                f"{type(self.estimator).__name__} was fitted with {self.n_features}."
            )
        return X

    def outputs(self, X):
        """Compute the outputs ``η = X Wᵀ + b`` of rows already mapped.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n, n_features)
            Rows mapped by :meth:`features`.

        Returns
        -------
        eta : ndarray of shape (n, K)
            The K outputs of each row.
        """
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def loss(self, X, y):
        X = self.features(X)
        return self._loss_from_outputs(self.outputs(X), self.encode_target(y))

    def gradients(self, X, y):
        X = self.features(X)
        R = self.output_gradients(self.outputs(X), self.encode_target(y))
        return LinearGradientMatrix(X, R, self.fit_intercept)

    def loss_from_outputs(self, eta, y):
        return self._loss_from_outputs(eta, self.encode_target(y))

    def _loss_from_outputs(self, eta, t):
        raise NotImplementedError

    # -- curvature -----------------------------------------------------------------------
    def _curvature_pass(self, X, y, sample_weight):
        """Mapped rows, ``w_i S_i``, ``Σ c_i`` and the residuals ``∂ℓ_i/∂η`` (None where the
        curvature needs no outputs) of one pass over the rows."""
        X_given, X = X, self.features(X)
        t = self.encode_target(y)
        S, R = self._output_curvature(X, t)
        if "_curvature_residuals" in self.__dict__:  # asked for: keep them
            if R is None:  # a curvature without outputs (least squares): one GEMV here
                R = self.output_gradients(self.outputs(X), t)
            self._curvature_residuals = (X_given, y, R)
        w = self.row_weights(y, sample_weight)
        share_weight = (
            0.0
            if self._penalty_diagonals()[1] is None
            else float(np.sum(self.penalty_shares(y, sample_weight)))
        )
        return X, S * w[:, None, None], share_weight, R

    def _weighted_curvature(self, X, y, sample_weight):
        return self._curvature_pass(X, y, sample_weight)[:3]

    def _output_curvature(self, X, t):
        """``S_i = ∂²ℓ_i/∂η²`` (n, K, K) of mapped rows X with encoded targets t, and the
        residuals ``∂ℓ_i/∂η`` (n, K) where computing S gave them, else None."""
        R, S = self.output_derivatives(self.outputs(X), t)
        return S, R

    def keep_curvature_residuals(self):
        """Keep the residuals ``∂ℓ/∂η`` of the next curvature passes.

        For :meth:`take_curvature_residuals`, which ends the request. The Hessian of a model
        whose curvature depends on its outputs (logistic regression, GLMs, SGD) makes a pass
        over the outputs that also gives every row's residuals; a caller that needs the rows'
        gradients next takes them instead of a second pass (least squares, whose curvature
        needs no outputs, computes them in the same pass when asked). Not kept unless asked
        for: the adapter would hold them (and the rows) for its lifetime.
        """
        self._curvature_residuals = None

    def take_curvature_residuals(self, X, y):
        """Hand over the residuals ``∂ℓ/∂η`` kept from the last curvature pass.

        This also ends the request to keep them. They are returned if they were asked for
        (:meth:`keep_curvature_residuals`) and that pass (a Hessian or Hessian-vector
        product) ran on ``X`` and ``y`` themselves (the same objects), else None.

        Parameters
        ----------
        X, y : array-like
            The rows as passed to :meth:`hessian`.

        Returns
        -------
        R : ndarray of shape (n, K) or None
            Equal to ``gradients(X, y).R``.
        """
        kept = self.__dict__.pop("_curvature_residuals", None)
        if kept is None or kept[0] is not X or kept[1] is not y:
            return None
        return kept[2]

    def hessian(self, X, y, sample_weight=None):
        """Compute the dense Hessian of J: O(n d² K²) time, O(p²) memory (p = d K).

        %(adapter_params_X_y_sample_weight)s

        Returns
        -------
        %(adapter_hessian_returns)s
        """
        return self.hessian_from_curvature(*self._weighted_curvature(X, y, sample_weight))

    def hessian_from_curvature(self, X, WS, share_weight=0.0):
        """Assemble ``Σ_i (x̃_i x̃_iᵀ ⊗ WS_i) + ∇²R`` from mapped rows and their curvature.

        Parameters
        ----------
        X : {ndarray, sparse matrix} of shape (n, n_features)
            Rows mapped by :meth:`features`.
        %(adapter_WS)s
        share_weight : float, default=0.0
            ``Σ c_i`` of the rows whose penalty shares the Hessian holds (families with a
            penalty share; ignored otherwise).

        Returns
        -------
        H : ndarray of shape (p, p)
            The dense Hessian: one weighted Gram matrix per pair of outputs, O(n d² K²).
        """
        K = self.n_outputs
        d = self.n_features + self.fit_intercept
        H = np.zeros((d, K, d, K))
        for c in range(K):
            for e in range(c, K):
                ws = WS[:, c, e]
                if c != e and not np.any(ws):  # an output pair without shared curvature
                    continue
                block = _weighted_gram(X, ws, self.fit_intercept)
                H[:, c, :, e] = block
                H[:, e, :, c] = block
        H = H.reshape(d * K, d * K)
        add_to_diagonal(H, self._penalty_total(share_weight))
        return H

    def hvp(self, X, y, V, sample_weight=None):
        """Multiply by the Hessian of J on (X, y): O(nnz(X) K k + n K² k) time.

        %(adapter_params_X_y_V_sample_weight)s

        Returns
        -------
        HV : ndarray of the shape of V
            ``H @ V``, without forming H.
        """
        X, WS, share_weight = self._weighted_curvature(X, y, sample_weight)
        V = np.asarray(V, dtype=np.float64)
        one_d = V.ndim == 1
        V = V.reshape(self.n_params, -1)
        G = LinearGradientMatrix(X, np.zeros((X.shape[0], self.n_outputs)), self.fit_intercept)
        T = np.einsum("nce,nek->nck", WS, G.outputs_dot(V)).reshape(X.shape[0], -1)
        out = G.features_rmatmul(T) + self._penalty_total(share_weight)[:, None] * V
        return out.ravel() if one_d else out


def _weighted_gram(X, w, fit_intercept):
    """``X̃ᵀ diag(w) X̃`` as a dense (d, d) array, X dense or sparse.

    Dense X by blocks through the BLAS route probed for its width (``_gram``): O(n d²) time,
    O(d² + 1 MiB) memory; sparse X by scipy's sparse product, O(Σ_i nnz(x_i)²) time; the
    intercept's row and column O(nnz(X)).
    """
    if not sp.issparse(X):
        return dense_weighted_gram(X, w, intercept=fit_intercept)
    XtWX = (X.T @ X.multiply(w[:, None]).tocsr()).toarray()
    if not fit_intercept:
        return XtWX
    XtW = np.asarray(X.T @ w).ravel()
    d0 = X.shape[1]
    out = np.empty((d0 + 1, d0 + 1))
    out[:d0, :d0] = XtWX
    out[:d0, d0] = out[d0, :d0] = XtW
    out[d0, d0] = w.sum()
    return out


@inherit_docstrings
class LogisticRegressionAdapter(LinearModelAdapter):
    """Adapter of scikit-learn's ``LogisticRegression``, l2 penalty or none.

    Every solver is supported (lbfgs, newton-cg, newton-cholesky, sag, saga; liblinear for
    binary problems). Objective in sum form: ``Σ_i w_i ℓ_i + ‖W‖²/(2C)``, intercept
    unpenalised (liblinear penalises it as ``b²/(2C s²)``, s = ``intercept_scaling``),
    ``w_i`` = sample_weight × class_weight. Binary problems have one logit (K = 1,
    ℓ = log(1+e^η) − yη), multiclass K logits with the softmax cross-entropy.

    Parameters
    ----------
    estimator : LogisticRegression
        Fitted, with ``penalty="l2"`` (``l1_ratio=0``) or no penalty.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The estimator's classes.
    penalty_ : {"l2", None}
        The penalty as scikit-learn applies it.
    binary : bool
        Whether there are two classes (one logit).

    See Also
    --------
    adapter_for : builds this adapter for a fitted ``LogisticRegression``.
    RidgeAdapter : the least-squares counterpart.

    Notes
    -----
    ``hessian`` warns (``IllConditionedHessianWarning``) when an unpenalised model has
    (almost) separated the training data: the Hessian vanishes there.

    Examples
    --------
    Three classes with an intercept: one flat direction (all intercepts shifted together).

    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skinfluence.models import LogisticRegressionAdapter
    >>> X, y = load_iris(return_X_y=True)
    >>> adapter = LogisticRegressionAdapter(LogisticRegression(max_iter=1000).fit(X, y))
    >>> adapter.n_params, adapter.null_space().shape
    (15, (15, 1))
    """

    def __init__(self, estimator):
        super().__init__(estimator)
        self.classes_ = estimator.classes_
        self.penalty_ = _effective_logistic_penalty(estimator)
        self.binary = len(self.classes_) == 2
        if estimator.solver == "liblinear" and not self.binary:
            raise TypeError(
                "LogisticRegression(solver='liblinear') fits one-vs-rest models for more than "
                "two classes, which is not one objective; refit with solver='lbfgs'."
            )

    @property
    def output_link(self):
        """The output link, "logistic" (binary) or "softmax": see ``ModelAdapter.output_link``."""
        return "logistic" if self.binary else "softmax"

    def penalty_strength(self):
        return 0.0 if self.penalty_ is None else 1.0 / self.estimator.C

    def intercept_penalty_strength(self):
        if self.estimator.solver == "liblinear" and self.penalty_ is not None:
            return 1.0 / (self.estimator.C * self.estimator.intercept_scaling**2)
        return 0.0

    def encode_target(self, y):
        y = np.asarray(y)
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D class labels; got shape {y.shape}.")
        return encode_labels(self.classes_, y)

    def row_weights(self, y, sample_weight=None):
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float).copy()
        cw = self.estimator.class_weight
        if cw is None:
            return w
        codes = self.encode_target(y)
        if cw == "balanced":  # as scikit-learn resolves it: from these labels and weights
            per_class = compute_class_weight(
                "balanced", classes=self.classes_, y=y, sample_weight=sample_weight
            )
        else:
            per_class = np.array([cw.get(c, 1.0) for c in self.classes_])
        return w * per_class[codes]

    def hessian(self, X, y, sample_weight=None):
        Xf, WS, share_weight, R = self._curvature_pass(X, y, sample_weight)
        H = self.hessian_from_curvature(Xf, WS, share_weight)
        if self.penalty_ is None and np.abs(R).max() < _SEPARATED_RESIDUAL:
            warnings.warn(
                "The training data are (almost) perfectly separated and the model has no "
                f"penalty: every training row is fitted with probability > "
                f"{1 - _SEPARATED_RESIDUAL}, the maximum-likelihood solution does not exist "
                "and the Hessian vanishes, so influence is meaningless. Use an l2 penalty "
                "(finite C) or pass damping to InfluenceScorer.",
                IllConditionedHessianWarning,
                stacklevel=3,
            )
        return H

    def null_space(self):
        if self.binary:
            return None
        K = self.n_outputs
        d = self.n_features + self.fit_intercept
        flat_rows = list(range(self.n_features)) if self.penalty_ is None else []
        if self.fit_intercept:
            flat_rows.append(self.n_features)
        if not flat_rows:
            return None
        B = np.zeros((d, K, len(flat_rows)))
        for j, a in enumerate(flat_rows):
            B[a, :, j] = 1.0 / np.sqrt(K)
        return B.reshape(d * K, -1)

    def _loss_from_outputs(self, eta, t):
        if self.binary:
            return -log_expit(np.where(t == 1, eta[:, 0], -eta[:, 0]))
        return logsumexp(eta, axis=1) - eta[np.arange(len(t)), t]

    def output_gradients(self, eta, t):
        if self.binary:
            return (_expit(eta[:, 0]) - t)[:, None]
        R = softmax(eta, axis=1)
        R[np.arange(len(t)), t] -= 1.0
        return R

    def stacked_output_gradients(self, eta, t):
        if self.binary:
            R = _expit(eta)
            R -= t[:, None, None]
            return R
        R = softmax(eta, axis=2)
        R[np.arange(len(t)), :, t] -= 1.0
        return R

    def output_derivatives(self, eta, t):
        if self.binary:
            p = _expit(eta[:, 0])
            return (p - t)[:, None], (p * (1 - p))[:, None, None]
        P = softmax(eta, axis=1)
        R = P.copy()
        R[np.arange(len(t)), t] -= 1.0
        S = -P[:, :, None] * P[:, None, :]
        S[:, np.arange(P.shape[1]), np.arange(P.shape[1])] += P
        return R, S


def _expit(z):
    """1 / (1 + e⁻ᶻ) through numpy's vectorised exp: about 4× faster than
    ``scipy.special.expit`` on large arrays, within 1 ulp of it (e⁻ᶻ = inf gives 0)."""
    with np.errstate(over="ignore"):
        e = np.exp(-z)
    e += 1.0
    return np.reciprocal(e, out=e)


# All residuals below this: the unpenalised fit has (nearly) separated the data.
_SEPARATED_RESIDUAL = 1e-3


def _effective_logistic_penalty(est):
    """'l2' or None, as scikit-learn will apply it; TypeError for l1/elasticnet."""
    penalty = getattr(est, "penalty", "l2")
    l1_ratio = getattr(est, "l1_ratio", None)
    if penalty == "deprecated":  # scikit-learn >= 1.8: the penalty follows l1_ratio and C
        penalty = "l2" if (l1_ratio is None or l1_ratio == 0) else "l1"
        if np.isinf(est.C):
            penalty = None
    if penalty == "none":
        penalty = None
    if penalty not in ("l2", None):
        raise TypeError(
            f"LogisticRegression with penalty={penalty!r} is not twice differentiable; "
            "influence needs penalty 'l2' (l1_ratio=0) or none. Use LeaveOneOutScorer or "
            "MemorizationScorer for other penalties."
        )
    return penalty


@inherit_docstrings
class _SquaredLossAdapter(LinearModelAdapter):
    """Least squares: ℓ = Σ_k (y_k − η_k)², as ``Ridge`` and ``LinearRegression`` minimise it."""

    output_link = "identity"

    def __init__(self, estimator):
        super().__init__(estimator)
        self.multi_output = np.ndim(estimator.coef_) == 2

    def encode_target(self, y):
        y = np.asarray(y, dtype=np.float64)
        y2 = y.reshape(len(y), -1)
        if y2.shape[1] != self.n_outputs:
            raise ValueError(f"y has {y2.shape[1]} targets; the model has {self.n_outputs}.")
        return y2

    def _loss_from_outputs(self, eta, t):
        return ((eta - t) ** 2).sum(axis=1)

    def output_gradients(self, eta, t):
        return 2.0 * (eta - t)

    def output_derivatives(self, eta, t):
        n, K = eta.shape
        S = np.broadcast_to(2.0 * np.eye(K), (n, K, K))
        return 2.0 * (eta - t), S

    def _output_curvature(self, X, t):
        if type(self).output_derivatives is not _SquaredLossAdapter.output_derivatives:
            return super()._output_curvature(X, t)
        # 2I whatever η: the Hessian needs no pass over X for the outputs
        n, K = X.shape[0], self.n_outputs
        return np.broadcast_to(2.0 * np.eye(K), (n, K, K)), None


@inherit_docstrings
class RidgeAdapter(_SquaredLossAdapter):
    """Adapter of scikit-learn's ``Ridge``: ``Σ w_i (y_i − η_i)² + α‖w‖²``.

    The intercept is unpenalised; ``alpha`` may hold one value per target.

    Parameters
    ----------
    estimator : Ridge
        Fitted.

    See Also
    --------
    LinearRegressionAdapter : the same without a penalty.
    adapter_for : builds this adapter for a fitted ``Ridge``.

    Examples
    --------
    ``penalty_strength`` is the second derivative of ``α‖w‖²``, 2α:

    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> from skinfluence.models import RidgeAdapter
    >>> X, y = load_diabetes(return_X_y=True)
    >>> float(RidgeAdapter(Ridge(alpha=2.0).fit(X, y)).penalty_strength())
    4.0
    """

    def penalty_strength(self):
        alpha = np.asarray(self.estimator.alpha, dtype=np.float64)
        return 2.0 * alpha  # scalar or one per target: broadcasts over the K columns


class LinearRegressionAdapter(_SquaredLossAdapter):
    """Adapter of scikit-learn's ``LinearRegression``: ``Σ w_i (y_i − η_i)²`` (no penalty).

    Parameters
    ----------
    estimator : LinearRegression
        Fitted (one or several targets).

    See Also
    --------
    RidgeAdapter : the same with an l2 penalty.
    adapter_for : builds this adapter for a fitted ``LinearRegression``.

    Examples
    --------
    Three targets at once (linnerud): K = 3 outputs, (3 features + 1) × 3 parameters.

    >>> from sklearn.datasets import load_linnerud
    >>> from sklearn.linear_model import LinearRegression
    >>> from skinfluence.models import LinearRegressionAdapter
    >>> X, Y = load_linnerud(return_X_y=True)
    >>> adapter = LinearRegressionAdapter(LinearRegression().fit(X, Y))
    >>> adapter.n_outputs, adapter.hessian(X, Y).shape
    (3, (12, 12))
    """


# -- registration, with the examples the common adapter tests check ------------------------
register_adapter(
    LogisticRegression,
    LogisticRegressionAdapter,
    name="LogisticRegression (l2 or no penalty)",
    examples=[
        logistic_example,
        partial(logistic_example, fit_intercept=False, class_weight={0: 2.0}, weighted=True),
        partial(logistic_example, n_classes=3, C=0.5),
        partial(
            logistic_example,
            n_classes=3,
            fit_intercept=False,
            class_weight="balanced",
            weighted=True,
        ),
        partial(logistic_example, n_classes=3, C=np.inf),
        partial(logistic_example, solver="liblinear", intercept_scaling=2.0, C=2.0),
    ],
)
register_adapter(
    Ridge,
    RidgeAdapter,
    examples=[
        lambda: least_squares_example(Ridge(alpha=3.0), weighted=True),
        lambda: least_squares_example(Ridge(alpha=[1.0, 10.0], fit_intercept=False), 2),
    ],
)
register_adapter(
    LinearRegression,
    LinearRegressionAdapter,
    examples=[
        lambda: least_squares_example(LinearRegression(), weighted=True),
        lambda: least_squares_example(LinearRegression(fit_intercept=False), 2),
    ],
)
