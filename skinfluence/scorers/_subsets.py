"""The retraining engine of the subset scorers: models on random subsets of the rows.

:class:`MemorizationScorer` (fixed-size subsets, Feldman & Zhang 2020) and
:class:`BanzhafScorer` (uniformly random subsets, Wang & Jia 2023) are the same computation
with two subset distributions: fit one clone per subset (joblib, so a dask cluster works
through ``joblib.parallel_config``), score every model on every training row, and compare the
models that saw a row with the models that did not. :class:`DataOOBScorer` reads the subsets
of a fitted bagging model instead of drawing them and shares the in/out statistics
(:func:`in_minus_out`, :class:`RowMoments`).
"""

import warnings
from functools import partial

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.dummy import DummyClassifier
from sklearn.utils import _safe_indexing, check_random_state, gen_batches, gen_even_slices
from sklearn.utils.parallel import Parallel, delayed

from .._utils._docstring import inject_docs
from .._utils._estimators import is_skorch_net
from .._utils._labels import encode_labels
from .._utils._parallel import n_parallel_batches
from .._utils._progress import progress
from .._utils._random import draw_seeds, set_random_states
from ..exceptions import ApproximationWarning
from ._base import BaseInfluenceScorer, fit_clone, refuse_frozen
from ._losses import per_sample_loss

# Training rows handled at once by ``influence``: K × 4096 float64 temporaries (32 MB per 1 000
# models), small next to the (n_test, n_train) result.
_COLUMN_CHUNK = 4096


def _performance(model, X, y, classes, scoring):
    """Per-row score of one subset model on (X, y): 1/0 correctness or the loss.

    ``model`` is None for an empty subset: no prediction, so accuracy 0 and, for the loss,
    the log-loss of uniform probabilities (squared error of predicting 0 for regressors).
    """
    n = len(y)
    if model is None:
        if scoring == "accuracy":
            return np.zeros(n)
        if classes is not None:
            return np.full(n, np.log(len(classes)))
        y = np.asarray(y, dtype=np.float64)
        return (y**2).reshape(n, -1).sum(axis=1)
    if scoring == "accuracy":
        return (np.asarray(model.predict(X)) == y).astype(np.float64)
    return per_sample_loss(model, X, y, classes=classes)


def _fit_subset(estimator, X, y, sample_weight, rows, seed, classifier):
    """One subset model. A subset a model cannot be trained on gets a stand-in: None for an
    empty one, the subset's constant class (``DummyClassifier``) for a single-class one."""
    if len(rows) == 0:
        return None
    sw = None if sample_weight is None else sample_weight[rows]
    y_rows = y[rows]
    if classifier and len(np.unique(y_rows)) < 2:
        return DummyClassifier(strategy="prior").fit(_safe_indexing(X, rows), y_rows)
    model = set_random_states(clone(estimator), seed)
    if not is_skorch_net(model):
        return fit_clone(model, _safe_indexing(X, rows), y_rows, sw)
    import torch  # skorch is installed, hence torch

    # A skorch net draws its initialisation and batch order from torch's global generator:
    # seed it for this model, in a fork so that the caller's generator is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return fit_clone(model, _safe_indexing(X, rows), y_rows, sw)


def _fit_subsets(estimator, X, y, sample_weight, subsets, seeds, classifier, evaluate, keep):
    """Fit one clone per subset; returns ``(model, evaluate(model))`` for each (the model
    None unless ``keep``).

    Every ``random_state`` of a clone is set to its own seed (a skorch net's through
    ``torch.manual_seed``): the models must be independent runs (Feldman & Zhang train each
    from its own random initialisation), not repeat the same random choices with the user's
    fixed seed. As scikit-learn's bagging ensembles do.
    """
    out = []
    for rows, seed in zip(subsets, seeds, strict=True):
        model = _fit_subset(estimator, X, y, sample_weight, rows, seed, classifier)
        out.append((model if keep else None, evaluate(model)))
    return out


def fit_on_subsets(
    estimator,
    X,
    y,
    sample_weight,
    subsets,
    seeds,
    evaluate,
    *,
    keep_models=True,
    n_jobs=None,
    verbose=0,
    desc=None,
):
    """The retraining engine: one clone of ``estimator`` per subset of the rows.

    Fits a clone on each index array of ``subsets`` (with every ``random_state`` set to its
    entry of ``seeds``), in joblib tasks (so ``joblib.parallel_config(backend="dask")``
    sends them to a cluster; X is memory-mapped by joblib, not copied), and yields
    ``(model, evaluate(model))`` in the order of ``subsets``. ``evaluate`` runs in the
    worker, on the model (None for an empty subset), so only its result travels back;
    with ``keep_models=False`` the models are dropped there (``model`` is None).
    """
    classifier = is_classifier(estimator)
    n_batches = n_parallel_batches(len(subsets), n_jobs, verbose)
    tasks = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_fit_subsets)(
            estimator,
            X,
            y,
            sample_weight,
            subsets[s],
            seeds[s],
            classifier,
            evaluate,
            keep_models,
        )
        for s in gen_even_slices(len(subsets), n_batches)
    )
    tasks = progress(tasks, verbose=verbose, total=n_batches, desc=desc, unit="batch")
    for batch in tasks:
        yield from batch


def _difference_stats(sum_in, sumsq_in, n_in, sum_out, sumsq_out, n_out):
    """Difference of two means and its standard error from sums and sums of squares."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_in, mean_out = sum_in / n_in, sum_out / n_out
        # Sample variances (ddof=1): (Σ v² − k mean²) / (k − 1).
        var_in = np.maximum(sumsq_in - n_in * mean_in**2, 0) / (n_in - 1)
        var_out = np.maximum(sumsq_out - n_out * mean_out**2, 0) / (n_out - 1)
        sem = np.sqrt(var_in / n_in + var_out / n_out)
    return mean_in - mean_out, sem


def in_minus_out(values, in_bag):
    """For every (test row t, training row i): mean of ``values[:, t]`` over the models that
    saw i minus the mean over the others, and its standard error; each (m, n).

    ``values`` is (K, m), ``in_bag`` (K, n): two (m, K) @ (K, n) products per moment, in
    chunks of training rows (bounds the K × chunk float temporaries).
    """
    m, n = values.shape[1], in_bag.shape[1]
    diff, sem = np.empty((m, n)), np.empty((m, n))
    sq = values.T**2
    for cols in gen_batches(n, _COLUMN_CHUNK):
        inb = in_bag[:, cols].astype(np.float64)
        outb = 1.0 - inb
        diff[:, cols], sem[:, cols] = _difference_stats(
            values.T @ inb,
            sq @ inb,
            inb.sum(axis=0),
            values.T @ outb,
            sq @ outb,
            outb.sum(axis=0),
        )
    return diff, sem


def check_two_classes(scorer, classes):
    """Valuing rows of a one-class training set means nothing: say so (ValueError)."""
    if len(classes) < 2:
        raise ValueError(
            f"{type(scorer).__name__} needs at least 2 classes in y; got 1 class "
            f"({np.asarray(classes)[:1].tolist()[0]!r}). Value rows of a classification set "
            "with several labels."
        )


class RowMoments:
    """Running sums over models of one value per training row, split by whether the model
    saw the row: O(n) memory however many models (the K × n matrix is never stored).

    ``add(values, in_bag_row)``; a NaN value (no evaluation possible for that row under
    that model) is skipped and not counted.
    """

    def __init__(self, n):
        self.sums = np.zeros((6, n))  # count, Σ, Σ² in; count, Σ, Σ² out

    def add(self, values, in_bag_row):
        valid = np.isfinite(values)
        v = np.where(valid, values, 0.0)
        for offset, mask in ((0, in_bag_row & valid), (3, ~in_bag_row & valid)):
            w = mask.astype(np.float64)
            self.sums[offset] += w
            self.sums[offset + 1] += v * w
            self.sums[offset + 2] += v**2 * w

    def mean_in(self):
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sums[1] / self.sums[0]

    def mean_out(self):
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sums[4] / self.sums[3]

    def difference(self):
        """``mean(in) − mean(out)`` and its standard error, each (n,)."""
        s = self.sums
        return _difference_stats(s[1], s[2], s[0], s[4], s[5], s[3])


@inject_docs
class SubsetScorer(BaseInfluenceScorer):
    """The engine of the scorers that retrain on random subsets (not public).

    A subclass stores ``estimator``, ``n_estimators``, ``scoring``, ``random_state``,
    ``n_jobs`` and ``verbose`` and writes ``_draw_subsets(n, rng)`` (a list of index
    arrays), ``_row_values(perf, in_bag_row)`` (what is averaged over the models, one value
    per training row, from the model's performance on every training row) and
    ``_set_scores(moments)``.
    """

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
        if classifier:
            check_two_classes(self, self.classes_)
        rng = check_random_state(self.random_state)
        subsets = self._draw_subsets(n, rng)
        in_bag = np.zeros((len(subsets), n), dtype=bool)
        for k, rows in enumerate(subsets):
            in_bag[k, rows] = True
        self._check_coverage(in_bag)

        # One extra task fits the full-data model.
        jobs = [*subsets, np.arange(n)]
        seeds = draw_seeds(rng, len(jobs))
        evaluate = partial(_performance, X=X, y=y, classes=self.classes_, scoring=self.scoring)
        results = fit_on_subsets(
            self.estimator, X, y, sample_weight, jobs, seeds, evaluate,
            n_jobs=self.n_jobs, verbose=self.verbose, desc=type(self).__name__,
        )  # fmt: skip
        models, moments = [], RowMoments(n)
        for model, perf in results:
            if len(models) < len(subsets):  # the last one is the full-data model
                moments.add(self._row_values(perf, in_bag[len(models)]), in_bag[len(models)])
            models.append(model)
        self.estimator_ = models.pop()
        self.estimators_ = models
        self.in_bag_ = in_bag
        self.n_out_ = (~in_bag).sum(axis=0)
        self._set_scores(moments)

    def _check_coverage(self, in_bag):
        """Warn about rows that no model, or every model, saw (their scores are NaN)."""
        never_out = int(in_bag.all(axis=0).sum())
        never_in = int((~in_bag).all(axis=0).sum())
        if never_out or never_in:
            warnings.warn(
                f"{never_out} training rows were in every subset and {never_in} in none "
                f"({type(self).__name__}(n_estimators={self.n_estimators})): their scores "
                "and influence are undefined (NaN). Increase n_estimators.",
                ApproximationWarning,
                stacklevel=5,
            )

    def influence(self, X_test, y_test, *, aggregate=None, return_std=False):
        """Subset estimate of every training row's influence on (value for) each test row.

        Parameters
        ----------
        %(X_test)s
        %(y_test)s
        %(aggregate)s
            With ``scoring="accuracy"``, the total or mean accuracy (for Banzhaf values,
            the paper's validation utility).
        return_std : bool, default=False
            Also return the standard error of each entry (not with ``aggregate``).

        Returns
        -------
        influence : ndarray of shape (n_test, n_train) or (n_train,)
            ``acc(t | i ∈ S) − acc(t | i ∉ S)`` for accuracy, ``L(t | i ∉ S) −
            L(t | i ∈ S)`` for the loss, over the scorer's subsets: positive = row i helps
            test row t.
        std : ndarray of shape (n_test, n_train)
            Only with ``return_std=True``.
        """
        return super().influence(X_test, y_test, aggregate=aggregate, return_std=return_std)

    def _influence(self, X_test, y_test, return_std=False):
        infl, sem = self._signed_in_minus_out(self._performances(X_test, y_test))
        return (infl, sem) if return_std else infl

    def _total_influence(self, X_test, y_test, return_std=False):
        if return_std:
            raise ValueError("return_std=True is only available with aggregate=None.")
        # The difference of means is linear in the scores: sum them over test rows first.
        perf = self._performances(X_test, y_test).sum(axis=1, keepdims=True)
        return self._signed_in_minus_out(perf)[0][0]

    def _performances(self, X, y):
        """(K, m) scores of every subset model on the rows."""
        if self.classes_ is not None:
            encode_labels(self.classes_, y)  # a label no model saw: an error, not a miss
        return np.stack(
            [_performance(m, X, y, self.classes_, self.scoring) for m in self.estimators_]
        )

    def _signed_in_minus_out(self, perf):
        """Influence in the template's sign: performance with the row minus without (for
        the loss, loss without minus loss with)."""
        infl, sem = in_minus_out(perf, self.in_bag_)
        return (-infl if self.scoring == "loss" else infl), sem

    def _score_samples(self, X, y):
        # No subset model saw a new row: its held-out difficulty (the "left out" half).
        perf = self._performances(X, y).mean(axis=0)
        return 1.0 - perf if self.scoring == "accuracy" else perf
