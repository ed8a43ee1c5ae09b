"""``InfluenceScorer`` on the net's device: gradients, solves and products stay there.

For a torch model whose solver takes tensors (``accepts_tensors``: ``direct``, ``cg``,
``lissa``, ``arnoldi``, ``identity``), influence, its sum over the test rows and
self-influence are computed from per-sample gradients made on the net's device
(:meth:`~skinfluence.torch._adapter.TorchGradientMatrix.iter_tensors`), solved there
(:mod:`skinfluence.inverse._backend`) and multiplied there by the training gradients; only
the (test chunk × training chunk) blocks of the result, or n self-influence values, come
back to the host. The arithmetic is the numpy path's (``InfluenceScorer._influence``) in
torch: the same cost, O(m n p) for influence plus the solves, and O(chunk · p) device
memory per gradient block.
"""

from sklearn.utils import gen_batches

from ..inverse._backend import backend_for

__all__ = ["device_backend", "influence_into", "self_influence", "total_influence"]


def device_backend(scorer):
    """The torch backend when the scorer can work on the net's device, else None."""
    solver = getattr(scorer, "solver_", None)
    if not getattr(solver, "accepts_tensors", False):
        return None
    if scorer.newton_step or getattr(scorer, "_share_gradient", None) is not None:
        return None
    backend = backend_for(scorer.adapter_)
    return None if backend.name == "numpy" else backend


def _gradient_tensors(scorer, X, y, rows):
    """The gradients of ``rows`` of (X, y) as one device tensor (rows, p)."""
    import torch

    G = scorer._gradient_matrix(X, y, rows)
    parts = [block for _, block in G.iter_tensors()]
    if not parts:
        return torch.zeros((0, G.shape[1]), dtype=scorer.adapter_.dtype)
    return torch.cat(parts) if len(parts) > 1 else parts[0]


def _train_products_into(scorer, xp, A, out):
    """``out[:, i] = w_i g_iᵀ A`` for the training rows, A a (p, k) device tensor: one
    product per chunk of training rows on the device, (k, chunk) to the host."""
    X, y = scorer.train_X_, scorer.train_y_
    n = out.shape[1]
    weights = xp.asarray(scorer.train_weights_)
    for rows in scorer._progress(gen_batches(n, scorer._chunk), n):
        block = xp.asarray(_gradient_tensors(scorer, X, y, rows))
        out[:, rows] = xp.to_numpy((block.T * weights[rows]).T @ A).T


def influence_into(scorer, xp, X_test, y_test, out):
    """``out[t, i]`` for test rows (X_test, y_test), computed on the device."""
    m = out.shape[0]
    for rows in gen_batches(m, scorer._chunk):
        block = xp.asarray(_gradient_tensors(scorer, X_test, y_test, rows))
        _train_products_into(scorer, xp, scorer.solver_.solve(block.T), out[rows])
    return out


def total_influence(scorer, xp, X_test, y_test, out):
    """The sum over the test rows (one solve), into ``out`` of shape (1, n_train)."""
    g_sum = None
    for rows in gen_batches(len(y_test), scorer._chunk):
        part = xp.asarray(_gradient_tensors(scorer, X_test, y_test, rows)).sum(0)
        g_sum = part if g_sum is None else g_sum + part
    if g_sum is None:
        g_sum = xp.zeros(scorer.adapter_.n_params)
    _train_products_into(scorer, xp, scorer.solver_.solve(g_sum[:, None]), out)
    return out


def self_influence(scorer, xp, X, y, out):
    """``g_iᵀ (H + λI)⁻¹ g_i`` of every row of (X, y), into ``out`` of shape (n,)."""
    n = len(out)
    for rows in scorer._progress(gen_batches(n, scorer._chunk), n):
        block = xp.asarray(_gradient_tensors(scorer, X, y, rows))
        solved = scorer.solver_.solve(block.T)
        out[rows] = xp.to_numpy(xp.column_dots(block.T, solved))
    return out
