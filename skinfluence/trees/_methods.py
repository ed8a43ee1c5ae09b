"""Influence of training rows on a boosted ensemble with its tree structure fixed.

Three methods (Brophy, Hammoudeh & Lowd 2023) on one :class:`TreeEnsemble`, in
leave-one-out units (``L(test; without row i) − L(test; with it)``, positive = row i helps):

- :func:`leaf_refit`: the fixed-structure leave-one-out itself. Every leaf value recomputed
  without row i (its weight set to 0), iteration after iteration, the later trees' gradients
  taken at the refitted earlier trees: exact for the model whose splits are held fixed.
- :func:`leaf_influence`: its first-order approximation, ``−w_i dL/dw_i``, with the full
  derivative: row i's weight moves the leaves it sits in directly, and every later leaf
  through the gradients and Hessians of all the rows whose raw scores the earlier leaves (and
  the fitted baseline) moved. Computed exactly by forward-mode (self-influence) or
  reverse-mode (test rows) differentiation through the boosting iterations.
- :func:`boostin`: the TracIn-like sum over trees of the test loss's gradient times the
  direct change of the shared leaf's value, no propagation: ``−w_i Σ_t [i and the test row
  share a leaf of tree t] ∂L/∂F · ∂v/∂w_i``.

n training rows, m test rows, T boosting iterations, K outputs (trees per iteration), L
leaves in all.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import gen_batches

from ._ensemble import (
    encode_targets,
    leaf_rule_derivatives,
    leaf_sums,
    loss_gradient_hessian,
    loss_raw_derivative,
    per_row_loss,
    refit_leaf_values,
)


# -- shared pieces ------------------------------------------------------------------------------
class Trajectory:
    """The boosting trajectory of the fitted model on its training rows.

    ``raw_before[t]`` the raw scores before iteration t (n, K), ``p`` the probabilities
    there (classification), ``g, h`` the per-row gradients and Hessians (T, n, K), and for
    every leaf the derivatives of its value with respect to its gradient and Hessian sums.
    Memory O(n · T · K).
    """

    def __init__(self, ensemble):
        self.ensemble = e = ensemble
        n, T, K = e.train_leaves.shape
        self.Y = e.target_matrix()
        raw = np.repeat(e.baseline[None, :], n, axis=0)
        self.raw_before = np.empty((T, n, K))
        self.g = np.empty((T, n, K))
        self.h = np.empty((T, n, K))
        self.h_floored = np.zeros((T, n, K), dtype=bool) if e.min_hessian > 0 else None
        self.dv_dG = np.empty(len(e.leaf_values))
        self.dv_dH = np.empty(len(e.leaf_values))
        w = e.train_weight
        for t in range(T):
            self.raw_before[t] = raw
            g, h = loss_gradient_hessian(e.objective, raw, self.Y)
            if self.h_floored is not None:
                self.h_floored[t] = h < e.min_hessian
                h = np.maximum(h, e.min_hessian)
            self.g[t], self.h[t] = g, h
            for k in range(K):
                start, stop = self.span(t, k)
                local = e.train_leaves[:, t, k] - start
                G = np.bincount(local, weights=w * g[:, k], minlength=stop - start)
                H = np.bincount(local, weights=w * h[:, k], minlength=stop - start)
                self.dv_dG[start:stop], self.dv_dH[start:stop] = leaf_rule_derivatives(e, G, H)
            raw = raw + e.leaf_values[e.train_leaves[:, t, :]]
        self.raw_final = raw

    def span(self, t, k):
        """Global leaf ids [start, stop) of the tree of iteration t, output k."""
        tree = t * self.ensemble.n_outputs + k
        return self.ensemble.leaf_offsets[tree], self.ensemble.leaf_offsets[tree + 1]

    def probabilities(self, t):
        e = self.ensemble
        if e.objective == "squared_error":
            return None
        return self.g[t] + self.Y  # g = p − y

    def gradient_jvp(self, t, dF):
        """Directional derivatives (dg, dh) of the per-row g, h at iteration t along dF.

        dF has shape (b, n, K); so do dg and dh.
        """
        objective = self.ensemble.objective
        if objective == "squared_error":
            return dF, np.zeros_like(dF)
        p = self.probabilities(t)
        if objective == "binary_logistic":
            curvature = p * (1.0 - p)
            dg = curvature * dF
            dh = dg * (1.0 - 2.0 * p)
        else:
            dg = p * (dF - np.einsum("bnk,nk->bn", dF, p)[:, :, None])
            dh = (1.0 - 2.0 * p) * dg
        if self.h_floored is not None:
            dh = np.where(self.h_floored[t], 0.0, dh)
        return dg, dh

    def gradient_vjp(self, t, g_bar, h_bar):
        """``F̄`` from the adjoints of g and h at iteration t (all of shape (b, n, K))."""
        objective = self.ensemble.objective
        if objective == "squared_error":
            return g_bar
        if self.h_floored is not None:
            h_bar = np.where(self.h_floored[t], 0.0, h_bar)
        p = self.probabilities(t)
        if objective == "binary_logistic":
            return p * (1.0 - p) * (g_bar + (1.0 - 2.0 * p) * h_bar)
        q = g_bar + (1.0 - 2.0 * p) * h_bar  # adjoint of dp
        return p * q - p * np.einsum("bnk,nk->bn", q, p)[:, :, None]

    def baseline_derivative(self):
        """d baseline / d w_i for every training row, shape (n, K) (0 if not fitted)."""
        e = self.ensemble
        n, K = e.n_train, e.n_outputs
        if not e.baseline_is_fitted:
            return np.zeros((n, K))
        W = e.train_weight.sum()
        if e.objective == "squared_error":
            return (self.Y - e.baseline) / W
        if e.objective == "binary_logistic":
            p = 1.0 / (1.0 + np.exp(-e.baseline))
            return (self.Y - p) / (W * p * (1.0 - p))
        p = self.Y.T @ e.train_weight / W
        c = (self.Y - p) / (W * p)
        return c - c.mean(axis=1, keepdims=True)


def test_rows(ensemble, X_test, y_test):
    """Leaf ids (m, T, K), encoded targets as a matrix (m, K) and final raw scores (m, K)."""
    leaves = np.asarray(ensemble.apply(X_test), dtype=np.intp)
    y_enc = encode_targets(ensemble.classes, y_test)
    K = ensemble.n_outputs
    if ensemble.objective == "multinomial":
        Y = (y_enc[:, None] == np.arange(K)).astype(np.float64)
    else:
        Y = np.asarray(y_enc, dtype=np.float64).reshape(-1, 1)
    return leaves, Y, ensemble.raw_predict(leaves)


def _test_leaf_matrix(ensemble, leaves, coef):
    """Sparse (L, m): entry (l, j) = Σ_k coef[j, k] over the trees (t, k) where test row j
    falls in leaf l."""
    m, T, K = leaves.shape
    data = np.broadcast_to(coef[:, None, :], (m, T, K)).ravel()
    cols = np.broadcast_to(np.arange(m)[:, None, None], (m, T, K)).ravel()
    return sp.csr_matrix((data, (leaves.ravel(), cols)), shape=(len(ensemble.leaf_values), m))


def _default_chunk(chunk_size, n, K):
    # Blocks of about 2²² doubles of (b, n, K) derivatives (32 MiB per temporary).
    if chunk_size is not None:
        return int(chunk_size)
    return max(1, min(n, 2**22 // max(1, n * K)))


# -- LeafInfluence ----------------------------------------------------------------------------
def _forward(traj, rows):
    """Forward mode for a block of training rows: dF_j/dw_i for all j, and dv/dw_i.

    Returns ``dF`` (b, n, K), the training rows' final raw-score derivatives, and ``dV``
    (b, L), every leaf's. O(b · n · T · K).
    """
    e = traj.ensemble
    n, T, K = e.train_leaves.shape
    b = len(rows)
    w = e.train_weight
    db = traj.baseline_derivative()[rows]  # (b, K)
    dF = np.repeat(db[:, None, :], n, axis=1)
    dV = np.zeros((b, len(e.leaf_values)))
    block = np.arange(b)
    for t in range(T):
        dg, dh = traj.gradient_jvp(t, dF)
        for k in range(K):
            start, stop = traj.span(t, k)
            local = e.train_leaves[:, t, k] - start
            dG = leaf_sums(w * dg[:, :, k], local, stop - start)
            dH = leaf_sums(w * dh[:, :, k], local, stop - start)
            # the direct term: row i's own gradient and Hessian enter its leaf's sums
            own = local[rows]
            dG[block, own] += traj.g[t, rows, k]
            dH[block, own] += traj.h[t, rows, k]
            dV[:, start:stop] = traj.dv_dG[start:stop] * dG + traj.dv_dH[start:stop] * dH
        for k in range(K):
            dF[:, :, k] += dV[:, e.train_leaves[:, t, k]]
    return dF, dV, db


def leaf_influence_self(ensemble, *, chunk_size=None, trajectory=None):
    """LeafInfluence self-influence ``−w_i dL(z_i)/dw_i`` of every training row, shape (n,).

    Forward mode over blocks of training rows. Cost O(n² · T · K) time, O(chunk · n · K +
    n · T · K) memory.
    """
    traj = Trajectory(ensemble) if trajectory is None else trajectory
    e = ensemble
    n = e.n_train
    coef = loss_raw_derivative(e.objective, traj.raw_final, traj.Y)  # (n, K)
    out = np.empty(n)
    for rows in gen_batches(n, _default_chunk(chunk_size, n, e.n_outputs)):
        idx = np.arange(rows.start, rows.stop)
        dF, _, _ = _forward(traj, idx)
        own = dF[np.arange(len(idx)), idx, :]  # (b, K)
        out[idx] = -e.train_weight[idx] * np.einsum("bk,bk->b", coef[idx], own)
    return out


def leaf_influence_forward(ensemble, X_test, y_test, *, chunk_size=None, trajectory=None):
    """LeafInfluence on test rows by forward mode, shape (m, n) (a check of the reverse one).

    Cost O(n² · T · K + n · m · T · K) time, O(chunk · (n · K + L) + n · T · K) memory.
    """
    traj = Trajectory(ensemble) if trajectory is None else trajectory
    e = ensemble
    leaves, Y, raw = test_rows(e, X_test, y_test)
    coef = loss_raw_derivative(e.objective, raw, Y)  # (m, K)
    C = _test_leaf_matrix(e, leaves, coef)  # (L, m)
    n = e.n_train
    out = np.empty((len(Y), n))
    for rows in gen_batches(n, _default_chunk(chunk_size, n, e.n_outputs)):
        idx = np.arange(rows.start, rows.stop)
        _, dV, db = _forward(traj, idx)
        dL = (C.T @ dV.T).T + db @ coef.T  # (b, m)
        out[:, idx] = -(e.train_weight[idx, None] * dL).T
    return out


def leaf_influence(ensemble, X_test, y_test, *, chunk_size=None, trajectory=None):
    """LeafInfluence of every training row on each test row's loss, shape (m, n).

    ``−w_i dL(z_test)/dw_i`` through the fixed-structure boosting recursion, by reverse mode
    (one adjoint pass per block of test rows). Cost O(m · n · T · K) time, O(chunk · n · K
    + n · T · K) memory.
    """
    traj = Trajectory(ensemble) if trajectory is None else trajectory
    e = ensemble
    leaves, Y, raw = test_rows(e, X_test, y_test)
    coef = loss_raw_derivative(e.objective, raw, Y)  # (m, K)
    n, T, K = e.train_leaves.shape
    w = e.train_weight
    db_dw = traj.baseline_derivative()  # (n, K)
    out = np.empty((len(Y), n))
    for rows in gen_batches(len(Y), _default_chunk(chunk_size, n, K)):
        b = rows.stop - rows.start
        c = coef[rows]  # (b, K)
        F_bar = np.zeros((b, n, K))
        w_bar = np.zeros((b, n))
        block = np.arange(b)
        for t in range(T - 1, -1, -1):
            g_bar = np.empty((b, n, K))
            h_bar = np.empty((b, n, K))
            for k in range(K):
                start, stop = traj.span(t, k)
                local = e.train_leaves[:, t, k] - start
                v_bar = leaf_sums(F_bar[:, :, k], local, stop - start)
                v_bar[block, leaves[rows, t, k] - start] += c[:, k]
                G_bar = v_bar * traj.dv_dG[start:stop]
                H_bar = v_bar * traj.dv_dH[start:stop]
                G_rows, H_rows = G_bar[:, local], H_bar[:, local]  # (b, n)
                w_bar += G_rows * traj.g[t, :, k] + H_rows * traj.h[t, :, k]
                g_bar[:, :, k], h_bar[:, :, k] = w * G_rows, w * H_rows
            F_bar += traj.gradient_vjp(t, g_bar, h_bar)
        b_bar = F_bar.sum(axis=1) + c  # (b, K)
        w_bar += b_bar @ db_dw.T
        out[rows] = -w * w_bar
    return out


# -- BoostIn ----------------------------------------------------------------------------------
def _boostin_train_matrix(traj):
    """Sparse (n, L): row i's direct leaf-value derivative ∂v/∂w_i in each leaf it is in."""
    e = traj.ensemble
    n, T, K = e.train_leaves.shape
    leaves = e.train_leaves  # (n, T, K)
    a = traj.dv_dG[leaves] * traj.g.transpose(1, 0, 2) + traj.dv_dH[leaves] * traj.h.transpose(
        1, 0, 2
    )
    rows = np.broadcast_to(np.arange(n)[:, None, None], (n, T, K)).ravel()
    return sp.csr_matrix((a.ravel(), (rows, leaves.ravel())), shape=(n, len(e.leaf_values))), a


def boostin(ensemble, X_test, y_test, *, trajectory=None):
    """BoostIn influence of every training row on each test row's loss, shape (m, n).

    ``−w_i Σ_{t,k} [row i and the test row share the leaf of tree (t, k)] ∂L/∂F_k ·
    ∂v/∂w_i``, the test loss's gradient at the final model, the leaf value's derivative
    without propagation through later trees. Cost O(n · T · K) for the derivatives plus
    the products over shared leaves, at most O(m · n · T · K) (``Σ_leaves n_leaf · m_leaf``);
    memory O(n · T · K + m · n).
    """
    traj = Trajectory(ensemble) if trajectory is None else trajectory
    e = ensemble
    leaves, Y, raw = test_rows(e, X_test, y_test)
    coef = loss_raw_derivative(e.objective, raw, Y)
    A, _ = _boostin_train_matrix(traj)
    C = _test_leaf_matrix(e, leaves, coef)  # (L, m)
    product = (A @ C).toarray()  # (n, m)
    return -(e.train_weight[:, None] * product).T


def boostin_self(ensemble, *, trajectory=None):
    """BoostIn self-influence of every training row, shape (n,). O(n · T · K)."""
    traj = Trajectory(ensemble) if trajectory is None else trajectory
    e = ensemble
    coef = loss_raw_derivative(e.objective, traj.raw_final, traj.Y)  # (n, K)
    _, a = _boostin_train_matrix(traj)  # (n, T, K)
    return -e.train_weight * np.einsum("ntk,nk->n", a, coef)


# -- LeafRefit --------------------------------------------------------------------------------
def _refit_blocks(ensemble, chunk_size):
    n = ensemble.n_train
    for rows in gen_batches(n, _default_chunk(chunk_size, n, ensemble.n_outputs)):
        idx = np.arange(rows.start, rows.stop)
        weight = np.repeat(ensemble.train_weight[None, :], len(idx), axis=0)
        weight[np.arange(len(idx)), idx] = 0.0
        yield idx, refit_leaf_values(ensemble, weight)


def leaf_refit(ensemble, X_test, y_test, *, chunk_size=None):
    """Fixed-structure leave-one-out: ``L(test; refitted without i) − L(test)``, (m, n).

    Every leaf value refitted without row i (weight 0), iterations in order, the structure
    fixed; compared with the refit at the full weights (float64, so that rounding does not
    enter the differences). Cost O(n² · T · K + n · m · T · K) time, O(chunk · (n · K + L +
    m · K)) memory.
    """
    e = ensemble
    leaves, Y, _ = test_rows(e, X_test, y_test)
    K = e.n_outputs
    # one sparse (L, m) leaf indicator per output: raw[:, j, k] = baseline_k + values @ S_k
    indicators = [
        _test_leaf_matrix(e, leaves, np.eye(K)[None, k].repeat(len(Y), axis=0)) for k in range(K)
    ]

    def test_raw(values, baseline):
        raw = np.stack([(S.T @ values.T).T for S in indicators], axis=-1)  # (b, m, K)
        return raw + baseline[:, None, :]

    base_loss = per_row_loss(e.objective, test_raw(*refit_leaf_values(e, e.train_weight)[:2]), Y)
    out = np.empty((len(Y), e.n_train))
    for idx, (values, baseline, _) in _refit_blocks(e, chunk_size):
        out[:, idx] = (per_row_loss(e.objective, test_raw(values, baseline), Y) - base_loss).T
    return out


def leaf_refit_self(ensemble, *, chunk_size=None):
    """Fixed-structure leave-one-out of each row on its own loss, shape (n,).

    Cost O(n² · T · K) time, O(chunk · (n · K + L)) memory.
    """
    e = ensemble
    Y = e.target_matrix()
    _, _, raw_full = refit_leaf_values(e, e.train_weight)
    base_loss = per_row_loss(e.objective, raw_full[0], Y)
    out = np.empty(e.n_train)
    for idx, (_, _, raw) in _refit_blocks(e, chunk_size):
        own = raw[np.arange(len(idx)), idx]  # (b, K)
        out[idx] = per_row_loss(e.objective, own, Y[idx]) - base_loss[idx]
    return out
