"""Per-layer statistics of a torch net for K-FAC / EK-FAC (``method="kfac"``, ``"ekfac"``).

For every ``nn.Linear`` whose weight or bias is in θ, a forward hook records its input
``a_i`` and output ``s_i`` on each row; the Gauss–Newton pseudo-gradients of its outputs are
``g_ik = (∂o_i/∂s_i)ᵀ l_ik`` for the K columns ``l_ik`` of a square root of the output
Hessian ``Λ_i = L_i L_iᵀ`` (its eigendecomposition): K backward passes per chunk of rows,
the *true* Gauss–Newton factors, no sampled labels (the variant Kronfluence calls
"sampled" draws one label per row from the model instead). The solver in
:mod:`skinfluence.inverse._kfac` turns them into Kronecker factors.
"""

import numpy as np
from sklearn.utils import gen_batches

from ._ggn import _weights, output_hessians
from ._imports import import_torch


def _linear_modules(adapter):
    torch = import_torch()
    return [(name, m) for name, m in adapter.module.named_modules() if type(m) is torch.nn.Linear]


def kronecker_layers(adapter):
    """(layers, others) of :meth:`KroneckerFactored.kronecker_layers` for a torch net."""
    offsets = np.concatenate([[0], np.cumsum(adapter._sizes)]).astype(int)
    index = {
        name: np.arange(offsets[j], offsets[j + 1]) for j, name in enumerate(adapter.param_names)
    }
    layers, covered = [], set()
    for name, module in _linear_modules(adapter):
        prefix = f"{name}." if name else ""
        weight, bias = index.get(prefix + "weight"), index.get(prefix + "bias")
        if weight is None and bias is None:
            continue
        layers.append(
            {
                "name": name,
                "d_in": module.in_features,
                "d_out": module.out_features,
                "weight": weight,
                "bias": bias,
            }
        )
        covered.update(n for n in (prefix + "weight", prefix + "bias") if n in index)
    others = [index[n] for n in adapter.param_names if n not in covered]
    others = np.concatenate(others) if others else np.zeros(0, dtype=int)
    return layers, others


def _square_roots(curvature):
    """L_i with L_i L_iᵀ = Λ_i (eigendecomposition; negative eigenvalues clipped to 0)."""
    torch = import_torch()
    evals, evecs = torch.linalg.eigh((curvature + curvature.transpose(1, 2)) / 2)
    return evecs * evals.clamp(min=0).sqrt()[:, None, :]


def kronecker_samples(adapter, X, y, sample_weight=None):
    """Yield ``(w, [(a, g) per layer])`` chunk by chunk (:class:`KroneckerFactored`)."""
    torch = import_torch()
    layers, _ = kronecker_layers(adapter)
    modules = dict(adapter.module.named_modules())
    Xt, t = adapter.features(X), adapter.encode_target(y)
    w = _weights(adapter, len(t), sample_weight)
    for rows in gen_batches(len(t), adapter.chunk_size):
        xb, tb = Xt[rows], t[rows]
        records = {layer["name"]: [] for layer in layers}
        handles = [
            modules[layer["name"]].register_forward_hook(
                lambda m, inputs, output, calls=records[layer["name"]]: calls.append(
                    (inputs[0], output)
                )
            )
            for layer in layers
        ]
        try:
            with torch.enable_grad():
                theta = adapter._theta.detach().requires_grad_(True)
                out = adapter._outputs(theta, xb).reshape(len(tb), -1)
        finally:
            for handle in handles:
                handle.remove()
        for layer in layers:
            calls = records[layer["name"]]
            if len(calls) != 1 or calls[0][0].dim() != 2:
                raise ValueError(
                    f"K-FAC factors an nn.Linear applied once per row to 2-D inputs; layer "
                    f"{layer['name']!r} was called {len(calls)} time(s) on inputs of shape "
                    f"{tuple(calls[0][0].shape) if calls else '?'}. Leave it out with "
                    "params=... or use method='cg' / 'arnoldi'."
                )
        roots = _square_roots(output_hessians(adapter, xb, tb))  # (b, K, K): columns l_ik
        outputs = [records[layer["name"]][0][1] for layer in layers]
        K = out.shape[1]
        grads = torch.autograd.grad(
            out,
            outputs,
            grad_outputs=roots.permute(2, 0, 1).contiguous(),  # (K, b, K): one l_k per pass
            is_grads_batched=True,
            allow_unused=True,
        )
        samples = []
        for layer, (a, s), g in zip(layers, (r[0] for r in records.values()), grads, strict=True):
            del s
            if g is None:  # the outputs do not depend on this layer on these rows
                g = torch.zeros((K, len(tb), layer["d_out"]), dtype=adapter.dtype)
            samples.append(
                (
                    a.detach().cpu().numpy().astype(np.float64),
                    g.detach().permute(1, 0, 2).cpu().numpy().astype(np.float64),
                )
            )
        yield w[rows].cpu().numpy().astype(np.float64), samples
