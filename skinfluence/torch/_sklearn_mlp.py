"""The torch backend of :class:`~skinfluence.models.MLPAdapter`: scikit-learn's net in torch.

A scikit-learn ``MLPClassifier``/``MLPRegressor`` is rebuilt as a torch module whose
parameters are registered in scikit-learn's packing order (every ``coefs_[l]`` of shape
(i_l, o_l), then every ``intercepts_[l]``), so that the flat θ of the
:class:`~skinfluence.models.TorchAdapter` built on it is the numpy backend's θ, and a loss that
returns the per-row loss of :mod:`skinfluence.models._mlp_math` from the last pre-activation.
The torch adapter has no weight decay: :class:`~skinfluence.models.MLPAdapter` adds the
penalty. torch is imported only when this backend is asked for.
"""

from ._imports import import_torch

__all__ = ["sklearn_mlp_torch_adapter"]


def _module_and_loss(coefs, intercepts, activation, kind):
    torch = import_torch("MLPAdapter(backend='torch')")
    functional = torch.nn.functional
    hidden = {
        "identity": lambda z: z,
        "logistic": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
    }[activation]

    class SklearnMLP(torch.nn.Module):
        """``z_l = a_l W_l + b_l``, the hidden activation between layers; returns the last z."""

        def __init__(self):
            super().__init__()
            self.n_layers = len(coefs)
            for layer, W in enumerate(coefs):
                self.register_parameter(f"coef_{layer}", torch.nn.Parameter(torch.tensor(W)))
            for layer, b in enumerate(intercepts):
                self.register_parameter(f"intercept_{layer}", torch.nn.Parameter(torch.tensor(b)))

        def forward(self, x):
            for layer in range(self.n_layers):
                x = x @ getattr(self, f"coef_{layer}") + getattr(self, f"intercept_{layer}")
                if layer < self.n_layers - 1:
                    x = hidden(x)
            return x

    class OutputLoss(torch.nn.modules.loss._Loss):
        """The per-row loss from the last pre-activation (mean over rows unless
        ``reduction="none"``)."""

        def forward(self, z, t):
            if kind == "softmax":
                loss = torch.logsumexp(z, dim=-1) - (t * z).sum(dim=-1)
            elif kind == "logistic":
                loss = (functional.softplus(z) - t * z).sum(dim=-1)
            elif kind == "exp":
                loss = (torch.exp(z) - t * z - t + torch.special.xlogy(t, t)).sum(dim=-1)
            else:
                loss = 0.5 * ((z - t) ** 2).sum(dim=-1)
            return loss if self.reduction == "none" else loss.mean()

    return SklearnMLP(), OutputLoss()


def sklearn_mlp_torch_adapter(mlp_adapter):
    """A :class:`~skinfluence.models.TorchAdapter` of the net of an ``MLPAdapter``.

    Its targets are the ``MLPAdapter``'s encoded ones (float, shape (n, K)); it has no
    penalty.

    Parameters
    ----------
    mlp_adapter : MLPAdapter
        The adapter whose net (weights, activation, output) is rebuilt.

    Returns
    -------
    adapter : TorchAdapter
        On the equivalent module, in float64 on the CPU.
    """
    from ._adapter import TorchAdapter
    from ._wrappers import TorchModule

    module, loss = _module_and_loss(
        mlp_adapter._coefs,
        mlp_adapter._intercepts,
        mlp_adapter.estimator.activation,
        mlp_adapter._kind,
    )
    return TorchAdapter(TorchModule(module, loss))
