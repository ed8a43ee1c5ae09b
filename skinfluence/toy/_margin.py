"""``MarginScorer``: difficulty as closeness to a probe's decision boundary (Sorscher et al.)."""

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods

from ..scorers._base import BaseTrainingScorer, fit_clone


def _is_estimator(probe):
    return hasattr(probe, "fit")


class MarginScorer(BaseTrainingScorer):
    """Margin difficulty: the distance of each row to a probe's decision boundary, negated.

    ``score = −|x·w + b| / ‖w‖`` for the probe hyperplane ``(w, b)`` (with K > 2 classes:
    minus the distance to the nearest boundary of the predicted class,
    ``min_k (η_top − η_k) / ‖w_top − w_k‖``): **higher = harder**,
    i.e. rows closer to the boundary (smaller margin) score higher, as for every scorer in
    skinfluence; the easiest rows have the most negative scores. With
    ``PruningSelector(keep="hard")`` the rows nearest the probe's boundary are kept, with
    ``keep="easy"`` the farthest — the pruning of Sorscher et al. (2022), whose probe at
    angle θ to the teacher (:func:`~skinfluence.toy.make_probe`) models an imperfect
    pruning metric. The score needs no label.

    Read more in the :ref:`User Guide <margin_scorer>`.

    Parameters
    ----------
    probe : array-like of shape (n_features,), estimator or None, default=None
        A fixed direction ``w`` (b = 0), e.g. :func:`~skinfluence.toy.make_probe`'s, or a
        linear classifier with ``coef_`` (and ``intercept_``) fitted as a clone on
        ``(X, y)`` in ``fit``, e.g. :class:`~skinfluence.toy.PerceptronStudent` for the
        max-margin student as its own probe. None: ``LogisticRegression()``.

    Attributes
    ----------
    coef_ : ndarray of shape (n_hyperplanes, n_features)
        The probe's weights ``w`` (one row for a direction or a binary classifier).
    intercept_ : ndarray of shape (n_hyperplanes,)
        Its offsets ``b`` (0 for a fixed direction).
    estimator_ : estimator
        The fitted probe model (only when ``probe`` is an estimator or None).
    scores_ : ndarray of shape (n_train,)
        ``−margin`` of each training row.
    n_features_in_ : int

    See Also
    --------
    skinfluence.toy.theory_test_error : what keeping hard or easy rows does to the student.

    Notes
    -----
    Cost: O(n p K + n K) time, O(n K) memory for K hyperplanes (K = 1 for a direction or a
    binary probe), plus fitting the probe when it is an estimator.

    References
    ----------
    Sorscher et al., "Beyond neural scaling laws: beating power law scaling via data
    pruning", NeurIPS 2022.

    Examples
    --------
    >>> from skinfluence.toy import MarginScorer, make_teacher_student
    >>> X, y, teacher = make_teacher_student(200, 10, random_state=0)
    >>> scorer = MarginScorer(teacher).fit(X)
    >>> hardest = scorer.scores_.argmax()   # the row nearest the teacher's boundary
    >>> bool(hardest == abs(X @ teacher).argmin())
    True
    """

    score_name = "negative_margin"

    _parameter_constraints = {  # noqa: RUF012
        "probe": ["array-like", HasMethods(["fit"]), None],
    }

    def __init__(self, probe=None):
        self.probe = probe

    def fit(self, X, y=None, sample_weight=None):
        """Fix or fit the probe and score the training rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            Needed only when the probe is an estimator (or None).
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to the probe estimator's fit.

        Returns
        -------
        self : MarginScorer
        """
        return super().fit(X, y, sample_weight=sample_weight)

    def _fit(self, X, y, sample_weight):
        if self.probe is not None and not _is_estimator(self.probe):
            w = np.asarray(self.probe, dtype=np.float64)
            if w.shape != (X.shape[1],) or not np.all(np.isfinite(w)) or not np.any(w):
                raise ValueError(
                    f"probe must be a finite, non-zero vector of length n_features="
                    f"{X.shape[1]}; got shape {w.shape}. Pass a direction such as "
                    "make_probe(teacher, angle) or an estimator."
                )
            b = np.zeros(1)
        else:
            probe = LogisticRegression() if self.probe is None else self.probe
            self.estimator_ = fit_clone(probe, X, y, sample_weight)
            coef = getattr(self.estimator_, "coef_", None)
            if coef is None or np.shape(coef)[-1] != X.shape[1]:
                raise TypeError(
                    f"probe must be a linear classifier with coef_ of shape (n_classes or 1, "
                    f"n_features); got {type(self.estimator_).__name__}. Use e.g. "
                    "PerceptronStudent or LogisticRegression, or pass a direction."
                )
            w = np.asarray(coef, dtype=np.float64)
            b = np.ravel(getattr(self.estimator_, "intercept_", 0.0)).astype(np.float64)
        self.coef_ = np.atleast_2d(w).astype(np.float64)
        self.intercept_ = np.broadcast_to(b, (self.coef_.shape[0],)).astype(np.float64)
        if not np.any(self.coef_):
            raise ValueError(
                "The fitted probe has a zero coefficient vector, so its boundary (and every "
                "margin) is undefined; use a probe that separates the classes."
            )
        self.scores_ = self._negative_margin(X)

    def _negative_margin(self, X):
        eta = np.asarray(X @ self.coef_.T) + self.intercept_  # (n, K)
        if self.coef_.shape[0] == 1:
            return -np.abs(eta[:, 0]) / np.linalg.norm(self.coef_[0])
        # Distance to the nearest boundary of the predicted class: min over the other
        # classes k of (η_top − η_k) / ‖w_top − w_k‖.
        diff_norms = np.linalg.norm(self.coef_[:, None, :] - self.coef_[None, :, :], axis=2)
        top = np.argmax(eta, axis=1)
        gaps = eta[np.arange(len(top)), top][:, None] - eta
        norms = diff_norms[top]
        with np.errstate(divide="ignore", invalid="ignore"):
            dist = np.where(norms > 0, gaps / norms, np.inf)
        dist[np.arange(len(top)), top] = np.inf
        return -np.min(dist, axis=1)

    def _score_samples(self, X, y):
        return self._negative_margin(X)  # label-free: y is ignored

    def _predicted_labels(self, X):
        return None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        fixed = self.probe is not None and not _is_estimator(self.probe)
        tags.target_tags.required = not fixed
        if fixed:
            tags.input_tags.sparse = True
        else:
            probe = LogisticRegression() if self.probe is None else self.probe
            tags.input_tags.sparse = get_tags(probe).input_tags.sparse
        return tags
