"""``RemovalCurveDisplay``: held-out score against the fraction of top-ranked rows removed."""

from .._utils._docstring import inject_docs
from .._utils._optional import import_optional
from ..metrics import removal_curve


@inject_docs
class RemovalCurveDisplay:
    """Removal curve: held-out score after removing the top-ranked rows, beside random removal.

    One curve for one score, with the mean of random removals and its band. Create it with
    :meth:`from_estimator` (a scorer, or precomputed scores) or from the result of
    :func:`~skinfluence.metrics.removal_curve` with :meth:`from_result`; several scores can
    share one ``ax`` (pass ``name``; the random baseline is drawn once). matplotlib is
    imported only when drawing (``pip install skinfluence[plot]``).

    Read more in the :ref:`User Guide <removal_curves>`.

    Parameters
    ----------
    fractions : ndarray of shape (n_fractions,)
        Fractions of the training rows removed.
    scores : ndarray of shape (n_fractions,)
        Held-out score after removing the rows by the scorer's order.
    random_mean, random_low, random_high : ndarray of shape (n_fractions,)
        Mean held-out score of random removals and its band.
    order : {"high", "low"}, default="high"
        Which end of the ranking was removed first.
    scoring_name : str, default="accuracy"
        The y-axis label.
    name : str, default=None
        The score's name, in the curve's label.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    line_ : matplotlib Line2D
        The scorer's curve.
    random_line_ : matplotlib Line2D or None
        The random mean (None when an earlier display on the same ax drew it).

    See Also
    --------
    skinfluence.metrics.removal_curve : Computes the curve.
    PruningCurveDisplay : Held-out score against the fraction of rows kept.
    DetectionCurveDisplay : How well a score finds known bad rows.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import make_moons
    >>> from sklearn.neighbors import KNeighborsClassifier
    >>> from skinfluence import KNNShapleyScorer
    >>> from skinfluence.datasets import flip_labels
    >>> from skinfluence.plotting import RemovalCurveDisplay
    >>> X, y = make_moons(300, noise=0.2, random_state=0)
    >>> y_noisy, _ = flip_labels(y[:200], 0.1, random_state=0)
    >>> display = RemovalCurveDisplay.from_estimator(
    ...     KNNShapleyScorer(10), KNeighborsClassifier(15), X[:200], y_noisy, X[200:],
    ...     y[200:], fractions=[0.0, 0.1], n_repeats=3, random_state=0)
    >>> display.scores.shape
    (2,)
    """

    def __init__(
        self,
        *,
        fractions,
        scores,
        random_mean,
        random_low,
        random_high,
        order="high",
        scoring_name="accuracy",
        name=None,
    ):
        self.fractions = fractions
        self.scores = scores
        self.random_mean = random_mean
        self.random_low = random_low
        self.random_high = random_high
        self.order = order
        self.scoring_name = scoring_name
        self.name = name

    def plot(self, ax=None, *, name=None, **kwargs):
        """Draw the curve, and the random baseline with its band.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            A new figure when None.
        name : str, default=None
            Overrides the ``name`` given at construction.
        **kwargs : dict
            Passed to ``ax.plot`` for the scorer's curve.

        Returns
        -------
        display : RemovalCurveDisplay
        """
        plt = import_optional("matplotlib.pyplot", extra="plot", caller="RemovalCurveDisplay.plot")
        if ax is None:
            _, ax = plt.subplots()
        name = self.name if name is None else name
        which = "highest" if self.order == "high" else "lowest"
        label = f"{name}, {which} first" if name else f"{which} scores first"
        (self.line_,) = ax.plot(self.fractions, self.scores, marker="o", label=label, **kwargs)
        self.random_line_ = None
        if "random" not in ax.get_legend_handles_labels()[1]:
            (self.random_line_,) = ax.plot(
                self.fractions, self.random_mean, color="gray", linestyle="--", label="random"
            )
            ax.fill_between(
                self.fractions, self.random_low, self.random_high, color="gray", alpha=0.2
            )
        ax.set_xlabel("fraction of training rows removed")
        ax.set_ylabel(f"held-out {self.scoring_name}")
        ax.legend(loc="best")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_result(cls, result, *, name=None, ax=None):
        """Draw the result of :func:`~skinfluence.metrics.removal_curve`.

        Parameters
        ----------
        result : Bunch
            What ``removal_curve`` returned.
        name : str, default=None
            The score's name, in the curve's label.
        ax : matplotlib Axes, default=None
            A new figure when None.

        Returns
        -------
        display : RemovalCurveDisplay
        """
        display = cls(
            fractions=result.fractions,
            scores=result.scores,
            random_mean=result.random_mean,
            random_low=result.random_low,
            random_high=result.random_high,
            order=result.order,
            scoring_name=result.scoring,
            name=name,
        )
        return display.plot(ax=ax)

    @classmethod
    def from_estimator(
        cls,
        scorer,
        estimator,
        X,
        y,
        X_eval,
        y_eval,
        *,
        fractions=(0.0, 0.05, 0.1, 0.2, 0.3),
        order="high",
        n_repeats=5,
        scoring=None,
        confidence=0.95,
        random_state=None,
        n_jobs=None,
        name=None,
        ax=None,
    ):
        """Compute the removal curve of a scorer (or of scores) and draw it.

        Cost: as :func:`~skinfluence.metrics.removal_curve`, ``len(fractions) × (1 +
        n_repeats)`` fits of ``estimator``.

        Parameters
        ----------
        %(removal_curve_parameters)s
        name : str, default=None
            The score's name (default: the scorer's class name).
        ax : matplotlib Axes, default=None
            A new figure when None.

        Returns
        -------
        display : RemovalCurveDisplay
        """
        result = removal_curve(
            scorer,
            estimator,
            X,
            y,
            X_eval,
            y_eval,
            fractions=fractions,
            order=order,
            n_repeats=n_repeats,
            scoring=scoring,
            confidence=confidence,
            random_state=random_state,
            n_jobs=n_jobs,
        )
        if name is None and hasattr(scorer, "fit"):
            name = type(scorer).__name__
        return cls.from_result(result, name=name, ax=ax)
