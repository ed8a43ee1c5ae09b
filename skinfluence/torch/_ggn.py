"""Gauss–Newton products and factors for the torch adapter.

The generalised Gauss–Newton matrix of the objective is ``G = Σ_i w_i J_iᵀ Λ_i J_i + n
diag(wd)``, with ``J_i = ∂o_i/∂θ`` the Jacobian of row i's outputs (what the criterion
consumes, flattened to K values) and ``Λ_i = ∂²ℓ_i/∂o_i²`` (K × K, from ``torch.func.hessian``
of the criterion in the outputs). ``G v`` is a Jacobian-vector product (forward mode,
``torch.func.jvp``, or a ``linearize`` trace), a K × K multiply per row and a
vector-Jacobian product (``torch.func.vjp``): no second derivative of the net, no double
backward. The dense G (small nets) is ``Σ J_iᵀ Λ_i J_i`` from the chunked Jacobians
(``jacrev``): O(n K p²) time, O(chunk K p + p²) memory.

``NLLLoss`` is linear in its input (log-probabilities), so its Hessian in them is 0; the
Gauss–Newton matrix is taken there with the log-probabilities as logits of a cross-entropy
(the same loss value, since they are normalised; the loss's canonical split, Martens 2020),
whose Hessian is ``diag(p) − p pᵀ``.
"""

import warnings

import numpy as np
from sklearn.utils import gen_batches

from ._imports import import_torch

__all__ = ["GaussNewtonOperator", "dense_ggn", "ggn_products"]

#: Doubles of the Jacobian block ``(rows, K, p)`` held at once by the dense GGN.
_JACOBIAN_ELEMENTS = 2**23
#: Doubles of the whole output Jacobian that the operator keeps for its products (256 MiB).
_CACHED_JACOBIAN_ELEMENTS = 2**25
#: Bytes of cached primal values (vjp graphs) above which the operator recomputes them.
_CACHE_BYTES = 512 * 2**20


def _row_outputs(adapter, theta, X):
    return adapter._outputs(theta, X).reshape(X.shape[0], -1)


def output_hessians(adapter, X, t):
    """``Λ_i = ∂²ℓ_i/∂o_i²`` of every row, shape (b, K, K), at the adapter's θ."""
    torch = import_torch()
    from torch.func import hessian, vmap

    with torch.no_grad():
        out = adapter._outputs(adapter._theta, X).detach()
    shape = out.shape[1:]
    criterion = adapter.criterion
    nll = isinstance(criterion, torch.nn.NLLLoss)

    def row_loss(o, target):
        o, target = o.reshape(shape).unsqueeze(0), target.unsqueeze(0)
        if adapter.kind == "regression":
            target = target.reshape(o.shape)
        if nll:  # linear in the log-probabilities: take them as logits (module docstring)
            return torch.nn.functional.cross_entropy(o, target, weight=criterion.weight)
        return criterion(o, target)

    with warnings.catch_warnings():  # torch's own notes (jit deprecations) while tracing
        warnings.simplefilter("ignore")
        return vmap(hessian(row_loss))(out.reshape(len(t), -1), t).detach()


def _weights(adapter, n, sample_weight):
    torch = import_torch()
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
    return torch.as_tensor(w, dtype=adapter.dtype, device=adapter.device)


def _columns(adapter, V):
    # a tensor V stays on the device and the product comes back as one (torch._hvp)
    from ._hvp import _as_columns

    return _as_columns(adapter, V)


def _to_numpy(out, one_d):
    from ._hvp import _to_numpy as to_kind

    return to_kind(out, one_d)


class _Block:
    """One chunk of rows: ``V ↦ J_bᵀ (w Λ) J_b V`` with the primal pass kept."""

    def __init__(self, adapter, xb, tb, wb, *, trace):
        from torch.func import jvp, linearize, vjp

        theta = adapter._theta.detach()

        def outputs(th):
            return _row_outputs(adapter, th, xb)

        self.curvature = wb[:, None, None] * output_hessians(adapter, xb, tb)
        _, self.vjp = vjp(outputs, theta)
        self.jvp = None
        if trace:
            try:
                with warnings.catch_warnings():  # torch's notes while tracing (fx, jit)
                    warnings.simplefilter("ignore")
                    self.jvp = linearize(outputs, theta)[1]
            except Exception:  # an untraceable module: forward mode on every call
                self.jvp = None
        if self.jvp is None:
            self.jvp = lambda v: jvp(outputs, (theta,), (v,))[1]

    def __call__(self, Vt):
        from torch.func import vmap

        JV = vmap(self.jvp, in_dims=1, out_dims=2)(Vt)  # (b, K, k)
        Q = self.curvature @ JV
        return vmap(lambda q: self.vjp(q)[0], in_dims=2, out_dims=1)(Q)


def ggn_products(adapter, X, y, V, sample_weight=None):
    """``G @ V`` on (X, y): per chunk of rows one JVP, a K × K product and one VJP per column
    (batched over the columns with ``vmap``); O(n p k) time, O(chunk · activations) memory."""
    torch = import_torch()
    Xt, t = adapter.features(X), adapter.encode_target(y)
    one_d, Vt = _columns(adapter, V)
    w = _weights(adapter, len(t), sample_weight)
    out = torch.zeros_like(Vt)
    for rows in gen_batches(len(t), adapter.chunk_size):
        out += _Block(adapter, Xt[rows], t[rows], w[rows], trace=False)(Vt).detach()
    out += adapter._penalty_count(len(t), sample_weight) * adapter._decay[:, None] * Vt
    return _to_numpy(out, one_d)


class GaussNewtonOperator:
    """``V ↦ G V`` on fixed rows, for solvers that multiply many times (CG, Lanczos, LiSSA).

    When the output Jacobian of all rows, n × K × p doubles, fits in 256 MiB (small nets:
    500 rows × 7 outputs × 839 parameters is 23 MiB), it is formed once (``jacrev``, chunk by
    chunk) and each product is two matrix products, ``Jᵀ (Λ (J V))``. Otherwise each chunk's
    primal pass, vjp graph, output Hessians and forward-mode trace (``torch.func.linearize``)
    are kept for later products (JVP, Λ, VJP per column), or recomputed on every call when
    that cache would exceed 512 MiB.
    """

    def __init__(self, adapter, X, y, sample_weight=None):
        self.adapter, self.X, self.y, self.sample_weight = adapter, X, y, sample_weight
        self._blocks = None

    def __getstate__(self):  # graphs are not picklable: rebuilt on demand
        state = self.__dict__.copy()
        state["_blocks"] = None
        return state

    def _prepare(self):
        from ._hvp import _activation_size

        adapter = self.adapter
        Xt, t = adapter.features(self.X), adapter.encode_target(self.y)
        w = _weights(adapter, len(t), self.sample_weight)
        self._penalty = adapter._penalty_count(len(t), self.sample_weight) * adapter._decay
        self._jacobian = None
        if len(t):
            K = _n_outputs(adapter, Xt)
            if len(t) * K * adapter.n_params <= _CACHED_JACOBIAN_ELEMENTS:
                self._jacobian = list(_jacobian_blocks(adapter, Xt, t, w))
                self._blocks = []
                return
        cached = 6 * len(t) * _activation_size(adapter, Xt[:1]) * Xt.element_size()
        if len(t) == 0 or cached > _CACHE_BYTES:
            self._blocks = False
            return
        self._blocks = [
            _Block(adapter, Xt[rows], t[rows], w[rows], trace=True)
            for rows in gen_batches(len(t), 4 * adapter.chunk_size)
        ]

    def __call__(self, V):
        torch = import_torch()
        if self._blocks is None:
            self._prepare()
        if self._blocks is False:
            return ggn_products(self.adapter, self.X, self.y, V, self.sample_weight)
        one_d, Vt = _columns(self.adapter, V)
        out = torch.zeros_like(Vt)
        with torch.no_grad():
            for J, WL in self._jacobian or ():
                out += J.reshape(-1, J.shape[2]).T @ (WL @ (J @ Vt)).reshape(-1, Vt.shape[1])
            for block in self._blocks:
                out += block(Vt)
        out += self._penalty[:, None] * Vt
        return _to_numpy(out, one_d)


def _n_outputs(adapter, Xt):
    with import_torch().no_grad():
        return int(np.prod(adapter._outputs(adapter._theta, Xt[:1]).shape[1:], dtype=int))


def _jacobian_blocks(adapter, Xt, t, w):
    """``(J_b, w Λ_b)`` per chunk of rows: the (b, K, p) output Jacobian (``jacrev``) and the
    weighted output Hessians (b, K, K)."""
    from torch.func import jacrev, vmap

    K, p = _n_outputs(adapter, Xt), adapter.n_params
    rows_per_block = max(1, _JACOBIAN_ELEMENTS // max(1, K * p))

    def row_jacobian(th, x):  # one row's (K, p): vmapped, memory O(b K (p + activations))
        return _row_outputs(adapter, th, x.unsqueeze(0))[0]

    # (not jacrev of the whole chunk's outputs: its b·K cotangents each carry the chunk's
    # activations, O(b² K) memory, gigabytes on a small conv net)
    jacobian = vmap(jacrev(row_jacobian), in_dims=(None, 0))
    for rows in gen_batches(len(t), rows_per_block):
        xb = Xt[rows]
        J = jacobian(adapter._theta, xb)
        yield J.detach(), w[rows, None, None] * output_hessians(adapter, xb, t[rows])


def dense_ggn(adapter, X, y, sample_weight=None):
    """The dense G from chunked Jacobians (``jacrev``): O(n K p²) time, O(p²) memory."""
    torch = import_torch()
    Xt, t = adapter.features(X), adapter.encode_target(y)
    w = _weights(adapter, len(t), sample_weight)
    p = adapter.n_params
    G = torch.zeros((p, p), dtype=adapter.dtype, device=adapter.device)
    if len(t):
        for J, WL in _jacobian_blocks(adapter, Xt, t, w):
            G += J.reshape(-1, p).T @ (WL @ J).reshape(-1, p)
    G = (G + G.T) / 2
    G += torch.diag(adapter._penalty_count(len(t), sample_weight) * adapter._decay)
    return G.cpu().numpy().astype(np.float64)
