"""Influence of training rows on a boosted ensemble with its tree structure fixed.

Three methods (Brophy, Hammoudeh & Lowd 2023) on one :class:`TreeEnsemble`, in
leave-one-out units (``L(test; without row i) − L(test; with it)``, positive = row i helps):

- :func:`leaf_refit`: the fixed-structure leave-one-out itself. Every leaf value recomputed
  without row i (its weight set to 0), iteration after iteration, the later trees' gradients
  taken at the refitted earlier trees: exact for the model whose splits are held fixed.
- :func:`leaf_influence`: its approximation through the derivative ``dL/dw_i`` of the
  recursion: row i's weight moves the leaves it sits in directly, and every later leaf
  through the gradients and Hessians of all the rows whose raw scores the earlier leaves
  (and the fitted baseline) moved, computed exactly by forward-mode (self-influence) or
  reverse-mode (test rows) differentiation through the boosting iterations. By default the
  direct move of row i's own leaves is their exact change without it (the secant of the
  leaf rule) and the test loss is evaluated at the moved raw scores; ``linear=True`` is the
  pure first order ``−w_i dL/dw_i``. With one iteration and a constant baseline the
  default is the refit itself.
- :func:`boostin`: TracIn over the boosting iterations as checkpoints (Brophy et al.): the
  sum over trees of the test loss's gradient at the model that tree was added to, times
  the direct change of the shared leaf's value, no propagation: ``−w_i Σ_t [i and the test
  row share a leaf of tree t] ∂L/∂F(F^{t−1}) · ∂v/∂w_i``.

n training rows, m test rows, T boosting iterations, K outputs (trees per iteration), L
leaves in all.
"""

import dataclasses

import numpy as np
import scipy.sparse as sp
from sklearn.utils import gen_batches

from .._utils._docstring import inject_docs
from .._utils._progress import progress
from . import _docs  # noqa: F401  (registers the shared parameter text)
from ._ensemble import (
    encode_targets,
    leaf_rule,
    leaf_rule_derivatives,
    loss_gradient_hessian,
    loss_raw_derivative,
    model_trajectory,
    per_row_loss,
    refit_leaf_values,
)


# -- shared pieces ------------------------------------------------------------------------------
class Trajectory:
    """The boosting trajectory of the fitted model on its training rows.

    ``raw_before[t]`` the raw scores before iteration t (n, K), ``g, h`` the per-row
    gradients and Hessians (T, n, K), for every leaf the derivatives of its value with
    respect to its gradient and Hessian sums, and per tree the sparse maps of the derivative
    recursion (``propagate``). Memory O(n · T · K).
    """

    def __init__(self, ensemble):
        self.ensemble = e = ensemble
        n, T, K = e.train_leaves.shape
        self.Y = e.target_matrix()
        # Vectorised over the iterations: the raw scores before each iteration are the
        # cumulative sums of the model's own leaves, so one pass computes every per-row
        # gradient and one bincount over the global leaf ids every leaf's sums.
        w = e.train_weight
        leaves = e.train_leaves.transpose(1, 0, 2)  # (T, n, K)
        kept = model_trajectory(e)  # the leaf check's, when it computed them in one block
        if kept is None:
            raw = np.empty((T + 1, n, K))
            raw[0] = e.baseline
            raw[1:] = e.leaf_values[leaves]
            np.cumsum(raw, axis=0, out=raw)  # the same additions, in order, as boosting made
            g, h = loss_gradient_hessian(e.objective, raw[:T], self.Y)
        else:
            raw, g, h = kept
        self.raw_before, self.raw_final = raw[:T], raw[T]  # (T, n, K), (n, K)
        self.h_floored = None
        if e.min_hessian > 0:
            self.h_floored = h < e.min_hessian
            h = np.maximum(h, e.min_hessian)
        self.g, self.h = g, h
        L = len(e.leaf_values)
        flat = leaves.ravel()
        self.G = np.bincount(flat, weights=(w[:, None] * g).ravel(), minlength=L)  # every leaf
        self.H = np.bincount(flat, weights=(w[:, None] * h).ravel(), minlength=L)  # floored h
        self.count = np.bincount(  # rows of positive weight in every leaf
            e.train_leaves[w > 0].ravel(), minlength=L
        )
        self.dv_dG, self.dv_dH = leaf_rule_derivatives(e, self.G, self.H)
        if e.single_leaf_is_zero:
            single = np.diff(e.leaf_offsets)[e.leaf_tree] == 1
            self.dv_dG[single] = self.dv_dH[single] = 0.0
        self._removal = None
        # The sparse maps of the recursion are built on first use: BoostIn never needs them.
        self._direct = self._propagate = None

    @property
    def direct(self):
        """Each row's tangent move of its own leaves, (T, n, K) (built on first use)."""
        if self._direct is None:
            self._build_propagation()
        return self._direct

    @property
    def removal(self):
        """Each row's exact (secant) move of its own leaves, (T, n, K) (built on first use)."""
        if self._removal is None:
            self._removal = self.removal_direct(
                np.arange(self.ensemble.n_train), self.ensemble.train_weight
            )
        return self._removal

    @property
    def propagate(self):
        """Per tree ``(P, PT, direct, removal)`` sparse maps (built on first use)."""
        if self._propagate is None:
            self._build_propagation()
        return self._propagate

    def exact_refits(self, r, chunk_size=None):
        """The fixed-structure leave-one-out refits of the r rows that move their own leaves
        the most (cached per r): what :func:`leaf_influence` uses instead of the propagation.

        The rows are ranked by ``Σ_{t,k} |removal[t, i, k]|``, the total exact change of
        their own leaves when they are removed, which needs no test rows (so a test row's
        influence does not depend on the other test rows of the call). Returns a dict:
        ``rows`` (r,) sorted, ``values`` (r, L) and ``baseline`` (r, K) of each refit, ``own``
        (r, K) each row's own raw score under its refit, and the float64 refit at the full
        weights, ``full_values`` (L,), ``full_baseline`` (K,), ``full_raw`` (n, K).
        O(r · n · T · K) time once, O(r · L) memory.
        """
        cache = self.__dict__.setdefault("_exact_refits", {})
        if r in cache:
            return cache[r]
        e = self.ensemble
        size = np.abs(self.removal).sum(axis=(0, 2)) * (e.train_weight > 0)
        rows = np.sort(np.argsort(-size, kind="stable")[:r])
        full_values, full_baseline, full_raw = refit_leaf_values(e, e.train_weight)
        values = np.empty((len(rows), len(e.leaf_values)))
        baseline = np.empty((len(rows), e.n_outputs))
        own = np.empty((len(rows), e.n_outputs))
        for block, idx, (v, b, raw) in _refit_blocks(e, chunk_size, rows):
            values[block], baseline[block] = v, b
            own[block] = raw[np.arange(len(idx)), idx]
        cache[r] = {
            "rows": rows,
            "values": values,
            "baseline": baseline,
            "own": own,
            "full_values": full_values[0],
            "full_baseline": full_baseline[0],
            "full_raw": full_raw[0],
        }
        return cache[r]

    def removal_direct(self, rows, weight):
        """The exact change of each row's own leaves, per unit of its weight, shape (T, b, K).

        ``(v(row at weight ω) − v(row absent)) / ω`` with ω = ``weight`` and the other rows'
        gradients and Hessians held: the secant of the leaf rule that :attr:`direct` (its
        tangent at the training weight) linearises. For a training row at its own weight
        this is its removal; for a row of weight 0, its addition with weight ω. A row alone
        in its leaf leaves it empty (sums exactly 0). O(b · T · K).
        """
        e = self.ensemble
        rows = np.asarray(rows, dtype=np.intp)
        leaves = e.train_leaves[rows].transpose(1, 0, 2)  # (T, b, K)
        g, h = self.g[:, rows], self.h[:, rows]
        w_i = e.train_weight[rows][None, :, None]
        omega = np.broadcast_to(np.asarray(weight, dtype=np.float64), rows.shape)[None, :, None]
        alone = (self.count[leaves] == 1) & (w_i > 0)
        G_out = np.where(alone, 0.0, self.G[leaves] - w_i * g)
        H_out = np.where(alone, 0.0, self.H[leaves] - w_i * h)
        change = leaf_rule(e, G_out + omega * g, H_out + omega * h) - leaf_rule(e, G_out, H_out)
        if e.single_leaf_is_zero:
            sizes = np.diff(e.leaf_offsets)[e.leaf_tree[leaves]]
            change = np.where(sizes == 1, 0.0, change)
        return change / np.where(omega > 0, omega, 1.0)

    def _build_propagation(self):
        """Per tree, the sparse maps of the derivative recursion (built once, O(n · T · K)).

        With ``u_k = dF_k`` (diagonal losses) or ``u_k = dF_k − Σ_m p_m dF_m``
        (multinomial), the change of the per-row gradient is ``a ∘ u_k`` and of the
        Hessian ``c ∘ u_k``, so a leaf's value moves by ``P_tk @ u_k`` with ``P_tk`` the
        (leaves × n) indicator carrying ``w_j (a_j ∂v/∂G + c_j ∂v/∂H)``; row i's own weight
        moves its leaf by ``direct[t, i, k] = ∂v/∂G g_i + ∂v/∂H h_i`` (its tangent), or by
        ``removal[t, i, k]`` (:meth:`removal_direct`, the exact secant).
        """
        e = self.ensemble
        n, T, K = e.train_leaves.shape
        w = e.train_weight
        direct_all = np.empty((T, n, K))
        maps = {}
        for t in range(T):
            if e.objective == "squared_error":
                a, c = np.ones((n, K)), np.zeros((n, K))
            else:
                p = self.g[t] + self.Y
                a = p * (1.0 - p) if e.objective == "binary_logistic" else p
                c = a * (1.0 - 2.0 * p)
                if self.h_floored is not None:
                    c = np.where(self.h_floored[t], 0.0, c)
            for k in range(K):
                _, _, M, MT = e.tree_indicator(t, k)
                leaf = e.train_leaves[:, t, k]
                dvG, dvH = self.dv_dG[leaf], self.dv_dH[leaf]
                direct_all[t, :, k] = dvG * self.g[t, :, k] + dvH * self.h[t, :, k]
                coef = w * (a[:, k] * dvG + c[:, k] * dvH)  # per training row j
                row_of = np.repeat(np.arange(n), np.diff(M.indptr))  # M's entries by row
                P, PT, direct, removal = MT.copy(), M.copy(), M.copy(), M.copy()
                P.data = coef[MT.indices]  # (leaves × n): entry (l, j) for row j in leaf l
                PT.data = coef[row_of]  # its transpose
                direct.data = direct_all[t, row_of, k]
                removal.data = self.removal[t, row_of, k]
                maps[t, k] = (P, PT, direct, removal)
        self._direct, self._propagate = direct_all, maps

    def span(self, t, k):
        """Global leaf ids [start, stop) of the tree of iteration t, output k."""
        tree = t * self.ensemble.n_outputs + k
        return self.ensemble.leaf_offsets[tree], self.ensemble.leaf_offsets[tree + 1]

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


def query_rows(ensemble, X_test, y_test):
    """Leaf ids (m, T, K), encoded targets as a matrix (m, K) and final raw scores (m, K)."""
    leaves = np.asarray(ensemble.apply(X_test), dtype=np.intp)
    y_enc = encode_targets(ensemble.classes, y_test)
    K = ensemble.n_outputs
    if ensemble.objective == "multinomial":
        Y = (y_enc[:, None] == np.arange(K)).astype(np.float64)
    else:
        Y = np.asarray(y_enc, dtype=np.float64).reshape(-1, 1)
    return leaves, Y, ensemble.raw_predict(leaves)


def _row_leaf_matrix(ensemble, leaves, data):
    """Sparse CSR (rows, L) with ``data`` (rows, T, K) at the rows' leaf ids (rows, T, K).

    Built directly in CSR form: a row has one leaf per tree and the global leaf ids grow
    with the tree index, so each row's column indices are sorted and distinct (no COO
    conversion, no duplicate summing).
    """
    rows, T, K = leaves.shape
    indptr = np.arange(0, rows * T * K + 1, T * K, dtype=np.int64)
    data = np.ascontiguousarray(np.broadcast_to(data, (rows, T, K)), dtype=np.float64)
    return sp.csr_matrix(
        (data.reshape(-1), leaves.reshape(-1), indptr),
        shape=(rows, len(ensemble.leaf_values)),
    )


def _test_leaf_matrix(ensemble, leaves, coef):
    """Sparse (L, m): entry (l, j) = Σ_k coef[j, k] over the trees (t, k) where test row j
    falls in leaf l; ``coef`` (m, K), or (m, T, K) for a coefficient per iteration."""
    coef = coef if coef.ndim == 3 else coef[:, None, :]
    return _row_leaf_matrix(ensemble, leaves, coef).T.tocsc()


def _blocks(n_rows, chunk, verbose, desc):
    """``gen_batches`` over ``n_rows`` in blocks of ``chunk``, with a progress bar."""
    total = -(-n_rows // chunk) if n_rows else 0
    return progress(
        gen_batches(n_rows, chunk), verbose=verbose, total=total, desc=desc, unit="block"
    )


def _default_chunk(chunk_size, n, K):
    # Blocks of about 2¹⁷ doubles per (n, block) derivative array (1 MiB), at least 32 rows:
    # measured at n = 2 000, T = 100, blocks of 64-128 rows ran 1.4x faster than 256-512
    # (the arrays stay in cache across the two sparse products of each tree).
    if chunk_size is not None:
        return int(chunk_size)
    return max(32, min(n, 2**17 // max(1, n * K)))


# -- LeafInfluence ----------------------------------------------------------------------------
def _forward(traj, rows, direct=None):
    """Forward mode for a block of training rows: dF_j/dw_i for all j, and dv/dw_i.

    Returns ``dF`` (K, n, b), the training rows' final raw-score derivatives, ``dV``
    (L, b), every leaf's, and the baseline's (b, K). ``direct`` (T, b, K): the rows' own
    leaf moves (default the tangent :attr:`Trajectory.direct`). Two sparse products with
    b columns per tree: O(b · n · T · K).
    """
    direct = traj.direct[:, rows] if direct is None else direct
    e = traj.ensemble
    n, T, K = e.train_leaves.shape
    b = len(rows)
    db = traj.baseline_derivative()[rows]  # (b, K)
    dF = np.repeat(np.ascontiguousarray(db.T)[:, None, :], n, axis=1)  # (K, n, b)
    dV = np.zeros((len(e.leaf_values), b))
    block = np.arange(b)
    multinomial = e.objective == "multinomial"
    for t in range(T):
        shift = None
        if multinomial:
            p = (traj.g[t] + traj.Y).T  # (K, n)
            shift = np.einsum("knb,kn->nb", dF, p)
        for k in range(K):
            start, stop, _, _ = e.tree_indicator(t, k)
            P = traj.propagate[t, k][0]
            dv = P @ (dF[k] if shift is None else dF[k] - shift)
            # the direct term: row i's own weight enters its leaf's sums
            dv[e.train_leaves[rows, t, k] - start, block] += direct[t, :, k]
            dV[start:stop] = dv
        for k in range(K):
            start, stop, M, _ = e.tree_indicator(t, k)
            dF[k] += M @ dV[start:stop]
    return dF, dV, db


def _rows_and_weights(ensemble, rows, row_weight):
    rows = np.arange(ensemble.n_train) if rows is None else np.asarray(rows, dtype=np.intp)
    weight = ensemble.train_weight[rows] if row_weight is None else np.asarray(row_weight)
    return rows, np.broadcast_to(weight, rows.shape)


@inject_docs
def leaf_influence_self(
    ensemble,
    *,
    rows=None,
    row_weight=None,
    linear=False,
    refit_rows="auto",
    chunk_size=None,
    trajectory=None,
    verbose=0,
):
    """Compute the LeafInfluence self-influence of training rows (``−w_i dL(z_i)/dw_i``).

    Forward mode over blocks of training rows: each block's derivatives ``dF_j/dw_i`` for
    every training row j, through every tree. Cost O(n² · T · K) time, O(chunk · n · K +
    n · T · K) memory; the ``refit_rows`` exact ones O(r · n · T · K).

    Parameters
    ----------
    %(tree_ensemble)s
    %(tree_rows)s
    %(tree_linear)s
    %(tree_refit_rows)s
        Rows added with ``row_weight`` are not refitted.
    %(tree_chunk_size)s
    %(tree_trajectory)s
    %(verbose)s

    Returns
    -------
    scores : ndarray of shape (n_rows,)
        First-order increase of each row's own loss when it is left out.

    %(tree_see_also)s

    Examples
    --------
    %(tree_example_ensemble)s
    >>> from skinfluence.trees import leaf_influence_self
    >>> leaf_influence_self(ensemble).shape
    (200,)
    """
    traj = Trajectory(ensemble) if trajectory is None else trajectory
    e = ensemble
    n = e.n_train
    rows, weight = _rows_and_weights(e, rows, row_weight)
    coef = loss_raw_derivative(e.objective, traj.raw_final, traj.Y)  # (n, K)
    adding = row_weight is not None
    out = np.empty(len(rows))
    chunk = _default_chunk(chunk_size, n, e.n_outputs)
    for block in _blocks(len(rows), chunk, verbose, "LeafInfluence self-influence"):
        idx, w = rows[block], weight[block]
        direct = None if linear else traj.removal_direct(idx, w)
        dF, _, _ = _forward(traj, idx, direct)
        own = dF[:, idx, np.arange(len(idx))].T  # (b, K)
        if linear:
            out[block] = -w * np.einsum("bk,bk->b", coef[idx], own)
            continue
        raw, Y = traj.raw_final[idx], traj.Y[idx]
        moved = per_row_loss(e.objective, raw + (w if adding else -w)[:, None] * own, Y)
        here = per_row_loss(e.objective, raw, Y)
        out[block] = here - moved if adding else moved - here
    r = 0 if linear or adding else _n_refit_rows(refit_rows, n)
    if r:
        refits = traj.exact_refits(r, chunk_size)
        at = np.searchsorted(refits["rows"], rows)
        hit = (at < r) & (refits["rows"][np.minimum(at, r - 1)] == rows)
        exact_rows, own = refits["rows"][at[hit]], refits["own"][at[hit]]
        out[hit] = per_row_loss(e.objective, own, traj.Y[exact_rows]) - per_row_loss(
            e.objective, refits["full_raw"][exact_rows], traj.Y[exact_rows]
        )
    return out


def leaf_influence_forward(ensemble, X_test, y_test, *, chunk_size=None, trajectory=None):
    """Linear LeafInfluence on test rows by forward mode, shape (m, n) (a check of the
    reverse one, ``leaf_influence(..., linear=True)``).

    Cost O(n² · T · K + n · m · T · K) time, O(chunk · (n · K + L) + n · T · K) memory.
    """
    traj = Trajectory(ensemble) if trajectory is None else trajectory
    e = ensemble
    leaves, Y, raw = query_rows(e, X_test, y_test)
    coef = loss_raw_derivative(e.objective, raw, Y)  # (m, K)
    C = _test_leaf_matrix(e, leaves, coef)  # (L, m)
    n = e.n_train
    out = np.empty((len(Y), n))
    for rows in gen_batches(n, _default_chunk(chunk_size, n, e.n_outputs)):
        idx = np.arange(rows.start, rows.stop)
        _, dV, db = _forward(traj, idx)
        dL = (C.T @ dV).T + db @ coef.T  # (b, m)
        out[:, idx] = -(e.train_weight[idx, None] * dL).T
    return out


def _reverse(traj, seed_leaves, seed_baseline, linear=True):
    """Reverse mode: ``dS/dw`` (b, n) of b scalars S = Σ_l seed[l] v_l + seed_baseline · baseline.

    ``seed_leaves`` (L, b) and ``seed_baseline`` (b, K) are ∂S/∂v and ∂S/∂baseline holding
    the training scores fixed; the adjoint pass adds what flows through the gradients and
    Hessians of the training rows (the transpose of :func:`_forward`'s maps). ``linear``:
    each row's own leaves move by the tangent, else by the exact secant (``removal``).
    O(b · n · T · K) time, O(b · n · K) memory.
    """
    e = traj.ensemble
    n, T, K = e.train_leaves.shape
    b = seed_leaves.shape[1]
    F_bar = np.zeros((K, n, b))
    w_bar = np.zeros((n, b))
    multinomial = e.objective == "multinomial"
    for t in range(T - 1, -1, -1):
        r = np.empty((K, n, b))
        for k in range(K):
            start, stop, _, MT = e.tree_indicator(t, k)
            _, PT, direct, removal = traj.propagate[t, k]
            direct = direct if linear else removal
            v_bar = MT @ F_bar[k] + seed_leaves[start:stop]  # (L_t, b)
            w_bar += direct @ v_bar
            r[k] = PT @ v_bar
        if multinomial:
            p = (traj.g[t] + traj.Y).T  # (K, n)
            r -= p[:, :, None] * r.sum(axis=0)[None]
        F_bar += r
    b_bar = F_bar.sum(axis=1).T + seed_baseline  # (b, K)
    return w_bar.T + b_bar @ traj.baseline_derivative().T


@inject_docs
def leaf_influence(
    ensemble,
    X_test,
    y_test,
    *,
    aggregate=False,
    linear=False,
    refit_rows="auto",
    chunk_size=None,
    trajectory=None,
    verbose=0,
):
    """Compute the LeafInfluence of every training row on each test row's loss.

    ``−w_i dL(z_test)/dw_i`` through the fixed-structure boosting recursion: row i's weight
    moves the leaves it is in, and every later leaf through the gradients and Hessians of
    the rows whose scores those leaves (and the fitted baseline) moved. Reverse mode, one
    adjoint pass per block of test rows (K passes unless ``linear``: one per output, for
    the test rows' raw-score changes). The ``refit_rows`` rows that move their own leaves
    most (default 64) get their exact fixed-structure leave-one-out instead, where the
    first-order propagation is least accurate. Cost O(m · n · T · K) time (O(m · n · T · K²)
    for the multinomial loss unless ``linear``) plus O(r · n · T · K) once per trajectory
    for the r refits and O(r · m · T · K) to apply them, O(chunk · n · K + n · T · K +
    r · L) memory.

    Parameters
    ----------
    %(tree_ensemble)s
    %(X_test)s
    %(y_test)s
    aggregate : bool, default=False
        Return the influence on the summed test loss instead, shape (n_train,): the sum of
        the rows of the matrix, without storing it. With ``linear`` one adjoint pass,
        O(n · T · K + m · T · K); otherwise the cost of the matrix, since each test row's
        loss is evaluated at its own moved raw scores.
    %(tree_linear)s
    %(tree_refit_rows)s
    %(tree_chunk_size)s
    %(tree_trajectory)s
    %(verbose)s

    Returns
    -------
    influence : ndarray of shape (n_test, n_train) or (n_train,)
        Leave-one-out units: positive when row i helps the test row.

    %(tree_see_also)s

    References
    ----------
    Brophy, J., Hammoudeh, Z. & Lowd, D. (2023). Adapting and evaluating influence-estimation
    methods for gradient-boosted decision trees. JMLR 24(154).
    Sharchilev, B. et al. (2018). Finding influential training samples for gradient boosted
    decision trees. ICML.

    Examples
    --------
    %(tree_example_ensemble)s
    >>> from skinfluence.trees import leaf_influence
    >>> leaf_influence(ensemble, X[200:203], y[200:203]).shape
    (3, 200)
    """
    traj = Trajectory(ensemble) if trajectory is None else trajectory
    e = ensemble
    leaves, Y, raw = query_rows(e, X_test, y_test)
    coef = loss_raw_derivative(e.objective, raw, Y)  # (m, K)
    C = _test_leaf_matrix(e, leaves, coef).tocsc()  # (L, m)
    w = e.train_weight
    if aggregate and linear:
        seed = np.asarray(C.sum(axis=1))  # (L, 1)
        return -w * _reverse(traj, seed, coef.sum(axis=0, keepdims=True))[0]
    K = e.n_outputs
    blocks = _blocks(len(Y), _default_chunk(chunk_size, e.n_train, K), verbose, "LeafInfluence")
    out = np.zeros(e.n_train) if aggregate else np.empty((len(Y), e.n_train))
    if linear:
        for rows in blocks:
            out[rows] = -w * _reverse(traj, C[:, rows].toarray(), coef[rows])
        return out
    # The test rows' raw-score changes, one adjoint pass per output, and their loss there.
    indicators = [_test_leaf_matrix(e, leaves, np.eye(K)[[k] * len(Y)]).tocsc() for k in range(K)]
    here = per_row_loss(e.objective, raw, Y)
    r = _n_refit_rows(refit_rows, e.n_train)
    refits = traj.exact_refits(r, chunk_size) if r else None
    for rows in blocks:
        seed_b = np.zeros((rows.stop - rows.start, K))
        dF = np.empty((rows.stop - rows.start, e.n_train, K))
        for k in range(K):
            seed_b[:] = 0.0
            seed_b[:, k] = 1.0
            dF[:, :, k] = -w * _reverse(traj, indicators[k][:, rows].toarray(), seed_b, False)
        change = per_row_loss(e.objective, raw[rows, None, :] + dF, Y[rows, None, :])
        change -= here[rows, None]
        if refits is not None:
            # the rows whose removal moves their leaves most, where the propagation is least
            # linear: their exact fixed-structure leave-one-out (the quantity approximated)
            change[:, refits["rows"]] = _refits_on_test_rows(e, leaves[rows], Y[rows], refits)
        if aggregate:
            out += change.sum(axis=0)
        else:
            out[rows] = change
    return out


def _refits_on_test_rows(e, leaves, Y, refits):
    """(m, r) test-loss change under each cached refit, against the full-weight refit."""
    full = refits["full_baseline"] + refits["full_values"][leaves].sum(axis=1)  # (m, K)
    base = per_row_loss(e.objective, full, Y)
    m, T, K = leaves.shape
    out = np.empty((m, len(refits["rows"])))
    flat = leaves.reshape(m, T * K)
    for rows in gen_batches(len(refits["rows"]), max(1, 2**20 // max(1, m * T * K))):
        values = refits["values"][rows]  # (b, L)
        raw = values[:, flat].reshape(-1, m, T, K).sum(axis=2) + refits["baseline"][rows, None]
        out[:, rows] = (per_row_loss(e.objective, raw, Y[None]) - base[None]).T
    return out


AUTO_REFIT_ROWS = 64


def _n_refit_rows(refit_rows, n):
    """How many rows the LeafInfluence defaults refit exactly: ``"auto"`` = min(n, 64)."""
    if isinstance(refit_rows, str):
        if refit_rows != "auto":
            raise ValueError(f"refit_rows must be 'auto' or an int >= 0; got {refit_rows!r}.")
        return min(n, AUTO_REFIT_ROWS)
    integer = isinstance(refit_rows, int | np.integer) and not isinstance(refit_rows, bool)
    if not integer or refit_rows < 0:
        raise ValueError(f"refit_rows must be 'auto' or an int >= 0; got {refit_rows!r}.")
    return min(n, int(refit_rows))


# -- BoostIn ----------------------------------------------------------------------------------
_LEAF_DERIVATIVES = ("exact", "tree-influence")


def _boostin_train_matrix(traj, leaf_derivative="tree-influence"):
    """Sparse (n, L): row i's direct leaf-value derivative ∂v/∂w_i in each leaf it is in.

    ``leaf_derivative="tree-influence"``: its Hessian term times the learning rate, as
    tree-influence 0.1.7's BoostIn computes it (``(g_i + v h_i) lr / (H + λ)`` with ``v`` the
    shrunk leaf value, where the derivative has the unshrunk one).
    """
    if leaf_derivative not in _LEAF_DERIVATIVES:
        raise ValueError(
            f"leaf_derivative must be one of {_LEAF_DERIVATIVES}; got {leaf_derivative!r}."
        )
    e = traj.ensemble
    leaves = e.train_leaves  # (n, T, K)
    factor = e.learning_rate if leaf_derivative == "tree-influence" else 1.0
    a = traj.dv_dG[leaves] * traj.g.transpose(1, 0, 2) + factor * traj.dv_dH[
        leaves
    ] * traj.h.transpose(1, 0, 2)
    return _row_leaf_matrix(e, leaves, a), a


def _raw_before(ensemble, leaves):
    """Raw scores of rows before each iteration, (m, T, K), from their leaf ids (m, T, K)."""
    contributions = ensemble.leaf_values[leaves]
    return ensemble.baseline + np.cumsum(contributions, axis=1) - contributions


@inject_docs
def boostin(
    ensemble,
    X_test,
    y_test,
    *,
    checkpoints=True,
    leaf_derivative="tree-influence",
    trajectory=None,
):
    """Compute the BoostIn influence of every training row on each test row's loss.

    ``−w_i Σ_{t,k} [row i and the test row share the leaf of tree (t, k)] ∂L/∂F_k(F^{t−1})
    · ∂v/∂w_i``, TracIn with the boosting iterations as its checkpoints (Brophy et al.'s
    definition): the gradient of the test loss at the model that tree (t, k) was added to
    times the leaf value's direct change, without propagation through later trees; zero
    when no leaf is shared. By default that change is tree-influence 0.1.7's
    (``leaf_derivative``): it ranked better for removing groups of rows than the exact
    derivative in 5 of 6 data set / model pairs (benchmarks/README.md).
    ``checkpoints=False`` takes every test gradient at the final model instead. Cost
    O((n + m) · T · K) for the derivatives plus the sparse product over shared leaves, at
    most O(m · n · T · K) (``Σ_leaves n_leaf · m_leaf``); memory O(n · T · K + m · n).
    Measured on 100 LightGBM trees (469 training, 100 test rows): 17 ms of CPU with the
    read, 1/13 of tree-influence 0.1.7's; LightGBM's own calls (model string, leaf
    predictions) are about half.

    Parameters
    ----------
    %(tree_ensemble)s
    %(X_test)s
    %(y_test)s
    %(tree_checkpoints)s
    %(tree_leaf_derivative)s
    %(tree_trajectory)s

    Returns
    -------
    influence : ndarray of shape (n_test, n_train)
        Leave-one-out units: positive when row i helps the test row.

    %(tree_see_also)s

    References
    ----------
    Brophy, J., Hammoudeh, Z. & Lowd, D. (2023). Adapting and evaluating influence-estimation
    methods for gradient-boosted decision trees. JMLR 24(154).
    Pruthi, G., Liu, F., Kale, S. & Sundararajan, M. (2020). Estimating training data
    influence by tracing gradient descent. NeurIPS.

    Examples
    --------
    %(tree_example_ensemble)s
    >>> from skinfluence.trees import boostin
    >>> boostin(ensemble, X[200:203], y[200:203]).shape
    (3, 200)
    """
    traj = Trajectory(ensemble) if trajectory is None else trajectory
    e = ensemble
    leaves, Y, raw = query_rows(e, X_test, y_test)
    if checkpoints:
        coef = loss_raw_derivative(e.objective, _raw_before(e, leaves), Y[:, None, :])
    else:
        coef = np.broadcast_to(loss_raw_derivative(e.objective, raw, Y)[:, None, :], leaves.shape)
    A, _ = _boostin_train_matrix(traj, leaf_derivative)  # (n, L)
    C = _row_leaf_matrix(e, leaves, coef)  # (m, L)
    # (m, L) @ (L, n): the sparse product over shared leaves only
    product = (C @ A.T.tocsr()).toarray()  # (m, n)
    return -(product * e.train_weight[None, :])


@inject_docs
def boostin_self(
    ensemble,
    *,
    rows=None,
    row_weight=None,
    checkpoints=True,
    leaf_derivative="tree-influence",
    trajectory=None,
):
    """Compute the BoostIn self-influence of training rows, O(n · T · K).

    Parameters
    ----------
    %(tree_ensemble)s
    %(tree_rows)s
    %(tree_checkpoints)s
    %(tree_leaf_derivative)s
    %(tree_trajectory)s

    Returns
    -------
    scores : ndarray of shape (n_rows,)
        Each row's BoostIn influence on its own loss.

    %(tree_see_also)s

    Examples
    --------
    %(tree_example_ensemble)s
    >>> from skinfluence.trees import boostin_self
    >>> boostin_self(ensemble).shape
    (200,)
    """
    traj = Trajectory(ensemble) if trajectory is None else trajectory
    e = ensemble
    rows, weight = _rows_and_weights(e, rows, row_weight)
    _, a = _boostin_train_matrix(traj, leaf_derivative)  # (n, T, K)
    if checkpoints:
        coef = loss_raw_derivative(e.objective, traj.raw_before[:, rows], traj.Y[rows])  # (T, b, K)
        return -weight * np.einsum("ntk,tnk->n", a[rows], coef)
    coef = loss_raw_derivative(e.objective, traj.raw_final, traj.Y)  # (n, K)
    return -weight * np.einsum("ntk,nk->n", a[rows], coef[rows])


# -- LeafRefit --------------------------------------------------------------------------------
def _refit_blocks(ensemble, chunk_size, rows=None, weight_with=None, verbose=0):
    """Blocks of rows and the refits with each row's weight set to 0 (default) or, when
    ``weight_with`` is given, the refits with it set to ``weight_with`` (an added row)."""
    n = ensemble.n_train
    rows = np.arange(n) if rows is None else rows
    chunk = _default_chunk(chunk_size, n, ensemble.n_outputs)
    for block in _blocks(len(rows), chunk, verbose, "LeafRefit"):
        idx = rows[block]
        weight = np.repeat(ensemble.train_weight[None, :], len(idx), axis=0)
        weight[np.arange(len(idx)), idx] = 0.0 if weight_with is None else weight_with[block]
        yield block, idx, refit_leaf_values(ensemble, weight)


@inject_docs
def leaf_refit(ensemble, X_test, y_test, *, chunk_size=None, verbose=0):
    """Compute the fixed-structure leave-one-out of every training row on each test row.

    ``L(test; refitted without i) − L(test)``: every leaf value refitted without row i
    (weight 0), iterations in order, the later trees' gradients at the refitted earlier
    ones, the structure fixed; compared with the refit at the full weights (float64, so
    that the library's rounding does not enter the differences). Cost O(n² · T · K +
    n · m · T · K) time, O(chunk · (n · K + L + m · K)) memory.

    Parameters
    ----------
    %(tree_ensemble)s
    %(X_test)s
    %(y_test)s
    %(tree_chunk_size)s
    %(verbose)s

    Returns
    -------
    influence : ndarray of shape (n_test, n_train)
        Exact for the model whose structure is fixed; positive when row i helps.

    %(tree_see_also)s

    Examples
    --------
    %(tree_example_ensemble)s
    >>> from skinfluence.trees import leaf_refit
    >>> leaf_refit(ensemble, X[200:203], y[200:203]).shape
    (3, 200)
    """
    leaves, Y, _ = query_rows(ensemble, X_test, y_test)
    return _refit_test_change(ensemble, leaves, Y, None, chunk_size, verbose)


def _refit_test_change(e, leaves, Y, rows, chunk_size, verbose=0):
    """(m, b) fixed-structure leave-one-out of training ``rows`` (default all) on test rows
    given by their leaf ids and targets. O(b · n · T · K + b · m · T · K)."""
    K = e.n_outputs
    # one sparse (L, m) leaf indicator per output: raw[:, j, k] = baseline_k + values @ S_k
    indicators = [
        _test_leaf_matrix(e, leaves, np.eye(K)[None, k].repeat(len(Y), axis=0)) for k in range(K)
    ]

    def test_raw(values, baseline):
        raw = np.stack([(S.T @ values.T).T for S in indicators], axis=-1)  # (b, m, K)
        return raw + baseline[:, None, :]

    base_loss = per_row_loss(e.objective, test_raw(*refit_leaf_values(e, e.train_weight)[:2]), Y)
    out = np.empty((len(Y), e.n_train if rows is None else len(rows)))
    for block, _, (values, baseline, _) in _refit_blocks(e, chunk_size, rows, verbose=verbose):
        out[:, block] = (per_row_loss(e.objective, test_raw(values, baseline), Y) - base_loss).T
    return out


@inject_docs
def leaf_refit_self(ensemble, *, rows=None, row_weight=None, chunk_size=None, verbose=0):
    """Compute the fixed-structure leave-one-out of each row on its own loss.

    Cost O(n² · T · K) time, O(chunk · (n · K + L)) memory. With ``row_weight``, rows of
    weight 0 are scored as if added with that weight: ``L(z; without) − L(z; refitted with
    z)``.

    Parameters
    ----------
    %(tree_ensemble)s
    %(tree_rows)s
    %(tree_chunk_size)s
    %(verbose)s

    Returns
    -------
    scores : ndarray of shape (n_rows,)
        The increase of each row's own loss when it is left out.

    %(tree_see_also)s

    Examples
    --------
    %(tree_example_ensemble)s
    >>> from skinfluence.trees import leaf_refit_self
    >>> leaf_refit_self(ensemble).shape
    (200,)
    """
    e = ensemble
    rows = np.arange(e.n_train) if rows is None else np.asarray(rows, dtype=np.intp)
    Y = e.target_matrix()
    _, _, raw_full = refit_leaf_values(e, e.train_weight)
    loss_full = per_row_loss(e.objective, raw_full[0], Y)
    adding = None if row_weight is None else np.broadcast_to(row_weight, rows.shape)
    out = np.empty(len(rows))
    for block, idx, (_, _, raw) in _refit_blocks(e, chunk_size, rows, adding, verbose):
        own = per_row_loss(e.objective, raw[np.arange(len(idx)), idx], Y[idx])  # (b,)
        out[block] = own - loss_full[idx] if adding is None else loss_full[idx] - own
    return out


def new_row_self_influence(ensemble, X, y, method, *, linear=False, chunk_size=None, verbose=0):
    """Self-influence of rows that are not training rows, as if each were added (weight 1).

    The rows are appended to the training rows with weight 0 (the fitted model is
    unchanged) and scored with weight 1. Cost: that of the method's self-influence on
    these rows against n + m rows.
    """
    leaves = np.asarray(ensemble.apply(X), dtype=np.intp)
    y_enc = encode_targets(ensemble.classes, y)
    augmented = dataclasses.replace(
        ensemble,
        train_leaves=np.concatenate([ensemble.train_leaves, leaves]),
        train_weight=np.concatenate([ensemble.train_weight, np.zeros(len(leaves))]),
        y=np.concatenate([np.asarray(ensemble.y, dtype=y_enc.dtype), y_enc]),
        raw_train=None,
    )
    rows = ensemble.n_train + np.arange(len(leaves))
    if method == "leafrefit":
        return leaf_refit_self(
            augmented, rows=rows, row_weight=1.0, chunk_size=chunk_size, verbose=verbose
        )
    if method == "boostin":
        return boostin_self(augmented, rows=rows, row_weight=1.0)
    return leaf_influence_self(
        augmented,
        rows=rows,
        row_weight=1.0,
        linear=linear,
        chunk_size=chunk_size,
        verbose=verbose,
    )
