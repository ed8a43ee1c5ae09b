"""Hessian-vector products for the torch adapter.

``hessian_products`` differentiates the objective's gradient once more (reverse over reverse):
the gradient's graph is built once per chunk of rows, then differentiated along a chunk of
columns of V at a time (``torch.autograd.grad(..., is_grads_batched=True)``), which is faster
than ``jvp`` of ``grad`` vectorised with ``vmap``, with the same values to rounding (timings in
benchmarks/README.md).

``TorchHessianOperator`` is for solvers that multiply by the Hessian of the *same* rows many
times (CG, Arnoldi/Lanczos, full-batch LiSSA): it keeps the graph of the gradient of each
block of rows, so that a product is one backward pass through it, and after many product
columns switches to ``torch.func.linearize`` of the gradient (forward over reverse, traced
once), whose tangent pass is cheaper still per column (timings of the three paths in
benchmarks/README.md). The cache holds the block's intermediate values (about six floats per
activation of every row at the peak); when that estimate exceeds ``memory_budget`` bytes,
every call uses ``hessian_products`` instead, with the same result; a module that cannot be
traced keeps the gradient graphs.
"""

import warnings

import numpy as np
from sklearn.utils import gen_batches

from ._imports import import_torch

__all__ = ["TorchHessianOperator", "hessian_products"]

#: Rows × columns per vectorised call (the activation memory of a vmap over columns).
_ROWS_TIMES_COLS = 32
#: The same for products through the cached linearisation.
_CACHED_ROWS_TIMES_COLS = 16
#: Rows per traced block of the linearisation (chunks): fewer, larger calls.
_LINEARIZED_ROWS = 64


def _weights(adapter, n, sample_weight):
    torch = import_torch()
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
    return torch.as_tensor(w, dtype=adapter.dtype, device=adapter.device)


def _penalty(adapter, n, sample_weight):
    return adapter._penalty_count(n, sample_weight) * adapter._decay[:, None]


def _as_columns(adapter, V):
    """``(kind, Vt)``: V as (p, k) columns in the adapter's dtype on its device, and what
    :func:`_to_numpy` needs to return the product in V's kind (a tensor stays a tensor)."""
    torch = import_torch()
    if isinstance(V, torch.Tensor):
        Vt = V.detach().to(device=adapter.device, dtype=adapter.dtype)
        return ("tensor", V.ndim == 1), Vt.reshape(adapter.n_params, -1)
    V = np.asarray(V, dtype=np.float64)
    Vt = torch.as_tensor(
        V.reshape(adapter.n_params, -1), dtype=adapter.dtype, device=adapter.device
    )
    return V.ndim == 1, Vt


def _blocks(adapter, n, k):
    """(row chunk, column chunk): rows × columns capped at ``_ROWS_TIMES_COLS`` chunks' worth
    (a single vector takes up to that many rows at once: fewer, larger calls)."""
    budget = _ROWS_TIMES_COLS * adapter.chunk_size
    col_chunk = min(k, max(1, budget // max(1, min(n, adapter.chunk_size))))
    row_chunk = max(adapter.chunk_size, budget // col_chunk)
    return row_chunk, col_chunk


def _linearized_gradient(adapter, xb, tb, wb):
    """``v ↦ H_b v`` for the rows (xb, tb, wb): ``torch.func.linearize`` of the gradient of
    their weighted loss, traced once."""
    torch = import_torch()
    from torch.func import grad, linearize

    def gradient(theta, t):
        return grad(lambda th: (wb * adapter._batch_losses(th, xb, t)).sum())(theta)

    if not tb.is_floating_point():  # class indices: no tangent possible, none needed
        return linearize(lambda th: gradient(th, tb), adapter._theta)[1]
    # A float target without a tangent enters some losses' forward-mode formulas (mse_loss's)
    # as a ZeroTensor, on which torch's tracer crashes the process (pytorch/pytorch#123996;
    # a segfault with torch 2.13 and NeuralNetRegressor's MSELoss): give it a zero tangent.
    jvp = linearize(gradient, adapter._theta, tb)[1]
    zero = torch.zeros_like(tb)
    return lambda v: jvp(v, zero)


def _apply(fn, Vt, col_chunk, out):
    """``out += fn(v)`` for each column v of Vt, vmapped over chunks of columns."""
    from torch.func import vmap

    for c in range(0, Vt.shape[1], col_chunk):
        block = Vt[:, c : c + col_chunk]
        if block.shape[1] == 1:
            out[:, c] += fn(block[:, 0]).detach()
        else:
            out[:, c : c + col_chunk] += vmap(fn, in_dims=1, out_dims=1)(block).detach()


def _to_numpy(out, one_d):
    """The product in the kind of the argument: an ndarray, or for a tensor argument a
    float64 tensor on the device (``("tensor", one_d)`` from :func:`_as_columns`)."""
    if isinstance(one_d, tuple):
        torch = import_torch()
        out = out.detach().to(torch.float64)
        return out.reshape(-1) if one_d[1] else out
    out = out.detach().cpu().numpy().astype(np.float64, copy=False)
    return out.ravel() if one_d else out


def hessian_products(adapter, X, y, V, sample_weight=None):
    """``H @ V`` of the adapter's objective on (X, y): reverse-over-reverse differentiation,
    the gradient's graph built once per chunk of rows and differentiated along a chunk of
    columns at a time (``is_grads_batched``)."""
    torch = import_torch()
    Xt, t = adapter.features(X), adapter.encode_target(y)
    one_d, Vt = _as_columns(adapter, V)
    w = _weights(adapter, len(t), sample_weight)
    out = torch.zeros_like(Vt)
    row_chunk, col_chunk = _blocks(adapter, len(t), Vt.shape[1])
    for rows in gen_batches(len(t), row_chunk):
        theta = adapter._theta.detach().requires_grad_(True)
        with torch.enable_grad():
            loss = (w[rows] * adapter._batch_losses(theta, Xt[rows], t[rows])).sum()
            (g,) = torch.autograd.grad(loss, theta, create_graph=True)
        if not g.requires_grad:  # the objective is linear in θ on these rows
            continue
        for c in range(0, Vt.shape[1], col_chunk):
            block = Vt[:, c : c + col_chunk]
            last = c + col_chunk >= Vt.shape[1]
            if block.shape[1] == 1:
                (hv,) = torch.autograd.grad(g, theta, block[:, 0], retain_graph=not last)
                out[:, c] += hv
            else:
                (hv,) = torch.autograd.grad(
                    g, theta, block.T, retain_graph=not last, is_grads_batched=True
                )
                out[:, c : c + col_chunk] += hv.T
    out += _penalty(adapter, len(t), sample_weight) * Vt
    return _to_numpy(out, one_d)


def _activation_size(adapter, x_row):
    """Floats a forward pass produces for one row (every module's outputs, the input)."""
    torch = import_torch()
    total = [x_row.numel()]

    def hook(module, inputs, output):
        outputs = output if isinstance(output, tuple) else (output,)
        total[0] += sum(o.numel() for o in outputs if isinstance(o, torch.Tensor))

    handles = [m.register_forward_hook(hook) for m in adapter.module.modules()]
    try:
        with torch.no_grad():
            adapter._outputs(adapter._theta, x_row)
    finally:
        for handle in handles:
            handle.remove()
    return total[0]


class TorchHessianOperator:
    """``V ↦ H V`` on fixed rows (X, y, sample_weight), with the primal pass cached.

    The first call builds, per block of rows, the graph of the objective's gradient and keeps
    it: each product is then one more backward pass through it (no forward pass, no gradient
    recomputed). After ``linearize_after`` product columns, the operator traces the gradient
    once with ``torch.func.linearize`` (a one-off cost of a few gradient passes) and uses
    that instead: per column it is cheaper still, which pays off only over thousands of
    columns (full-batch LiSSA; timings in benchmarks/README.md). The
    trace is checked once against the kept graphs (two random columns); a module whose trace
    raises or disagrees keeps the graphs.

    Parameters
    ----------
    adapter : TorchAdapter
    X, y : training rows
    sample_weight : array-like of shape (n,), default=None
    memory_budget : int, default=512 MiB
        Largest estimated size of the cached primal values; above it, no cache.
    linearize_after : int, default=5000
        Product columns computed before switching to the traced linearisation.
    """

    def __init__(
        self,
        adapter,
        X,
        y,
        sample_weight=None,
        *,
        memory_budget=512 * 2**20,
        linearize_after=5000,
    ):
        self.adapter, self.X, self.y, self.sample_weight = adapter, X, y, sample_weight
        self.memory_budget = memory_budget
        self.linearize_after = linearize_after
        self.n_columns = 0
        self._graphs = None  # list of (row slice, θ leaf, gradient with its graph)
        self._linearized = None  # list of (row slice, jvp function); False: no cache at all
        self._traceable = True

    def __getstate__(self):  # graphs are not picklable: rebuilt on demand
        state = self.__dict__.copy()
        state["_graphs"] = state["_linearized"] = None
        return state

    def __call__(self, V):
        one_d, Vt = _as_columns(self.adapter, V)
        if self._linearized is None and self._graphs is None:
            self._prepare()
        if self._linearized is False:
            return hessian_products(self.adapter, self.X, self.y, V, self.sample_weight)
        if self._linearized is None and self._traceable and self.n_columns >= self.linearize_after:
            traced = self._linearize()
            if traced is None:  # untraceable: keep the gradient graphs
                self._traceable = False
            else:
                self._linearized, self._graphs = traced, None
        self.n_columns += Vt.shape[1]
        if self._linearized:
            out = self._traced_products(self._linearized, Vt)
        else:
            out = self._graph_products(Vt)
        out += self._penalty * Vt
        return _to_numpy(out, one_d)

    def _traced_products(self, traced, Vt):
        torch = import_torch()
        out = torch.zeros_like(Vt)
        with torch.no_grad():
            for rows, fn in traced:
                _apply(fn, Vt, self._col_chunk(rows), out)
        return out

    def _graph_products(self, Vt):
        torch = import_torch()
        out = torch.zeros_like(Vt)
        for rows, theta, g in self._graphs:
            chunk = self._col_chunk(rows)
            for c in range(0, Vt.shape[1], chunk):
                block = Vt[:, c : c + chunk]
                if block.shape[1] == 1:
                    out[:, c] += torch.autograd.grad(g, theta, block[:, 0], retain_graph=True)[0]
                else:
                    (hv,) = torch.autograd.grad(
                        g, theta, block.T, retain_graph=True, is_grads_batched=True
                    )
                    out[:, c : c + chunk] += hv.T
        return out

    def _col_chunk(self, rows):
        # a few thousand rows × columns per call keeps the tangents in cache: on the 500-row
        # MLP, 50 columns took 23 ms in chunks of 5-10 and 33 ms in one call
        budget = _CACHED_ROWS_TIMES_COLS * self.adapter.chunk_size
        return max(1, budget // max(1, rows.stop - rows.start))

    def _data(self):
        adapter = self.adapter
        Xt, t = adapter.features(self.X), adapter.encode_target(self.y)
        w = _weights(adapter, len(t), self.sample_weight)
        row_chunk = _LINEARIZED_ROWS * adapter.chunk_size
        blocks = list(gen_batches(len(t), row_chunk))
        return Xt, t, w, blocks

    def _prepare(self):
        """Gradient graphs of every row block, or ``_linearized = False`` (no cache)."""
        torch = import_torch()
        adapter = self.adapter
        Xt, t, w, blocks = self._data()
        self._penalty = _penalty(adapter, len(t), self.sample_weight)
        # peak while keeping the primal values: 5-7 floats per activation of a row (measured
        # with linearize on 20 000-row MLPs of width 32 and 256: 160 and 456 MB of RSS)
        cached = 6 * len(t) * _activation_size(adapter, Xt[:1]) * Xt.element_size()
        if len(t) == 0 or cached > self.memory_budget:
            self._linearized = False
            return
        self._graphs = []
        for rows in blocks:
            theta = adapter._theta.detach().requires_grad_(True)
            with torch.enable_grad():
                loss = (w[rows] * adapter._batch_losses(theta, Xt[rows], t[rows])).sum()
                (g,) = torch.autograd.grad(loss, theta, create_graph=True)
            if g.requires_grad:  # else the objective is linear in θ on these rows: H = 0
                self._graphs.append((rows, theta, g))

    def _linearize(self):
        """Traced linearisations of every row block's gradient, or None (keep the graphs)."""
        torch = import_torch()
        adapter = self.adapter
        Xt, t, w, blocks = self._data()
        traced = []
        try:
            with warnings.catch_warnings():
                # torch's own notes while tracing (fx const folding, jit deprecations)
                warnings.simplefilter("ignore")
                for rows in blocks:
                    traced.append((rows, _linearized_gradient(adapter, Xt[rows], t[rows], w[rows])))
                # A trace can also fail only when it runs (an nn.Embedding's view under vmap
                # raises), or bake in a branch: check it once against the kept graphs, on one
                # and on two columns (the unbatched and the vmapped calls).
                generator = torch.Generator(adapter.device).manual_seed(0)
                probe = torch.randn(
                    adapter.n_params, 2, dtype=adapter.dtype, device=adapter.device,
                    generator=generator,
                )  # fmt: skip
                reference = self._graph_products(probe)
                tol = 1e-8 if adapter.dtype == torch.float64 else 1e-3
                for columns in (probe[:, :1], probe):
                    got = self._traced_products(traced, columns)
                    want = reference[:, : columns.shape[1]]
                    if not bool(((got - want).abs().max() <= tol * want.abs().max()).item()):
                        return None
        except Exception:  # an untraceable module: keep the gradient graphs
            return None
        return traced
