"""K-FAC and EK-FAC: the Gauss–Newton matrix by layer-wise Kronecker factors.

For a layer ``s = W̃ ã`` (``W̃ = [W, b]`` of shape d_out × d_in', ``ã = [a, 1]``) the block of
the Gauss–Newton matrix is ``Σ_i w_i Σ_k (g_ik g_ikᵀ) ⊗ (ã_i ã_iᵀ)`` (row-major
vectorisation of W̃; ``g_ik`` the output pseudo-gradients, ``Λ_i = Σ_k l_ik l_ikᵀ``). K-FAC
(Martens & Grosse 2015) approximates it by ``S ⊗ A`` with ``S = Σ_i w_i Σ_k g_ik g_ikᵀ`` and
``A = Σ_i w_i ã_i ã_iᵀ / Σ_i w_i``; with ``S = Q_S D_S Q_Sᵀ``, ``A = Q_A D_A Q_Aᵀ`` its inverse
plus damping is a change of basis and a division, ``V ↦ Q_S [(Q_Sᵀ V Q_A) / (D_S D_Aᵀ + λ)]
Q_Aᵀ``. EK-FAC (George et al. 2018) keeps the Kronecker eigenbasis and replaces ``D_S D_Aᵀ``
by the exact diagonal of the block in it, ``Σ_i w_i Σ_k (Q_Sᵀ g_ik)² (Q_Aᵀ ã_i)²ᵀ`` (a second
pass over the rows), which is the best diagonal in that basis. The penalty's diagonal is
added in the same basis (exact when, as usual, a layer's weight decay is one number).
Blocks of different layers are independent (block-diagonal); the parameters of no
factorable layer get their exact Gauss–Newton block, solved densely.

A layer applied at T locations per row (a Conv2d: ``s_t = W̃ ã_t`` on the unfolded patches;
Grosse & Martens 2016, "KFC") has the per-row pseudo-gradient ``Σ_t g_ikt ã_itᵀ``; KFC's
factors, under spatial homogeneity and uncorrelated derivatives, are ``A = Σ_i w_i Σ_t
ã_it ã_itᵀ / Σ_i w_i`` and ``S = Σ_i w_i Σ_k Σ_t g_ikt g_iktᵀ / T``; EK-FAC's diagonal is
``Σ_i w_i Σ_k (Q_Sᵀ [Σ_t g_ikt ã_itᵀ] Q_A)²``, exact again. The arithmetic runs on the
statistics' own arrays: numpy, or torch on the net's device (:class:`_Torch`), the same
numbers either way.
"""

import numbers
import warnings

import numpy as np
from sklearn.utils import check_random_state

from ..exceptions import IllConditionedHessianWarning
from ..models import GaussNewtonView, KroneckerFactored, with_curvature
from ._base import InverseHessianSolver, register_solver
from ._damping import auto_damping
from ._docstrings import with_shared_docstrings

#: Elements of per-row statistics EK-FAC keeps from its first pass for the second (256 MiB
#: of float64); beyond, the second pass recomputes them.
_KEPT_ELEMENTS = 2**25


class _Numpy:
    """The array operations of the factored solver, on numpy arrays (float64)."""

    def __init__(self):
        self.dtype = np.float64

    def asarray(self, x):
        return np.asarray(x, dtype=np.float64)

    def index(self, idx):
        return np.asarray(idx)

    def zeros(self, shape):
        return np.zeros(shape)

    def ones(self, shape):
        return np.ones(shape)

    def concat(self, parts, axis):
        return np.concatenate(parts, axis=axis)

    def eigh(self, M):
        return np.linalg.eigh((M + M.T) / 2)

    def clip0(self, x):
        return np.clip(x, 0, None)

    def repeat(self, w, times):
        return np.repeat(w, times)

    def to_numpy(self, x):
        return np.asarray(x, dtype=np.float64)


class _Torch(_Numpy):
    """The same operations in torch, on the device and in the dtype of the net's tensors."""

    def __init__(self, like):
        import torch

        self.torch, self.device, self.dtype = torch, like.device, like.dtype

    def asarray(self, x):
        if self.torch.is_tensor(x):
            return x.to(device=self.device, dtype=self.dtype)
        return self.torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=self.dtype,
                                    device=self.device)  # fmt: skip

    def index(self, idx):
        return self.torch.as_tensor(np.asarray(idx), dtype=self.torch.long, device=self.device)

    def zeros(self, shape):
        return self.torch.zeros(shape, dtype=self.dtype, device=self.device)

    def ones(self, shape):
        return self.torch.ones(shape, dtype=self.dtype, device=self.device)

    def concat(self, parts, axis):
        return self.torch.cat(parts, dim=axis)

    def eigh(self, M):
        return self.torch.linalg.eigh((M + M.T) / 2)

    def clip0(self, x):
        return x.clamp(min=0)

    def repeat(self, w, times):
        return self.torch.repeat_interleave(w, times)

    def to_numpy(self, x):
        if self.torch.is_tensor(x):
            x = x.detach().cpu().numpy()
        return np.asarray(x, dtype=np.float64)


def _backend(w):
    """numpy for numpy statistics, torch (on their device) for torch tensors."""
    if isinstance(w, np.ndarray):
        return _Numpy()
    return _Torch(w)


class _Layer:
    """One factorable layer: its indices in θ and its factors (in the backend's arrays)."""

    def __init__(self, spec, xp):
        self.name = spec["name"]
        self.kind = spec.get("kind", "linear")
        self.d_out = spec["d_out"]
        self.weight, self.bias = spec["weight"], spec["bias"]
        self._weight = None if self.weight is None else xp.index(self.weight)
        self._bias = None if self.bias is None else xp.index(self.bias)
        self.d_in = (spec["d_in"] if self.weight is not None else 0) + (self.bias is not None)
        self.A = xp.zeros((self.d_in, self.d_in))
        self.S = xp.zeros((self.d_out, self.d_out))
        self.locations = None  # T: 1 for a layer applied once per row
        self.xp = xp

    def inputs(self, a):
        """ã: the inputs with a 1 appended for the bias, ``(b, d_in')`` or ``(b, T, d_in')``."""
        parts = ([a] if self.weight is not None else []) + (
            [self.xp.ones((*a.shape[:-1], 1))] if self.bias is not None else []
        )
        return self.xp.concat(parts, axis=-1)

    def check_locations(self, a):
        T = 1 if a.ndim == 2 else a.shape[1]
        if self.locations is None:
            self.locations = T
        elif self.locations != T:
            raise ValueError(
                f"K-FAC: layer {self.name!r} acts at {T} locations on some rows and "
                f"{self.locations} on others; give inputs of one size."
            )

    def gather(self, V):
        """The (k, d_out, d_in') matrices W̃ of the columns of V (a backend array)."""
        k = V.shape[1]
        parts = []
        if self.weight is not None:
            parts.append(V[self._weight].T.reshape(k, self.d_out, -1))
        if self.bias is not None:
            parts.append(V[self._bias].T.reshape(k, self.d_out, 1))
        return self.xp.concat(parts, axis=2)

    def scatter(self, M, out):
        k = M.shape[0]
        if self.weight is not None:
            out[self._weight] = M[:, :, : self.d_in - (self.bias is not None)].reshape(k, -1).T
        if self.bias is not None:
            out[self._bias] = M[:, :, -1].T


@register_solver
@with_shared_docstrings
class KFACSolver(InverseHessianSolver):
    """K-FAC: the Gauss–Newton matrix by layer-wise Kronecker factors (``method="kfac"``).

    Each ``nn.Linear`` layer's block of the Gauss–Newton matrix G is approximated by
    ``S ⊗ A``: A the second moment of the layer's inputs (a 1 appended for the bias), S the
    summed second moment of its outputs' Gauss–Newton pseudo-gradients, computed from a
    square root of each row's output Hessian (K backward passes per chunk: the true G,
    not labels sampled from the model). An ``nn.Conv2d`` (``groups=1``, zero padding) is
    factored as KFC does (Grosse & Martens 2016): A sums the second moments of its T
    unfolded input patches per row, S those of its output gradients at the T locations,
    divided by T (exact when the output is 1 × 1). A torch net's factors,
    eigendecompositions and solves are torch operations on its device, in its dtype.
    Blocks of different layers are taken as
    independent; parameters outside such layers (a LayerNorm, an embedding) get their exact
    G block, formed with one G product per parameter and solved densely, up to
    ``max_other_params`` of them (more is refused, with what to do). It needs a model with
    the :class:`~skinfluence.models.KroneckerFactored` capability (torch nets); ``params=``
    subsets work (a layer with only its weight or only its bias in θ is factored too).
    The curvature is always the Gauss–Newton one: ``InfluenceScorer(hessian="exact")``
    with this method is refused.

    Cost per layer (d_in inputs, d_out outputs, n rows, K outputs of the net, T locations:
    1 for a Linear, the output pixels of a Conv2d, whose d_in is C_in·kh·kw): the factors
    O(n T (d_in² + K d_out²)) time, their eigendecompositions O(d_in³ + d_out³), memory
    O(d_in² + d_out²), against O(p²) for the dense G; one solve O(k (d_out² d_in +
    d_out d_in²)) for k vectors. Accuracy: no knob; how close ``S ⊗ A`` is to the block
    (exact for a single linear layer under squared error, approximate otherwise) is
    measured in the user guide. ``damping="auto"``: a fraction of the mean eigenvalue of
    the factored curvature (exactly known from the factors).

    Parameters
    ----------
    damping : float or "auto", default=0.0
        λ added to every eigenvalue.
    max_other_params : int, default=2000
        Most parameters outside factorable layers solved with their dense G block.
    fisher : {"true", "sampled"}, default="true"
        "true": S from a square root of each row's output Hessian (K backward passes per
        chunk), the exact Gauss–Newton statistics. "sampled": one label per row drawn from
        the model (softmax / sigmoid; Gaussian for squared error), one backward pass: the
        same matrix in expectation, with Monte Carlo noise (Kronfluence's default; on the
        issue's MLP it lowered the agreement with the dense solve, benchmarks/README.md).
    random_state : int, RandomState instance or None, default=None
        Seeds the labels drawn when ``fisher="sampled"``.

    See Also
    --------
    EKFACSolver : the same eigenbasis with the exact diagonal (eigenvalue correction).
    DirectSolver : the dense G, exact.

    References
    ----------
    Martens, J. & Grosse, R. (2015). Optimizing neural networks with Kronecker-factored
    approximate curvature. ICML.
    Grosse, R. & Martens, J. (2016). A Kronecker-factored approximate Fisher matrix for
    convolution layers. ICML.

    Examples
    --------
    For a single linear layer under squared error the factorisation is exact:

    >>> import numpy as np, torch
    >>> from skinfluence.models import TorchModule, adapter_for
    >>> from skinfluence.inverse import DirectSolver, KFACSolver
    >>> X = np.random.default_rng(0).normal(size=(30, 3))
    >>> Y = X @ np.ones((3, 2))
    >>> adapter = adapter_for(TorchModule(torch.nn.Linear(3, 2), torch.nn.MSELoss()))
    >>> V = np.eye(adapter.n_params)[:, :3]
    >>> kfac = KFACSolver(damping=0.1).fit(adapter, X, Y).solve(V)
    >>> exact = DirectSolver(damping=0.1).fit(adapter, X, Y).solve(V)
    >>> bool(np.allclose(kfac, exact))
    True
    """

    name = "kfac"
    #: Whether the eigenvalues are corrected (EK-FAC).
    eigenvalue_correction = False

    def __init__(self, damping=0.0, *, max_other_params=2000, fisher="true", random_state=None):
        super().__init__(damping)
        if not isinstance(max_other_params, numbers.Integral) or max_other_params < 0:
            raise ValueError(
                f"max_other_params must be a non-negative integer; got {max_other_params!r}."
            )
        if fisher not in ("true", "sampled"):
            raise ValueError(f"fisher must be 'true' or 'sampled'; got {fisher!r}.")
        self.max_other_params = max_other_params
        self.fisher = fisher
        self.random_state = random_state

    def _sample_kwargs(self):
        if self.fisher == "true":
            return {}
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        return {"fisher": "sampled", "random_state": seed}

    def fit(self, adapter, X, y, sample_weight=None):
        base = adapter.adapter if isinstance(adapter, GaussNewtonView) else adapter
        if not isinstance(base, KroneckerFactored):
            raise TypeError(
                f"method={self.name!r} needs a net whose layers K-FAC can factor (a torch "
                f"model's nn.Linear / nn.Conv2d layers); {type(base).__name__} has none. Use "
                "method='cg', 'arnoldi' or 'direct'."
            )
        specs, others = base.kronecker_layers()
        if not specs:
            raise ValueError(
                f"method={self.name!r}: no nn.Linear or nn.Conv2d layer has parameters in θ; "
                "use method='direct' or 'cg'."
            )
        if len(others) > self.max_other_params:
            raise ValueError(
                f"method={self.name!r} factors nn.Linear and nn.Conv2d layers only (Conv2d "
                f"with groups=1 and zero padding); {len(others)} parameters belong to other "
                f"layers (more than max_other_params={self.max_other_params} to solve "
                "densely). Restrict θ to the factorable layers with params=[...], raise "
                "max_other_params, or use method='cg'."
            )
        layers, xp, total = None, None, 0.0
        kept, size = [], 0  # EK-FAC: the statistics kept for its second pass while small
        sampling = self._sample_kwargs()  # the same draws in both passes
        for w, samples in base.kronecker_samples(X, y, sample_weight, **sampling):
            if self.eigenvalue_correction and kept is not None:
                size += sum(a.numel() if hasattr(a, "numel") else a.size for a, _ in samples)
                size += sum(g.numel() if hasattr(g, "numel") else g.size for _, g in samples)
                if size <= _KEPT_ELEMENTS:
                    kept.append((w, samples))
                else:
                    kept = None
            if layers is None:
                xp = _backend(w)
                layers = [_Layer(spec, xp) for spec in specs]
            w = xp.asarray(w)
            total += float(w.sum())
            for layer, (a, g) in zip(layers, samples, strict=True):
                a, g = xp.asarray(a), xp.asarray(g)
                layer.check_locations(a)
                a = layer.inputs(a).reshape(-1, layer.d_in)
                layer.A += (xp.repeat(w, len(a) // max(1, len(w)))[:, None] * a).T @ a
                g = g.reshape(-1, layer.d_out)
                layer.S += (xp.repeat(w, len(g) // max(1, len(w)))[:, None] * g).T @ g
        if layers is None:
            raise ValueError(f"method={self.name!r} needs at least one training row.")
        self.layers_, self._xp = layers, xp
        n = len(np.asarray(y))
        penalty = xp.asarray(base.penalty_hessian_diagonal(n, sample_weight))
        for layer in layers:
            layer.A /= max(total, np.finfo(float).tiny)
            layer.S /= layer.locations  # KFC: E[Σ_t ããᵀ] ⊗ E[Σ_t g gᵀ] / T
            d_A, layer.Q_A = xp.eigh(layer.A)
            d_S, layer.Q_S = xp.eigh(layer.S)
            layer.eigenvalues = xp.clip0(d_S)[:, None] * xp.clip0(d_A)[None, :]
            P = layer.gather(penalty[:, None])[0]  # (d_out, d_in'): the penalty's diagonal
            layer.penalty = (layer.Q_S**2).T @ P @ layer.Q_A**2
        if self.eigenvalue_correction:
            if kept is None:
                kept = base.kronecker_samples(X, y, sample_weight, **sampling)
            chunks = kept
            self._correct_eigenvalues(chunks)
            del kept, chunks
        self.others_ = others
        self._fit_others(base, X, y, sample_weight, others)
        self.damping_ = self._resolve_damping(layers)
        if self.others_block_ is not None:
            self._factor_others()
        self.n_params_ = base.n_params
        return self

    def _correct_eigenvalues(self, chunks):
        xp = self._xp
        for layer in self.layers_:
            layer.eigenvalues = xp.zeros(layer.eigenvalues.shape)
        for w, samples in chunks:
            w = xp.asarray(w)
            for layer, (a, g) in zip(self.layers_, samples, strict=True):
                a = layer.inputs(xp.asarray(a)) @ layer.Q_A  # (b, [T,] d_in')
                g = xp.asarray(g) @ layer.Q_S  # (b, K, [T,] d_out)
                if a.ndim == 2:  # once per row: the rotated gradient is an outer product
                    g2 = (g**2).sum(1)  # (b, d_out), summed over the K
                    layer.eigenvalues += (w[:, None] * g2).T @ a**2
                    continue
                for k in range(g.shape[1]):  # Σ_t over the locations, then squared
                    M = g[:, k].swapaxes(1, 2) @ a  # (b, d_out, d_in')
                    layer.eigenvalues += (w[:, None, None] * M**2).sum(0)

    def _fit_others(self, base, X, y, sample_weight, others):
        self.others_block_ = None
        if len(others) == 0:
            return
        operator = with_curvature(base, "gauss-newton").hvp_operator(X, y, sample_weight)
        E = np.zeros((base.n_params, len(others)))
        E[others, np.arange(len(others))] = 1.0
        block = operator(E)[others]
        self.others_block_ = (block + block.T) / 2

    def _resolve_damping(self, layers):
        if self.damping != "auto":
            return float(self.damping)
        trace = sum(float((layer.eigenvalues + layer.penalty).sum()) for layer in layers)
        size = sum(layer.d_out * layer.d_in for layer in layers)
        if self.others_block_ is not None:
            trace += float(np.trace(self.others_block_))
            size += len(self.others_block_)
        return auto_damping(trace / size)

    def _factor_others(self):
        block = self.others_block_ + self.damping_ * np.eye(len(self.others_block_))
        evals, evecs = np.linalg.eigh(block)
        if evals[0] <= 0:
            warnings.warn(
                f"The Gauss–Newton block of the {len(block)} parameters outside factorable "
                f"layers (plus damping={self.damping_:g}) is singular: smallest eigenvalue "
                f"{evals[0]:.3g}; its pseudo-inverse is used. Pass a larger damping.",
                IllConditionedHessianWarning,
                stacklevel=4,
            )
        keep = evals > len(block) * np.finfo(float).eps * max(abs(evals).max(), 1e-300)
        self.others_inverse_ = self._xp.asarray((evecs[:, keep] / evals[keep]) @ evecs[:, keep].T)
        self._others = self._xp.index(self.others_)

    def solve(self, V):
        xp = self._xp
        V = V if hasattr(V, "ndim") else np.asarray(V, dtype=np.float64)
        one_d = V.ndim == 1
        V = xp.asarray(V).reshape(self.n_params_, -1)
        out = xp.zeros(V.shape)
        for layer in self.layers_:
            M = layer.gather(V)  # (k, d_out, d_in')
            rotated = layer.Q_S.T @ M @ layer.Q_A
            rotated /= layer.eigenvalues + layer.penalty + self.damping_
            layer.scatter(layer.Q_S @ rotated @ layer.Q_A.T, out)
        if self.others_block_ is not None:
            out[self._others] = self.others_inverse_ @ V[self._others]
        out = xp.to_numpy(out)
        return out.ravel() if one_d else out


@register_solver
@with_shared_docstrings
class EKFACSolver(KFACSolver):
    """EK-FAC: K-FAC's eigenbasis with the exact diagonal in it (``method="ekfac"``).

    As :class:`KFACSolver`, then a second pass over the rows replaces each layer's
    eigenvalues ``D_S D_Aᵀ`` by the diagonal of its true Gauss–Newton block in the
    Kronecker eigenbasis, ``Σ_i w_i Σ_k (Q_Sᵀ g_ik)² (Q_Aᵀ ã_i)²ᵀ`` (George et al. 2018, the
    approximation Grosse et al. 2023 use for influence in large language models): the best
    diagonal approximation in that basis, never farther from the block than K-FAC's.

    For a Conv2d the rotated per-row gradient ``Σ_t (Q_Sᵀ g_ikt)(Q_Aᵀ ã_it)ᵀ`` is summed
    over the locations before it is squared, so the diagonal is exact there too.

    Cost per layer: K-FAC's plus a second pass O(n (d_in² + K d_out² + d_in d_out)), for a
    Conv2d O(n K T d_in d_out); memory O(d_in² + d_out² + d_in d_out) (the corrected
    eigenvalues are one per weight), plus O(b d_in d_out) per chunk of b rows for a Conv2d.
    The per-row statistics of the first pass are kept for the second while they hold at
    most 2²⁵ numbers (O(n T (d_in + K d_out)) per layer); beyond, the net's forward and K
    backward passes are run again.

    Parameters
    ----------
    damping : float or "auto", default=0.0
        λ added to every eigenvalue.
    max_other_params : int, default=2000
        Most parameters outside factorable layers solved with their dense G block.
    fisher : {"true", "sampled"}, default="true"
        The true Gauss–Newton statistics, or one label per row drawn from the model (as
        :class:`KFACSolver`; both passes use the same draws).
    random_state : int, RandomState instance or None, default=None
        Seeds the labels drawn when ``fisher="sampled"``.

    See Also
    --------
    KFACSolver : without the eigenvalue correction.

    References
    ----------
    George, T., Laurent, C., Bouthillier, X., Ballas, N. & Vincent, P. (2018). Fast
    approximate natural gradient descent in a Kronecker-factored eigenbasis. NeurIPS.
    Grosse, R. et al. (2023). Studying large language model generalization with influence
    functions. arXiv:2308.03296.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from skinfluence.models import TorchModule, adapter_for
    >>> from skinfluence.inverse import DirectSolver, EKFACSolver
    >>> X = np.random.default_rng(0).normal(size=(30, 3))
    >>> Y = X @ np.ones((3, 2))
    >>> adapter = adapter_for(TorchModule(torch.nn.Linear(3, 2), torch.nn.MSELoss()))
    >>> V = np.eye(adapter.n_params)[:, :3]
    >>> ekfac = EKFACSolver(damping=0.1).fit(adapter, X, Y).solve(V)
    >>> bool(np.allclose(ekfac, DirectSolver(damping=0.1).fit(adapter, X, Y).solve(V)))
    True
    """

    name = "ekfac"
    eigenvalue_correction = True
