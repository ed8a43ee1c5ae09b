"""``MemorizationScorer``: Feldman & Zhang's subsampled memorisation and influence estimates."""

import numbers
import warnings

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.utils import _safe_indexing, check_random_state, gen_batches, gen_even_slices
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.parallel import Parallel, delayed

from .._utils._docstring import inject_docs
from .._utils._labels import encode_labels
from .._utils._parallel import n_parallel_batches
from .._utils._progress import progress
from .._utils._random import draw_seeds, set_random_states
from .._validation import shared_constraints
from ..exceptions import ApproximationWarning
from ._base import BaseInfluenceScorer, fit_clone, refuse_frozen
from ._losses import per_sample_loss


def _performance(model, X, y, classes, scoring):
    """Per-row score of one model on (X, y): 1/0 correctness or the loss."""
    if scoring == "accuracy":
        return (np.asarray(model.predict(X)) == y).astype(np.float64)
    return per_sample_loss(model, X, y, classes=classes)


def _fit_subsets(estimator, X, y, sample_weight, subsets, seeds, classes, scoring):
    """Fit one clone per subset; returns the models and their scores on every training row.

    Every ``random_state`` of a clone is set to its own seed: the models must be independent
    runs (Feldman & Zhang train each from its own random initialisation), not repeat the
    same random choices with the user's fixed seed. As scikit-learn's bagging ensembles do.
    """
    out = []
    for rows, seed in zip(subsets, seeds, strict=True):
        sw = None if sample_weight is None else sample_weight[rows]
        model = set_random_states(clone(estimator), seed)
        model = fit_clone(model, _safe_indexing(X, rows), y[rows], sw)
        out.append((model, _performance(model, X, y, classes, scoring)))
    return out


# Training rows handled at once by ``influence``: K × 4096 float64 temporaries (32 MB per 1 000
# models), small next to the (n_test, n_train) result.
_COLUMN_CHUNK = 4096


def _difference_stats(sum_in, sumsq_in, n_in, sum_out, sumsq_out, n_out):
    """Difference of two means and its standard error from sums and sums of squares."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_in, mean_out = sum_in / n_in, sum_out / n_out
        # Sample variances (ddof=1): (Σ v² − k mean²) / (k − 1).
        var_in = np.maximum(sumsq_in - n_in * mean_in**2, 0) / (n_in - 1)
        var_out = np.maximum(sumsq_out - n_out * mean_out**2, 0) / (n_out - 1)
        sem = np.sqrt(var_in / n_in + var_out / n_out)
    return mean_in - mean_out, sem


def _in_minus_out(values, in_bag):
    """For every (test row t, training row i): mean of ``values[:, t]`` over the models that
    saw i minus the mean over the others, and its standard error; each (m, n).

    ``values`` is (K, m), ``in_bag`` (K, n): two (m, K) @ (K, n) products per moment.
    """
    inb = in_bag.astype(np.float64)
    outb = 1.0 - inb
    sq = values.T**2
    return _difference_stats(
        values.T @ inb, sq @ inb, inb.sum(axis=0), values.T @ outb, sq @ outb, outb.sum(axis=0)
    )


class _RowMoments:
    """Running sums over models of each training row's score, split by in/out of the bag:
    O(n) memory however many models (the K × n score matrix is never stored)."""

    def __init__(self, n):
        self.sums = np.zeros((4, n))  # Σ in, Σ² in, Σ out, Σ² out

    def add(self, values, in_bag_row):
        inb = in_bag_row.astype(np.float64)
        self.sums[0] += values * inb
        self.sums[1] += values**2 * inb
        self.sums[2] += values * (1.0 - inb)
        self.sums[3] += values**2 * (1.0 - inb)

    def difference(self, n_in, n_out):
        s = self.sums
        return _difference_stats(s[0], s[1], n_in, s[2], s[3], n_out)


@inject_docs
class MemorizationScorer(BaseInfluenceScorer):
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
    scoring : {"accuracy", "loss"}, default="accuracy"
        Performance compared between models that saw a row and models that did not: 0/1
        correctness (the paper's) or the per-sample loss (the model's own loss where
        skinfluence has an adapter, else log-loss / squared error), in the units of
        :class:`LeaveOneOutScorer`.
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
    n_out_ : ndarray of int, shape (n_train,)
        Number of models that did not see each row.
    classes_ : ndarray
        Class labels (classifiers).

    See Also
    --------
    LeaveOneOutScorer : exact leave-one-out retraining (n + 1 fits).
    InfluenceScorer : gradient-based influence for models with an adapter.

    Notes
    -----
    ``influence(X_test, y_test)[t, i]`` is Feldman & Zhang's subsampled influence, the same
    difference evaluated on test row t: positive when models that saw i do better on t
    (row i helps t), as for :meth:`InfluenceScorer.influence`. It estimates the effect of
    removing i from a random 70 % subset, not from the full data, so it is larger than and
    only rank-comparable with leave-one-out influence.

    ``score_samples`` on new rows is their held-out difficulty: no subset model saw them, so
    only the "left out" half of memorisation exists, ``1 − acc(x, y | x ∉ S)`` for accuracy,
    ``L(x, y | x ∉ S)`` for the loss (higher = harder; with ``y=None``, the label is the
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
    ...                          random_state=0).fit(X, y)
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
        scoring="accuracy",
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

    def _fit(self, X, y, sample_weight):
        refuse_frozen(self)
        classifier = is_classifier(self.estimator)
        if self.scoring == "accuracy" and not classifier:
            raise ValueError(
                f"scoring='accuracy' needs a classifier; got {type(self.estimator).__name__}. "
                "Use scoring='loss' for regressors."
            )
        n = len(y)
        self.classes_ = np.unique(y) if classifier else None
        rng = check_random_state(self.random_state)
        subsets = self._draw_subsets(n, rng)
        in_bag = np.zeros((self.n_estimators, n), dtype=bool)
        for k, rows in enumerate(subsets):
            in_bag[k, rows] = True
        self._check_coverage(in_bag)

        # One extra task fits the full-data model; X is memory-mapped by joblib, not copied.
        jobs = [*subsets, np.arange(n)]
        seeds = draw_seeds(rng, len(jobs))
        n_batches = n_parallel_batches(len(jobs), self.n_jobs, self.verbose)
        tasks = Parallel(n_jobs=self.n_jobs, return_as="generator")(
            delayed(_fit_subsets)(
                self.estimator, X, y, sample_weight, jobs[s], seeds[s], self.classes_, self.scoring
            )
            for s in gen_even_slices(len(jobs), n_batches)
        )
        tasks = progress(
            tasks, verbose=self.verbose, total=n_batches, desc=type(self).__name__, unit="batch"
        )
        models, moments = [], _RowMoments(n)
        for model, perf in (result for batch in tasks for result in batch):
            if len(models) < self.n_estimators:  # the last one is the full-data model
                moments.add(perf, in_bag[len(models)])
            models.append(model)
        self.estimator_ = models.pop()
        self.estimators_ = models
        self.in_bag_ = in_bag
        self.n_out_ = (~in_bag).sum(axis=0)
        diff, self.scores_std_ = moments.difference(in_bag.sum(axis=0), self.n_out_)
        # Loss: a row is memorised when its loss is higher without it (out − in).
        self.scores_ = diff if self.scoring == "accuracy" else -diff

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

    def _check_coverage(self, in_bag):
        n_out = (~in_bag).sum(axis=0)
        n_in = in_bag.sum(axis=0)
        never_out, never_in = int((n_out == 0).sum()), int((n_in == 0).sum())
        if never_out or never_in:
            warnings.warn(
                f"{never_out} training rows were in every subset and {never_in} in none "
                f"(n_estimators={self.n_estimators}, subsample={self.subsample}): their "
                "memorisation and influence are undefined (NaN). Increase n_estimators.",
                ApproximationWarning,
                stacklevel=5,
            )

    def influence(self, X_test, y_test, *, aggregate=None, return_std=False):
        """Subsampled influence of every training row on each test row.

        Parameters
        ----------
        %(X_test)s
        %(y_test)s
        %(aggregate)s
            With ``scoring="accuracy"``, the total or mean accuracy.
        return_std : bool, default=False
            Also return the standard error of each entry (not with ``aggregate``).

        Returns
        -------
        influence : ndarray of shape (n_test, n_train) or (n_train,)
            ``perf(t | i ∈ S) − perf(t | i ∉ S)`` for accuracy, ``L(t | i ∉ S) −
            L(t | i ∈ S)`` for the loss: positive = row i helps test row t.
        std : ndarray of shape (n_test, n_train)
            Only with ``return_std=True``.
        """
        return super().influence(X_test, y_test, aggregate=aggregate, return_std=return_std)

    def _influence(self, X_test, y_test, return_std=False):
        infl, sem = self._in_minus_out(self._performances(X_test, y_test))
        return (infl, sem) if return_std else infl

    def _total_influence(self, X_test, y_test, return_std=False):
        if return_std:
            raise ValueError("return_std=True is only available with aggregate=None.")
        # The difference of means is linear in the scores: sum them over test rows first.
        perf = self._performances(X_test, y_test).sum(axis=1, keepdims=True)
        return self._in_minus_out(perf)[0][0]

    def _performances(self, X, y):
        """(K, m) scores of every subset model on the rows."""
        if self.classes_ is not None:
            encode_labels(self.classes_, y)  # a label no model saw: an error, not a miss
        return np.stack(
            [_performance(m, X, y, self.classes_, self.scoring) for m in self.estimators_]
        )

    def _in_minus_out(self, perf):
        n = self.in_bag_.shape[1]
        infl, sem = np.empty((perf.shape[1], n)), np.empty((perf.shape[1], n))
        for cols in gen_batches(n, _COLUMN_CHUNK):  # bounds the K × chunk float temporaries
            infl[:, cols], sem[:, cols] = _in_minus_out(perf, self.in_bag_[:, cols])
        return (-infl if self.scoring == "loss" else infl), sem

    def _score_samples(self, X, y):
        # No subset model saw a new row: only the "left out" half of memorisation exists.
        perf = self._performances(X, y).mean(axis=0)
        return 1.0 - perf if self.scoring == "accuracy" else perf
