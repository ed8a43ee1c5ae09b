"""``TurnOverDropoutScorer``: influence from one training run with per-row dropout masks."""

import copy
import numbers

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils._param_validation import Interval

from .._utils._docstring import inject_docs
from .._utils._estimators import is_frozen
from .._utils._labels import encode_labels, label_log_loss
from ._base import BaseInfluenceScorer


def _import_torch():
    from ..torch._imports import import_skorch, import_torch

    torch = import_torch("TurnOverDropoutScorer")
    skorch = import_skorch("TurnOverDropoutScorer")
    from ..torch._turnover import turnover_dropout_module

    return torch, skorch, turnover_dropout_module


def _check_net(estimator, torch, skorch):
    """Refuse what is not a skorch classifier the scorer can train, saying what to pass."""
    example = (
        "e.g. TurnOverDropoutScorer(NeuralNetClassifier(MyModule, module__hidden=64, "
        "max_epochs=20, lr=1e-2, criterion=nn.CrossEntropyLoss))"
    )
    if is_frozen(estimator):
        raise TypeError(
            "TurnOverDropoutScorer trains the net itself (one run in which each row reaches "
            "only its own dropout sub-network), so a prefitted net cannot be reused: pass the "
            f"skorch net unwrapped, not a FrozenEstimator; {example}."
        )
    if not isinstance(estimator, skorch.NeuralNet):
        raise TypeError(
            "TurnOverDropoutScorer's estimator must be a skorch.NeuralNetClassifier whose "
            f"module has nn.Dropout layers; got {type(estimator).__name__}: {example}."
        )
    if not isinstance(estimator, skorch.NeuralNetClassifier):
        raise TypeError(
            "TurnOverDropoutScorer scores classification only: its estimator must be a "
            "skorch.NeuralNetClassifier (one output per class, a cross-entropy or NLL "
            f"criterion); got {type(estimator).__name__}. For a binary problem use "
            "NeuralNetClassifier with two outputs."
        )
    criterion = estimator.criterion
    is_loss = (
        isinstance(criterion, type) and issubclass(criterion, torch.nn.modules.loss._Loss)
    ) or isinstance(criterion, torch.nn.modules.loss._Loss)
    if not is_loss:
        raise TypeError(
            "TurnOverDropoutScorer needs the net's criterion to be a torch loss with a "
            "'reduction' (it scores row by row), e.g. nn.CrossEntropyLoss on logits or "
            f"nn.NLLLoss on probabilities; got {criterion!r}."
        )


@inject_docs
class TurnOverDropoutScorer(BaseInfluenceScorer):
    """Influence of each training row from one training run with turn-over dropout.

    Kobayashi et al. (2020): the network is trained once, each row i only through its own
    dropout sub-network ``m_i`` (see :class:`skinfluence.torch.TurnOverDropout`); the
    complementary sub-network ``1 − m_i`` never saw row i, so
    ``influence[t, i] = L(z_t; 1 − m_i) − L(z_t; m_i)`` estimates the effect of leaving
    row i out: **positive = row i helps z_t**, the sign and units of
    :meth:`InfluenceScorer.influence`. ``scores_`` is each row's self-influence: large for
    mislabelled and atypical rows.

    Read more in the :ref:`User Guide <turnover_dropout>`.

    Parameters
    ----------
    estimator : skorch.NeuralNetClassifier
        The (unfitted) net, as you would train it: its module (a class with ``module__``
        parameters, or an instance) returns one output per class and has ``nn.Dropout``
        layers where the sub-networks split (a clear error otherwise); its criterion
        (``nn.CrossEntropyLoss`` on logits, or skorch's default ``nn.NLLLoss`` on
        probabilities), optimizer, ``lr``, ``max_epochs``, ``batch_size``, callbacks,
        device and iterator parameters (e.g. ``iterator_train__shuffle=True``) are used as
        they are. A clone is trained; the net passed is left untouched.
    p : float in (0, 1), default=0.5
        Fraction of the units of each dropout layer a row's sub-network drops (replaces the
        layers' own rate).
    %(random_state)s
        Seeds torch (initialisation, shuffling; in a forked generator, the global one is
        left alone) and the masks.
    chunk_size : int, default=16384
        Rows per forward pass when scoring (bounds the memory of ``influence``).
    verbose : int, default=0
        The trained clone's ``verbose`` (skorch's epoch log when > 0), replacing the net's.

    Attributes
    ----------
    estimator_ : skorch.NeuralNetClassifier
        The trained clone; its ``module_`` is the :class:`~skinfluence.torch.TurnOverDropout`
        wrapper of the net's module.
    classes_ : ndarray
    scores_ : ndarray of shape (n_train,)
        Self-influence ``L(z_i; 1 − m_i) − L(z_i; m_i)``.
    n_features_in_ : int

    See Also
    --------
    InfluenceScorer : gradient-based influence (needs a Hessian solve).
    MemorizationScorer : the same question answered with K retrainings on subsets.

    Notes
    -----
    The sub-networks are trained on about half the data each (``p = 0.5``), so the estimate
    is the influence of a row within a random half, in the spirit of
    :class:`MemorizationScorer` with ``subsample=0.5``, at the cost of one training run.

    Each entry compares two different half-networks, so it also carries how much better
    one happens to be than its complement, the same for every test row: summed over a
    validation set (``aggregate="sum"``) this term can swamp one row's effect (measured in
    the :ref:`User Guide <turnover_dropout>`).

    How the net is trained: the clone's ``module`` becomes a factory that builds the net's
    own module from its ``module__`` parameters, as skorch does, and wraps it in
    :class:`~skinfluence.torch.TurnOverDropout`; training rows reach it with their
    positions in ``X`` as indices through skorch's dict input, ``{"X": X, "index":
    np.arange(n)}`` (skorch passes the entries to ``forward`` as keyword arguments); ``X``
    is cast to float32; labels are passed as class codes ``0 … K−1``. ``train_split`` is
    set to None: a validation split would leave rows untrained, and their scores
    meaningless.

    Cost: one training run of the net; ``scores_`` two forward passes over the training
    rows; ``influence`` on m test rows 2 n m forward rows (each test row through the two
    sub-networks of every training row), in chunks of ``chunk_size`` rows; memory
    O(chunk_size · width + n m) for the result.

    References
    ----------
    Kobayashi, S., Yokoi, S., Suzuki, J. & Inui, K. (2020). Efficient estimation of
    influence of a training instance. SustaiNLP workshop (EMNLP).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skorch import NeuralNetClassifier
    >>> from torch import nn
    >>> from skinfluence import TurnOverDropoutScorer
    >>> X, y = load_iris(return_X_y=True)
    >>> class MLP(nn.Module):
    ...     def __init__(self, hidden=16):
    ...         super().__init__()
    ...         self.layers = nn.Sequential(
    ...             nn.Linear(4, hidden), nn.ReLU(), nn.Dropout(), nn.Linear(hidden, 3))
    ...     def forward(self, X):
    ...         return self.layers(X)
    >>> net = NeuralNetClassifier(MLP, module__hidden=16, criterion=nn.CrossEntropyLoss,
    ...                           max_epochs=5, lr=1e-2, optimizer__momentum=0.9,
    ...                           iterator_train__shuffle=True, verbose=0)
    >>> scorer = TurnOverDropoutScorer(net, random_state=0).fit(X, y)
    >>> scorer.scores_.shape, scorer.influence(X[:2], y[:2]).shape
    ((150,), (2, 150))
    """

    score_name = "turnover_self_influence"

    _parameter_constraints = {  # noqa: RUF012
        **BaseInfluenceScorer._parameter_constraints,
        "p": [Interval(numbers.Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
        "chunk_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
    }

    def __init__(self, estimator, *, p=0.5, random_state=None, chunk_size=16384, verbose=0):
        self.estimator = estimator
        self.p = p
        self.random_state = random_state
        self.chunk_size = chunk_size
        self.verbose = verbose

    def fit(self, X, y):
        """Train a clone of the net once with turn-over dropout; compute ``scores_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training rows (dense).
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : TurnOverDropoutScorer
            The fitted scorer.
        """
        return super().fit(X, y)

    def _fit(self, X, y, sample_weight):
        torch, skorch, turnover_dropout_module = _import_torch()
        _check_net(self.estimator, torch, skorch)
        self.classes_, y_codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"TurnOverDropoutScorer needs at least 2 classes; got 1 class {self.classes_}."
            )
        rng = check_random_state(self.random_state)
        torch_seed, mask_seed = (int(s) for s in rng.randint(0, 2**31 - 1, size=2))
        net = clone(self.estimator)
        net.set_params(
            module=turnover_dropout_module,
            module__module=net.module,
            module__turnover_p=self.p,
            module__turnover_seed=mask_seed,
            train_split=None,
            verbose=self.verbose,
        )
        X32 = np.asarray(X, dtype=np.float32)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(torch_seed)  # the module's initialisation and the batch order
            net.fit({"X": X32, "index": np.arange(len(y))}, y_codes.astype(np.int64))
        self.estimator_ = net
        self.n_train_ = len(y)
        own = self._losses(X32, y_codes, np.arange(len(y)), flip=False)
        flipped = self._losses(X32, y_codes, np.arange(len(y)), flip=True)
        self.scores_ = flipped - own

    def _losses(self, X32, codes, index, *, flip):
        """The net's criterion on row r under the (flipped) sub-network of training row
        index[r], row by row (as skorch's NeuralNetClassifier computes it: NLLLoss on the
        log of the module's probabilities)."""
        torch, _, _ = _import_torch()
        net = self.estimator_
        module = net.module_
        module.eval()
        criterion = copy.copy(net.criterion_)
        criterion.reduction = "none"
        out = np.empty(len(codes))
        device = net.device
        with torch.no_grad():
            for rows in gen_batches(len(codes), self.chunk_size):
                y_pred = module(
                    torch.as_tensor(X32[rows], device=device),
                    index=torch.as_tensor(index[rows], device=device),
                    flip=flip,
                )
                self._check_outputs(y_pred)
                if isinstance(criterion, torch.nn.NLLLoss):
                    y_pred = torch.log(y_pred + torch.finfo(y_pred.dtype).eps)
                target = torch.as_tensor(codes[rows], device=device)
                out[rows] = criterion(y_pred, target).double().cpu().numpy()
        return out

    def _check_outputs(self, y_pred):
        n_classes = len(self.classes_)
        if y_pred.ndim != 2 or y_pred.shape[1] != n_classes:
            raise ValueError(
                f"The net's module returns outputs of shape {tuple(y_pred.shape)} for "
                f"{n_classes} classes; TurnOverDropoutScorer needs one output per class, "
                f"shape (batch, {n_classes}): size the module's last layer to {n_classes} "
                "(e.g. through a module__ parameter of the net)."
            )

    def _influence(self, X_test, y_test):
        # L(z_t; 1 − m_i) − L(z_t; m_i): positive = row i helps test row t.
        X32 = np.asarray(X_test, dtype=np.float32)
        codes = encode_labels(self.classes_, y_test)
        m, n = len(codes), self.n_train_
        infl = np.empty((m, n))
        # Pairs (t, i) in blocks of training rows: every test row, under each row's two masks.
        per_block = max(1, self.chunk_size // max(m, 1))
        for train_rows in gen_batches(n, per_block):
            idx = np.arange(n)[train_rows]
            X_rep, codes_rep = np.tile(X32, (len(idx), 1)), np.tile(codes, len(idx))
            index_rep = np.repeat(idx, m)
            diff = self._losses(X_rep, codes_rep, index_rep, flip=True) - self._losses(
                X_rep, codes_rep, index_rep, flip=False
            )
            infl[:, train_rows] = diff.reshape(len(idx), m).T
        return infl

    def _predicted_labels(self, X):
        # The full network: no mask, every sub-network together.
        return self.classes_[np.argmax(self._full_network_proba(X), axis=1)]

    def _score_samples(self, X, y):
        # Self-influence needs a row's own sub-network, which only training rows have
        # (scores_): any other row gets its cross-entropy under the full network.
        return label_log_loss(self._full_network_proba(X), encode_labels(self.classes_, y))

    def _full_network_proba(self, X):
        """Class probabilities of the full network (no mask) on validated rows."""
        X32 = np.asarray(X, dtype=np.float32)
        return self.estimator_.predict_proba(X32).astype(np.float64)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False  # the module's first layer takes a dense tensor
        return tags
