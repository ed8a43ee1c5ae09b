"""Targets other than the loss for torch nets: per-sample autograd of the target.

The per-row targets ("prediction", "margin", "logit") are written in torch on the net's
outputs and differentiated per sample with ``torch.func`` (``vmap(grad(...))``), exactly as
:class:`~skinfluence.torch.TorchAdapter` differentiates the loss; set targets (a metric of
the outputs) are one vector–Jacobian product through the net with the cotangent
``∂F/∂η`` (:mod:`skinfluence.models._targets`).
"""

import numpy as np

from ..models._targets import (
    _outputs_cotangent,
    class_index,
    predictions_from_outputs,
)
from ._adapter import TorchGradientMatrix, _numpy
from ._imports import import_torch


def torch_output_link(adapter):
    """The output link of a torch adapter, or None where its outputs are not known logits."""
    torch = import_torch()
    criterion = adapter.criterion
    if adapter.kind == "binary" and isinstance(criterion, torch.nn.BCEWithLogitsLoss):
        return "logistic"
    if adapter.kind == "multiclass" and (
        isinstance(criterion, torch.nn.CrossEntropyLoss) or adapter.transform == "log"
    ):
        return "softmax"  # logits, or log-probabilities (their softmax is the probabilities)
    if adapter.kind == "regression" and isinstance(criterion, torch.nn.MSELoss):
        return "identity"
    return None


def _row_function(adapter, kind, link):
    """``f(θ, x, idx)``: the target of one row, in torch (vmap-able: no data-dependent
    indexing, the class picked by a mask)."""
    torch = import_torch()

    def f(theta, x, idx):
        eta = adapter._outputs(theta, x.unsqueeze(0)).reshape(-1)
        K = eta.shape[0]
        mask = (torch.arange(K, device=eta.device) == idx).to(eta.dtype)
        if K == 1 and link in ("logistic", "scores"):
            signed = (2 * idx.to(eta.dtype) - 1) * eta[0]
            return torch.sigmoid(signed) if kind == "prediction" else signed
        own = (eta * mask).sum()
        if kind == "prediction":
            return (torch.softmax(eta, dim=0) * mask).sum() if link == "softmax" else own
        if kind == "logit":
            return own
        other = torch.where(mask > 0, torch.full_like(eta, -torch.inf), eta).max()
        return own - other

    return f


class TorchTargetGradientMatrix(TorchGradientMatrix):
    """Per-sample gradients of a per-row target of a torch net (chunk by chunk)."""

    def __init__(self, adapter, Xt, idx, function):
        super().__init__(adapter, Xt, idx)
        self.function = function

    def _blocks(self):
        from torch.func import grad, vmap

        per_sample = vmap(grad(self.function), in_dims=(None, 0, 0))
        for rows in self.adapter._chunks(len(self.t)):
            yield rows, per_sample(self.adapter._theta, self.Xt[rows], self.t[rows]).detach()

    def take(self, rows):
        torch = import_torch()
        if not isinstance(rows, slice):
            rows = torch.as_tensor(np.asarray(rows), device=self.Xt.device)
        return TorchTargetGradientMatrix(self.adapter, self.Xt[rows], self.t[rows], self.function)


def torch_target_gradients(adapter, X, y, kind, target_class):
    """The GradientMatrix of a per-row target ("prediction", "margin", "logit")."""
    torch = import_torch()
    link = adapter.output_link
    Xt = adapter.features(X)
    if adapter.kind == "regression":
        with torch.no_grad():
            n_out = adapter._outputs(adapter._theta, Xt[:1]).reshape(-1).shape[0]
    else:
        n_out = len(adapter.classes_)
    idx = class_index(adapter.classes_, link, np.asarray(y), target_class, n_out)
    t = torch.as_tensor(idx, dtype=torch.long, device=adapter.device)
    return TorchTargetGradientMatrix(adapter, Xt, t, _row_function(adapter, kind, link))


def torch_outputs(adapter, X):
    """The net's outputs η on rows X, (n, K) numpy (K = 1 for one-output nets)."""
    torch = import_torch()
    Xt = adapter.features(X)
    with torch.no_grad():
        parts = [adapter._outputs(adapter._theta, Xt[s]) for s in adapter._chunks(len(Xt))]
    out = _numpy(torch.cat(parts))
    return out.reshape(len(Xt), -1)


def torch_metric_gradient(adapter, X, y, target):
    """``∇F`` (p, 1) of a metric of the outputs: one VJP with the cotangent ∂F/∂η."""
    torch = import_torch()
    link = adapter.output_link
    eta = torch_outputs(adapter, X)
    P = predictions_from_outputs(link, eta)
    C = _outputs_cotangent(link, eta, target.gradient_of(P, y))
    Xt = adapter.features(X)
    Ct = torch.as_tensor(C, dtype=adapter.dtype, device=adapter.device)
    total = torch.zeros_like(adapter._theta)
    for s in adapter._chunks(len(Xt)):
        theta = adapter._theta.detach().clone().requires_grad_(True)
        out = adapter._outputs(theta, Xt[s]).reshape(len(Ct[s]), -1)
        (g,) = torch.autograd.grad((out * Ct[s]).sum(), theta)
        total += g
    return _numpy(total)[:, None]
