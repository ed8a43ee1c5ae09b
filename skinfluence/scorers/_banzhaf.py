"""``BanzhafScorer``: Data Banzhaf values by maximum sample reuse (Wang & Jia 2023)."""

import numbers

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .._utils._docstring import inject_docs
from .._validation import shared_constraints
from ._base import BaseInfluenceScorer
from ._subsets import SubsetScorer


@inject_docs
class BanzhafScorer(SubsetScorer):
    """Data Banzhaf values estimated by maximum sample reuse, for any model.

    The Banzhaf value of row i for a utility U (a model's performance after training on a
    set of rows) is the mean, over all subsets S of the other rows, of ``U(S ∪ {i}) −
    U(S)``. Wang & Jia (2023)'s maximum-sample-reuse (MSR) estimator draws K subsets
    uniformly (each row in with probability 1/2), trains one model on each and reuses
    every model for every row: ``φ_i ≈ mean U(S | i ∈ S) − mean U(S | i ∉ S)``. Of the
    semivalues, Banzhaf is the most robust to the noise of retraining (a stochastic model
    gives a different U on each fit). Positive = the row helps.

    ``influence(X_test, y_test)[t, i]`` is row i's Banzhaf value for the model's accuracy
    (or minus its loss) on test row t, so ``influence(X_val, y_val, aggregate="mean")`` is
    the paper's value for accuracy on a validation set.
    ``scores_`` needs no validation set: minus row i's value for the performance on the
    training rows the model did not see (other than i), higher = more suspect.

    Read more in the :ref:`User Guide <data_valuation>`.

    Parameters
    ----------
    %(estimator_retrained)s
        Any scikit-learn classifier (or regressor with ``scoring="loss"``).
    n_estimators : int, default=200
        Number of subset models K. Every value is a difference of two means of about K/2
        models each: the standard error ``scores_std_`` shrinks as ``1/√K``.
    scoring : {"accuracy", "loss"}, default="accuracy"
        The utility: 0/1 correctness (the paper's) or minus the per-sample loss (the
        model's own loss where skinfluence has an adapter, else log-loss / squared error).
    %(random_state)s
        Draws the subsets and a seed for each model (every ``random_state`` of the
        estimator, nested ones too).
    %(n_jobs)s
    %(verbose)s

    Attributes
    ----------
    estimator_ : estimator
        The model fitted on all rows (labels for ``y=None``).
    estimators_ : list of estimators
        The K subset models (None for an empty subset, a ``DummyClassifier`` for a
        subset with one class: see Notes).
    in_bag_ : ndarray of bool, shape (n_estimators, n_train)
        ``in_bag_[k, i]``: row i was in model k's subset.
    values_ : ndarray of shape (n_train,)
        Each row's Banzhaf value for the performance on the held-out training rows.
    scores_ : ndarray of shape (n_train,)
        ``-values_``: higher = more suspect.
    scores_std_ : ndarray of shape (n_train,)
        Standard error of ``scores_``.
    n_out_ : ndarray of int, shape (n_train,)
        Number of subsets without each row.
    classes_ : ndarray
        Class labels (classifiers).

    See Also
    --------
    MemorizationScorer : the same engine on fixed-size subsets, the row's effect on itself.
    KNNShapleyScorer : exact Shapley values of a nearest-neighbour classifier.
    DataOOBScorer : out-of-bag accuracy of a bagging model.

    Notes
    -----
    ``scores_`` uses, for model k and row i, the utility ``u_k(i)`` = the model's mean
    performance on the training rows outside its subset, row i excluded (a held-out set
    that never contains the row valued; the paper's validation set is a fixed one, the
    argument of ``influence``). Then ``values_[i] = mean u_k(i | i ∈ S_k) − mean u_k(i |
    i ∉ S_k)``.

    A subset a model cannot be trained on is given a fixed stand-in, part of the utility:
    the empty subset (probability 2⁻ⁿ) has accuracy 0 (loss: uniform probabilities, or
    predicting 0 for regressors), a single-class subset of a classifier predicts that class
    (``DummyClassifier(strategy="prior")``).

    Cost: K + 1 fits on about n/2 rows each, K predictions on the n training rows, O(n)
    running sums (the K × n matrix of scores is never stored); memory for K models and
    ``in_bag_`` (K n bytes). ``influence`` on m test rows: K predictions and O(K m n).

    References
    ----------
    Wang, J. T. & Jia, R. (2023). Data Banzhaf: a robust data valuation framework for
    machine learning. AISTATS.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skinfluence import BanzhafScorer
    >>> X, y = load_iris(return_X_y=True)
    >>> banzhaf = BanzhafScorer(DecisionTreeClassifier(), n_estimators=30,
    ...                         random_state=0).fit(X[::2], y[::2])
    >>> banzhaf.influence(X[1::2], y[1::2], aggregate="mean").shape
    (75,)
    """

    score_name = "banzhaf"

    _parameter_constraints = {  # noqa: RUF012
        **BaseInfluenceScorer._parameter_constraints,
        **shared_constraints("random_state", "n_jobs", "verbose"),
        "n_estimators": [Interval(numbers.Integral, 2, None, closed="left")],
        "scoring": [StrOptions({"accuracy", "loss"})],
    }

    def __init__(
        self,
        estimator,
        *,
        n_estimators=200,
        scoring="accuracy",
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.scoring = scoring
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _draw_subsets(self, n, rng):
        if n < 2:
            raise ValueError(f"BanzhafScorer needs at least 2 training rows; got n_samples={n}.")
        # Uniform over all 2^n subsets: each row in with probability 1/2, independently.
        in_bag = rng.random_sample((self.n_estimators, n)) < 0.5
        return [np.flatnonzero(row) for row in in_bag]

    def _row_values(self, perf, in_bag_row):
        # u_k(i): mean performance on the rows outside the subset, row i excluded.
        out = (~in_bag_row).astype(np.float64)
        total, count = perf @ out, out.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            values = (total - perf * out) / (count - out)
        values[count - out == 0] = np.nan  # no held-out row: this model says nothing on i
        return values

    def _set_scores(self, moments):
        diff, self.scores_std_ = moments.difference()
        self.values_ = -diff if self.scoring == "loss" else diff
        self.scores_ = -self.values_
