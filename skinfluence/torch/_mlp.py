"""The ``skinfluence audit --model mlp`` network: a one-hidden-layer skorch classifier, so that
the gradient scores run on it.

Imports torch and skorch (the ``torch`` extra) at import time; only the audit imports this
module (through :func:`skinfluence._audit._scores.import_mlp`, which turns a missing extra
into the audit's dependency error), when ``--model mlp`` is asked for, so
``import skinfluence`` stays torch-free.
"""

from contextlib import contextmanager

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetClassifier

from .._utils._labels import encode_labels
from ._wrappers import ParameterSubset

HIDDEN = 64
# Adam on standardised features, 60 epochs of 128-row batches: a quarter of a second per fit
# on the bundled data (426 rows, one thread). The L2 penalty (coupled weight decay, so part
# of the objective the influence adapter sees; it also keeps the output layer's Hessian
# positive definite) is strong enough that the net does not learn the flipped labels by
# heart: on the bundled default, weight decay 1e-2 against 1e-4 gives training accuracy 0.90
# vs 0.96 (10% of the labels are wrong), test accuracy 0.937 vs 0.930, and out-of-fold loss
# finds the flips with AUPRC 0.89 vs 0.77 (seed 0).
EPOCHS = 60
BATCH_SIZE = 128
LEARNING_RATE = 0.01
WEIGHT_DECAY = 1e-2
OUTPUT_LAYER = "output"


class MLPModule(torch.nn.Module):
    """``input → Linear → ReLU → Linear → logits``; input cast to the weights' dtype.

    The cast lets float64 feature matrices reach a float32 network, and the float64 copy that
    the influence adapter makes of it, without a conversion step in the pipeline.
    """

    def __init__(self, n_features=1, n_classes=2, hidden=HIDDEN):
        super().__init__()
        self.hidden = torch.nn.Linear(n_features, hidden)
        self.output = torch.nn.Linear(hidden, n_classes)

    def forward(self, X):
        X = X.to(self.hidden.weight.dtype)
        return self.output(torch.relu(self.hidden(X)))


class AuditMLPClassifier(NeuralNetClassifier):
    """A skorch classifier that sizes its module from the data, takes any class labels and is
    seeded by ``random_state`` (a forked torch generator: the global one is left alone)."""

    def __init__(self, *args, random_state=0, **kwargs):
        super().__init__(*args, **kwargs)
        self.random_state = random_state

    def fit(self, X, y, **fit_params):
        y = np.asarray(y)
        classes = np.unique(y)
        self.set_params(module__n_features=X.shape[1], module__n_classes=len(classes))
        with _isolated():
            torch.manual_seed(self.random_state)
            super().fit(X, encode_labels(classes, y).astype(np.int64), **fit_params)
        self.classes_inferred_ = classes  # the adapter maps labels to outputs through these
        return self

    def predict_proba(self, X):
        with _isolated():
            return super().predict_proba(X)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


@contextmanager
def torch_threads(n):
    """torch's intra-op threads set to ``n`` (None: left as they are), restored on exit.

    The audit runs it with --n-jobs' thread count (default 1), as it limits the native pools:
    on a busy machine, two torch threads waiting on each other can be many times slower than
    one (timings in benchmarks/README.md).
    """
    threads = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextmanager
def _isolated():
    """A forked torch generator (a DataLoader draws its base seed from the global one, even
    to predict) and one torch thread for these small batches, which extra threads only slow
    down on a loaded machine (see :func:`torch_threads`)."""
    with torch_threads(1), torch.random.fork_rng(devices=[]):
        yield


def make_mlp(random_state=0):
    """Standardisation, then the skorch MLP (float32, CPU, seeded)."""
    net = AuditMLPClassifier(
        MLPModule,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=LEARNING_RATE,
        optimizer__weight_decay=WEIGHT_DECAY,
        max_epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
        device="cpu",
        random_state=random_state,
    )
    return make_pipeline(StandardScaler(), net)


def last_layer(fitted):
    """The fitted pipeline with gradients restricted to the network's output layer."""
    return Pipeline(
        [
            ("features", FrozenEstimator(fitted[:-1])),
            ("net", ParameterSubset(FrozenEstimator(fitted[-1]), params=[OUTPUT_LAYER])),
        ]
    )
