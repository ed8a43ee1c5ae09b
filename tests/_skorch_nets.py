"""Small skorch nets for the tests that build every public estimator (imports torch).

``parametrize_with_checks`` and the reliability registry fit one instance on data of many
shapes (1 to 20 features, 2 or 3 classes): :class:`DataSizedNet` sizes its module from the
data it is fitted on, as the audit's MLP does. Module-level classes, so that fitted
scorers pickle and test ids have no memory addresses.
"""

import numpy as np
from skorch import NeuralNetClassifier
from torch import nn


class DropoutMLP(nn.Module):
    """``Linear → ReLU → Dropout → Linear`` returning logits."""

    def __init__(self, n_features=1, n_classes=2, hidden=8):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(), nn.Linear(hidden, n_classes)
        )

    def forward(self, X):
        return self.layers(X)


class DataSizedNet(NeuralNetClassifier):
    """A ``NeuralNetClassifier`` that sets ``module__n_features`` and ``module__n_classes``
    from the data in ``fit`` (``X`` an array or skorch's dict input ``{"X": ..., ...}``)."""

    def fit(self, X, y, **fit_params):
        features = X["X"] if isinstance(X, dict) else X
        self.set_params(module__n_features=features.shape[1], module__n_classes=len(np.unique(y)))
        return super().fit(X, y, **fit_params)


def data_sized_dropout_net(**params):
    """A small, quiet, data-sized dropout MLP classifier; ``params`` override skorch's.

    No ``prefix__`` parameter by default: skorch lists those in a set in the net's repr,
    whose order changes between processes, and test ids must not (pytest-xdist)."""
    settings = {"criterion": nn.CrossEntropyLoss, "train_split": None, "verbose": 0, **params}
    return DataSizedNet(DropoutMLP, **settings)
