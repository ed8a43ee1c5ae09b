"""Small fitted torch models for the common adapter tests (torch and skorch imported lazily).

``torch_examples(name)`` gives the example factories registered with each torch family in
:mod:`skinfluence.models`. The nets are float64 and trained for a few epochs only (not at an
optimum: ``exact_optimum=False``); the ``TorchModule`` of a linear layer is trained by L-BFGS
to a zero gradient, so stationarity is checked on the torch adapter too.
"""

import numpy as np

from ..models._registry import AdapterExample, log_loss_per_sample, squared_error_per_sample


def _data(seed=0, n=48, d=4, n_classes=3):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, d)
    y = (X[:, :n_classes] + 0.5 * rng.randn(n, n_classes)).argmax(axis=1)
    return X, y


def _weight_decay_penalty(wd, n):
    """``n · wd/2 ‖θ‖²``: the mean-loss objective with weight decay, times n (sum form)."""
    return lambda theta: 0.5 * n * wd * float(np.sum(np.asarray(theta) ** 2))


def _mlp(d_in, d_out, hidden=5):
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(d_in, hidden, dtype=torch.float64),
        torch.nn.Tanh(),
        torch.nn.Linear(hidden, d_out, dtype=torch.float64),
    )


def _skorch_net(cls, module, criterion, wd):
    import torch

    return cls(
        module,
        criterion=criterion,
        optimizer=torch.optim.SGD,
        optimizer__weight_decay=wd,
        lr=0.1,
        max_epochs=5,
        batch_size=-1,
        train_split=None,
        verbose=0,
    )


def _skorch_classifier(subclass=False):
    import torch
    from skorch import NeuralNetClassifier

    class UserNet(NeuralNetClassifier):  # a user's subclass is found through its base
        pass

    X, y = _data()
    cls = UserNet if subclass else NeuralNetClassifier
    wd = 1e-2
    net = _skorch_net(cls, _mlp(4, 3), torch.nn.CrossEntropyLoss, wd).fit(X, y)
    return AdapterExample(
        net,
        X,
        y,
        penalty=_weight_decay_penalty(wd, len(y)),
        invalid_y=np.array([7]),
        reference_loss=log_loss_per_sample,
        exact_optimum=False,
        id="skorch-classifier" + ("-subclass" if subclass else ""),
    )


def _skorch_binary():
    import torch
    from skorch import NeuralNetBinaryClassifier

    X, y = _data(seed=1, n_classes=2)

    class Squeezed(torch.nn.Module):  # skorch's binary nets output one logit per row, 1-D
        def __init__(self):
            super().__init__()
            self.mlp = _mlp(4, 1)

        def forward(self, X):
            return self.mlp(X)[:, 0]

    net = _skorch_net(NeuralNetBinaryClassifier, Squeezed(), torch.nn.BCEWithLogitsLoss, 0.0)
    net.fit(X, y.astype(np.float64))
    return AdapterExample(
        net,
        X,
        y,
        penalty=_weight_decay_penalty(0.0, len(y)),
        invalid_y=np.array([2]),
        reference_loss=log_loss_per_sample,
        exact_optimum=False,
        id="skorch-binary",
    )


def _skorch_regressor():
    import torch
    from skorch import NeuralNetRegressor

    X, _ = _data(seed=2)
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0]))[:, None] + 0.1
    wd = 1e-3
    net = _skorch_net(NeuralNetRegressor, _mlp(4, 1), torch.nn.MSELoss, wd).fit(X, y)
    return AdapterExample(
        net,
        X,
        y,
        penalty=_weight_decay_penalty(wd, len(y)),
        invalid_y=None,
        reference_loss=squared_error_per_sample,
        exact_optimum=False,
        id="skorch-regressor",
    )


def _converged_linear_module(X, y, wd):
    """A torch linear layer fitted by L-BFGS on mean cross-entropy + wd/2 ‖θ‖² (convex)."""
    import torch

    torch.manual_seed(0)
    module = torch.nn.Linear(X.shape[1], 3, dtype=torch.float64)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    opt = torch.optim.LBFGS(
        module.parameters(),
        max_iter=500,
        tolerance_grad=1e-12,
        tolerance_change=0,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(module(Xt), yt)
        loss = loss + wd / 2 * sum((p**2).sum() for p in module.parameters())
        loss.backward()
        return loss

    opt.step(closure)
    return module


def _torch_module(subset=False):
    import torch

    from ._wrappers import ParameterSubset, TorchModule

    X, y = _data(seed=3)
    wd = 0.05
    if subset:  # an untrained MLP restricted to its last layer
        model = TorchModule(_mlp(4, 3), torch.nn.CrossEntropyLoss(), classes=[0, 1, 2])
        model = ParameterSubset(model, params=["2"]).fit(X, y)
        return AdapterExample(
            model,
            X,
            y,
            penalty=_weight_decay_penalty(0.0, len(y)),
            invalid_y=np.array([-1]),
            exact_optimum=False,
            id="parameter-subset",
        )
    module = _converged_linear_module(X, y, wd)
    model = TorchModule(module, torch.nn.CrossEntropyLoss(), classes=[0, 1, 2], weight_decay=wd)
    return AdapterExample(
        model,
        X,
        y,
        penalty=_weight_decay_penalty(wd, len(y)),
        invalid_y=np.array([3]),
        exact_optimum=True,
        id="torch-module-linear",
    )


def torch_examples(name):
    """The example factories of the torch family registered as ``name``."""
    return {
        "skorch NeuralNetClassifier": [_skorch_classifier, lambda: _skorch_classifier(True)],
        "skorch NeuralNetBinaryClassifier": [_skorch_binary],
        "skorch NeuralNetRegressor": [_skorch_regressor],
        "TorchModule": [_torch_module],
        "ParameterSubset": [lambda: _torch_module(subset=True)],
    }[name]
