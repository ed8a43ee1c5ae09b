"""``DetectionCurveDisplay``: precision–recall of flagged rows when the bad rows are known."""

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_curve
from sklearn.utils.validation import check_is_fitted

from .._utils._optional import import_optional


class DetectionCurveDisplay:
    """Precision–recall curve of a score at finding known bad rows (e.g. flipped labels).

    Rows are flagged from the highest score down (every skinfluence score: higher = more
    suspect). Precision is the fraction of flagged rows that are bad, recall the fraction of
    bad rows flagged. The dashed line is a random ranking (precision = the fraction of bad
    rows); the dot marks the point where as many rows are flagged as there are bad rows.

    Create it with :meth:`from_scores` or :meth:`from_estimator`; both draw it.

    Read more in the :ref:`User Guide <detection_curves>`.

    Parameters
    ----------
    precision, recall : ndarray
        The curve, as :func:`sklearn.metrics.precision_recall_curve` returns it.
    average_precision : float
        Area under the curve (AUPRC, as :func:`sklearn.metrics.average_precision_score`).
    base_rate : float
        Fraction of bad rows: the AUPRC of a random ranking.
    precision_at_k : float
        Precision among the top ``k`` rows, ``k`` = the number of bad rows.
    name : str, default=None
        Name of the score, for the legend.

    Attributes
    ----------
    line_ : matplotlib Line2D
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    See Also
    --------
    skinfluence.metrics.detection_scores : the same numbers without a plot.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skinfluence.plotting import DetectionCurveDisplay
    >>> display = DetectionCurveDisplay.from_scores([0, 0, 1, 1], [0.1, 0.4, 0.9, 0.3],
    ...                                             name="loss")
    >>> round(display.average_precision, 3), display.base_rate
    (0.833, 0.5)
    """

    def __init__(
        self, *, precision, recall, average_precision, base_rate, precision_at_k, name=None
    ):
        self.precision = precision
        self.recall = recall
        self.average_precision = average_precision
        self.base_rate = base_rate
        self.precision_at_k = precision_at_k
        self.name = name

    @classmethod
    def from_scores(cls, is_bad, scores, *, name=None, ax=None, **kwargs):
        """Draw the curve of ``scores`` (higher = more suspect) against the truth ``is_bad``.

        Parameters
        ----------
        is_bad : array-like of bool, shape (n_samples,)
            True for the rows that are known to be bad.
        scores : array-like of shape (n_samples,)
        name : str, default=None
            Legend label.
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure if None.
        **kwargs : dict
            Passed to ``ax.plot`` for the curve.

        Returns
        -------
        display : DetectionCurveDisplay
        """
        is_bad = np.asarray(is_bad, dtype=bool)
        scores = np.asarray(scores, dtype=np.float64)
        if is_bad.shape != scores.shape or is_bad.ndim != 1:
            raise ValueError(
                f"is_bad and scores must be 1-D of the same length; got shapes "
                f"{is_bad.shape} and {scores.shape}."
            )
        if is_bad.all() or not is_bad.any():
            raise ValueError("is_bad must hold both bad (True) and good (False) rows.")
        if not np.all(np.isfinite(scores)):
            raise ValueError("scores contain NaN or infinity; drop or fill those rows first.")
        precision, recall, _ = precision_recall_curve(is_bad, scores)
        k = int(is_bad.sum())
        top = np.argsort(-scores, kind="stable")[:k]
        display = cls(
            precision=precision,
            recall=recall,
            average_precision=float(average_precision_score(is_bad, scores)),
            base_rate=float(is_bad.mean()),
            precision_at_k=float(is_bad[top].mean()),
            name=name,
        )
        return display.plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(cls, scorer, is_bad, *, name=None, ax=None, **kwargs):
        """Draw the curve of a fitted scorer's ``scores_`` on its training rows.

        Parameters
        ----------
        scorer : fitted skinfluence scorer
            Anything with ``scores_`` (one score per training row, higher = more suspect).
        is_bad : array-like of bool, shape (n_train,)
        name : str, default=None
            Legend label; the scorer's class name if None.
        ax : matplotlib Axes, default=None
        **kwargs : dict
            Passed to ``ax.plot``.

        Returns
        -------
        display : DetectionCurveDisplay
        """
        check_is_fitted(scorer, "scores_")
        name = type(scorer).__name__ if name is None else name
        return cls.from_scores(is_bad, scorer.scores_, name=name, ax=ax, **kwargs)

    def plot(self, ax=None, *, name=None, **kwargs):
        """Draw the curve (and the random baseline) on ``ax``.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
        name : str, default=None
            Overrides the legend label.
        **kwargs : dict
            Passed to ``ax.plot``.

        Returns
        -------
        self : DetectionCurveDisplay
        """
        plt = import_optional(
            "matplotlib.pyplot", extra="plot", caller="DetectionCurveDisplay.plot"
        )
        if ax is None:
            _, ax = plt.subplots()
        name = self.name if name is None else name
        label = f"AUPRC = {self.average_precision:.3f}"
        label = label if name is None else f"{name} ({label})"
        (self.line_,) = ax.plot(
            self.recall, self.precision, drawstyle="steps-post", label=label, **kwargs
        )
        # With k flagged rows and k bad rows, recall at k equals precision at k.
        ax.plot([self.precision_at_k], [self.precision_at_k], "o", color=self.line_.get_color())
        if not getattr(ax, "_skinfluence_baseline", False):
            ax.axhline(
                self.base_rate,
                linestyle="--",
                color="grey",
                linewidth=1,
                label=f"random ({self.base_rate:.2f})",
            )
            ax._skinfluence_baseline = True
        ax.set(
            xlabel="recall (bad rows flagged)",
            ylabel="precision (flagged rows bad)",
            xlim=(-0.01, 1.01),
            ylim=(0.0, 1.02),
        )
        ax.legend(loc="lower left")
        self.ax_ = ax
        self.figure_ = ax.figure
        return self
