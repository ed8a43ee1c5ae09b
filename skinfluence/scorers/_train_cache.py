"""The training rows' gradients of a fitted linear model, kept between ``InfluenceScorer`` calls.

For a :class:`~skinfluence.models.GeneralizedLinear` model, row i's gradient is ``x̃_i ⊗ r_i``:
the features ``x̃_i`` of the row and the K output residuals ``r_i``. ``influence`` and the
self-influence need them for every training row; rebuilding them chunk by chunk on each call
(a Pipeline's transform, the outputs ``Xθ``, the residuals) cost as much as the products
themselves. They are therefore built once and kept while they are small: at ``fit`` from the
residuals of the Hessian's pass over the rows (a bare linear model reading X unchanged),
else on first use:

- the residuals ``R`` (n × K doubles), always;
- the features: the training array itself when the model reads it unchanged (a bare linear
  model on a float64 array or CSR matrix: no copy), else a copy while it takes at most
  :data:`CACHE_BYTES`; above that nothing is kept and the scorer rebuilds chunks as before.

The n × p gradient matrix itself is never formed: products go through the features (one GEMM
per chunk of training rows and output), so the cache costs O(n K) beyond what the caller
already holds, or O(n d) with a copy of the features.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import _num_samples

from .._utils._batches import gen_batches
from ..models import GeneralizedLinear, LinearGradientMatrix, TrainingGradientMatrix
from ..models._linear import LinearModelAdapter, reads_rows_unchanged


class FitStateContainer:
    """Per-fit state computed on first use (one object, set by ``fit``)."""


class FitState:
    """An attribute stored in the scorer's ``_fit_state`` container, not in its ``__dict__``:
    filling it later (``scores_``, H⁻¹, the kept features) leaves ``__dict__`` unchanged,
    as scikit-learn's ``check_dict_unchanged`` requires of ``transform``."""

    def __init__(self, name):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        state = obj.__dict__.get("_fit_state")
        if state is None:
            raise AttributeError(self.name)
        return state.__dict__.get(self.name)

    def __set__(self, obj, value):
        state = obj.__dict__.get("_fit_state")
        if state is None:
            state = obj.__dict__["_fit_state"] = FitStateContainer()
        state.__dict__[self.name] = value


# Largest copy of the training features kept between calls (128 MiB: 10⁵ rows × 160 features).
CACHE_BYTES = 2**27


def _plain_gradients(adapter):
    """Whether the adapter's gradients are :class:`LinearModelAdapter`'s ``x̃ ⊗ ∂ℓ/∂η`` (so
    the curvature pass's ∂ℓ/∂η are their residuals)."""
    return type(adapter).gradients is LinearModelAdapter.gradients


def build_training_cache(adapter, X, y, weights, shares, share_gradient, chunk):
    """The training-side gradients of all rows as a :class:`TrainingGradientMatrix` over
    kept features and residuals, or None when the model is not linear in its outputs or the
    features would take more than :data:`CACHE_BYTES` (the caller then works by chunks).

    Parameters
    ----------
    adapter : ModelAdapter
        The fitted model's adapter.
    X, y : array-like
        The training rows, raw, and their labels.
    weights, shares : ndarray of shape (n,)
        ``w_i`` and ``c_i`` (shares None without a penalty share).
    share_gradient : ndarray of shape (p,) or None
        ``∇q``.
    chunk : int
        Rows per chunk while building (bounds the temporaries).

    Returns
    -------
    gradients : TrainingGradientMatrix or None
        Its ``loss_gradients`` is a LinearGradientMatrix of all n rows.
    """
    if not isinstance(adapter, GeneralizedLinear):
        return None
    n = _num_samples(X)
    same = reads_rows_unchanged(adapter, X)
    if not same and n * adapter.n_features * 8 > CACHE_BYTES:
        return None
    R = features = None
    for rows in gen_batches(n, chunk):
        X_rows = X[rows] if isinstance(X, np.ndarray) or sp.issparse(X) else _safe_indexing(X, rows)
        G = adapter.gradients(X_rows, y[rows])
        if not isinstance(G, LinearGradientMatrix):
            return None
        if R is None:
            R = np.empty((n, G.n_outputs))
            if not same:
                features = [] if sp.issparse(G.X) else np.empty((n, G.n_features))
        R[rows] = G.R
        if not same:
            if isinstance(features, list):
                features.append(G.X)
            else:
                features[rows] = G.X
    if R is None:  # no rows
        return None
    if same:
        features = X
    elif isinstance(features, list):
        features = sp.vstack(features, format="csr")
    G = LinearGradientMatrix(features, R, adapter.fit_intercept)
    return TrainingGradientMatrix(G, weights, shares, share_gradient)


def request_curvature_residuals(adapter, X):
    """Ask the adapter to keep the residuals of its Hessian's pass over the outputs, where
    :func:`cache_from_curvature_pass` can use them (a linear model reading X unchanged)."""
    if reads_rows_unchanged(adapter, X) and _plain_gradients(adapter):  # a LinearModelAdapter
        adapter.keep_curvature_residuals()


def cache_from_curvature_pass(adapter, X, y, weights, shares, share_gradient):
    """The cache of :func:`build_training_cache` from the residuals the Hessian's pass over
    the outputs kept on the adapter (:func:`request_curvature_residuals` before the solver's
    fit, then :meth:`LinearModelAdapter.take_curvature_residuals`), without a second pass:
    O(1); None where there are none (then the cache is built on first use). Same parameters
    as :func:`build_training_cache`, less ``chunk``.
    """
    if not isinstance(adapter, LinearModelAdapter):
        return None
    R = adapter.take_curvature_residuals(X, y)  # ends the request: none left behind
    if R is None:
        return None
    G = LinearGradientMatrix(X, R, adapter.fit_intercept)
    return TrainingGradientMatrix(G, weights, shares, share_gradient)


def products_into(T, A, out, batches):
    """``out[:, i] = t_iᵀ A`` for every training row i of the cache ``T``; A is (p, k).

    Per chunk of rows, the dense training-side rows ``w_i x̃_i ⊗ r_i + c_i ∇q`` are formed
    from the kept features and residuals (O(chunk · p) writes, no outputs or transform
    recomputed) and multiplied in one GEMM written straight into ``out`` (k, n): cheaper
    than scaling the (k × chunk) product when k ≥ p, measured.
    """
    At = np.ascontiguousarray(np.asarray(A, dtype=np.float64).T)
    direct = out.dtype == np.float64
    for rows in batches:
        block = T.dense_rows(rows)
        if direct:
            np.matmul(At, block.T, out=out[:, rows])
        else:
            out[:, rows] = At @ block.T
