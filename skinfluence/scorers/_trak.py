"""``TRAKScorer``: random-projection attribution over an ensemble of models (Park et al. 2023).

Per-sample gradients are projected to k dimensions chunk by chunk with a seeded random
matrix P (p × k) generated tile by tile from its seed (never the n × p gradient matrix, nor
P whole when p·k is large); the kernel is inverted in the projected space and the scores are
averaged over independently trained models.

For a torch net (skorch, ``TorchModule``) all of this runs in torch on the net's device
(:mod:`skinfluence.inverse._backend`): per-sample gradients from
``TorchGradientMatrix.iter_tensors``, P's tiles drawn with numpy from the same seeds and
moved there (so the numbers are the numpy path's to rounding), the kernel and its factor
kept there; only the result blocks and n-vectors come back. Other models use numpy.
"""

import numbers

import numpy as np
from sklearn.base import clone
from sklearn.utils import _safe_indexing, gen_batches
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.parallel import Parallel, delayed

from .._utils._docstring import inject_docs
from .._utils._estimators import is_frozen, is_skorch_net
from .._utils._progress import progress
from .._utils._random import draw_seeds, set_random_states
from .._validation import shared_constraints
from ..inverse._backend import NUMPY, backend_for
from ..models import adapter_for
from ..models._curvature import with_curvature
from ._base import BaseInfluenceScorer, sample_weight_param

__all__ = ["RandomProjection", "TRAKScorer"]

_TILE_ROWS = 4096  # parameters per tile of P
_TILE_COLS = 256  # projected dimensions per tile of P
_CACHE_ENTRIES = 1 << 22  # P is kept whole (32 MiB of float64) when p·k is at most this


class RandomProjection:
    """A seeded p × k random projection, generated tile by tile from its seed.

    Tile (a, b) of P (parameters ``a·4096 …``, dimensions ``b·256 …``) is drawn from
    ``numpy.random.default_rng([seed, a, b])``, so any block of rows or columns is
    reproducible without the rest; P is kept whole only when p·k ≤ 2²² entries. Entries are
    scaled so that E[P Pᵀ] = I: inner products are preserved in expectation
    (Johnson–Lindenstrauss), ``⟨Pᵀu, Pᵀv⟩ = ⟨u, v⟩ ± O(‖u‖‖v‖/√k)``.

    Parameters
    ----------
    n_params : int
        p, the dimension projected from.
    projection_dim : int
        k, the dimension projected to.
    kind : {"gaussian", "sparse-sign"}, default="gaussian"
        N(0, 1/k) entries, or Achlioptas' sparse signs ``±√(3/k)`` with probability 1/6
        each and 0 with probability 2/3.
    seed : int, default=0
        The seed of every tile.

    See Also
    --------
    TRAKScorer : projects per-sample gradients with it.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.scorers import RandomProjection
    >>> P = RandomProjection(1000, 500, seed=0)
    >>> G = np.random.default_rng(0).normal(size=(3, 1000))
    >>> P.project(G).shape
    (3, 500)
    """

    def __init__(self, n_params, projection_dim, *, kind="gaussian", seed=0):
        self.n_params = int(n_params)
        self.projection_dim = int(projection_dim)
        self.kind = kind
        self.seed = int(seed)
        self._whole = None
        self._on_device = {}

    def __getstate__(self):
        return {**self.__dict__, "_whole": None, "_on_device": {}}

    def _tile(self, a, b):
        rows = min(_TILE_ROWS, self.n_params - a * _TILE_ROWS)
        cols = min(_TILE_COLS, self.projection_dim - b * _TILE_COLS)
        rng = np.random.default_rng([self.seed, a, b])
        if self.kind == "gaussian":
            return rng.standard_normal((rows, cols)) / np.sqrt(self.projection_dim)
        draws = rng.integers(0, 6, size=(rows, cols))
        tile = np.zeros((rows, cols))
        scale = np.sqrt(3.0 / self.projection_dim)
        tile[draws == 0] = scale
        tile[draws == 1] = -scale
        return tile

    def _n_tiles(self):
        return (
            -(-self.n_params // _TILE_ROWS),
            -(-self.projection_dim // _TILE_COLS),
        )

    def dense(self):
        """Return P as a dense array (for tests and small p·k).

        Returns
        -------
        P : ndarray of shape (n_params, projection_dim)
        """
        if self._whole is not None:
            return self._whole
        n_a, n_b = self._n_tiles()
        whole = np.block([[self._tile(a, b) for b in range(n_b)] for a in range(n_a)])
        if self.n_params * self.projection_dim <= _CACHE_ENTRIES:
            self._whole = whole
        return whole

    def columns(self, b):
        """Return the columns ``b·256 …`` of P (tile column ``b``).

        Parameters
        ----------
        b : int
            The tile column, in ``range(len(column_blocks()))``.

        Returns
        -------
        block : ndarray of shape (n_params, at most 256)
        """
        if self._cached():
            return self.dense()[:, b * _TILE_COLS : (b + 1) * _TILE_COLS]
        return np.vstack([self._tile(a, b) for a in range(self._n_tiles()[0])])

    def column_blocks(self):
        """Return the column slices of the tiles, in order.

        Returns
        -------
        slices : list of slice
        """
        return [
            slice(b * _TILE_COLS, min((b + 1) * _TILE_COLS, self.projection_dim))
            for b in range(self._n_tiles()[1])
        ]

    def _cached(self):
        return self.n_params * self.projection_dim <= _CACHE_ENTRIES

    def project(self, G):
        """Return ``G @ P``, tile by tile: O(m p k) time, O(m k) memory besides a tile.

        Parameters
        ----------
        G : array-like of shape (m, n_params)
            Rows to project (e.g. per-sample gradients).

        Returns
        -------
        Z : ndarray of shape (m, projection_dim)
        """
        G = np.asarray(G, dtype=np.float64)
        if self._cached():
            return G @ self.dense()
        n_a, n_b = self._n_tiles()
        out = np.zeros((G.shape[0], self.projection_dim))
        for a in range(n_a):
            Ga = G[:, a * _TILE_ROWS : (a + 1) * _TILE_ROWS]
            for b in range(n_b):
                out[:, b * _TILE_COLS : (b + 1) * _TILE_COLS] += Ga @ self._tile(a, b)
        return out

    def _device_whole(self, device):
        """P whole on ``device`` (cached there when p·k ≤ 2²², like the host copy)."""
        import torch

        cache = self.__dict__.setdefault("_on_device", {})
        key = str(device)
        if key not in cache:
            cache[key] = torch.as_tensor(self.dense(), device=device)
        return cache[key]

    def _tile_tensor(self, a, b, device):
        import torch

        return torch.as_tensor(self._tile(a, b), device=device)

    def columns_tensor(self, b, device):
        """Return :meth:`columns` as a float64 tensor on ``device`` (tiles moved there once).

        Parameters
        ----------
        b : int
            The tile column, in ``range(len(column_blocks()))``.
        device : torch.device or str
            Where the block is wanted.

        Returns
        -------
        block : torch.Tensor of shape (n_params, at most 256)
        """
        import torch

        if self._cached():
            return self._device_whole(device)[:, b * _TILE_COLS : (b + 1) * _TILE_COLS]
        return torch.cat([self._tile_tensor(a, b, device) for a in range(self._n_tiles()[0])])

    def project_tensor(self, G):
        """Return ``G @ P`` for a torch tensor G (m, p), on G's device, in float64.

        The same matrix as :meth:`project` (tiles drawn with numpy from the same seeds and
        moved to the device, or P kept there whole when p·k ≤ 2²²): the two agree to
        rounding. Nothing is copied to the host; O(m k) device memory besides a tile.

        Parameters
        ----------
        G : torch.Tensor of shape (m, n_params)

        Returns
        -------
        Z : torch.Tensor of shape (m, projection_dim)
        """
        import torch

        G = G.detach().to(torch.float64)
        if self._cached():
            return G @ self._device_whole(G.device)
        n_a, n_b = self._n_tiles()
        out = torch.zeros((G.shape[0], self.projection_dim), dtype=torch.float64, device=G.device)
        for a in range(n_a):
            Ga = G[:, a * _TILE_ROWS : (a + 1) * _TILE_ROWS]
            for b in range(n_b):
                out[:, b * _TILE_COLS : (b + 1) * _TILE_COLS] += Ga @ self._tile_tensor(
                    a, b, G.device
                )
        return out


def _one_minus_p(losses):
    """``1 − p_y`` from the log loss ``ℓ = −log p_y``, without cancellation."""
    return -np.expm1(-np.asarray(losses, dtype=np.float64))


def _check_log_loss(adapter, estimator):
    link = getattr(adapter, "output_link", None)
    if link not in ("logistic", "softmax"):
        raise ValueError(
            "kernel='trak' differentiates the margin log(p/(1 − p)) of the true class and needs "
            "a classifier trained with the log loss (cross-entropy); "
            f"{type(estimator).__name__} has output link {link!r}. Use kernel='gauss-newton', "
            "which works on the training loss of any model with a Gauss–Newton matrix."
        )


def _projected(adapter, X, y, projection, chunk):
    """Projected per-sample loss gradients (n, k) and the losses (n,), chunk by chunk."""
    n = len(y)
    out = np.empty((n, projection.projection_dim))
    losses = np.empty(n)
    for rows in gen_batches(n, chunk):
        Xr, yr = _safe_indexing(X, rows), y[rows]
        out[rows] = projection.project(adapter.gradients(Xr, yr).dense_rows(slice(None)))
        losses[rows] = adapter.loss(Xr, yr)
    return out, losses


def _features(adapter, X, y, projection, chunk, kernel):
    """The features of the rows: projected margin gradients (trak) or loss gradients, and
    the out-to-loss weights ``1 − p`` (trak) or ones."""
    psi, losses = _projected(adapter, X, y, projection, chunk)
    if kernel != "trak":
        return psi, np.ones(len(y))
    q = _one_minus_p(losses)
    # ∇f = −∇ℓ / (1 − p) for f = log p − log(1 − p) and ℓ = −log p; a row with p = 1 to
    # rounding has ∇ℓ = 0 too and is given a zero feature.
    safe = q > np.finfo(np.float64).tiny
    phi = np.zeros_like(psi)
    phi[safe] = -psi[safe] / q[safe, None]
    return phi, q


def _device(adapter):
    """The torch backend of a torch net (the device path), else None (numpy)."""
    backend = backend_for(adapter)
    if backend.name == "numpy" or not hasattr(adapter, "_batch_losses"):
        return None
    return backend


def _projected_tensors(adapter, X, y, projection, chunk):
    """:func:`_projected` on the net's device: per-sample gradients
    (``TorchGradientMatrix.iter_tensors``), their projections and the losses stay there."""
    import torch

    G = adapter.gradients(X, y)
    n, k = G.shape[0], projection.projection_dim
    device = adapter.device
    out = torch.empty((n, k), dtype=torch.float64, device=device)
    losses = torch.empty(n, dtype=torch.float64, device=device)
    for rows, block in G.iter_tensors(chunk):
        out[rows] = projection.project_tensor(block)
        with torch.no_grad():
            batch = adapter._batch_losses(adapter._theta, G.Xt[rows], G.t[rows])
        losses[rows] = batch.detach().to(torch.float64)
    return out, losses


def _features_tensors(adapter, X, y, projection, chunk, kernel):
    """:func:`_features` on the net's device (tensors in float64)."""
    import torch

    psi, losses = _projected_tensors(adapter, X, y, projection, chunk)
    if kernel != "trak":
        return psi, torch.ones_like(losses)
    q = -torch.expm1(-losses)
    safe = q > np.finfo(np.float64).tiny
    phi = torch.where(safe[:, None], -psi / torch.where(safe, q, 1.0)[:, None], 0.0)
    return phi, q


class KernelInverse:
    """``x ↦ x (K + λI)⁺`` for the k × k kernel of one model, in the cheapest exact form.

    Three routes, chosen in :func:`kernel_inverse`: the n × n Gram matrix of the training
    features when n < k (``K = ΦᵀΦ`` has rank ≤ n: ``V diag(1/(s² + λ)) Vᵀ`` on its range
    plus ``(I − VVᵀ)/λ`` off it; O(n² k + n³)); a Cholesky factor when K + λI is expected to
    be positive definite (O(k³/3)); else an eigendecomposition whose eigenvalues below
    k·eps times the largest are dropped (the pseudo-inverse; O(k³), several times a
    Cholesky's cost).
    """

    def __init__(self, *, factor=None, basis=None, inverse_values=None, off_range=0.0):
        self.factor = factor
        self.basis = basis
        self.inverse_values = inverse_values
        self.off_range = off_range

    def apply(self, X):
        """``X (K + λI)⁺`` for X of shape (m, k)."""
        if self.factor is not None:
            if not isinstance(self.factor, np.ndarray):  # a torch factor: solve on its device
                import torch

                return torch.cholesky_solve(X.T, self.factor).T
            from scipy.linalg import cho_solve

            return cho_solve((self.factor, True), X.T).T
        XV = X @ self.basis
        out = (XV * self.inverse_values) @ self.basis.T
        if self.off_range:
            out += (X - XV @ self.basis.T) * self.off_range
        return out


def _eigen_inverse(vals, vecs, damping):
    vals = vals + damping
    top = float(vals.max()) if len(vals) else 0.0
    cutoff = max(top, 0.0) * max(len(vals), 1) * np.finfo(np.float64).eps
    keep = vals > cutoff
    return vecs[:, keep], 1.0 / vals[keep]


def kernel_inverse(damping, *, K=None, features=None, full_rank=False, xp=NUMPY):
    """The :class:`KernelInverse` of ``K`` (k × k) or of ``featuresᵀ features`` (n × k), in
    the backend ``xp`` (numpy, or torch on the net's device, where the factor stays)."""
    if features is not None and features.shape[0] < features.shape[1]:
        vals, U = xp.eigh(features @ features.T)
        U, inv = _eigen_inverse(vals, U, 0.0)
        s2 = 1.0 / inv
        basis = (features.T @ U) / xp.sqrt(s2)
        return KernelInverse(
            basis=basis,
            inverse_values=1.0 / (s2 + damping),
            off_range=1.0 / damping if damping > 0 else 0.0,
        )
    if K is None:
        K = features.T @ features
    K = (K + K.T) / 2
    if damping > 0 or full_rank:
        factor = xp.cholesky(K + damping * xp.eye(len(K)))
        if factor is not None:
            return KernelInverse(factor=factor)
    vals, vecs = xp.eigh(K)
    basis, inv = _eigen_inverse(vals, vecs, damping)
    return KernelInverse(basis=basis, inverse_values=inv)


def _curvature_operator(adapter, X, y, sample_weight):
    try:
        curvature = with_curvature(adapter, "gauss-newton")
    except TypeError as exc:
        raise TypeError(
            f"kernel='gauss-newton' needs a model family with a Gauss–Newton matrix; "
            f"{type(adapter).__name__} has none. Use kernel='trak'."
        ) from exc
    return curvature.hvp_operator(X, y, sample_weight=sample_weight)


def _ggn_kernel_tensor(adapter, X, y, sample_weight, projection):
    """:func:`_ggn_kernel` on the net's device: each tile column of P moved there once, the
    products and their projections made there, K (k × k) kept there."""
    import torch

    operator = _curvature_operator(adapter, X, y, sample_weight)
    k, device = projection.projection_dim, adapter.device
    K = torch.empty((k, k), dtype=torch.float64, device=device)
    for b, cols in enumerate(projection.column_blocks()):
        GP = operator(projection.columns_tensor(b, device)).reshape(projection.n_params, -1)
        K[cols] = projection.project_tensor(GP.T)
    return K


def _ggn_kernel(adapter, X, y, sample_weight, projection):
    """``Pᵀ G P`` of the training objective's Gauss–Newton matrix (weight decay included):
    one block of products ``G P_b`` per tile column, projected. O(n p k + p k²)."""
    operator = _curvature_operator(adapter, X, y, sample_weight)
    k = projection.projection_dim
    K = np.empty((k, k))
    for b, cols in enumerate(projection.column_blocks()):
        GP = np.asarray(operator(projection.columns(b))).reshape(projection.n_params, -1)
        K[cols] = projection.project(GP.T)
    return K


#: ``damping="auto"``: this fraction of the kernel's mean eigenvalue ``trace(K)/k``.
#: "trak": measured (benchmarks/bench_trak_lds.py, digits MLP, n = 500): the LDS with 5
#: models was 0.39 / 0.44 / 0.55 / 0.55 / 0.50 / 0.39 at 0.01 / 0.1 / 1 / 3 / 10 / 1000
#: (k = 2048 and 512 alike); undamped it collapsed to 0.12 at k = 512 ≈ n.
#: "gauss-newton": InfluenceScorer's rule (1e-3 of the mean eigenvalue), in leave-one-out units.
AUTO_DAMPING = {"trak": 1.0, "gauss-newton": 1e-3}


def _damping(damping, mean_eigenvalue, fraction):
    if isinstance(damping, str):  # "auto"
        return float(fraction * mean_eigenvalue)
    return float(damping)


def _fit_model(estimator, seed, X, y, sample_weight):
    if is_frozen(estimator):
        return estimator
    model = set_random_states(clone(estimator), int(seed))
    fit_params = {} if sample_weight is None else sample_weight_param(model, sample_weight)
    if is_skorch_net(model):
        import torch  # skorch is installed, hence torch

        torch.manual_seed(int(seed))
    return model.fit(X, y, **fit_params)


def _fit_one(scorer, model_seed, projection_seed, X, y, sample_weight):
    """Train one model and compute its training features: what one ensemble member keeps."""
    model = _fit_model(scorer.estimator, model_seed, X, y, sample_weight)
    adapter = adapter_for(model)
    if scorer.kernel == "trak":
        _check_log_loss(adapter, model)
    projection = RandomProjection(
        adapter.n_params, scorer.projection_dim, kind=scorer.projection, seed=projection_seed
    )
    xp = _device(adapter)
    if xp is None:
        state = _fit_features(scorer, adapter, projection, X, y, sample_weight)
    else:
        state = _fit_features_tensor(scorer, adapter, projection, xp, X, y, sample_weight)
    return {"model": model, "adapter": adapter, "projection": projection, "backend": xp, **state}


def _fit_features_tensor(scorer, adapter, projection, xp, X, y, sample_weight):
    """:func:`_fit_features` on the net's device: only q and the self-influence (n values
    each) come back to the host; the kernel, its factor and the training features stay."""
    weights = xp.asarray(adapter.row_weights(y, sample_weight))
    phi, q = _features_tensors(adapter, X, y, projection, scorer._chunk, scorer.kernel)
    share = None
    k = scorer.projection_dim
    train = phi * weights[:, None]
    if scorer.kernel == "trak":
        features = phi * xp.sqrt(weights)[:, None]
        damping = _damping(scorer.damping, float((features**2).sum()) / k, AUTO_DAMPING["trak"])
        inverse = kernel_inverse(
            damping, features=features, full_rank=k <= min(len(y), adapter.n_params), xp=xp
        )
    else:
        K = _ggn_kernel_tensor(adapter, X, y, sample_weight, projection)
        damping = _damping(scorer.damping, float(K.trace()) / k, AUTO_DAMPING["gauss-newton"])
        inverse = kernel_inverse(damping, K=K, full_rank=k <= adapter.n_params, xp=xp)
        q_grad = adapter.penalty_share_gradient()
        if q_grad is not None:
            share = projection.project_tensor(xp.asarray(q_grad)[None, :])[0]
            train += xp.asarray(adapter.penalty_shares(y, sample_weight))[:, None] * share
    train_features = inverse.apply(train)
    return {
        "kernel_inverse": inverse,
        "damping": damping,
        "train_features": train_features,
        "share": share,
        "q": xp.to_numpy(q),
        "self_influence": xp.to_numpy((phi * train_features).sum(1)),
    }


def _fit_features(scorer, adapter, projection, X, y, sample_weight):
    """The fitted state of one model from its training features (numpy)."""
    weights = adapter.row_weights(y, sample_weight)
    phi, q = _features(adapter, X, y, projection, scorer._chunk, scorer.kernel)
    share = None
    k = scorer.projection_dim
    train = phi * weights[:, None]
    if scorer.kernel == "trak":
        features = phi * np.sqrt(weights)[:, None]
        damping = _damping(scorer.damping, np.sum(features**2) / k, AUTO_DAMPING["trak"])
        inverse = kernel_inverse(
            damping, features=features, full_rank=k <= min(len(y), adapter.n_params)
        )
    else:
        K = _ggn_kernel(adapter, X, y, sample_weight, projection)
        damping = _damping(scorer.damping, np.trace(K) / k, AUTO_DAMPING["gauss-newton"])
        inverse = kernel_inverse(damping, K=K, full_rank=k <= adapter.n_params)
        q_grad = adapter.penalty_share_gradient()
        if q_grad is not None:
            share = projection.project(np.asarray(q_grad, dtype=np.float64)[None, :])[0]
            train += adapter.penalty_shares(y, sample_weight)[:, None] * share
    train_features = inverse.apply(train)
    self_influence = np.einsum("ij,ij->i", phi, train_features)
    return {
        "kernel_inverse": inverse,
        "damping": damping,
        "train_features": train_features,
        "share": share,
        "q": q,
        "self_influence": self_influence,
    }


@inject_docs
class TRAKScorer(BaseInfluenceScorer):
    """TRAK: attribution by randomly projected gradients over an ensemble of models.

    For each of ``n_models`` independently trained models (clones of ``estimator`` with
    their own seeds), every training row's per-sample gradient is projected to k =
    ``projection_dim`` dimensions, ``φ_i = Pᵀ ∇f_i`` with a seeded random P (p × k), and

    ``influence[t, i] = Q̄_i · mean_m [ φ_tᵀ (Φᵀ W Φ + λ I)⁻¹ φ_i w_i ]``

    (Park et al. 2023, Algorithm 1, without the soft-thresholding step), where Φ is the
    n × k matrix of the training features, W the row weights and λ = ``damping``.

    With ``kernel="trak"`` (the paper's), f is the margin ``log(p/(1 − p))`` of the true
    class (the classifier's probability p of it) on both sides, and ``Q̄_i`` is the mean over
    the models of the "out-to-loss" weight ``1 − p_i``, the factor that turns a row's margin
    gradient back into its loss gradient (``∇ℓ_i = −(1 − p_i) ∇f_i`` for the log loss). The
    kernel ΦᵀWΦ is the Gauss–Newton matrix of the margins without the loss's curvature
    ``p(1 − p)`` and without the weight decay, as in the paper. ``influence[t, i]`` is then
    the predicted decrease of test row t's margin when row i is removed, ``f_t(θ) −
    f_t(θ₋ᵢ)`` (positive = row i helps z_t): margin units, TRAK's own, not those of
    :class:`InfluenceScorer`.

    With ``kernel="gauss-newton"``, f is the loss, ``Q̄ = 1``, the training side is
    ``w_i ∇ℓ_i + c_i ∇q`` (the penalty share, as in :class:`InfluenceScorer`) and the
    kernel is ``Pᵀ G P`` with G the Gauss–Newton matrix of the training objective (weight
    decay included): leave-one-out units, ``L(z_t; θ₋ᵢ) − L(z_t; θ)``. With ``k ≥ p`` and
    ``damping=0`` it *is* ``InfluenceScorer(method="direct", hessian="gauss-newton",
    damping=0)`` (``P (PᵀGP)⁺ Pᵀ = G⁻¹`` when P has rank p); with ``k < p`` it solves G in
    the random k-dimensional subspace.

    ``scores_`` is each row's self-influence (on its own margin, or loss): large for
    mislabelled and atypical rows (higher = more suspect).

    Read more in the :ref:`User Guide <trak>`.

    Parameters
    ----------
    %(estimator_fitted)s
        A model with a gradient adapter: skorch nets, ``TorchModule``, scikit-learn's
        ``MLPClassifier`` and linear models. With a ``FrozenEstimator``, ``n_models`` must
        be 1.
    projection_dim : int, default=2048
        k, the dimension the gradients are projected to. A larger k is closer to the
        unprojected kernel and costs proportionally more.
    projection : {"gaussian", "sparse-sign"}, default="gaussian"
        N(0, 1/k) entries, or sparse signs ``±√(3/k)`` (probability 1/6 each, else 0;
        Achlioptas 2003). Either is generated tile by tile from its seed
        (:class:`~skinfluence.scorers.RandomProjection`).
    n_models : int, default=1
        Models trained from different seeds (every ``random_state`` of the clone, and
        ``torch.manual_seed`` for skorch nets), each with its own projection; their scores
        are averaged. The paper's attribution quality rises with it (5-10 is typical).
    kernel : {"trak", "gauss-newton"}, default="trak"
        "trak": margin gradients, kernel ΦᵀΦ and the out-to-loss weights (classifiers
        trained with the log loss). "gauss-newton": loss gradients and the projected
        Gauss–Newton matrix of the training objective, in leave-one-out units (any model
        with a Gauss–Newton matrix: nets, linear models).
    damping : float or "auto", default="auto"
        λ added to the k × k kernel. "auto": the kernel's mean eigenvalue ``trace(K)/k``
        for ``kernel="trak"`` (chosen by measurement: on a digits MLP it raised the LDS
        with 5 models from 0.39 undamped to 0.55, and undamped TRAK collapses where k is
        close to n), ``1e-3 trace(K)/k`` for ``kernel="gauss-newton"`` (the rule of
        :class:`InfluenceScorer`). 0: the pseudo-inverse (eigenvalues below k·eps times
        the largest dropped), as in the paper, which has k ≪ n.
    %(chunk_size)s
        Rows whose dense gradients (chunk × p) are formed at once (default 512).
    %(random_state)s
    %(n_jobs)s
        The models are trained and projected in parallel.
    %(verbose)s
        The loop is over the models.

    Attributes
    ----------
    estimator_ : estimator
        The first fitted model.
    estimators_ : list of estimators
        The ``n_models`` fitted models.
    projections_ : list of RandomProjection
        The projection of each model.
    kernel_inverses_ : list of KernelInverse
        ``x ↦ x (ΦᵀWΦ + λI)⁺`` (or ``(PᵀGP + λI)⁺``) of each model: a Cholesky factor,
        or an eigenbasis of the kernel's range (from the n × n Gram matrix when n < k);
        torch tensors on the net's device for a torch net.
    train_features_ : list of ndarray of shape (n_train, projection_dim)
        ``w_i φ_iᵀ (ΦᵀWΦ + λI)⁺`` of each model (rows of the training side); a float64
        torch tensor on the net's device for a torch net.
    damping_ : ndarray of shape (n_models,)
        The λ of each model.
    out_to_loss_ : ndarray of shape (n_train,)
        Q̄, the mean of ``1 − p_i`` over the models (ones for ``kernel="gauss-newton"``).
    scores_ : ndarray of shape (n_train,)
        Self-influence of each training row.
    n_params_ : int
        p, the parameters of each model.
    n_features_in_ : int

    See Also
    --------
    InfluenceScorer : influence functions on the full curvature (the k ≥ p limit).
    TracInScorer : gradient inner products without a kernel.

    Notes
    -----
    Cost per model, with n training rows, m test rows, p parameters and k =
    ``projection_dim``: the training of the model; ``fit`` O(n p k) for the projections
    (one per-sample gradient per row) plus the kernel's inverse: O(n² k + n³) from the
    n × n Gram matrix when n < k, else O(n k² + k³) (a Cholesky factor; an
    eigendecomposition, several times slower, only for a singular kernel with
    ``damping=0``); ``kernel="gauss-newton"`` forms ``PᵀGP`` by k Gauss–Newton products,
    O(n p k + p k²). ``influence`` O(m p k + m n k). Memory: O(chunk · p) for the gradients
    being projected and O(p k) for P only when p·k ≤ 2²² (else one 4096 × 256 tile at a
    time, regenerated from the seed); the fitted state is O(n k + k · min(n, k)) per model,
    O(n_models · n k) in all for k ≤ n, besides the models. The n × p gradient matrix is
    never formed.

    On a torch net (a skorch net or ``TorchModule``, on a GPU or the CPU) the gradients,
    their projections, the kernel and its Cholesky factor (or eigenbasis) are computed in
    torch, in float64, on the net's device: device memory O(chunk · p) for a gradient
    block, O(k · chunk + k²) for its projection and the kernel (O(n² + n k) on the Gram
    route), O(p k) for P when p·k ≤ 2²² (else one tile at a time, drawn on the host from
    its seed and moved there), and the fitted O(n k) per model. Only the (test chunk ×
    n) influence blocks and the n-vectors (``scores_``, ``out_to_loss_``) come back to the
    host. P is the same matrix as on the numpy path (other models): the two paths agree to
    rounding.

    References
    ----------
    Park, S. M., Georgiev, K., Ilyas, A., Leclerc, G. & Madry, A. (2023). TRAK: Attributing
    model behavior at scale. ICML.

    Achlioptas, D. (2003). Database-friendly random projections: Johnson-Lindenstrauss with
    binary coins. Journal of Computer and System Sciences 66(4).

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import scale
    >>> from skinfluence import TRAKScorer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = scale(X)
    >>> scorer = TRAKScorer(LogisticRegression(), projection_dim=16, random_state=0)
    >>> scorer.fit(X, y).influence(X[:2], y[:2]).shape
    (2, 569)
    """

    score_name = "trak_self_influence"

    _parameter_constraints = {  # noqa: RUF012
        **BaseInfluenceScorer._parameter_constraints,
        **shared_constraints("chunk_size", "random_state", "n_jobs", "verbose"),
        "projection_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "projection": [StrOptions({"gaussian", "sparse-sign"})],
        "n_models": [Interval(numbers.Integral, 1, None, closed="left")],
        "kernel": [StrOptions({"trak", "gauss-newton"})],
        "damping": [Interval(numbers.Real, 0, None, closed="left"), StrOptions({"auto"})],
    }

    def __init__(
        self,
        estimator,
        *,
        projection_dim=2048,
        projection="gaussian",
        n_models=1,
        kernel="trak",
        damping="auto",
        chunk_size=None,
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.projection_dim = projection_dim
        self.projection = projection
        self.n_models = n_models
        self.kernel = kernel
        self.damping = damping
        self.chunk_size = chunk_size
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    @property
    def _chunk(self):
        return 512 if self.chunk_size is None else int(self.chunk_size)

    def _fit(self, X, y, sample_weight):
        if is_frozen(self.estimator) and self.n_models > 1:
            raise ValueError(
                f"n_models={self.n_models} needs models trained from different seeds; a "
                "FrozenEstimator is one fitted model. Pass the unfitted estimator, or "
                "n_models=1."
            )
        seeds = draw_seeds(self.random_state, 2 * self.n_models)
        jobs = Parallel(n_jobs=self.n_jobs, return_as="generator")(
            delayed(_fit_one)(self, seeds[2 * m], seeds[2 * m + 1], X, y, sample_weight)
            for m in range(self.n_models)
        )
        members = list(
            progress(
                jobs,
                verbose=self.verbose,
                total=self.n_models,
                desc=type(self).__name__,
                unit="model",
            )
        )
        self.estimators_ = [m["model"] for m in members]
        self.estimator_ = self.estimators_[0]
        self.adapters_ = [m["adapter"] for m in members]
        self.projections_ = [m["projection"] for m in members]
        self.kernel_inverses_ = [m["kernel_inverse"] for m in members]
        self.train_features_ = [m["train_features"] for m in members]
        self._shares = [m["share"] for m in members]
        self._backends = [m["backend"] for m in members]
        self.damping_ = np.array([m["damping"] for m in members])
        self.out_to_loss_ = np.mean([m["q"] for m in members], axis=0)
        self.n_params_ = self.adapters_[0].n_params
        self.scores_ = self.out_to_loss_ * np.mean([m["self_influence"] for m in members], axis=0)

    def _members(self):
        return zip(
            self.adapters_,
            self.projections_,
            self.kernel_inverses_,
            self.train_features_,
            self._shares,
            getattr(self, "_backends", [None] * len(self.adapters_)),
            strict=True,
        )

    def _score_samples(self, X, y):
        total, q_sum = np.zeros(len(y)), np.zeros(len(y))
        for adapter, projection, K_inv, _, share, xp in self._members():
            if xp is None:
                phi, q = _features(adapter, X, y, projection, self._chunk, self.kernel)
                weights = adapter.row_weights(y)
                shares = None if share is None else adapter.penalty_shares(y)
            else:  # on the net's device: n values of each come back
                phi, q = _features_tensors(adapter, X, y, projection, self._chunk, self.kernel)
                weights = xp.asarray(adapter.row_weights(y))
                shares = None if share is None else xp.asarray(adapter.penalty_shares(y))
            train = phi * weights[:, None]
            if share is not None:
                train += shares[:, None] * share
            if xp is None:
                total += np.einsum("ij,ij->i", K_inv.apply(phi), train)
                q_sum += q
            else:
                total += xp.to_numpy((K_inv.apply(phi) * train).sum(1))
                q_sum += xp.to_numpy(q)
        n = len(self.adapters_)
        return (q_sum / n) * (total / n)

    def _influence(self, X_test, y_test):
        out = np.zeros((len(y_test), len(self.out_to_loss_)))
        for adapter, projection, _, train, _, xp in self._members():
            if xp is None:
                phi, _ = _features(adapter, X_test, y_test, projection, self._chunk, self.kernel)
                out += phi @ train.T
                continue
            chunk = self._chunk
            phi, _ = _features_tensors(adapter, X_test, y_test, projection, chunk, self.kernel)
            for rows in gen_batches(len(y_test), chunk):  # (chunk × n) blocks to the host
                out[rows] += xp.to_numpy(phi[rows] @ train.T)
        out *= self.out_to_loss_ / len(self.adapters_)
        return out
