"""``InfluenceScorer`` on dask arrays: linear models, map-reduce over row chunks.

A generalised linear model's per-sample gradient factors as ``g_i = x̃_i ⊗ r_i`` (features
times the K output residuals), so given θ and ``H⁻¹`` every per-row quantity is local to the
row chunk that holds the row:

- the Hessian ``H = Σ_i w_i x̃_i x̃_iᵀ ⊗ S_i + ∇²R`` (p × p) and the gradient ``∇J`` are sums
  of per-chunk terms: one pass over the chunks on the workers, a tree reduction of p × p
  arrays, then the same dense factorisation as ``method="direct"`` on the client;
- self-influence ``w_i g_iᵀ H⁻¹ g_i`` is a lazy dask array with the rows' chunks;
- the influence matrix ``w_i g_tᵀ H⁻¹ g_i`` on m test rows is a lazy (m, n) dask array whose
  blocks are made where the training chunks live, from ``H⁻¹ G_testᵀ`` (p × m, sent to
  every task); ``aggregate`` makes it one row.

Nothing n × p or n × m comes back to the client: ``fit`` brings back O(p²) numbers per
Newton pass, ``influence`` nothing until the caller computes. dask is imported only when a
dask collection is passed (``is_dask_collection`` never imports it).
"""

import sys
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import Bunch, gen_batches

from .._utils._estimators import final_estimator, is_frozen
from .._utils._symmetric import add_to_diagonal
from .._validation import check_damping
from ..exceptions import NotAtOptimumWarning
from ..inverse import DirectSolver
from ..models import GeneralizedLinear, LinearGradientMatrix, adapter_for
from ..models._curvature import resolve_curvature
from ._base import _check_aggregate, fit_clone

# Newton refinement of an unfitted estimator: stop when the step is below this fraction of
# max(1, |θ|∞) (quadratic convergence reaches it in 2-4 passes from a one-chunk fit).
NEWTON_RTOL = 1e-9
NEWTON_MAX_ITER = 25
# A prefitted model farther than this many typical leave-one-out steps from the full-data
# optimum is warned about: influence then mostly measures the optimisation error. (SGD's
# check warns at 0.1; LogisticRegression's default tol=1e-4 measured 0.1-0.25 on the tests'
# data, and a model fitted on a tenth of the rows 10-100.)
STATIONARITY_WARNING_RATIO = 1.0


def is_dask_collection(X):
    """Whether ``X`` is a dask collection (array, DataFrame), without importing dask."""
    dask = sys.modules.get("dask")
    return dask is not None and dask.is_dask_collection(X)


def fitted_on_dask(scorer):
    """Whether the scorer was fitted on a dask collection (its training data live there)."""
    return getattr(scorer, "_dask", None) is not None


# -- inputs ------------------------------------------------------------------------------
def _as_dask_X(X):
    """(dask array with one column chunk and known row chunks, feature names or None)."""
    import dask.array as da

    names = None
    if hasattr(X, "to_dask_array"):  # dask DataFrame
        columns = list(X.columns)
        if columns and all(isinstance(c, str) for c in columns):
            names = np.asarray(columns, dtype=object)
        X = X.to_dask_array(lengths=True)
    if not isinstance(X, da.Array) or X.ndim != 2:
        raise TypeError(
            "InfluenceScorer takes a 2-D dask array or a dask DataFrame as dask input; got "
            f"{type(X).__name__}."
        )
    if any(np.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()  # one pass; chunk lengths only come back
    if X.dtype.kind not in "fiub":
        raise TypeError(f"X must hold numbers for a linear model; got dtype {X.dtype}.")
    return X.rechunk({1: -1}), names


def _as_dask_rows(v, rows, what):
    """A 1-D quantity per row (labels, weights) as a dask array chunked like X's rows."""
    import dask.array as da

    if v is None:
        return None
    if hasattr(v, "to_dask_array"):  # dask Series
        v = v.to_dask_array(lengths=True)
    if not isinstance(v, da.Array):
        v = np.asarray(v)
        if v.ndim != 1:
            raise ValueError(f"{what} must be 1-D; got shape {v.shape}.")
        v = da.from_array(v, chunks=(rows,))
    if v.ndim != 1 or v.shape[0] != sum(rows):
        raise ValueError(f"{what} has shape {v.shape}; expected ({sum(rows)},) like X's rows.")
    return v if v.chunks[0] == rows else v.rechunk((rows,))


def _blockwise(
    func, out_index, X, y, sample_weight, *, new_axes=None, adjust=None, dtype=np.float64, **kwargs
):
    """``func(X_block, y_block, w_block, **kwargs)`` on every row chunk, lazily."""
    import dask.array as da

    args = [X, "ia", y, "i"]
    if sample_weight is not None:
        args += [sample_weight, "i"]
    else:
        kwargs["sample_weight"] = None
    return da.blockwise(
        func,
        out_index,
        *args,
        new_axes=new_axes or {},
        adjust_chunks=adjust,
        concatenate=True,
        dtype=dtype,
        meta=np.empty((0,) * len(out_index), dtype=dtype),
        **kwargs,
    )


# -- what runs on the workers (module-level: picklable) ------------------------------------
def _chunk_moments(X, y, sample_weight=None, *, adapter, chunk):
    """One row chunk's (Σ w x̃x̃ᵀ⊗S, Σ w g, Σ (w g)(w g)ᵀ), flattened into one (1, 2p² + p) row."""
    Xf = adapter.features(X)
    R, S = adapter.output_derivatives(adapter.outputs(Xf), adapter.encode_target(y))
    w = adapter.row_weights(y, sample_weight)
    H = adapter.hessian_from_curvature(Xf, S * w[:, None, None])
    add_to_diagonal(H, -adapter.penalty_diagonal())  # the penalty is added once
    G = LinearGradientMatrix(Xf, R, adapter.fit_intercept)  # g_i = x̃_i ⊗ r_i
    grad = G.rmatmul(w[:, None])[:, 0]
    p = adapter.n_params
    G2 = np.zeros((p, p))
    for rows in gen_batches(len(w), chunk):
        T = G.dense_rows(rows) * w[rows, None]
        G2 += T.T @ T
    return np.concatenate([H.ravel(), grad, G2.ravel()])[None]


def _chunk_self_influence(X, y, sample_weight=None, *, adapter, H_inv, chunk):
    """``w_i g_iᵀ H⁻¹ g_i`` of a chunk's rows, as ``InfluenceScorer`` computes it in memory."""
    G = adapter.gradients(X, y)
    w = adapter.row_weights(y, sample_weight)
    out = np.empty(len(w))
    for rows in gen_batches(len(w), chunk):
        block = G.dense_rows(rows)
        out[rows] = np.einsum("ij,ij->i", block, block @ H_inv)
    return out * w


def _chunk_influence(X, y, sample_weight=None, *, adapter, A, out_dtype):
    """``out[t, i] = w_i g_iᵀ A[:, t]`` for a chunk's rows i: shape (m, chunk rows)."""
    G = adapter.gradients(X, y)
    w = adapter.row_weights(y, sample_weight)
    return (G.matmul(A) * w[:, None]).T.astype(out_dtype, copy=False)


def _chunk_row_weights(X, y, sample_weight=None, *, adapter):
    return adapter.row_weights(y, sample_weight)


def _chunk_gradient_sum(X, y, sample_weight=None, *, adapter):
    return adapter.gradients(X, y).rmatmul(np.ones((X.shape[0], 1)))[:, 0][None]


# -- fit ----------------------------------------------------------------------------------
class _PrecomputedHessian:
    """What DirectSolver.fit reads from an adapter, for a Hessian reduced on the cluster."""

    def __init__(self, H, null_space):
        self._H = H
        self._null_space = null_space

    def hessian(self, X, y, sample_weight=None):
        return self._H.copy()

    def null_space(self):
        return self._null_space


def _check_linear(adapter, estimator):
    model = final_estimator(estimator)
    if not isinstance(adapter, GeneralizedLinear) or adapter.penalty_share_gradient() is not None:
        raise TypeError(
            "InfluenceScorer on dask input supports linear models whose penalty does not "
            "depend on the rows (LogisticRegression, Ridge, LinearRegression, RidgeClassifier, "
            f"or a Pipeline ending in one); got {type(model).__name__}. Pass a NumPy array, "
            "or a sample of the rows."
        )
    if getattr(model, "class_weight", None) == "balanced":
        raise ValueError(
            "class_weight='balanced' weights each row by global class counts, which the row "
            "chunks do not know; pass the resolved weights as a dict (compute_class_weight on "
            "the label counts) or as sample_weight."
        )


def _moments(adapter, X, y, sample_weight, chunk):
    """One pass over the chunks: (H, ∇J, Σ (w g)(w g)ᵀ) at the adapter's θ, on the client."""
    p = adapter.n_params
    L = 2 * p * p + p
    parts = _blockwise(
        _chunk_moments,
        "ib",
        X,
        y,
        sample_weight,
        new_axes={"b": L},
        adjust={"i": 1},
        adapter=adapter,
        chunk=chunk,
    )
    total = parts.sum(axis=0).compute()  # a tree reduction: only (L,) arrays travel
    H = total[: p * p].reshape(p, p)
    add_to_diagonal(H, adapter.penalty_diagonal())
    theta = adapter.params()
    grad = total[p * p : p * p + p] + adapter.penalty_diagonal() * theta  # ∇R = diag · θ
    return H, grad, total[p * p + p :].reshape(p, p)


def fit_dask(scorer, X, y, sample_weight):
    """``InfluenceScorer.fit`` on a dask collection (see the module docstring)."""
    scorer._validate_params()
    damping = check_damping(scorer.damping)
    if y is None:
        raise ValueError("InfluenceScorer requires y to be passed, but the target y is None.")
    if scorer.method not in ("auto", "direct"):
        raise ValueError(
            f"method={scorer.method!r} is not available on dask input: it factorises the "
            "p × p Hessian reduced over the chunks (method='direct'); use method='auto'."
        )
    if scorer.newton_step:
        raise ValueError("newton_step=True is not available on dask input; use the default.")
    X, names = _as_dask_X(X)
    rows = X.chunks[0]
    y = _as_dask_rows(y, rows, "y")
    sample_weight = _as_dask_rows(sample_weight, rows, "sample_weight")
    estimator = scorer.estimator
    refine = not is_frozen(estimator)
    if refine:  # a starting point from the first chunk, refined on all rows below
        first = [v if v is None else v.blocks[0].compute() for v in (X, y, sample_weight)]
        estimator = fit_clone(estimator, *first)
    adapter = adapter_for(estimator)
    _check_linear(adapter, estimator)
    if damping == "auto":
        damping = 0.0  # a convex model: flat directions are handled exactly
    scorer.adapter_ = adapter
    chunk = scorer._chunk  # rows of dense gradients a task materialises at once
    for n_iter in range(NEWTON_MAX_ITER + 1):
        H, grad, G2 = _moments(adapter, X, y, sample_weight, chunk)
        curvature = _PrecomputedHessian(H, adapter.null_space())
        solver = DirectSolver(damping=damping).fit(curvature, None, None)
        step = solver.solve(grad)
        theta = adapter.params()
        if not refine or np.max(np.abs(step)) <= NEWTON_RTOL * max(1.0, np.max(np.abs(theta))):
            break
        if n_iter == NEWTON_MAX_ITER:
            warnings.warn(
                f"The Newton refinement on the dask rows did not converge in {n_iter} passes "
                f"(last step {np.max(np.abs(step)):.3g}); influence is linearised there.",
                ConvergenceWarning,
                stacklevel=3,
            )
            break
        adapter = adapter.with_params(theta - step)
    H_inv = np.ascontiguousarray(solver.solve(np.eye(adapter.n_params)))
    n = X.shape[0]
    # Distance to the optimum in leave-one-out steps, ‖H⁻¹∇J‖ / RMS_i ‖w_i H⁻¹ g_i‖ (exact:
    # Σ_i ‖w_i H⁻¹ g_i‖² = trace(H⁻¹ G₂ H⁻¹), with G₂ reduced in the same pass).
    typical = float(np.sqrt(max(np.sum((H_inv @ G2) * H_inv), 0.0) / n))
    distance = float(np.linalg.norm(step))
    ratio = distance / typical if typical > 0 else (0.0 if distance == 0 else np.inf)
    if not refine and ratio > STATIONARITY_WARNING_RATIO:
        warnings.warn(
            f"The fitted {type(final_estimator(estimator)).__name__} is not at the optimum of "
            f"its objective on these {n} rows: the Newton step to it is {ratio:.3g} times the "
            "typical leave-one-out step (fitted on a sample?). Influence is linearised at the "
            "fit; pass the estimator unfitted (not in FrozenEstimator) to refine it by Newton "
            "steps on all the rows.",
            NotAtOptimumWarning,
            stacklevel=3,
        )
    scorer.estimator_ = estimator if not refine else adapter.estimator
    scorer.adapter_ = adapter
    scorer.ensemble_ = None
    scorer.method_ = "direct"
    scorer.curvature_ = resolve_curvature(adapter, scorer.hessian)
    scorer.solver_ = solver
    scorer.damping_ = solver.damping_
    scorer.n_features_in_ = X.shape[1]
    if names is not None:
        scorer.feature_names_in_ = names
    elif hasattr(scorer, "feature_names_in_"):
        del scorer.feature_names_in_
    scorer.train_X_, scorer.train_y_ = X, y
    scorer.train_weights_ = _blockwise(
        _chunk_row_weights, "i", X, y, sample_weight, adapter=adapter
    )
    scorer.train_shares_ = None
    scorer._share_gradient = None
    scorer._inverse_cache = H_inv
    scorer._share_solved = None
    scorer._newton_inverses = {}
    scorer._train_rho = None
    scorer._dask = Bunch(
        sample_weight=sample_weight, n_newton_passes=n_iter + 1, stationarity=ratio
    )
    scorer.scores_ = _blockwise(
        _chunk_self_influence, "i", X, y, sample_weight, adapter=adapter, H_inv=H_inv, chunk=chunk
    )
    return scorer


# -- after fit ----------------------------------------------------------------------------
def dask_score_samples(scorer, X, y):
    """Self-influence of new rows given as a dask collection, as a lazy dask array."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(scorer)
    if y is None:
        raise ValueError("score_samples on dask input needs y (the labels of the rows).")
    adapter = scorer.adapter_
    if (
        not isinstance(adapter, GeneralizedLinear)
        or scorer.method_ != "direct"
        or scorer.newton_step
        or scorer._share_gradient is not None
    ):
        raise TypeError(
            "score_samples on dask input needs a linear model fitted with method='direct' "
            "and newton_step=False (LogisticRegression, Ridge, LinearRegression, "
            "RidgeClassifier); pass the rows as a NumPy array instead."
        )
    X, _ = _as_dask_X(X)
    y = _as_dask_rows(y, X.chunks[0], "y")
    return _blockwise(
        _chunk_self_influence,
        "i",
        X,
        y,
        None,
        adapter=adapter,
        H_inv=scorer._inverse_hessian(),
        chunk=scorer._chunk,
    )


def _test_gradients(scorer, X_test, y_test, aggregate):
    """The test side, (p, m) or its sum (p, 1), on the client (m × p at most)."""
    if is_dask_collection(X_test):
        X_test, _ = _as_dask_X(X_test)
        y_test = _as_dask_rows(y_test, X_test.chunks[0], "y_test")
        if aggregate is not None:  # a map-reduce: only (p,) per chunk comes back
            parts = _blockwise(
                _chunk_gradient_sum,
                "ib",
                X_test,
                y_test,
                None,
                new_axes={"b": scorer.adapter_.n_params},
                adjust={"i": 1},
                adapter=scorer.adapter_,
            )
            return parts.sum(axis=0).compute()[:, None], X_test.shape[0]
        X_test, y_test = X_test.compute(), y_test.compute()  # m × p: the matrix needs them
    X_test, y_test = scorer._validate_Xy(X_test, y_test, reset=False)
    G = scorer.adapter_.gradients(X_test, y_test)
    if aggregate is not None:
        return G.rmatmul(np.ones((len(y_test), 1))), len(y_test)
    return np.ascontiguousarray(G.dense_rows(slice(None)).T), len(y_test)


def dask_influence(scorer, X_test, y_test, *, aggregate=None, dtype=np.float64, out=None):
    """``InfluenceScorer.influence`` of a scorer fitted on dask rows: a lazy dask array."""
    _check_aggregate(aggregate)
    if out is not None:
        raise ValueError(
            "out is not available for a scorer fitted on dask input: the result is a dask "
            "array; store it with dask (e.g. result.to_zarr) instead."
        )
    V, m = _test_gradients(scorer, X_test, y_test, aggregate)
    A = scorer.solver_.solve(V)  # H⁻¹ G_testᵀ, (p, m) or (p, 1)
    result = _blockwise(
        _chunk_influence,
        "ti",
        scorer.train_X_,
        scorer.train_y_,
        scorer._dask.sample_weight,
        new_axes={"t": A.shape[1]},
        adapter=scorer.adapter_,
        A=A,
        out_dtype=np.dtype(dtype),
        dtype=np.dtype(dtype),
    )
    if aggregate is None:
        return result
    return result[0] / m if aggregate == "mean" else result[0]


def _top(idx, vals, k, sign):
    """The k entries of each row most extreme in ``-sign * vals`` (largest first for sign
    -1, smallest first for +1; ties: the lower index first)."""
    order = np.lexsort((idx, sign * vals), axis=1)[:, :k]
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(vals, order, axis=1)


def _chunk_top(X, y, offsets, sample_weight=None, *, adapter, A, k, chunk):
    """A chunk's k most helpful and k most harmful rows for each test row: (1, m, 4k) numbers,
    [helpful indices, their influence, harmful indices, their influence] (indices global,
    exact as float64). Rows go ``chunk`` at a time: O(m · chunk) memory, and the (m, rows)
    block never leaves the task."""
    found = {-1.0: [], 1.0: []}
    for rows in gen_batches(X.shape[0], max(chunk, k)):
        w = None if sample_weight is None else sample_weight[rows]
        block = _chunk_influence(X[rows], y[rows], w, adapter=adapter, A=A, out_dtype=np.float64)
        block = np.ascontiguousarray(block)  # (m, rows), rows contiguous for argpartition
        width = block.shape[1]
        if width <= 2 * k:
            small = large = np.broadcast_to(np.arange(width), block.shape)
        else:  # one partition gives both ends: the k smallest first, the k largest last
            part = np.argpartition(block, (k - 1, width - k), axis=1)
            small, large = part[:, :k], part[:, width - k :]
        for sign, idx in ((-1.0, large), (1.0, small)):
            values = np.take_along_axis(block, idx, axis=1)
            found[sign].append((idx + offsets[rows.start], values))
    parts = []
    for sign, kept in found.items():
        idx = np.concatenate([i for i, _ in kept], axis=1)
        vals = np.concatenate([v for _, v in kept], axis=1)
        if idx.shape[1] < k:  # a chunk shorter than k: pad with rows that never win
            fill = ((0, 0), (0, k - idx.shape[1]))
            idx = np.pad(idx, fill, constant_values=-1)
            vals = np.pad(vals, fill, constant_values=sign * np.inf)
        parts += _top(idx, vals, k, sign)
    return np.hstack(parts)[None]


def dask_explain(scorer, X_test, y_test, k):
    """``explain`` by a top-k per chunk on the workers: only (m, 4k) per chunk comes back."""
    import dask.array as da

    n = scorer.train_X_.shape[0]
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in [1, {n}]; got {k!r}.")
    V, m = _test_gradients(scorer, X_test, y_test, None)
    A = scorer.solver_.solve(V)
    X, y, w = scorer.train_X_, scorer.train_y_, scorer._dask.sample_weight
    offsets = da.arange(n, chunks=X.chunks[0])
    args = [X, "ia", y, "i", offsets, "i"] + ([] if w is None else [w, "i"])
    tops = da.blockwise(
        _chunk_top,
        "itb",
        *args,
        new_axes={"t": m, "b": 4 * k},
        adjust_chunks={"i": 1},
        concatenate=True,
        dtype=np.float64,
        meta=np.empty((0, 0, 0)),
        adapter=scorer.adapter_,
        A=A,
        k=k,
        chunk=scorer._chunk,
    ).compute()  # (chunks, m, 4k)
    result = {}
    for j, (name, sign) in enumerate([("helpful", -1.0), ("harmful", 1.0)]):
        idx = np.concatenate(list(tops[:, :, 2 * j * k : (2 * j + 1) * k]), axis=1)
        vals = np.concatenate(list(tops[:, :, (2 * j + 1) * k : (2 * j + 2) * k]), axis=1)
        idx, vals = _top(idx, vals, k, sign)
        result[f"{name}_indices"] = idx.astype(np.intp)
        result[f"{name}_influence"] = vals
    return Bunch(**result)
