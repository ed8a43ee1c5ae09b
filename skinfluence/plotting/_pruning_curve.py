"""``PruningCurveDisplay``: held-out score against the fraction of training rows kept."""

import numbers

import numpy as np
from scipy import stats
from sklearn.base import clone, is_classifier
from sklearn.metrics import check_scoring
from sklearn.utils import _safe_indexing
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_random_state

from .._utils._docstring import inject_docs
from .._utils._optional import import_optional
from ..selection._pruning import KEEP_OPTIONS, n_rows_to_keep, select_rows
from ..selection._strategies import DEFAULT_N_STRATA

DEFAULT_FRACTIONS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
DEFAULT_KEEP = ("easy", "hard", "moderate", "coverage")
# the band drawn around the mean of the random draws: mean ± z · sd over the draws, as
# skinfluence.metrics.removal_curve
BAND_CONFIDENCE = 0.95


def _fit_and_score(estimator, X, y, rows, X_test, y_test, scoring):
    model = clone(estimator).fit(_safe_indexing(X, rows), _safe_indexing(y, rows))
    return check_scoring(model, scoring=scoring)(model, X_test, y_test)


@inject_docs
def pruning_curve(
    estimator,
    X,
    y,
    scores,
    X_test,
    y_test,
    *,
    fractions=DEFAULT_FRACTIONS,
    keep=DEFAULT_KEEP,
    class_balance=True,
    scoring=None,
    n_repeats=5,
    hard_cutoff=None,
    n_strata=DEFAULT_N_STRATA,
    random_state=None,
    n_jobs=None,
):
    """Held-out score of ``estimator`` trained on the rows each pruning rule keeps.

    Random selection is always measured, ``n_repeats`` times per fraction (independent
    draws), so that every curve can be read against chance.

    Parameters
    ----------
    %(curve_parameters)s

    Returns
    -------
    fractions : ndarray of shape (n_fractions,)
        Fraction of the rows actually kept (a count is converted).
    test_scores : dict of str to ndarray of shape (n_fractions,)
        One curve per rule; "random" is always there, the mean of the random draws.
    random_scores : ndarray of shape (n_repeats, n_fractions)
        The held-out score of each random draw.

    Notes
    -----
    Cost: ``(len(keep) + n_repeats) × len(fractions)`` fits of ``estimator`` (``n_jobs`` in
    parallel); "random" in ``keep`` adds none.
    """
    scores = np.asarray(scores, dtype=np.float64)
    y_arr = np.asarray(y)
    n = len(y_arr)
    if scores.shape != (n,):
        raise ValueError(f"scores must have one value per training row ({n}); got {scores.shape}.")
    keep = [keep] if isinstance(keep, str) else list(keep)
    for rule in keep:
        if rule not in KEEP_OPTIONS or rule == "auto":
            raise ValueError(
                f"keep must list 'easy', 'hard', 'random', 'moderate' or 'coverage'; got {rule!r}."
            )
    if not isinstance(n_repeats, numbers.Integral) or n_repeats < 1:
        raise ValueError(f"n_repeats must be a positive integer; got {n_repeats!r}.")
    rules = [rule for rule in keep if rule != "random"]
    n_keep = [n_rows_to_keep(_check_fraction(f), n) for f in fractions]
    rng = check_random_state(random_state)
    seeds = rng.randint(np.iinfo(np.int32).max, size=len(n_keep))
    random_seeds = rng.randint(np.iinfo(np.int32).max, size=(n_repeats, len(n_keep)))
    grid = [(rule, j, seeds[j]) for rule in rules for j in range(len(n_keep))]
    grid += [
        ("random", j, random_seeds[r, j]) for r in range(n_repeats) for j in range(len(n_keep))
    ]
    results = Parallel(n_jobs=n_jobs)(
        delayed(_fit_and_score)(
            estimator,
            X,
            y,
            select_rows(
                scores,
                y_arr,
                n_keep[j],
                rule,
                class_balance=class_balance,
                random_state=seed,
                hard_cutoff=hard_cutoff,
                n_strata=n_strata,
            ),
            X_test,
            y_test,
            scoring,
        )
        for rule, j, seed in grid
    )
    results = np.asarray(results, dtype=np.float64)
    n_rule_fits = len(rules) * len(n_keep)
    curves = {
        rule: results[i * len(n_keep) : (i + 1) * len(n_keep)] for i, rule in enumerate(rules)
    }
    random_scores = results[n_rule_fits:].reshape(n_repeats, len(n_keep))
    test_scores = {rule: curves[rule] for rule in keep if rule != "random"}
    test_scores["random"] = random_scores.mean(axis=0)
    return np.asarray(n_keep) / n, test_scores, random_scores


def _check_fraction(f):
    if isinstance(f, numbers.Integral) and not isinstance(f, bool) and f >= 1:
        return int(f)
    if isinstance(f, numbers.Real) and not isinstance(f, bool) and 0 < f <= 1:
        return float(f)
    raise ValueError(f"fractions must be floats in (0, 1] or positive row counts; got {f!r}.")


@inject_docs
class PruningCurveDisplay:
    """Pruning curves: held-out score against the fraction of training rows kept.

    One curve per pruning rule ("easy", "hard", "moderate", "coverage"), for one difficulty
    score, drawn over random selection: the mean of ``n_repeats`` random subsets per fraction
    and a band (mean ± 1.96 sd of the draws) that shows whether the score beats chance. Create it
    with :meth:`from_estimator` (a :class:`~skinfluence.PruningSelector`) or
    :meth:`from_scores` (precomputed scores); several scores can share one ``ax`` (pass
    ``name``). matplotlib is imported only when drawing (``pip install skinfluence[plot]``).

    Read more in the :ref:`User Guide <pruning_curves>`.

    Parameters
    ----------
    fractions : ndarray of shape (n_fractions,)
        Fractions of the training rows kept.
    test_scores : dict of str to ndarray of shape (n_fractions,)
        Held-out score of the model trained on the kept rows, per rule ("random": the mean
        of the random draws).
    random_scores : ndarray of shape (n_repeats, n_fractions), default=None
        Held-out score of each random draw; the band is drawn when there are two or more.
    full_score : float, default=None
        Held-out score with every row (drawn as a horizontal reference line).
    scoring_name : str, default="score"
        The y-axis label.
    name : str, default=None
        The score's name, prefixed to each curve's label.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    lines_ : dict of str to matplotlib Line2D
    band_ : matplotlib PolyCollection or None
        The random band (None with fewer than two random draws).

    See Also
    --------
    skinfluence.PruningSelector : Keeps the rows one rule selects and fits a model.
    DetectionCurveDisplay : How well a score finds known bad rows.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import train_test_split
    >>> from sklearn.preprocessing import scale
    >>> from skinfluence import EL2NScorer, PruningSelector
    >>> from skinfluence.plotting import PruningCurveDisplay
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X_train, X_test, y_train, y_test = train_test_split(scale(X), y, random_state=0)
    >>> selector = PruningSelector(EL2NScorer(LogisticRegression(), n_repeats=1),
    ...                            LogisticRegression(), random_state=0)
    >>> display = PruningCurveDisplay.from_estimator(
    ...     selector, X_train, y_train, X_test, y_test, fractions=[0.2, 0.5, 1.0])
    >>> sorted(display.test_scores)
    ['coverage', 'easy', 'hard', 'moderate', 'random']
    >>> display.random_scores.shape
    (5, 3)
    """

    def __init__(
        self,
        *,
        fractions,
        test_scores,
        random_scores=None,
        full_score=None,
        scoring_name="score",
        name=None,
    ):
        self.fractions = fractions
        self.test_scores = test_scores
        self.random_scores = random_scores
        self.full_score = full_score
        self.scoring_name = scoring_name
        self.name = name

    def plot(self, ax=None, *, name=None, **kwargs):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            A new figure when None.
        name : str, default=None
            Overrides the ``name`` given at construction.
        **kwargs : dict
            Passed to ``ax.plot`` for every curve.

        Returns
        -------
        display : PruningCurveDisplay
        """
        plt = import_optional("matplotlib.pyplot", extra="plot", caller="PruningCurveDisplay.plot")
        if ax is None:
            _, ax = plt.subplots()
        name = self.name if name is None else name
        self.lines_ = {}
        self.band_ = None
        labels = ax.get_legend_handles_labels()[1]
        for rule, values in self.test_scores.items():
            if rule == "random":
                continue
            label = f"{name}, keep {rule}" if name else f"keep {rule}"
            (self.lines_[rule],) = ax.plot(
                self.fractions, values, marker="o", label=label, **kwargs
            )
        # one random baseline per axes (it does not depend on the score)
        if "random" in self.test_scores and "keep random" not in labels:
            (self.lines_["random"],) = ax.plot(
                self.fractions,
                self.test_scores["random"],
                label="keep random",
                color="black",
                linestyle="--",
                marker=".",
            )
            draws = None if self.random_scores is None else np.asarray(self.random_scores)
            if draws is not None and len(draws) > 1:
                z = stats.norm.ppf(0.5 + BAND_CONFIDENCE / 2)
                mean, sd = draws.mean(axis=0), draws.std(axis=0, ddof=1)
                self.band_ = ax.fill_between(
                    self.fractions,
                    mean - z * sd,
                    mean + z * sd,
                    color="gray",
                    alpha=0.25,
                    label=f"random, {BAND_CONFIDENCE:.0%} band",
                )
        if self.full_score is not None and "all rows" not in ax.get_legend_handles_labels()[1]:
            ax.axhline(self.full_score, color="gray", linestyle=":", label="all rows")
        ax.set_xlabel("fraction of training rows kept")
        ax.set_ylabel(f"held-out {self.scoring_name}")
        ax.legend(loc="lower right")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_scores(
        cls,
        estimator,
        X,
        y,
        scores,
        X_test,
        y_test,
        *,
        fractions=DEFAULT_FRACTIONS,
        keep=DEFAULT_KEEP,
        class_balance=True,
        scoring=None,
        n_repeats=5,
        hard_cutoff=None,
        n_strata=DEFAULT_N_STRATA,
        random_state=None,
        n_jobs=None,
        name=None,
        ax=None,
    ):
        """Pruning curves of ``estimator`` for precomputed scores, drawn.

        Cost: ``(len(keep) + n_repeats) × len(fractions)`` fits of ``estimator``, plus one on
        every row.

        Parameters
        ----------
        %(curve_parameters)s
        %(curve_name_ax)s

        Returns
        -------
        display : PruningCurveDisplay
        """
        fracs, curves, random_scores = pruning_curve(
            estimator,
            X,
            y,
            scores,
            X_test,
            y_test,
            fractions=fractions,
            keep=keep,
            class_balance=class_balance,
            scoring=scoring,
            n_repeats=n_repeats,
            hard_cutoff=hard_cutoff,
            n_strata=n_strata,
            random_state=random_state,
            n_jobs=n_jobs,
        )
        full = _fit_and_score(estimator, X, y, np.arange(len(scores)), X_test, y_test, scoring)
        if isinstance(scoring, str):
            scoring_name = scoring
        else:
            scoring_name = "accuracy" if is_classifier(estimator) else "score"
        display = cls(
            fractions=fracs,
            test_scores=curves,
            random_scores=random_scores,
            full_score=full,
            scoring_name=scoring_name,
            name=name,
        )
        return display.plot(ax=ax)

    @classmethod
    def from_estimator(
        cls,
        selector,
        X,
        y,
        X_test,
        y_test,
        *,
        fractions=DEFAULT_FRACTIONS,
        keep=DEFAULT_KEEP,
        scoring=None,
        n_repeats=5,
        n_jobs=None,
        name=None,
        ax=None,
    ):
        """Pruning curves of a :class:`~skinfluence.PruningSelector`, drawn.

        The selector's scorer is fitted once (a clone) on (X, y); its ``estimator`` is then
        trained on the rows each rule keeps at each fraction, with the selector's
        ``class_balance``, ``hard_cutoff``, ``n_strata`` and ``random_state``; ``fraction`` and
        ``keep`` of the selector
        are ignored (they are what the curve varies).

        Parameters
        ----------
        selector : PruningSelector
            With a ``scorer`` (the difficulty score) and an ``estimator`` (the model whose
            held-out score is plotted); neither needs to be fitted.
        %(curve_X_y)s
        %(curve_test_fractions_keep)s
        %(curve_scoring)s
        %(curve_n_repeats)s
        %(curve_n_jobs)s
        %(curve_name_ax)s

        Returns
        -------
        display : PruningCurveDisplay
        """
        if getattr(selector, "estimator", None) is None:
            raise ValueError(
                "PruningCurveDisplay.from_estimator needs a PruningSelector with an "
                "estimator (the model whose held-out score is plotted); got "
                f"{type(selector).__name__} with estimator=None. Use from_scores otherwise."
            )
        scorer = clone(selector.scorer).fit(X, y)
        return cls.from_scores(
            selector.estimator,
            X,
            y,
            scorer.scores_,
            X_test,
            y_test,
            fractions=fractions,
            keep=keep,
            class_balance=selector.class_balance,
            scoring=scoring,
            n_repeats=n_repeats,
            hard_cutoff=selector.hard_cutoff,
            n_strata=selector.n_strata,
            random_state=selector.random_state,
            n_jobs=n_jobs,
            name=type(selector.scorer).__name__ if name is None else name,
            ax=ax,
        )
