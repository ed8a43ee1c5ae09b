"""Per-layer statistics of a torch net for K-FAC / EK-FAC (``method="kfac"``, ``"ekfac"``).

For every ``nn.Linear`` and ``nn.Conv2d`` whose weight or bias is in θ, a forward hook
records its input ``a_i`` and output ``s_i`` on each row; the Gauss–Newton pseudo-gradients
of its outputs are ``g_ik = (∂o_i/∂s_i)ᵀ l_ik`` for the K columns ``l_ik`` of a square root
of the output Hessian ``Λ_i = L_i L_iᵀ`` (its eigendecomposition): K backward passes per
chunk of rows, the *true* Gauss–Newton factors, no sampled labels (the variant Kronfluence
calls "sampled" draws one label per row from the model instead).

A ``Conv2d`` (Grosse & Martens 2016, "KFC") is a linear layer applied at every output
location t: its inputs are the unfolded patches ``a_it`` (``torch.nn.functional.unfold``,
C_in·kh·kw values in the weight's row-major order) and its pseudo-gradients the output
gradients ``g_ikt`` at each location; so is an ``nn.Linear`` applied to inputs with more
than two dimensions (a sequence: the middle dimensions are the locations). The statistics
stay torch tensors on the net's device, in its dtype; the solver in
:mod:`skinfluence.inverse._kfac` turns them into Kronecker factors there.
"""

import numpy as np
from sklearn.utils import gen_batches

from ._ggn import _weights, output_hessians
from ._imports import import_torch


def _conv_padding(module):
    """The symmetric int padding of a Conv2d, or None where unfold cannot reproduce it."""
    if module.padding_mode != "zeros" or module.groups != 1:
        return None
    if module.padding == "valid":
        return (0, 0)
    if module.padding == "same":
        total = [d * (k - 1) for d, k in zip(module.dilation, module.kernel_size, strict=True)]
        if any(t % 2 for t in total):
            return None
        return tuple(t // 2 for t in total)
    return tuple(module.padding)


def _factorable_modules(adapter):
    """``(name, module, kind)`` of the layers K-FAC factors, in module order."""
    torch = import_torch()
    found = []
    for name, m in adapter.module.named_modules():
        if type(m) is torch.nn.Linear:
            found.append((name, m, "linear"))
        elif type(m) is torch.nn.Conv2d and _conv_padding(m) is not None:
            found.append((name, m, "conv2d"))
    return found


def kronecker_layers(adapter):
    """(layers, others) of :meth:`KroneckerFactored.kronecker_layers` for a torch net.

    ``nn.Linear`` and ``nn.Conv2d`` (``groups=1``, zero padding that unfold reproduces)
    are factored; the parameters of any other layer (a grouped or reflect-padded
    convolution, a norm, an embedding) are returned in ``others``.
    """
    offsets = np.concatenate([[0], np.cumsum(adapter._sizes)]).astype(int)
    index = {
        name: np.arange(offsets[j], offsets[j + 1]) for j, name in enumerate(adapter.param_names)
    }
    layers, covered = [], set()
    for name, module, kind in _factorable_modules(adapter):
        prefix = f"{name}." if name else ""
        weight, bias = index.get(prefix + "weight"), index.get(prefix + "bias")
        if weight is None and bias is None:
            continue
        if kind == "linear":
            d_in, d_out = module.in_features, module.out_features
        else:
            d_in = module.in_channels * int(np.prod(module.kernel_size))
            d_out = module.out_channels
        layers.append(
            {"name": name, "kind": kind, "d_in": d_in, "d_out": d_out, "weight": weight,
             "bias": bias}
        )  # fmt: skip
        covered.update(n for n in (prefix + "weight", prefix + "bias") if n in index)
    others = [index[n] for n in adapter.param_names if n not in covered]
    others = np.concatenate(others) if others else np.zeros(0, dtype=int)
    return layers, others


def _square_roots(curvature):
    """L_i with L_i L_iᵀ = Λ_i (eigendecomposition; negative eigenvalues clipped to 0)."""
    torch = import_torch()
    evals, evecs = torch.linalg.eigh((curvature + curvature.transpose(1, 2)) / 2)
    return evecs * evals.clamp(min=0).sqrt()[:, None, :]


def _refuse(layer, message):
    raise ValueError(
        f"K-FAC factors an {layer['kind']} layer applied once per row; layer "
        f"{layer['name']!r} {message}. Leave it out with params=... or use method='cg' / "
        "'arnoldi'."
    )


def _inputs_and_gradients(module, layer, a, g, b):
    """(a, g) of one layer in the layout of :meth:`KroneckerFactored.kronecker_samples`.

    ``a`` the layer's input, ``g`` the K gradients of its output, ``(K, b, *out)``.
    Returns ``(b, d_in)`` and ``(b, K, d_out)`` when the layer acts once per row, else
    ``(b, T, d_in)`` and ``(b, K, T, d_out)`` for its T locations.
    """
    torch = import_torch()
    K = g.shape[0]
    if layer["kind"] == "linear":
        if a.dim() == 2:
            return a, g.permute(1, 0, 2)
        a = a.reshape(b, -1, layer["d_in"])
        return a, g.reshape(K, b, -1, layer["d_out"]).permute(1, 0, 2, 3)
    if a.dim() != 4:
        _refuse(layer, f"got an input of shape {tuple(a.shape)}, not (rows, C, H, W)")
    patches = torch.nn.functional.unfold(
        a, module.kernel_size, dilation=module.dilation, padding=_conv_padding(module),
        stride=module.stride,
    )  # fmt: skip
    a = patches.transpose(1, 2)  # (b, T, C_in kh kw)
    g = g.reshape(K, b, layer["d_out"], -1).permute(1, 0, 3, 2)  # (b, K, T, C_out)
    return a, g


def _sampled_columns(adapter, xb, generator):
    """One column per row, ``∂ℓ(o_i, ŷ_i)/∂o_i`` with ŷ_i drawn from the model: (b, K, 1).

    Classification: ŷ from the softmax of the outputs (log-probabilities for NLLLoss) or
    the sigmoid of a binary logit; squared error: ŷ ~ N(o_i, I / c) for ``Λ_i = c I``, so
    that ``E[g gᵀ] = Λ_i`` in every case (the true Fisher by Monte Carlo, as Kronfluence
    samples it). Other losses are refused.
    """
    torch = import_torch()
    from torch.func import grad, vmap

    with torch.no_grad():
        out = adapter._outputs(adapter._theta, xb).detach()
    b, shape = out.shape[0], out.shape[1:]
    flat = out.reshape(b, -1)
    criterion = adapter.criterion
    if adapter.kind == "multiclass":
        probs = torch.softmax(flat, -1)
        target = torch.multinomial(probs, 1, generator=generator).flatten()
    elif adapter.kind == "binary" and isinstance(criterion, torch.nn.BCEWithLogitsLoss):
        target = torch.bernoulli(torch.sigmoid(flat.flatten()), generator=generator)
    elif adapter.kind == "regression" and isinstance(criterion, torch.nn.MSELoss):
        c = 2.0 / (flat.shape[1] if criterion.reduction == "mean" else 1.0)
        noise = torch.randn(flat.shape, generator=generator, dtype=flat.dtype,
                            device=flat.device)  # fmt: skip
        target = flat + noise / c**0.5
    else:
        raise ValueError(
            f"fisher='sampled' draws labels for CrossEntropyLoss / NLLLoss, "
            f"BCEWithLogitsLoss or MSELoss; this net's criterion is "
            f"{type(criterion).__name__}. Use fisher='true' (the default)."
        )

    def row_loss(o, t):
        o, t = o.reshape(shape).unsqueeze(0), t.unsqueeze(0)
        if adapter.kind == "regression":
            t = t.reshape(o.shape)
        if isinstance(criterion, torch.nn.NLLLoss):
            return torch.nn.functional.cross_entropy(o, t, weight=criterion.weight)
        return criterion(o, t)

    return vmap(grad(row_loss))(flat, target).reshape(b, -1, 1).detach()


def kronecker_samples(adapter, X, y, sample_weight=None, *, fisher="true", random_state=None):
    """Yield ``(w, [(a, g) per layer])`` chunk by chunk (:class:`KroneckerFactored`).

    Torch tensors on the net's device, in its dtype (see :func:`_inputs_and_gradients`
    for the shapes). ``fisher="sampled"``: one pseudo-gradient per row from a label drawn
    from the model (:func:`_sampled_columns`; ``random_state`` an int seed), one backward
    pass per chunk instead of K.
    """
    torch = import_torch()
    generator = None
    if fisher == "sampled":
        generator = torch.Generator(device=adapter.device)
        generator.manual_seed(int(random_state or 0))
    elif fisher != "true":
        raise ValueError(f"fisher must be 'true' or 'sampled'; got {fisher!r}.")
    layers, _ = kronecker_layers(adapter)
    modules = dict(adapter.module.named_modules())
    Xt, t = adapter.features(X), adapter.encode_target(y)
    w = _weights(adapter, len(t), sample_weight)
    for rows in gen_batches(len(t), adapter.chunk_size):
        xb, tb = Xt[rows], t[rows]
        b = len(tb)
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
                out = adapter._outputs(theta, xb).reshape(b, -1)
        finally:
            for handle in handles:
                handle.remove()
        for layer in layers:
            calls = records[layer["name"]]
            if len(calls) != 1:
                _refuse(layer, f"was called {len(calls)} time(s)")
            if calls[0][0].shape[0] != b:
                _refuse(layer, f"got an input of shape {tuple(calls[0][0].shape)}, not rows first")
        if generator is None:  # (b, K, K): the columns l_ik of Λ_i's square root
            roots = _square_roots(output_hessians(adapter, xb, tb))
        else:  # (b, K, 1): one sampled label's output gradient
            roots = _sampled_columns(adapter, xb, generator)
        outputs = [records[layer["name"]][0][1] for layer in layers]
        K = roots.shape[2]
        grads = torch.autograd.grad(
            out,
            outputs,
            grad_outputs=roots.permute(2, 0, 1).contiguous(),  # (K, b, K): one l_k per pass
            is_grads_batched=True,
            allow_unused=True,
        )
        samples = []
        for layer, (a, s), g in zip(layers, (r[0] for r in records.values()), grads, strict=True):
            if g is None:  # the outputs do not depend on this layer on these rows
                g = torch.zeros((K, *s.shape), dtype=s.dtype, device=s.device)
            a, g = _inputs_and_gradients(modules[layer["name"]], layer, a.detach(), g.detach(), b)
            samples.append((a, g))
        yield w[rows], samples
