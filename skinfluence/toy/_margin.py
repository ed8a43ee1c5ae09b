"""``MarginScorer``: difficulty as closeness to a probe's decision boundary (Sorscher et al.)."""

import numpy as np
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_is_fitted

from ..scorers._base import BaseTrainingScorer, fit_clone, validated_sample_weight


def _is_estimator(probe):
    return hasattr(probe, "fit")


class MarginScorer(BaseTrainingScorer):
    """Margin difficulty: the distance of each row to a probe's decision boundary, negated.

    ``score = −|x·w + b| / ‖w‖`` for the probe hyperplane ``(w, b)``: **higher = harder**,
    i.e. rows closer to the boundary (smaller margin) score higher, as for every scorer in
    skinfluence; the easiest rows have the most negative scores. With
    ``PruningSelector(keep="hard")`` the rows nearest the probe's boundary are kept, with
    ``keep="easy"`` the farthest — the pruning of Sorscher et al. (2022), whose probe at
    angle θ to the teacher (:func:`~skinfluence.toy.make_probe`) models an imperfect
    pruning metric. The score needs no label.

    Parameters
    ----------
    probe : array-like of shape (n_features,), estimator or None, default=None
        A fixed direction ``w`` (b = 0), or a linear binary classifier with ``coef_`` (and
        ``intercept_``) fitted as a clone on ``(X, y)`` in ``fit``; None fits a
        max-margin :class:`~skinfluence.toy.PerceptronStudent` (the student as its own
        probe).

    Attributes
    ----------
    probe_ : ndarray of shape (n_features,)
        Unit normal of the probe's hyperplane.
    offset_ : float
        The hyperplane's offset ``b / ‖w‖`` (0 for a fixed direction).
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
    Cost: O(n p) time, O(n) memory, plus fitting the probe when it is an estimator.

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
    >>> bool(abs(X[hardest] @ teacher) == abs(X @ teacher).min())
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
        self._validate_params()
        if self.probe is not None and not _is_estimator(self.probe):
            X = self._validate_X(X, reset=True)
            w = np.asarray(self.probe, dtype=np.float64)
            if w.shape != (X.shape[1],) or not np.all(np.isfinite(w)) or not np.any(w):
                raise ValueError(
                    f"probe must be a finite, non-zero vector of length n_features="
                    f"{X.shape[1]}; got shape {w.shape}. Pass a direction such as "
                    "make_probe(teacher, angle) or an estimator."
                )
            b = 0.0
        else:
            X, y = self._validate_Xy(X, y, reset=True)
            sample_weight = validated_sample_weight(sample_weight, len(y))
            if self.probe is None:
                from ._student import PerceptronStudent

                probe = PerceptronStudent()
            else:
                probe = self.probe
            self.estimator_ = fit_clone(probe, X, y, sample_weight)
            coef = getattr(self.estimator_, "coef_", None)
            if coef is None or np.ravel(coef).shape != (X.shape[1],):
                raise TypeError(
                    f"probe must be a linear binary classifier with coef_ of shape "
                    f"(1, n_features); got {type(self.estimator_).__name__}. Use e.g. "
                    "PerceptronStudent or LogisticRegression, or pass a direction."
                )
            w = np.ravel(coef).astype(np.float64)
            b = float(np.ravel(getattr(self.estimator_, "intercept_", 0.0))[0])
        norm = np.linalg.norm(w)
        if norm == 0:
            raise ValueError(
                "The fitted probe has a zero coefficient vector, so its boundary (and every "
                "margin) is undefined; use a probe that separates the classes."
            )
        self.probe_ = w / norm
        self.offset_ = b / norm
        self.scores_ = self._negative_margin(X)
        return self

    def _negative_margin(self, X):
        return -np.abs(np.asarray(X @ self.probe_).ravel() + self.offset_)

    def score_samples(self, X, y=None):
        """``−|distance to the probe's boundary|`` of each row (y is ignored).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self._negative_margin(self._validate_X(X, reset=False))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        fixed = self.probe is not None and not _is_estimator(self.probe)
        tags.target_tags.required = not fixed
        tags.input_tags.sparse = fixed
        return tags
