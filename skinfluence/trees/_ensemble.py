"""``TreeEnsemble``: a fitted gradient-boosted ensemble with its tree structure held fixed.

Every reader (scikit-learn here, LightGBM and XGBoost in their own modules) turns a fitted
model into this one representation, and every method (LeafInfluence, BoostIn, the
fixed-structure refit) works on it alone, so that no method knows which library fitted the
trees. The representation is checked against the model itself by :func:`check_ensemble`:
every leaf value is recomputed from the leaf-value rule below and the training data, and the
recomputed raw scores are compared with the model's own, so that a model option the rule does
not describe (row subsampling, monotonic constraints that clipped a leaf, an unsupported loss)
is refused instead of producing wrong numbers.

The leaf-value rule (all libraries)
-----------------------------------
Tree ``t`` of output ``k`` (global tree index ``t * K + k``) was fitted on the gradients
``g_jk`` and Hessians ``h_jk`` of the loss at the raw score ``F_j`` *before* that iteration
(baseline plus the leaves of the earlier iterations). Its leaf ``l`` holds::

    G_l = Σ_{j in l} w_j g_jk,   H_l = Σ_{j in l} w_j h_jk
    u_l = T_α(G_l) / (hessian_scale · H_l + λ + denominator_eps)
    u_l = clip(u_l, −max_delta_step, max_delta_step)            (when max_delta_step > 0)
    v_l = −learning_rate · u_l,     and v_l = 0 where the denominator < min_denominator

with ``T_α(G) = sign(G) max(|G| − α, 0)`` the soft threshold (α = 0: identity), and per-row
Hessians floored at ``min_hessian`` before weighting. ``g, h`` are those of the *half*
squared error (``g = F − y, h = 1``), the binary log-loss on the logit (``g = p − y,
h = p(1 − p)``) or the multinomial log-loss on the K raw scores (``g_k = p_k − [y = k]``,
``h_k = p_k(1 − p_k)``, the diagonal); ``hessian_scale`` carries the library's factor on the
Hessian (K/(K − 1) for LightGBM's and scikit-learn GradientBoosting's multiclass, 2 for
XGBoost's softprob, 1 otherwise).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, log_softmax, softmax

OBJECTIVES = ("squared_error", "binary_logistic", "multinomial")


@dataclass
class TreeEnsemble:
    """A fitted boosted tree ensemble: its leaves, the training rows in them, the leaf rule.

    Readers (:func:`skinfluence.trees.read_ensemble`) build it; the methods of
    :mod:`skinfluence.trees` read nothing else. The structure (which rows share a leaf, for
    training and test rows alike) is fixed; only the leaf values are functions of the
    training weights, through the rule of the module docstring. Read without data
    (``read_ensemble(estimator)``), the training fields are empty (zero rows,
    :func:`structure_only`): what :func:`~skinfluence.models.adapter_for` needs.

    Parameters
    ----------
    objective : {"squared_error", "binary_logistic", "multinomial"}
        The loss the trees were boosted on.
    n_outputs : int
        K: raw scores per row (1 for regression and binary, n_classes for multinomial); each
        boosting iteration grows K trees.
    classes : ndarray or None
        The class labels in the order of the encoded targets (None for regression).
    learning_rate : float
        The shrinkage multiplying each Newton step.
    l2_regularization : float
        λ added to the Hessian sum of each leaf.
    baseline : ndarray of shape (K,)
        The raw score before the first tree.
    baseline_is_fitted : bool
        True when ``baseline`` is the intercept-only optimum of the loss on the weighted
        training rows (it moves when a row is removed), False when it is a constant that
        does not depend on the data (a user's ``base_score``, ``init="zero"``).
    leaf_values : ndarray of shape (n_leaves_total,)
        Every leaf's value as added to the raw score (learning rate included). Leaves of one
        tree are contiguous and trees come in order ``t * K + k``.
    leaf_tree : ndarray of shape (n_leaves_total,)
        The global tree index ``t * K + k`` of each leaf (non-decreasing).
    train_leaves : ndarray of shape (n_train, n_iter, K)
        The global leaf id of every training row in every tree.
    train_weight : ndarray of shape (n_train,)
        The weights the trees were fitted with (sample × class weight); 0 for rows the model
        did not fit on (HistGradientBoosting's early-stopping validation rows).
    y : ndarray of shape (n_train,)
        Encoded targets: floats for regression, class indices 0..K' − 1 for classification.
    apply : callable
        ``apply(X) -> (m, n_iter, K)`` global leaf ids; picklable (a small class).
    l1_regularization : float, default=0.0
        α of the soft threshold on ``G``.
    hessian_scale : float, default=1.0
        Factor on the Hessian sum (see the module docstring).
    max_delta_step : float, default=0.0
        Bound on ``|u_l|`` before the learning rate (0: none).
    denominator_eps : float, default=0.0
        Added to the denominator (HistGradientBoosting: 1e-15).
    min_denominator : float, default=0.0
        A leaf whose denominator is below it gets value 0 (GradientBoosting: 1e-150).
    min_hessian : float, default=0.0
        Floor on each row's Hessian before weighting (XGBoost's logistic: 1e-16).
    single_leaf_is_zero : bool, default=False
        A tree that is a single leaf (its root could not be split) holds 0, not the Newton
        step (HistGradientBoosting: ``grower.py`` finalises such a root with value 0).
    gradient_dtype : {"float64", "float32"}, default="float64"
        The precision the library stores the weighted per-row gradients and Hessians in
        (HistGradientBoosting: float32); used by :func:`check_ensemble` only, the methods
        compute in float64.
    round_gradient_before_weight : bool, default=False
        The library rounds each row's gradient to ``gradient_dtype`` before multiplying it
        by the weight, and the product again (LightGBM's weighted squared error); used by
        :func:`check_ensemble` only.
    tolerance : float, default=1e-8
        Relative tolerance of :func:`check_ensemble` (float32-stored models need more).
    library : str, default=""
        Who fitted it, for messages.
    raw_train : ndarray of shape (n_train, K) or None, default=None
        The model's own raw scores on the training rows, for :func:`check_ensemble`.
    raw_train_rows : ndarray of int or None, default=None
        The training rows ``raw_train`` holds, when the library was asked for a sample of
        them (LightGBM: 64 evenly spaced rows, since every leaf value is checked on every
        row by the leaf rule); None: all rows.

    See Also
    --------
    check_ensemble : recomputes every leaf and raw score and compares them with the model.
    refit_leaf_values : the leaf values for other training weights (fixed-structure refit).

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> from skinfluence.trees import read_ensemble
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y)
    >>> ensemble = read_ensemble(model, X, y)
    >>> ensemble.objective, ensemble.n_outputs, ensemble.train_leaves.shape
    ('binary_logistic', 1, (569, 5, 1))
    """

    objective: str
    n_outputs: int
    classes: np.ndarray | None
    learning_rate: float
    l2_regularization: float
    baseline: np.ndarray
    baseline_is_fitted: bool
    leaf_values: np.ndarray
    leaf_tree: np.ndarray
    train_leaves: np.ndarray
    train_weight: np.ndarray
    y: np.ndarray
    apply: Callable
    l1_regularization: float = 0.0
    hessian_scale: float = 1.0
    max_delta_step: float = 0.0
    denominator_eps: float = 0.0
    min_denominator: float = 0.0
    min_hessian: float = 0.0
    gradient_dtype: str = "float64"
    round_gradient_before_weight: bool = False
    single_leaf_is_zero: bool = False
    tolerance: float = 1e-8
    library: str = ""
    raw_train: np.ndarray | None = field(default=None, repr=False)
    raw_train_rows: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise TypeError(
                f"objective={self.objective!r} is not supported by the tree-influence methods; "
                f"supported: {list(OBJECTIVES)}. Use LeaveOneOutScorer or MemorizationScorer "
                "(retraining) for other losses."
            )
        self.baseline = np.asarray(self.baseline, dtype=np.float64).reshape(self.n_outputs)
        self.leaf_values = np.asarray(self.leaf_values, dtype=np.float64)
        self.leaf_tree = np.asarray(self.leaf_tree, dtype=np.intp)
        self.train_leaves = np.asarray(self.train_leaves, dtype=np.intp)
        self.train_weight = np.asarray(self.train_weight, dtype=np.float64)
        if np.any(np.diff(self.leaf_tree) < 0):
            raise ValueError("leaf_tree must be non-decreasing (leaves grouped by tree).")
        _, n_iter, K = self.train_leaves.shape
        if self.n_outputs != K:
            raise ValueError(f"train_leaves has {K} outputs; n_outputs is {self.n_outputs}.")
        # leaf_offsets[t] = first global leaf id of tree t (t = iteration * K + k).
        counts = np.bincount(self.leaf_tree, minlength=n_iter * K)
        self.leaf_offsets = np.concatenate([[0], np.cumsum(counts)])

    def tree_indicator(self, t, k):
        """Return the leaf span and sparse training-row indicator of one tree (cached).

        Parameters
        ----------
        t : int
            Boosting iteration.
        k : int
            Output (tree within the iteration).

        Returns
        -------
        start, stop : int
            Its global leaf ids are ``[start, stop)``.
        M, MT : scipy.sparse.csr_matrix
            The (n_train × leaves) indicator of its training rows and its transpose.
        """
        cache = self.__dict__.setdefault("_indicators", {})
        key = (t, k)
        if key not in cache:
            tree = t * self.n_outputs + k
            start, stop = self.leaf_offsets[tree], self.leaf_offsets[tree + 1]
            n = self.n_train
            M = sp.csr_matrix(
                (np.ones(n), (np.arange(n), self.train_leaves[:, t, k] - start)),
                shape=(n, stop - start),
            )
            cache[key] = (start, stop, M, M.T.tocsr())
        return cache[key]

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_indicators", None)  # caches, rebuilt on use
        state.pop("_model_trajectory", None)
        return state

    @property
    def n_iter(self):
        """Boosting iterations (trees per output)."""
        return self.train_leaves.shape[1]

    @property
    def n_train(self):
        """Training rows (including those of weight 0)."""
        return self.train_leaves.shape[0]

    def raw_predict(self, leaves, leaf_values=None):
        """Compute the raw scores ``baseline + Σ leaves`` of rows from their leaf ids.

        Parameters
        ----------
        leaves : ndarray of shape (m, n_iter, K)
            Global leaf ids (``apply(X)``).
        leaf_values : ndarray of shape (n_leaves_total,), default=None
            Other leaf values (default the model's).

        Returns
        -------
        raw : ndarray of shape (m, K)
        """
        values = self.leaf_values if leaf_values is None else leaf_values
        return self.baseline + values[leaves].sum(axis=1)

    def target_matrix(self):
        """Return the targets as an (n, K) float matrix: y, or the one-hot class indicator.

        Returns
        -------
        Y : ndarray of shape (n_train, K)
        """
        if self.objective == "multinomial":
            return (self.y[:, None] == np.arange(self.n_outputs)).astype(np.float64)
        return np.asarray(self.y, dtype=np.float64).reshape(-1, 1)


def encode_targets(classes, y):
    """Encoded targets: class indices into ``classes``, or float targets (classes=None).

    Raises ValueError for a label that is not one of the classes.
    """
    if classes is None:
        return np.asarray(y, dtype=np.float64).reshape(-1)
    y = np.asarray(y).reshape(-1)
    idx = np.searchsorted(classes, y)
    idx = np.clip(idx, 0, len(classes) - 1)
    bad = classes[idx] != y
    if np.any(bad):
        raise ValueError(
            f"y has labels the model was not fitted on: {np.unique(y[bad])[:5]!r}; its classes "
            f"are {classes!r}."
        )
    return idx


def structure_only(n_iter, n_outputs):
    """The training fields of a :class:`TreeEnsemble` read without data (no rows)."""
    return {
        "train_leaves": np.empty((0, n_iter, n_outputs), dtype=np.intp),
        "train_weight": np.empty(0),
        "y": np.empty(0),
        "raw_train": None,
    }


def training_data(apply, X, y_encoded, weight, raw_train):
    """The training fields of a :class:`TreeEnsemble` (keyword arguments), from its rows."""
    return {
        "train_leaves": apply(X),
        "train_weight": np.asarray(weight, dtype=np.float64),
        "y": y_encoded,
        "raw_train": raw_train,
    }


# -- the losses ------------------------------------------------------------------------------
def loss_gradient_hessian(objective, raw, Y):
    """Per-row gradient and (diagonal) Hessian of the loss at raw scores ``raw``.

    ``raw`` and ``Y`` (targets as :meth:`TreeEnsemble.target_matrix`) have shape (..., n, K);
    returns ``g, h`` of that shape (the Hessian unscaled, before ``hessian_scale``).
    """
    if objective == "squared_error":
        return raw - Y, np.ones_like(raw)
    p = expit(raw) if objective == "binary_logistic" else softmax(raw, axis=-1)
    return p - Y, p * (1.0 - p)


def per_row_loss(objective, raw, Y):
    """Per-row loss at raw scores, shape (...,): half squared error or log-loss.

    Half the squared error is what the trees' gradients are taken of; the scorers report the
    (full) squared error of regression, like the linear models' adapters.
    """
    if objective == "squared_error":
        return ((raw - Y) ** 2).sum(axis=-1)
    if objective == "binary_logistic":
        # log(1 + e^F) − y F
        return (np.logaddexp(0.0, raw) - Y * raw)[..., 0]
    return -(Y * log_softmax(raw, axis=-1)).sum(axis=-1)


def loss_raw_derivative(objective, raw, Y):
    """d(per_row_loss)/d raw, shape (..., K)."""
    if objective == "squared_error":
        return 2.0 * (raw - Y)
    g, _ = loss_gradient_hessian(objective, raw, Y)
    return g


def intercept_only(objective, Y, weight):
    """The intercept-only optimum of the weighted loss, for weights of shape (..., n).

    Returns shape (..., K): the weighted mean (squared error), its logit (binary, clipped to
    [10 eps, 1 − 10 eps]) or the centred log of the class frequencies (multinomial, clipped
    to [eps, 1 − eps]), as scikit-learn's ``fit_intercept_only``.
    """
    total = weight.sum(axis=-1, keepdims=True)
    mean = (weight @ Y) / np.where(total > 0, total, 1.0)
    if objective == "squared_error":
        return mean
    eps = np.finfo(np.float64).eps
    if objective == "binary_logistic":
        p = np.clip(mean, 10 * eps, 1 - 10 * eps)
        return np.log(p) - np.log1p(-p)
    log_p = np.log(np.clip(mean, eps, 1 - eps))
    return log_p - log_p.mean(axis=-1, keepdims=True)


# -- the leaf-value rule ---------------------------------------------------------------------
def soft_threshold(G, alpha):
    """``sign(G) max(|G| − α, 0)``."""
    if alpha == 0:
        return G
    return np.sign(G) * np.maximum(np.abs(G) - alpha, 0.0)


def leaf_denominator(ensemble, H):
    """``hessian_scale · H + λ + denominator_eps`` of leaves with Hessian sums H."""
    return ensemble.hessian_scale * H + ensemble.l2_regularization + ensemble.denominator_eps


def leaf_rule(ensemble, G, H):
    """Leaf values (learning rate included) from gradient and Hessian sums, any shape."""
    denominator = leaf_denominator(ensemble, H)
    safe = denominator >= max(ensemble.min_denominator, np.finfo(np.float64).tiny)
    u = np.where(safe, soft_threshold(G, ensemble.l1_regularization), 0.0) / np.where(
        safe, denominator, 1.0
    )
    if ensemble.max_delta_step > 0:
        u = np.clip(u, -ensemble.max_delta_step, ensemble.max_delta_step)
    return -ensemble.learning_rate * u


def leaf_rule_derivatives(ensemble, G, H):
    """``(∂v/∂G, ∂v/∂H)`` of the leaf rule at sums G, H (zero where a bound or the soft
    threshold is active, or the denominator is below ``min_denominator``)."""
    denominator = leaf_denominator(ensemble, H)
    safe = denominator >= max(ensemble.min_denominator, np.finfo(np.float64).tiny)
    D = np.where(safe, denominator, 1.0)
    TG = soft_threshold(G, ensemble.l1_regularization)
    active = safe.copy()
    if ensemble.max_delta_step > 0:
        active &= np.abs(TG / D) < ensemble.max_delta_step
    dv_dG = -ensemble.learning_rate * active / D
    if ensemble.l1_regularization > 0:
        dv_dG = dv_dG * (np.abs(G) > ensemble.l1_regularization)
    dv_dH = ensemble.learning_rate * ensemble.hessian_scale * active * TG / D**2
    return dv_dG, dv_dH


def leaf_sums(values, leaves, n_leaves):
    """Σ over the rows of each leaf: ``values`` (b, n) → (b, n_leaves) for local ids."""
    b = values.shape[0]
    flat = (np.arange(b)[:, None] * n_leaves + leaves[None, :]).ravel()
    return np.bincount(flat, weights=values.ravel(), minlength=b * n_leaves).reshape(b, n_leaves)


def row_gradients(ensemble, raw, Y):
    """Per-row g and floored h at raw scores ``raw`` (..., n, K)."""
    g, h = loss_gradient_hessian(ensemble.objective, raw, Y)
    if ensemble.min_hessian > 0:
        h = np.maximum(h, ensemble.min_hessian)
    return g, h


def refit_leaf_values(ensemble, weight, *, library_precision=False):
    """Every leaf value refitted with the structure fixed, for blocks of training weights.

    The fixed-structure refit (LeafRefit): the baseline (when fitted) and then tree after
    tree, each leaf recomputed by the leaf-value rule from the gradients at the raw scores
    that the refitted earlier trees give.

    Parameters
    ----------
    ensemble : TreeEnsemble
    weight : ndarray of shape (b, n_train) or (n_train,)
        Training weights, one row per refit (e.g. ``train_weight`` with one row zeroed).
    library_precision : bool, default=False
        Round the weighted per-row gradients and Hessians to ``ensemble.gradient_dtype``
        as the library does (for :func:`check_ensemble`); float64 otherwise.

    Returns
    -------
    leaf_values : ndarray of shape (b, n_leaves_total)
    baseline : ndarray of shape (b, K)
    raw_train : ndarray of shape (b, n_train, K)
        The refitted raw scores of the training rows.

    See Also
    --------
    check_ensemble : this refit at the training weights, compared with the model.
    leaf_refit : leave-one-out by this refit, row by row.

    Notes
    -----
    Cost O(b · n · T · K) time, O(b · (n · K + n_leaves_total)) memory.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.ensemble import GradientBoostingRegressor
    >>> from skinfluence.trees import read_ensemble, refit_leaf_values
    >>> X, y = load_diabetes(return_X_y=True)
    >>> ensemble = read_ensemble(GradientBoostingRegressor(n_estimators=5).fit(X, y), X, y)
    >>> values, baseline, raw = refit_leaf_values(ensemble, ensemble.train_weight)
    >>> bool(np.allclose(values[0], ensemble.leaf_values))
    True
    """
    weight = np.atleast_2d(np.asarray(weight, dtype=np.float64))
    b = weight.shape[0]
    Y = ensemble.target_matrix()
    K = ensemble.n_outputs
    if ensemble.baseline_is_fitted:
        baseline = intercept_only(ensemble.objective, Y, weight)
    else:
        baseline = np.broadcast_to(ensemble.baseline, (b, K)).copy()
    # Row-major over training rows: (K, n, b) raw scores, so that each tree's leaf sums and
    # gathers are products with its sparse (n × leaves) indicator.
    Wt = np.ascontiguousarray(weight.T)  # (n, b)
    YK = np.ascontiguousarray(Y.T)[:, :, None]  # (K, n, 1)
    raw = np.repeat(np.ascontiguousarray(baseline.T)[:, None, :], ensemble.n_train, axis=1)
    values = np.empty((len(ensemble.leaf_values), b))
    dtype = np.dtype(ensemble.gradient_dtype) if library_precision else None
    # One refit (the check): leaf sums and gathers by bincount and fancy indexing, which
    # is several times faster than building every tree's sparse indicator for one column.
    dense = b == 1
    for it in range(ensemble.n_iter):
        g, h = loss_gradient_hessian_kn(ensemble.objective, raw, YK)
        if ensemble.min_hessian > 0:
            h = np.maximum(h, ensemble.min_hessian)
        for k in range(K):
            if dense:
                tree = it * K + k
                start, stop = ensemble.leaf_offsets[tree], ensemble.leaf_offsets[tree + 1]
            else:
                start, stop, M, MT = ensemble.tree_indicator(it, k)
            wg, wh = Wt * g[k], Wt * h[k]
            if dtype is not None and dtype != np.float64:
                s = ensemble.hessian_scale
                if ensemble.round_gradient_before_weight:
                    wg = Wt * g[k].astype(dtype).astype(np.float64)
                wg = wg.astype(dtype).astype(np.float64)
                wh = (s * wh).astype(dtype).astype(np.float64) / s
            if dense:
                local = ensemble.train_leaves[:, it, k] - start
                G = np.bincount(local, weights=wg[:, 0], minlength=stop - start)[:, None]
                H = np.bincount(local, weights=wh[:, 0], minlength=stop - start)[:, None]
            else:
                G, H = MT @ wg, MT @ wh
            values[start:stop] = leaf_rule(ensemble, G, H)
            if ensemble.single_leaf_is_zero and stop - start == 1:
                values[start:stop] = 0.0
        for k in range(K):
            if dense:
                raw[k] += values[ensemble.train_leaves[:, it, k]]
            else:
                start, stop, M, _ = ensemble.tree_indicator(it, k)
                raw[k] += M @ values[start:stop]
    return values.T, baseline, raw.transpose(2, 1, 0)


def loss_gradient_hessian_kn(objective, raw, YK):
    """:func:`loss_gradient_hessian` in the (K, n, b) layout (outputs first), YK (K, n, 1)."""
    if objective == "squared_error":
        return raw - YK, np.ones_like(raw)
    if objective == "binary_logistic":
        p = expit(raw)
    else:
        p = np.exp(raw - raw.max(axis=0, keepdims=True))
        p /= p.sum(axis=0, keepdims=True)
    return p - YK, p * (1.0 - p)


_SHARED_TRAJECTORY_MAX = 2**19  # row-iteration-outputs up to which the check's is kept


def model_trajectory(ensemble):
    """The model's raw scores before each iteration and the per-row gradients and (unfloored)
    Hessians there, ``(raw (T + 1, n, K), g (T, n, K), h (T, n, K))``, as the leaf check
    computed them (taken from the ensemble: computed once); None when not kept (large
    models, or the ensemble's leaves or baseline replaced since)."""
    kept = ensemble.__dict__.pop("_model_trajectory", None)
    if kept is None:
        return None
    (values, leaves, baseline), raw, g, h = kept
    same = values is ensemble.leaf_values and leaves is ensemble.train_leaves
    if not same or not np.array_equal(baseline, ensemble.baseline):
        return None
    return raw, g, h


def model_leaf_rule(ensemble, *, block=2**21):
    """Every leaf value by the rule, from the gradients at the model's own raw scores.

    Each tree's leaves recomputed from the training rows' gradients and Hessians at the raw
    scores the model itself had before that iteration (its baseline plus its earlier
    leaves), in the library's precision: what the library computed when it grew the tree.
    Vectorised over the iterations (one bincount over the global leaf ids per block of
    iterations of about ``block`` row-outputs), O(n · T · K) time, O(block) memory.

    Parameters
    ----------
    ensemble : TreeEnsemble
    block : int, default=2**21
        Row-iteration-outputs per vectorised block (memory ~10 doubles each).

    Returns
    -------
    leaf_values : ndarray of shape (n_leaves_total,)

    See Also
    --------
    check_ensemble : compares these with the model's leaves.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.ensemble import GradientBoostingRegressor
    >>> from skinfluence.trees import read_ensemble
    >>> from skinfluence.trees._ensemble import model_leaf_rule
    >>> X, y = load_diabetes(return_X_y=True)
    >>> ensemble = read_ensemble(GradientBoostingRegressor(n_estimators=5).fit(X, y), X, y)
    >>> bool(np.allclose(model_leaf_rule(ensemble), ensemble.leaf_values))
    True
    """
    n, T, K = ensemble.train_leaves.shape
    L = len(ensemble.leaf_values)
    w = ensemble.train_weight[:, None]
    Y = ensemble.target_matrix()
    dtype = np.dtype(ensemble.gradient_dtype)
    s = ensemble.hessian_scale
    G, H = np.zeros(L), np.zeros(L)
    raw = np.broadcast_to(ensemble.baseline, (n, K))
    step = max(1, block // max(1, n * K))
    for t0 in range(0, T, step):
        leaves = ensemble.train_leaves[:, t0 : t0 + step].transpose(1, 0, 2)  # (b, n, K)
        before = np.empty((len(leaves) + 1, n, K))
        before[0] = raw
        before[1:] = ensemble.leaf_values[leaves]
        np.cumsum(before, axis=0, out=before)  # the model's raw scores, in boosting order
        raw = before[-1]
        g, h = loss_gradient_hessian(ensemble.objective, before[:-1], Y)
        if step >= T and n * T * K <= _SHARED_TRAJECTORY_MAX:
            # one block: the float64 trajectory the methods' Trajectory recomputes otherwise
            ensemble.__dict__["_model_trajectory"] = (
                (ensemble.leaf_values, ensemble.train_leaves, ensemble.baseline),
                before,
                g,
                h,
            )
        if ensemble.min_hessian > 0:
            h = np.maximum(h, ensemble.min_hessian)
        wg, wh = w * g, w * h
        if dtype != np.float64:
            if ensemble.round_gradient_before_weight:
                wg = w * g.astype(dtype).astype(np.float64)
            wg = wg.astype(dtype).astype(np.float64)
            wh = (s * wh).astype(dtype).astype(np.float64) / s
        flat = leaves.ravel()
        G += np.bincount(flat, weights=wg.ravel(), minlength=L)
        H += np.bincount(flat, weights=wh.ravel(), minlength=L)
    values = leaf_rule(ensemble, G, H)
    if ensemble.single_leaf_is_zero:
        values[np.diff(ensemble.leaf_offsets)[ensemble.leaf_tree] == 1] = 0.0
    return values


def check_ensemble(ensemble, *, raw_train=None, tolerance=None):
    """Check that the representation reproduces the model: every leaf and raw score.

    Every leaf value is recomputed from the rule and the training data at the training
    weights, with each tree's gradients taken at the raw scores the model had before it
    (:func:`model_leaf_rule`, in the library's precision), and compared with the stored one;
    the fitted baseline with the intercept-only optimum; the raw scores
    ``baseline + Σ leaves`` with the model's own. Together: the fixed-structure refit at the
    training weights (``refit_leaf_values``) reproduces the model, checked one tree at a
    time, in O(n · T · K) vectorised over the iterations.

    Parameters
    ----------
    ensemble : TreeEnsemble
    raw_train : ndarray of shape (n_train, K), default=None
        The model's raw scores on the training rows; default ``ensemble.raw_train``.
    tolerance : float, default=None
        Relative tolerance, of the largest absolute leaf value (at least 1e-6) and of the
        largest absolute raw score (at least 1); default ``ensemble.tolerance``.

    Returns
    -------
    max_errors : dict
        ``{"leaf_values": ..., "raw_train": ..., "baseline": ...}``, relative errors.

    Raises
    ------
    TypeError
        When a recomputed value differs: the model uses an option the leaf-value rule does
        not describe.

    See Also
    --------
    read_ensemble : reads a model and calls this check.
    model_leaf_rule : the recomputation it uses.
    refit_leaf_values : the refit it stands for.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.ensemble import GradientBoostingRegressor
    >>> from skinfluence.trees import check_ensemble, read_ensemble
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = GradientBoostingRegressor(n_estimators=5, random_state=0).fit(X, y)
    >>> errors = check_ensemble(read_ensemble(model, X, y))
    >>> max(errors.values()) < 1e-12
    True
    """
    tol = ensemble.tolerance if tolerance is None else tolerance
    raw_train = ensemble.raw_train if raw_train is None else raw_train
    values = model_leaf_rule(ensemble)
    baseline = None
    if ensemble.baseline_is_fitted:
        baseline = intercept_only(
            ensemble.objective, ensemble.target_matrix(), ensemble.train_weight[None]
        )
    # Relative to the largest leaf, but leaves below 1e-6 (a model that learnt ~nothing)
    # are compared absolutely: their recomputation is rounding of sums that cancel.
    scale = max(np.abs(ensemble.leaf_values).max(initial=0.0), 1e-6)
    errors = {"leaf_values": np.abs(values - ensemble.leaf_values).max(initial=0.0) / scale}
    if ensemble.baseline_is_fitted:
        b_scale = max(np.abs(ensemble.baseline).max(), 1.0)
        b_err = _baseline_error(ensemble, baseline[0]) / b_scale
        errors["baseline"] = b_err
    if raw_train is not None:
        rows = ensemble.raw_train_rows if raw_train is ensemble.raw_train else None
        leaves = ensemble.train_leaves if rows is None else ensemble.train_leaves[rows]
        raw = ensemble.raw_predict(leaves)
        raw_train = np.asarray(raw_train, dtype=np.float64).reshape(raw.shape)
        r_scale = max(np.abs(raw_train).max(initial=0.0), 1.0)
        errors["raw_train"] = np.abs(raw - raw_train).max(initial=0.0) / r_scale
    errors = {key: float(err) for key, err in errors.items()}
    bad = {key: err for key, err in errors.items() if not err <= tol}
    if bad:
        detail = ", ".join(f"{key} off by {err:.2g} (relative)" for key, err in bad.items())
        raise TypeError(
            f"The {ensemble.library or 'tree'} model is not reproduced by the fixed-structure "
            f"leaf-value rule ({detail}; tolerance {tol:g}): it uses an option the tree-"
            "influence methods do not model (e.g. row subsampling, monotonic constraints that "
            "clipped leaf values, a custom loss or init). Use LeaveOneOutScorer or "
            "MemorizationScorer (retraining) for this model."
        )
    return errors


def _baseline_error(ensemble, baseline):
    """Error of a recomputed baseline; multinomial baselines are equal up to a shift."""
    diff = baseline - ensemble.baseline
    if ensemble.objective == "multinomial":
        diff = diff - diff.mean()
    return np.abs(diff).max()
