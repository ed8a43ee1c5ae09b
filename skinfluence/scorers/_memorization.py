"""``MemorizationScorer``: Feldman & Zhang's subsampled memorisation and influence estimates."""

import numbers
import warnings

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .._utils._docstring import inject_docs
from .._validation import shared_constraints
from ..exceptions import ApproximationWarning
from ._base import BaseInfluenceScorer
from ._subsets import SubsetScorer

# Share of the training rows that may be misfitted by the models that saw them before 0/1
# memorisation is flagged as meaningless (a model that memorises misfits none).
_MISFIT_SHARE = 0.01


@inject_docs
class MemorizationScorer(SubsetScorer):
    """Memorisation and influence estimated from models trained on random subsets.

    Feldman & Zhang (2020): fit ``n_estimators`` clones of any estimator, each on a random
    ``subsample`` fraction of the training rows. The **memorisation** of row i is how much
    better the models that saw i do on i than the models that did not:
    ``mem_i = acc(i | i ∈ S) − acc(i | i ∉ S)`` (``scoring="accuracy"``, in [−1, 1]) or
    ``L(i | i ∉ S) − L(i | i ∈ S)`` (``scoring="loss"``, mean loss). High memorisation =
    the row's label is only predicted when the row itself is seen: mislabelled or atypical
    rows, so higher = more suspect. No gradients are needed (forests, boosting, nets).

    Read more in the :ref:`User Guide <memorization>`.

    Parameters
    ----------
    %(estimator_retrained)s
        Any scikit-learn classifier (or regressor with ``scoring="loss"``).
    n_estimators : int, default=100
        Number of subset models K. Each row is left out of about ``K (1 − subsample)`` of
        them; the standard error ``scores_std_`` shrinks as ``1/√K``.
    subsample : float in (0, 1), default=0.7
        Fraction of the rows each model is trained on (Feldman & Zhang use 0.7).
    scoring : {"loss", "accuracy"}, default="loss"
        Performance compared between models that saw a row and models that did not: the
        per-sample loss (the model's own loss where skinfluence has an adapter, else
        log-loss / squared error, in the units of :class:`LeaveOneOutScorer`) or 0/1
        correctness (Feldman & Zhang's definition). The loss ranks suspect rows with any
        model; 0/1 memorisation only with a model that fits the rows it was trained on
        (it warns when the subset models misclassify more than 1 % of the rows they saw):
        see Notes.
    %(random_state)s
        Draws the subsets and a seed for each model: every ``random_state`` parameter of the
        estimator (nested ones too) is set to its model's seed, so that the models are
        independent runs, reproducible from this one value.
    %(n_jobs)s
    %(verbose)s

    Attributes
    ----------
    estimator_ : estimator
        The model fitted on all rows (labels for ``y=None``).
    estimators_ : list of estimators
        The K subset models.
    in_bag_ : ndarray of bool, shape (n_estimators, n_train)
        ``in_bag_[k, i]``: row i was in model k's training subset.
    scores_ : ndarray of shape (n_train,)
        Memorisation of each training row (NaN, with a warning, for a row that was never
        or always left out).
    scores_std_ : ndarray of shape (n_train,)
        Standard error of ``scores_`` (difference of two means of independent models).
    out_of_subset_performance_ : ndarray of shape (n_train,)
        The "left out" half: each row's mean accuracy (or loss) under the models that did
        not see it, Data-OOB's value (:class:`DataOOBScorer`) with random subsets for the
        bootstrap.
    n_out_ : ndarray of int, shape (n_train,)
        Number of models that did not see each row.
    classes_ : ndarray
        Class labels (classifiers).

    See Also
    --------
    LeaveOneOutScorer : exact leave-one-out retraining (n + 1 fits).
    InfluenceScorer : gradient-based influence for models with an adapter.
    BanzhafScorer : the same engine on uniformly random subsets (Data Banzhaf).
    DataOOBScorer : the out-of-bag half alone, from a bagging model's own bootstrap.

    Notes
    -----
    **Which variant means what.** Memorisation is "in minus out": how much seeing row i
    changes the models' performance on i. With 0/1 accuracy (Feldman & Zhang) it is the
    probability that the label is predicted *only because* the row was seen; it finds
    mislabelled rows when the model memorises (fully grown trees, forests, wide nets fit
    every training row, so a flipped row is right in and wrong out). A model that cannot fit
    one row (boosting with ``min_samples_leaf=20``, a linear model, a regularised net)
    misfits a flipped row both in and out of the subsets: its 0/1 memorisation is 0, no
    better than chance. The loss still moves when the row is seen (its probability rises
    a little even if the prediction does not flip), so ``scoring="loss"`` ranks those rows
    with any model and is the default. The out-of-subset half alone
    (``out_of_subset_performance_``) is held-out difficulty, Data-OOB's score; it finds
    rows the model cannot fit out of sample, memorised or not.

    ``influence(X_test, y_test)[t, i]`` is Feldman & Zhang's subsampled influence, the same
    difference evaluated on test row t: positive when models that saw i do better on t
    (row i helps t), as for :meth:`InfluenceScorer.influence`. It estimates the effect of
    removing i from a random 70 % subset, not from the full data, so it is larger than and
    only rank-comparable with leave-one-out influence.

    ``score_samples`` on new rows is their held-out difficulty: no subset model saw them, so
    only the "left out" half of memorisation exists, ``L(x, y | x ∉ S)`` for the loss,
    ``1 − acc(x, y | x ∉ S)`` for accuracy (higher = harder; with ``y=None``, the label is the
    full-data model's prediction and the score measures the subset models' disagreement).

    Cost: K + 1 fits on ``subsample · n`` rows, K predictions on the n training rows;
    memory for K fitted models, ``in_bag_`` (K n bytes) and O(n) running sums during
    ``fit`` (the K × n matrix of per-model scores is never stored).
    ``influence`` on m test rows: K predictions and O(K m n) for the averages. Each row
    is out of about ``K (1 − s)`` models, so a score from accuracies has standard error
    about ``√(1/(K s) + 1/(K (1 − s)))/2`` at worst (0.1 needs K ≈ 120 at s = 0.7).

    References
    ----------
    Feldman, V. & Zhang, C. (2020). What neural networks memorize and why: discovering
    the long tail via influence estimation. NeurIPS.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skinfluence import MemorizationScorer
    >>> X, y = load_iris(return_X_y=True)
    >>> mem = MemorizationScorer(DecisionTreeClassifier(), n_estimators=30,
    ...                          scoring="accuracy", random_state=0).fit(X, y)
    >>> mem.scores_.shape, mem.influence(X[:2], y[:2]).shape
    ((150,), (2, 150))
    """

    score_name = "memorization"

    _parameter_constraints = {  # noqa: RUF012
        **BaseInfluenceScorer._parameter_constraints,
        **shared_constraints("random_state", "n_jobs", "verbose"),
        "n_estimators": [Interval(numbers.Integral, 2, None, closed="left")],
        "subsample": [Interval(numbers.Real, 0, 1, closed="neither")],
        "scoring": [StrOptions({"accuracy", "loss"})],
    }

    def __init__(
        self,
        estimator,
        *,
        n_estimators=100,
        subsample=0.7,
        scoring="loss",
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.n_estimators = n_estimators
        self.subsample = subsample
        self.scoring = scoring
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _draw_subsets(self, n, rng):
        if n < 2:
            raise ValueError(
                f"MemorizationScorer needs at least 2 training rows; got n_samples={n}."
            )
        size = round(self.subsample * n)
        if size < 1 or size >= n:
            raise ValueError(
                f"subsample={self.subsample} of {n} rows gives subsets of {size} rows; each "
                "subset needs at least one row and must leave at least one out. Use a "
                "subsample between 1/n and 1 − 1/n."
            )
        # Every row must be left out once (K (n − size) ≥ n) and seen once (K size ≥ n).
        needed = int(np.ceil(n / min(size, n - size)))
        if self.n_estimators < needed:
            raise ValueError(
                f"n_estimators={self.n_estimators} subsets of {size} of {n} rows cannot leave "
                f"every row both in and out of some subset; use n_estimators >= {needed} "
                "(in practice several times more: see scores_std_)."
            )
        return [np.sort(rng.choice(n, size=size, replace=False)) for _ in range(self.n_estimators)]

    def _row_values(self, perf, in_bag_row):
        return perf

    def _set_scores(self, moments):
        diff, self.scores_std_ = moments.difference()
        # Loss: a row is memorised when its loss is higher without it (out − in).
        self.scores_ = diff if self.scoring == "accuracy" else -diff
        self.out_of_subset_performance_ = moments.mean_out()
        if self.scoring == "accuracy":
            self._warn_if_not_memorised(moments.mean_in())

    def _warn_if_not_memorised(self, in_subset_accuracy):
        """0/1 memorisation needs a model that fits the rows it was trained on: a row the
        models misclassify even when they saw it has memorisation ~0 whatever its label."""
        misfit = int(np.sum(in_subset_accuracy < 0.5))
        n = len(in_subset_accuracy)
        if misfit > max(1, _MISFIT_SHARE * n):
            warnings.warn(
                f"The subset models misclassify {misfit} of the {n} training rows most times "
                f"they were trained on them: {type(self.estimator).__name__} cannot memorise "
                "single rows here, so their 0/1 memorisation (scoring='accuracy') is about 0 "
                "whether their labels are wrong or not. Use scoring='loss' (the default), "
                "whose memorisation still ranks them, or a model that fits its training rows.",
                ApproximationWarning,
                stacklevel=6,
            )
