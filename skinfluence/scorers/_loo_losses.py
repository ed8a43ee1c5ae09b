"""Losses of many leave-one-out parameter vectors at once, for the Newton refits.

``LeaveOneOutScorer`` with Newton refits holds θ₋ᵢ for every row i. Evaluating each refit
through its own estimator (``per_sample_loss(estimators_[i], ...)``) costs an adapter, input
checks and a product per model: at 10⁴ rows that per-row Python was two thirds of the time.
Here the losses come from the full-data adapter in blocks: the outputs of m rows under b
parameter vectors are one (m × d) · (d × b K) product, ``η = x̃ᵀ W₋ᵢ``, and the loss is the
adapter's ``loss_from_outputs``, the same function ``per_sample_loss`` reaches through
``adapter.loss`` (``loss_from_outputs(outputs(features(X)), y)``), so the values agree with
the per-model ones to rounding (tested).
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import _safe_indexing, gen_batches

from ..models import LinearGradientMatrix

# Outputs evaluated at once: (rows × refits × K) doubles, 32 MiB.
_BLOCK_ELEMENTS = 2**22


def _rows(X, rows):
    return X[rows] if isinstance(X, np.ndarray) or sp.issparse(X) else _safe_indexing(X, rows)


def stacked_losses(adapter, X, y, thetas, out=None):
    """``out[t, j] = ℓ(z_t; thetas[j])`` for every row t of (X, y): shape (m, b).

    ``adapter`` is the :class:`~skinfluence.models.GeneralizedLinear` adapter of the
    full-data model (θ in its (d, K) layout); O(m d b K) time, O(_BLOCK_ELEMENTS) extra memory
    besides the mapped features of X.
    """
    m, b, K = X.shape[0], len(thetas), adapter.n_outputs
    out = np.empty((m, b)) if out is None else out
    G = LinearGradientMatrix(adapter.features(X), np.zeros((m, K)), adapter.fit_intercept)
    per_block = max(1, _BLOCK_ELEMENTS // max(1, m * K))
    for cols in gen_batches(b, per_block):
        eta = G.outputs_dot(thetas[cols].T)  # (m, K, b')
        k = eta.shape[2]
        eta = eta.transpose(0, 2, 1).reshape(m * k, K)
        out[:, cols] = adapter.loss_from_outputs(eta, np.repeat(y, k, axis=0)).reshape(m, k)
    return out


def own_losses(adapter, X, y, rows, thetas, chunk=1024):
    """``ℓ(z_i; thetas[j])`` for i = rows[j]: each removed row's loss under its own refit."""
    out = np.empty(len(rows))
    K = adapter.n_outputs
    for part in gen_batches(len(rows), chunk):
        idx = rows[part]
        Xf = adapter.features(_rows(X, idx))
        x = LinearGradientMatrix(Xf, np.zeros((len(idx), K)), adapter.fit_intercept)
        x = x.dense_features(slice(None))  # (b, d)
        eta = np.einsum("bd,bdk->bk", x, thetas[part].reshape(len(idx), -1, K))
        out[part] = adapter.loss_from_outputs(eta, y[idx])
    return out
