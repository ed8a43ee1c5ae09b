"""``GradientOutlierScorer``: Outlier Gradient Analysis (Chhabra et al. 2024)."""

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.ensemble import IsolationForest
from sklearn.utils import _safe_indexing, check_random_state, gen_batches
from sklearn.utils._param_validation import HasMethods, Interval

from .._utils._docstring import inject_docs
from .._utils._random import draw_seeds
from .._validation import check_chunk_size, shared_constraints
from ..models import LinearGradientMatrix, adapter_for
from ._base import BaseTrainingScorer, fit_clone


@inject_docs
class GradientOutlierScorer(BaseTrainingScorer):
    """Outlier Gradient Analysis: rows whose loss gradient is an outlier are detrimental.

    Each training row's per-sample loss gradient ``∇θ ℓ(z_i; θ)`` at the fitted parameters is
    a point in parameter space; an outlier detector fitted on these points scores them.
    Chhabra et al. (2024) show that the rows influence functions flag as detrimental are the
    gradient-space outliers, so this needs no Hessian. ``scores_`` is the detector's
    abnormality (``−score_samples``, or ``−decision_function``): **higher = more likely
    detrimental** (mislabelled, atypical).

    Read more in the :ref:`User Guide <gradient_outlier>`.

    Parameters
    ----------
    %(estimator_fitted)s
        A model with a gradient adapter (linear models, skorch nets, ``TorchModule``;
        ``skinfluence.models.ParameterSubset`` to use, e.g., the last layer only).
    detector : outlier detector, default=None
        Any scikit-learn outlier detector with ``fit`` and ``score_samples`` or
        ``decision_function`` (lower = more abnormal), e.g. ``LocalOutlierFactor(
        novelty=True)``. None: ``IsolationForest(random_state=random_state)``, the paper's
        choice.
    max_fit_samples : int, default=None
        Fit the detector on a random subset of this many gradients (memory O(max_fit_samples ·
        p)); all rows are scored, in chunks. None: all rows.
    %(chunk_size)s
        Rows whose gradients are formed at once when scoring (default 4096).
    %(random_state)s
        Seeds the default detector and the subset of ``max_fit_samples``.

    Attributes
    ----------
    estimator_ : estimator
        The fitted model.
    adapter_ : ModelAdapter
    detector_ : estimator
        The fitted detector.
    scores_ : ndarray of shape (n_train,)
        Abnormality of each training row's gradient.
    n_features_in_ : int

    See Also
    --------
    InfluenceScorer : self-influence, the Hessian-weighted score this approximates.

    Notes
    -----
    Cost (n rows, p parameters): gradients O(n p); the detector on an n × p matrix (an
    isolation forest: O(t ψ log ψ) to fit with t trees of ψ = 256 rows, O(n t log ψ) to
    score). Linear models give their gradients from the structured form: with sparse X the
    detector receives a sparse matrix of O(nnz(X) K) entries, never a dense n × p one; the
    dense matrix of the rows the detector is fitted on is formed otherwise
    (``max_fit_samples`` bounds it), and scoring runs in chunks.

    References
    ----------
    Chhabra, A., Li, B., Chen, J., Mohapatra, P. & Liu, H. (2024). Outlier gradient
    analysis: efficiently identifying detrimental training samples for deep learning
    models. arXiv:2405.03869 (ICML 2025).

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import scale
    >>> from skinfluence import GradientOutlierScorer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = scale(X)
    >>> scorer = GradientOutlierScorer(LogisticRegression(), random_state=0).fit(X, y)
    >>> scorer.scores_.shape
    (569,)
    """

    score_name = "gradient_outlier_score"

    _parameter_constraints = {  # noqa: RUF012
        **BaseTrainingScorer._parameter_constraints,
        **shared_constraints("chunk_size", "random_state"),
        "detector": [HasMethods(["fit"]), None],
        "max_fit_samples": [Interval(numbers.Integral, 2, None, closed="left"), None],
    }

    def __init__(
        self, estimator, *, detector=None, max_fit_samples=None, chunk_size=None, random_state=None
    ):
        self.estimator = estimator
        self.detector = detector
        self.max_fit_samples = max_fit_samples
        self.chunk_size = chunk_size
        self.random_state = random_state

    def _fit(self, X, y, sample_weight):
        rng = check_random_state(self.random_state)
        if self.detector is None:
            detector = IsolationForest(random_state=draw_seeds(rng, 1)[0])
        else:
            detector = clone(self.detector)
            if not (hasattr(detector, "score_samples") or hasattr(detector, "decision_function")):
                raise TypeError(
                    f"detector={self.detector!r} has neither score_samples nor "
                    "decision_function; pass an outlier detector such as IsolationForest or "
                    "LocalOutlierFactor(novelty=True)."
                )
        self.estimator_ = fit_clone(self.estimator, X, y, sample_weight)
        self.adapter_ = adapter_for(self.estimator_)
        n = len(y)
        rows = np.arange(n)
        if self.max_fit_samples is not None and self.max_fit_samples < n:
            rows = np.sort(rng.choice(n, self.max_fit_samples, replace=False))
        G_fit = self.adapter_.gradients(_safe_indexing(X, rows), y[rows])
        self.detector_ = detector.fit(_as_detector_input(G_fit))
        self.scores_ = self._score_samples(X, y)

    def _score_samples(self, X, y):
        """Abnormality of the loss gradients of labelled rows (higher = more outlying)."""
        out = np.empty(len(y))
        score = getattr(self.detector_, "score_samples", None)
        if score is None:
            score = self.detector_.decision_function
        for rows in gen_batches(len(y), check_chunk_size(self.chunk_size)):
            G = self.adapter_.gradients(_safe_indexing(X, rows), y[rows])
            out[rows] = -np.asarray(score(_as_detector_input(G)), dtype=np.float64)
        return out


def _as_detector_input(G):
    """The gradient rows as the detector's input: sparse for a linear model on sparse X."""
    if isinstance(G, LinearGradientMatrix) and sp.issparse(G.X):
        return sparse_linear_gradients(G)
    return G.dense_rows(slice(None))


def sparse_linear_gradients(G):
    """Rows ``x̃_i ⊗ r_i`` of a linear model on sparse X as a CSR matrix (O(nnz · K) entries)."""
    X = sp.csr_matrix(G.X)
    if G.fit_intercept:
        X = sp.hstack([X, np.ones((X.shape[0], 1))], format="csr")
    K = G.n_outputs
    row_of_entry = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    data = (X.data[:, None] * G.R[row_of_entry]).ravel()
    indices = (X.indices[:, None] * K + np.arange(K)[None, :]).ravel()
    return sp.csr_matrix((data, indices, X.indptr * K), shape=G.shape)
