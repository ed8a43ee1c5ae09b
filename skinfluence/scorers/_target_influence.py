"""``InfluenceScorer.influence`` on targets other than the test loss, and of groups of rows.

The test side is built by :mod:`skinfluence.models._targets` (closed form for linear
models, autograd for torch nets); the training side is the scorer's own (its solver and
its training-side gradients ``w_i ∇ℓ_i + c_i ∇q``), unchanged.

Groups of training rows: the first-order influence of removing a group G is the sum of its
rows' columns, ``∇fᵀ H⁻¹ S_G`` with ``S_G = Σ_{i∈G} (w_i ∇ℓ_i + c_i ∇q)``, computed from the
(p × n_groups) sums without forming the n columns. ``group_correction="newton"`` replaces
``H⁻¹ S_G`` by one Newton step on the objective without the group, ``(H − H_G)⁻¹ S_G``
(Koh et al. 2019), and evaluates the target exactly at the stepped outputs (linear models).
"""

import numpy as np
from sklearn.utils import _safe_indexing, gen_batches

from .._utils._symmetric import add_to_diagonal
from ..models import GeneralizedLinear
from ..models._targets import (
    LossMetric,
    SetTarget,
    check_target_support,
    glm_row_target,
    resolve_target,
    set_target_cotangent,
    set_target_value,
)
from ..trees import is_tree_ensemble
from ._newton_refine import refined_shifts

GROUP_CORRECTIONS = (None, "newton")
# Doubles of the (test rows × training rows × K) output shifts held at once.
_SHIFT_ELEMENTS = 2**22


def _rows_of(X, rows):
    return X[rows] if isinstance(X, np.ndarray) or hasattr(X, "tocsr") else _safe_indexing(X, rows)


def _glm(scorer):
    return isinstance(scorer.adapter_, GeneralizedLinear)


def _mlp(scorer):
    from ..models import MLPAdapter

    return isinstance(scorer.adapter_, MLPAdapter)


def _torch(scorer):
    from ..torch._adapter import TorchAdapter

    return isinstance(scorer.adapter_, TorchAdapter)


def check_options(scorer, target, groups, group_correction, test_groups, aggregate, n_test):
    """Validate the new ``influence`` options; returns (target, groups codes, labels)."""
    target = resolve_target(target)
    if group_correction not in GROUP_CORRECTIONS:
        raise ValueError(
            f"group_correction must be one of {list(GROUP_CORRECTIONS)}; got {group_correction!r}."
        )
    if group_correction is not None and groups is None:
        raise ValueError("group_correction needs groups= (a label per training row).")
    if scorer._is_tree and (target != "loss" or group_correction is not None):
        raise ValueError(
            "Boosted trees support target='loss' (and first-order groups=) only: their "
            "influence is through the fixed-structure leaf values, which have no test-side "
            "target map yet."
        )
    if isinstance(target, SetTarget):
        if aggregate is not None:
            raise ValueError(
                f"target={type(target).__name__} is already one scalar of the test set; "
                "pass aggregate=None."
            )
        if target.needs_groups and test_groups is None:
            raise ValueError(
                f"target={type(target).__name__} needs test_groups= (a group per test row)."
            )
    if test_groups is not None and not isinstance(target, SetTarget):
        raise ValueError(
            "test_groups is for the group targets (target='worst_group_loss', 'loss_gap', a "
            "WorstGroupLoss / GroupLossGap, or a metric that reads them); a per-row target "
            "gives every test row its own column already."
        )
    if test_groups is not None and len(test_groups) != n_test:
        raise ValueError(f"test_groups has {len(test_groups)} labels for {n_test} test rows.")
    if scorer.newton_step and group_correction is not None:
        raise ValueError(
            "newton_step=True is the leave-one-out Newton step; groups take "
            "group_correction='newton' on a first-order scorer (newton_step=False)."
        )
    codes = labels = None
    if groups is not None:
        groups = np.asarray(groups)
        n = len(scorer.train_y_) if not scorer._is_tree else len(scorer.scores_)
        if groups.shape != (n,):
            raise ValueError(
                f"groups must have one label per training row ({n}); got {groups.shape}."
            )
        labels, codes = np.unique(groups, return_inverse=True)
    if group_correction == "newton" and not (_glm(scorer) and scorer.method_ == "direct"):
        raise ValueError(
            "group_correction='newton' needs a linear model (GeneralizedLinear adapter) and "
            f"method='direct'; got {type(scorer.estimator_).__name__} with "
            f"method={scorer.method_!r}. Use group_correction=None (first order)."
        )
    return target, codes, labels


# -- test side ----------------------------------------------------------------------------
def target_test_gradients(scorer, X, y, kind, target_class):
    """Per-row gradients of a per-row target of the test rows, a GradientMatrix (m × p)."""
    adapter = scorer.adapter_
    if kind == "loss":
        if target_class is not None:
            raise ValueError("target_class is for target='prediction', 'margin' or 'logit'.")
        return adapter.gradients(X, y)
    check_target_support(adapter, kind)
    if _torch(scorer):
        from ..torch._targets import torch_target_gradients

        return torch_target_gradients(adapter, X, y, kind, target_class)
    if _mlp(scorer):
        from ..models._targets import mlp_cotangent_gradients, mlp_outputs, outputs_row_target

        z = mlp_outputs(adapter, X)
        D = outputs_row_target(adapter, y, kind, target_class, z.shape[1]).output_gradients(z)
        return mlp_cotangent_gradients(adapter, X, D)
    G = adapter.gradients(X, y)
    eta = adapter.outputs(adapter.features(X))
    D = glm_row_target(adapter, y, kind, target_class).output_gradients(eta)
    return type(G)(G.X, D, G.fit_intercept)


def set_target_gradient(scorer, X, y, target, test_groups):
    """``∇F`` of a set target, shape (p, 1)."""
    adapter = scorer.adapter_
    if isinstance(target, LossMetric):
        _, w = target.weights(adapter.loss(X, y), np.asarray(test_groups))
        return adapter.gradients(X, y).rmatmul(w[:, None])
    check_target_support(adapter, "metric")
    if _torch(scorer):
        from ..torch._targets import torch_metric_gradient

        return torch_metric_gradient(adapter, X, y, target)
    if _mlp(scorer):
        from ..models._targets import mlp_cotangent_gradients, mlp_outputs

        z = mlp_outputs(adapter, X)
        _, C = set_target_cotangent(adapter, target, z, y, test_groups)
        return mlp_cotangent_gradients(adapter, X, C).rmatmul(np.ones((len(C), 1)))
    G = adapter.gradients(X, y)
    eta = adapter.outputs(adapter.features(X))
    _, C = set_target_cotangent(adapter, target, eta, y, test_groups)
    return type(G)(G.X, C, G.fit_intercept).rmatmul(np.ones((len(C), 1)))


# -- training side: group sums ------------------------------------------------------------
def group_sums(scorer, codes, n_groups):
    """``S[:, g] = Σ_{i∈g} (w_i ∇ℓ_i + c_i ∇q)``, shape (p, n_groups), chunk by chunk."""
    n = len(codes)
    S = np.zeros((scorer.adapter_.n_params, n_groups))
    for rows in gen_batches(n, scorer._chunk):
        block = scorer._training_rows(rows)
        onehot = np.zeros((block.shape[0], n_groups))
        onehot[np.arange(block.shape[0]), codes[rows]] = 1.0
        S += block.T @ onehot
    return S


def group_newton_steps(scorer, codes, n_groups):
    """``Δ_G = (H − H_G + λI + BBᵀ)⁻¹ S_G`` for every group, shape (p, n_groups).

    ``H_G = Σ_{i∈G} w_i ∇²ℓ_i + (Σ_{i∈G} c_i) ∇²q``: the curvature the group brings, so
    that ``H − H_G`` is the Hessian of the objective without the group at θ̂ (one Newton step
    from the full-data optimum, Koh et al. 2019). O(n d² K² + n_groups (|G| d² K² + p³)).
    """
    adapter = scorer.adapter_
    X, y = scorer.train_X_, scorer.train_y_
    Xf = adapter.features(X)
    _, S = adapter.newton_factors(X, y)
    WS = S * scorer.train_weights_[:, None, None]
    shares = scorer.train_shares_
    has_share = adapter.penalty_share_diagonal() is not None and shares is not None
    total_share = float(np.sum(shares)) if has_share else 0.0
    H = adapter.hessian_from_curvature(Xf, WS, total_share)
    add_to_diagonal(H, scorer.damping_)
    B = adapter.null_space()
    if B is not None:
        H += B @ B.T
    base = adapter.hessian_from_curvature(Xf[:0], WS[:0], 0.0)  # ∇²R₀ alone
    sums = group_sums(scorer, codes, n_groups)
    steps = np.empty_like(sums)
    for g in range(n_groups):
        rows = np.flatnonzero(codes == g)
        share_g = float(np.sum(shares[rows])) if has_share else 0.0
        H_g = adapter.hessian_from_curvature(_rows_of(Xf, rows), WS[rows], share_g) - base
        steps[:, g] = np.linalg.solve(H - H_g, sums[:, g])
    return steps


# -- output shifts of linear models -------------------------------------------------------
def _test_design(scorer, X_test, y_test):
    adapter = scorer.adapter_
    eta = adapter.outputs(adapter.features(X_test))
    dense = adapter.gradients(X_test, y_test).dense_features(slice(None))  # (m, d)
    return eta, dense


def _shifts_of_steps(dense, steps, K):
    """Output shifts ``U_tᵀ Δ_j`` of parameter steps (p, k): shape (m, k, K)."""
    d = dense.shape[1]
    return np.einsum("md,dkc->mkc", dense, steps.reshape(d, K, -1).transpose(0, 2, 1))


def newton_loo_shifts(scorer, X_test, y_test):
    """Yield (training rows, (m, rows, K) output shifts of the leave-one-out Newton steps)."""
    adapter = scorer.adapter_
    scorer._train_newton_terms()
    refined, steps = scorer._refined_steps()  # iterated to the exact refits (newton_refine)
    share_inverse = (
        None
        if scorer._share_gradient is None
        else scorer._newton_inverse(scorer.train_shares_, adding=False)
    )
    eta, dense = _test_design(scorer, X_test, y_test)
    K, m = adapter.n_outputs, len(eta)
    G_train = adapter.gradients(scorer.train_X_, scorer.train_y_)
    n = G_train.shape[0]
    Bs = []
    for c in range(K):
        U_c = np.zeros((dense.shape[1], K, m))
        U_c[:, c, :] = dense.T
        U_c = U_c.reshape(-1, m)
        Bs.append(scorer.solver_.solve(U_c) if share_inverse is None else share_inverse @ U_c)
    share_t = None
    if share_inverse is not None:
        share_t = dense @ (share_inverse @ scorer._share_gradient).reshape(dense.shape[1], K)
    per_chunk = max(1, _SHIFT_ELEMENTS // max(1, m * K))
    for rows in gen_batches(n, min(per_chunk, scorer._chunk)):
        step = type(G_train)(G_train.X[rows], scorer._train_rho[rows], G_train.fit_intercept)
        delta = np.stack([step.matmul(B).T for B in Bs], axis=2)  # (m, rows, K)
        if share_t is not None:
            delta += scorer.train_shares_[None, rows, None] * share_t[:, None, :]
        here = (refined >= rows.start) & (refined < rows.stop)
        if here.any():
            delta[:, refined[here] - rows.start] = refined_shifts(steps[here], dense, K)
        yield rows, eta, delta


# -- the entry point ----------------------------------------------------------------------
def target_influence(
    scorer,
    X_test,
    y_test,
    *,
    target,
    target_class,
    test_groups,
    groups,
    group_correction,
    aggregate,
    dtype,
):
    """``InfluenceScorer.influence`` with a target, test groups or training groups."""
    m = len(y_test)
    target, codes, labels = check_options(
        scorer, target, groups, group_correction, test_groups, aggregate, m
    )
    if test_groups is not None:
        test_groups = np.asarray(test_groups)
    if target_class is not None and not isinstance(target, str):
        raise ValueError("target_class is for target='prediction', 'margin' or 'logit'.")
    if scorer._is_tree:  # loss only (checked): sum the columns of the matrix
        full = scorer._influence(X_test, y_test)
        result = _sum_columns(full, codes, len(labels))
        return _aggregate(result, aggregate, m)
    set_target = isinstance(target, SetTarget)
    if group_correction == "newton":
        result = _group_newton(
            scorer, X_test, y_test, target, target_class, test_groups, codes, len(labels)
        )
        return _aggregate(result, None if set_target else aggregate, m).astype(dtype, copy=False)
    if scorer.newton_step:
        result = _loo_newton(scorer, X_test, y_test, target, target_class, test_groups)
        if codes is not None:
            result = _sum_columns(result, codes, len(labels))
        return _aggregate(result, None if set_target else aggregate, m).astype(dtype, copy=False)
    # First order: test-side vectors V (p × k) against training-side columns.
    if set_target:
        V = set_target_gradient(scorer, X_test, y_test, target, test_groups)
        return _first_order(scorer, V, codes, labels)[0].astype(dtype, copy=False)
    G_test = target_test_gradients(scorer, X_test, y_test, target, target_class)
    if aggregate is not None:
        V = G_test.rmatmul(np.ones((m, 1)))
        result = _first_order(scorer, V, codes, labels)[0]
        return (result / m if aggregate == "mean" else result).astype(dtype, copy=False)
    if codes is None:
        out = np.empty((m, len(scorer.train_y_)), dtype=dtype)
        for rows, block in G_test.iter_dense(scorer._chunk):
            scorer._train_products_into(scorer.solver_.solve(block.T), out[rows])
        return out
    A = scorer.solver_.solve(group_sums(scorer, codes, len(labels)))  # H⁻¹ S, (p, n_groups)
    return G_test.matmul(A).astype(dtype, copy=False)


def _first_order(scorer, V, codes, labels):
    """``Vᵀ H⁻¹ T`` against every training row (k, n) or group (k, n_groups)."""
    if codes is None:
        out = np.empty((V.shape[1], len(scorer.train_y_)))
        scorer._train_products_into(scorer.solver_.solve(V), out)
        return out
    return scorer.solver_.solve(V).T @ group_sums(scorer, codes, len(labels))


def _sum_columns(result, codes, n_groups):
    if codes is None:
        return result
    onehot = np.zeros((len(codes), n_groups))
    onehot[np.arange(len(codes)), codes] = 1.0
    return result @ onehot


def _aggregate(result, aggregate, m):
    if aggregate is None:
        return result
    total = result.sum(axis=0)
    return total / m if aggregate == "mean" else total


def _loo_newton(scorer, X_test, y_test, target, target_class, test_groups):
    """The target evaluated exactly at the leave-one-out Newton-stepped outputs."""
    adapter = scorer.adapter_
    n = len(scorer.train_y_)
    if isinstance(target, SetTarget):
        out = np.empty(n)
        base = None
        for rows, eta, delta in newton_loo_shifts(scorer, X_test, y_test):
            if base is None:
                base = set_target_value(adapter, target, eta, y_test, test_groups)
            for j, i in enumerate(range(n)[rows]):
                out[i] = set_target_value(adapter, target, eta + delta[:, j], y_test, test_groups)
        return out - base
    rt = glm_row_target(adapter, y_test, target, target_class)
    m = len(y_test)
    out = np.empty((m, n))
    base = None
    for rows, eta, delta in newton_loo_shifts(scorer, X_test, y_test):
        if base is None:
            base = rt.values(eta)
        k = delta.shape[1]
        idx = np.repeat(np.arange(m), k)
        stepped = rt.values((eta[:, None, :] + delta).reshape(-1, eta.shape[1]), idx)
        out[:, rows] = stepped.reshape(m, k)
    return out - base[:, None]


def _group_newton(scorer, X_test, y_test, target, target_class, test_groups, codes, n_groups):
    """The target at the group-Newton-stepped outputs, (m, n_groups) or (n_groups,)."""
    adapter = scorer.adapter_
    steps = group_newton_steps(scorer, codes, n_groups)
    eta, dense = _test_design(scorer, X_test, y_test)
    delta = _shifts_of_steps(dense, steps, adapter.n_outputs)  # (m, n_groups, K)
    if isinstance(target, SetTarget):
        base = set_target_value(adapter, target, eta, y_test, test_groups)
        return np.array(
            [
                set_target_value(adapter, target, eta + delta[:, g], y_test, test_groups) - base
                for g in range(n_groups)
            ]
        )
    rt = glm_row_target(adapter, y_test, target, target_class)
    m = len(y_test)
    idx = np.repeat(np.arange(m), n_groups)
    stepped = rt.values((eta[:, None, :] + delta).reshape(-1, eta.shape[1]), idx)
    return stepped.reshape(m, n_groups) - rt.values(eta)[:, None]


def is_default(target, target_class, test_groups, groups, group_correction):
    """Whether ``influence`` was called without any of the new options."""
    return (
        isinstance(target, str)
        and target == "loss"
        and target_class is None
        and test_groups is None
        and groups is None
        and group_correction is None
    )


def target_differences(base, models, X_test, y_test, target, target_class, test_groups):
    """``target(model) − target(base)`` for each refit model: (m, k), or (k,) for a set
    target (the ground truth of retraining, one column per model)."""
    from ..models import evaluate_target

    target = resolve_target(target)
    args = (X_test, y_test, target, target_class, test_groups)
    full = evaluate_target(base, *args)
    values = [evaluate_target(model, *args) for model in models]
    if isinstance(target, SetTarget):
        return np.asarray(values, dtype=np.float64) - full
    return np.stack(values, axis=1) - np.asarray(full)[:, None]


__all__ = ["is_default", "is_tree_ensemble", "target_differences", "target_influence"]
