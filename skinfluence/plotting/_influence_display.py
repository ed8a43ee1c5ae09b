"""``InfluenceDisplay``: a test row beside its most helpful and most harmful training rows."""

import numbers

import numpy as np
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import check_is_fitted

from .._utils._optional import import_optional


def _row(X, i):
    return np.asarray(_safe_indexing(X, [i]), dtype=np.float64).ravel()


class InfluenceDisplay:
    """A test row beside the training rows that help and harm its prediction most.

    Influence is in leave-one-out units: the change of the test row's loss if the training
    row were removed, **positive = the training row helps** (removing it would raise the
    loss), negative = it harms. Image data (``image_shape``) are drawn as a strip of images:
    the test row, then the ``k`` most helpful, then the ``k`` most harmful rows, each titled
    with its index, label and influence. Tabular data are drawn as a bar chart of the
    influences whose row labels give the label and the features on which the training rows
    differ most from the test row.

    Create it with :meth:`from_estimator` (a fitted scorer with ``influence``) or
    :meth:`from_influence` (a precomputed influence vector); both draw it.

    Read more in the :ref:`User Guide <influence_display>`.

    Parameters
    ----------
    x_test : ndarray of shape (n_features,)
    y_test : object
        The test row and its label.
    helpful_indices, harmful_indices : ndarray of int, shape (k,)
        Training rows, most helpful (largest influence) and most harmful (smallest) first.
    helpful_influence, harmful_influence : ndarray of shape (k,)
    X_rows : ndarray of shape (2 k, n_features)
        The helpful then the harmful training rows.
    y_rows : ndarray of shape (2 k,)
    feature_names : list of str, default=None
    image_shape : tuple of int, default=None
        Draw rows as images of this shape (e.g. ``(8, 8)`` for digits).
    feature_scale : ndarray of shape (n_features,), default=None
        Spread of each feature in the training data (to choose the features shown).

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    See Also
    --------
    skinfluence.InfluenceScorer : Computes the influence drawn here (``explain``).
    DetectionCurveDisplay : How well self-influence finds known bad rows.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skinfluence import InfluenceScorer
    >>> from skinfluence.plotting import InfluenceDisplay
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> scorer = InfluenceScorer(make_pipeline(StandardScaler(), LogisticRegression()))
    >>> scorer = scorer.fit(X[:300], y[:300])
    >>> display = InfluenceDisplay.from_estimator(scorer, X[300], y[300], X[:300], y[:300], k=2)
    >>> display.helpful_indices.shape
    (2,)
    """

    def __init__(
        self,
        *,
        x_test,
        y_test,
        helpful_indices,
        helpful_influence,
        harmful_indices,
        harmful_influence,
        X_rows,
        y_rows,
        feature_names=None,
        image_shape=None,
        feature_scale=None,
    ):
        self.x_test = x_test
        self.y_test = y_test
        self.helpful_indices = helpful_indices
        self.helpful_influence = helpful_influence
        self.harmful_indices = harmful_indices
        self.harmful_influence = harmful_influence
        self.X_rows = X_rows
        self.y_rows = y_rows
        self.feature_names = feature_names
        self.image_shape = image_shape
        self.feature_scale = feature_scale

    @classmethod
    def from_influence(
        cls,
        influence,
        X_train,
        y_train,
        x_test,
        y_test,
        *,
        k=3,
        feature_names=None,
        image_shape=None,
        ax=None,
    ):
        """Draw from a precomputed influence of every training row on one test row.

        Parameters
        ----------
        influence : array-like of shape (n_train,)
            E.g. one row of :meth:`skinfluence.InfluenceScorer.influence`.
        X_train : array-like of shape (n_train, n_features)
        y_train : array-like of shape (n_train,)
        x_test : array-like of shape (n_features,)
        y_test : object
        k : int, default=3
            Number of helpful and of harmful rows shown.
        feature_names : list of str, default=None
            Defaults to the columns of a DataFrame ``X_train``, else ``x0, x1, ...``.
        image_shape : tuple of int, default=None
            Draw the rows as images of this shape.
        ax : matplotlib Axes, default=None

        Returns
        -------
        display : InfluenceDisplay
        """
        influence = np.asarray(influence, dtype=np.float64)
        y_train = np.asarray(y_train)
        n = len(y_train)
        if influence.shape != (n,):
            raise ValueError(
                f"influence must have shape ({n},), one value per training row; got "
                f"{influence.shape}."
            )
        if not isinstance(k, numbers.Integral) or not 1 <= k <= n // 2:
            raise ValueError(f"k must be an integer in [1, {n // 2}]; got {k!r}.")
        if feature_names is None and hasattr(X_train, "columns"):
            feature_names = [str(c) for c in X_train.columns]
        order = np.argsort(-influence, kind="stable")
        helpful, harmful = order[:k], order[::-1][:k]
        rows = np.concatenate([helpful, harmful])
        X_dense = np.asarray(X_train, dtype=np.float64)
        display = cls(
            x_test=np.asarray(x_test, dtype=np.float64).ravel(),
            y_test=y_test,
            helpful_indices=helpful,
            helpful_influence=influence[helpful],
            harmful_indices=harmful,
            harmful_influence=influence[harmful],
            X_rows=X_dense[rows],
            y_rows=y_train[rows],
            feature_names=feature_names,
            image_shape=image_shape,
            feature_scale=X_dense.std(axis=0),
        )
        return display.plot(ax=ax)

    @classmethod
    def from_estimator(
        cls,
        scorer,
        x_test,
        y_test,
        X_train,
        y_train,
        *,
        k=3,
        feature_names=None,
        image_shape=None,
        ax=None,
    ):
        """Compute the influence of every training row on one test row, then draw.

        Parameters
        ----------
        scorer : fitted InfluenceScorer (or any scorer with ``influence``)
        x_test : array-like of shape (n_features,)
        y_test : object
        X_train, y_train : array-like
            The training rows the scorer was fitted on (to draw them).
        k, feature_names, image_shape, ax
            As in :meth:`from_influence`.

        Returns
        -------
        display : InfluenceDisplay
        """
        check_is_fitted(scorer)
        x_row = np.asarray(x_test).reshape(1, -1)
        if hasattr(X_train, "columns"):
            import pandas as pd

            x_row = pd.DataFrame(x_row, columns=X_train.columns)
        influence = scorer.influence(x_row, np.asarray([y_test]))[0]
        return cls.from_influence(
            influence,
            X_train,
            y_train,
            np.asarray(x_test),
            y_test,
            k=k,
            feature_names=feature_names,
            image_shape=image_shape,
            ax=ax,
        )

    def plot(self, ax=None):
        """Draw the display on ``ax`` (a new figure if None).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure if None.

        Returns
        -------
        self : InfluenceDisplay
        """
        plt = import_optional("matplotlib.pyplot", extra="plot", caller="InfluenceDisplay.plot")
        if ax is None:
            if self.image_shape is not None:
                size = (1.6 * (1 + len(self.y_rows)), 2.6)
            else:
                size = (10, 1.5 + 0.45 * len(self.y_rows))
            _, ax = plt.subplots(figsize=size, layout="constrained")
        if self.image_shape is not None:
            self._plot_images(ax)
        else:
            self._plot_table(ax)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    def _captions(self):
        k = len(self.helpful_indices)
        indices = np.concatenate([self.helpful_indices, self.harmful_indices])
        influence = np.concatenate([self.helpful_influence, self.harmful_influence])
        kinds = ["helps"] * k + ["harms"] * k
        return [
            (f"#{i} {kind}", f"label {lab}, {inf:+.2g}")
            for i, kind, lab, inf in zip(indices, kinds, self.y_rows, influence, strict=True)
        ]

    def _plot_images(self, ax):
        shape = tuple(self.image_shape)
        if int(np.prod(shape)) != self.x_test.size:
            raise ValueError(
                f"image_shape {shape} does not match {self.x_test.size} features per row."
            )
        tiles = [self.x_test.reshape(shape), *(r.reshape(shape) for r in self.X_rows)]
        gap = np.full((shape[0], 1, *shape[2:]), np.nan)
        mosaic = np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1)
        ax.imshow(mosaic, cmap="gray_r" if len(shape) == 2 else None)
        ax.set_axis_off()
        step = shape[1] + 1
        titles = [("test row", f"label {self.y_test}"), *self._captions()]
        for j, (top, bottom) in enumerate(titles):
            ax.text(
                j * step + shape[1] / 2 - 0.5,
                -1.0,
                f"{top}\n{bottom}",
                ha="center",
                va="bottom",
                fontsize=8,
            )

    def _shown_features(self, n_shown=2):
        """Features on which the shown rows differ most from the test row (in spreads)."""
        scale = self.feature_scale if self.feature_scale is not None else 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            gaps = np.abs(self.X_rows - self.x_test) / scale
        gaps = np.nan_to_num(gaps, nan=0.0, posinf=0.0)
        return np.argsort(-gaps.mean(axis=0), kind="stable")[:n_shown]

    def _plot_table(self, ax):
        names = self.feature_names or [f"x{j}" for j in range(self.x_test.size)]
        shown = self._shown_features()
        influence = np.concatenate([self.helpful_influence, self.harmful_influence])

        def values(row):
            return ", ".join(f"{names[j]}={row[j]:.3g}" for j in shown)

        labels = [
            f"{top} ({bottom.split(',')[0]}): {values(row)}"
            for (top, bottom), row in zip(self._captions(), self.X_rows, strict=True)
        ]
        positions = np.arange(len(labels))[::-1]
        colors = ["tab:green" if v >= 0 else "tab:red" for v in influence]
        ax.barh(positions, influence, color=colors)
        ax.set_yticks(positions, labels, fontsize=8)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel("influence on the test row's loss (positive = helps)")
        ax.set_title(f"test row, label {self.y_test}\n{values(self.x_test)}", fontsize=9)
