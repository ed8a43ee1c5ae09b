"""``TracInScorer``: gradient similarity summed over training checkpoints (Pruthi et al. 2020)."""

import glob
import numbers
import os
import re
from collections.abc import Mapping

import numpy as np
from sklearn.utils import _safe_indexing, gen_batches
from sklearn.utils._param_validation import Interval

from .._utils._docstring import inject_docs
from .._utils._optional import import_optional
from .._utils._progress import progress
from .._validation import check_chunk_size, shared_constraints
from ..models import adapter_for, training_gradients
from ._base import BaseInfluenceScorer, fit_clone


def _natural_key(path):
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", str(path))]


@inject_docs
class TracInScorer(BaseInfluenceScorer):
    """TracIn: how much each training row lowered the loss of a test row along training.

    ``influence(X_test, y_test)[t, i] = w_i Σ_c η_c ∇ℓ(z_t; θ_c) · ∇ℓ(z_i; θ_c)`` over
    checkpoints θ_c saved during training with learning rates η_c (TracInCP, Pruthi et al.
    2020): positive = row i helped z_t (a proponent), negative = it hurt (an opponent), the
    same sign as :class:`InfluenceScorer`. ``scores_`` is each row's self-influence
    ``Σ_c η_c ‖∇ℓ(z_i; θ_c)‖²``: large for mislabelled and atypical rows (higher = more
    suspect). With one checkpoint (the fitted model) and η = 1 it is
    ``InfluenceScorer(method="identity")``.

    Read more in the :ref:`User Guide <tracin>`.

    Parameters
    ----------
    %(estimator_fitted)s
        A model with a gradient adapter (linear models, skorch nets, ``TorchModule``).
    checkpoints : str, list or None, default=None
        None: the fitted model only. A list whose items are state-dict files written by
        ``torch.save`` (e.g. skorch's ``Checkpoint(f_params="params_{last_epoch[epoch]}.pt")``),
        state dicts, or fitted estimators (e.g. snapshots of an ``SGDClassifier``). A string
        is a glob pattern of files, read after the clone is fitted (so a net that saves its
        own checkpoints works inside cross-validation), in natural order.
    learning_rates : float or array-like of shape (n_checkpoints,), default=None
        η_c of each checkpoint; None: 1 for each (rankings are unchanged for a constant rate).
    %(chunk_size)s
        Rows whose gradients are formed at once (default 4096).
    %(verbose)s
        The loop is over checkpoints.

    Attributes
    ----------
    estimator_ : estimator
        The fitted model.
    adapters_ : list of ModelAdapter
        One adapter per checkpoint.
    learning_rates_ : ndarray of shape (n_checkpoints,)
    scores_ : ndarray of shape (n_train,)
        TracIn self-influence of each training row.
    train_weights_ : ndarray of shape (n_train,)
    n_features_in_ : int

    See Also
    --------
    InfluenceScorer : the Hessian-weighted version, in leave-one-out units.

    Notes
    -----
    Cost with C checkpoints, n training rows, m test rows and p parameters: ``fit``
    O(C n p) (one per-sample gradient per row and checkpoint); ``influence`` O(C (n + m) p
    + C n m p), memory O(chunk · p + n m). Units are those of a loss change summed over SGD
    steps with batch size 1; divide by the batch size for minibatch training.

    References
    ----------
    Pruthi, G., Liu, F., Kale, S. & Sundararajan, M. (2020). Estimating training data
    influence by tracing gradient descent. NeurIPS.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import scale
    >>> from skinfluence import TracInScorer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = scale(X)
    >>> snapshots = [LogisticRegression(max_iter=m).fit(X, y) for m in (1, 3, 100)]
    >>> scorer = TracInScorer(LogisticRegression(), checkpoints=snapshots).fit(X, y)
    >>> scorer.influence(X[:2], y[:2]).shape
    (2, 569)
    """

    score_name = "tracin_self_influence"

    _parameter_constraints = {  # noqa: RUF012
        **BaseInfluenceScorer._parameter_constraints,
        **shared_constraints("chunk_size", "verbose"),
        "checkpoints": [list, str, None],
        "learning_rates": ["array-like", Interval(numbers.Real, 0, None, closed="neither"), None],
    }

    def __init__(
        self, estimator, *, checkpoints=None, learning_rates=None, chunk_size=None, verbose=0
    ):
        self.estimator = estimator
        self.checkpoints = checkpoints
        self.learning_rates = learning_rates
        self.chunk_size = chunk_size
        self.verbose = verbose

    def _fit(self, X, y, sample_weight):
        self.estimator_ = fit_clone(self.estimator, X, y, sample_weight)
        base = adapter_for(self.estimator_)
        self.adapters_ = self._checkpoint_adapters(base)
        self.learning_rates_ = self._checked_rates(len(self.adapters_))
        self.train_X_, self.train_y_ = X, y
        self.train_weights_ = base.row_weights(y, sample_weight)
        self.train_shares_ = base.penalty_shares(y, sample_weight)
        self.scores_ = self._self_influence(X, y, self.train_weights_, self.train_shares_)

    def _checkpoint_adapters(self, base):
        items = self.checkpoints
        if items is None:
            return [base]
        if isinstance(items, str):
            paths = sorted(glob.glob(items), key=_natural_key)
            if not paths:
                raise ValueError(f"checkpoints={items!r} matches no file.")
            items = paths
        if len(items) == 0:
            raise ValueError("checkpoints is an empty list; pass None to use the fitted model.")
        adapters = []
        for item in items:
            if isinstance(item, (str, os.PathLike)):
                torch = import_optional(
                    "torch", extra="torch", caller="TracInScorer(checkpoints=files)"
                )
                item = torch.load(item, map_location="cpu", weights_only=True)
            if isinstance(item, Mapping):
                if not hasattr(base, "at_state_dict"):
                    raise TypeError(
                        "State-dict checkpoints need a torch model; for "
                        f"{type(self.estimator_).__name__} pass fitted estimators as checkpoints."
                    )
                adapters.append(base.at_state_dict(item))
            else:
                adapters.append(adapter_for(item))
        return adapters

    def _checked_rates(self, n_checkpoints):
        if self.learning_rates is None:
            return np.ones(n_checkpoints)
        rates = np.asarray(self.learning_rates, dtype=np.float64)
        if (rates.ndim == 1 and len(rates) != n_checkpoints) or rates.ndim > 1:
            raise ValueError(
                f"learning_rates has shape {rates.shape} for {n_checkpoints} checkpoints; pass "
                "one per checkpoint or a scalar."
            )
        rates = np.broadcast_to(rates, (n_checkpoints,)).copy()
        if not np.all(np.isfinite(rates)) or np.any(rates <= 0):
            raise ValueError(f"learning_rates must be positive; got {self.learning_rates!r}.")
        return rates

    @property
    def _chunk(self):
        return check_chunk_size(self.chunk_size)

    def _self_influence(self, X, y, weights, shares):
        # g_iᵀ (w_i g_i + c_i ∇q): the training step of row i includes its penalty share
        # (families whose estimator minimises a mean loss plus a penalty), its own loss not.
        n = len(y)
        out = np.zeros(n)
        for rate, adapter in self._progress():
            share = adapter.penalty_share_gradient()
            for rows in gen_batches(n, self._chunk):
                G = adapter.gradients(_safe_indexing(X, rows), y[rows])
                out[rows] += rate * weights[rows] * G.row_norms(self._chunk) ** 2
                if share is not None:
                    out[rows] += rate * shares[rows] * G.matmul(share[:, None])[:, 0]
        return out

    def _score_samples(self, X, y):
        base = self.adapters_[0]
        return self._self_influence(X, y, base.row_weights(y), base.penalty_shares(y))

    def _influence(self, X_test, y_test):
        m, n = len(y_test), len(self.train_y_)
        out = np.zeros((m, n))
        for rate, adapter in self._progress():
            for t_rows in gen_batches(m, self._chunk):
                T = adapter.gradients(_safe_indexing(X_test, t_rows), y_test[t_rows])
                T = T.dense_rows(slice(None)).T  # (p, m_chunk)
                for rows in gen_batches(n, self._chunk):
                    G = training_gradients(
                        adapter,
                        _safe_indexing(self.train_X_, rows),
                        self.train_y_[rows],
                        self.train_weights_[rows],
                        self.train_shares_[rows],
                    )
                    out[t_rows, rows] += rate * G.matmul(T).T
        return out

    def _progress(self):
        pairs = zip(self.learning_rates_, self.adapters_, strict=True)
        return progress(
            pairs,
            verbose=self.verbose,
            total=len(self.adapters_),
            desc=type(self).__name__,
            unit="checkpoint",
        )
