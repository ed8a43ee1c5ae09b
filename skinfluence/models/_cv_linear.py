"""Adapters for the cross-validated linear models and ``RidgeClassifier``.

``RidgeCV``, ``RidgeClassifierCV`` and ``LogisticRegressionCV`` end their fit with the model at
the selected hyper-parameter (``alpha_``, ``C_``) refitted on all rows: their objective is the
plain model's at that value, and so is their adapter. Influence is taken with the selection
held fixed: removing a row refits at the same ``alpha_``/``C_``, it does not rerun the
cross-validation (which would move the hyper-parameter by a discrete jump, not smoothly).

``RidgeClassifier`` is ``Ridge`` on targets coded by ``LabelBinarizer(pos_label=1,
neg_label=-1)``: one column per class (one column for two classes, +1 for ``classes_[1]``),
so its loss is the squared error on those codes, ``ℓ_i = Σ_k (t_ik − η_ik)²``.
"""

import numpy as np
from sklearn.linear_model import (
    LogisticRegressionCV,
    RidgeClassifier,
    RidgeClassifierCV,
    RidgeCV,
)
from sklearn.utils.class_weight import compute_sample_weight

from .._utils._labels import encode_labels
from ._linear import LinearModelAdapter, LogisticRegressionAdapter, RidgeAdapter
from ._linear_examples import logistic_cv_example, ridge_classifier_example, ridge_cv_example
from ._registry import register_adapter


class RidgeCVAdapter(RidgeAdapter):
    """Adapter of a fitted ``RidgeCV`` at its selected ``alpha_``.

    Objective in sum form ``Σ_i w_i ‖y_i − η_i‖² + Σ_k alpha_k ‖w_k‖²`` (one ``alpha_`` per
    target with ``alpha_per_target=True``), intercept unpenalised: ``Ridge``'s at ``alpha_``.
    The selection is held fixed: influence is that of ``Ridge(alpha=alpha_)``, not of rerunning
    the cross-validation without the row.

    Parameters
    ----------
    estimator : RidgeCV
        Fitted.

    See Also
    --------
    RidgeAdapter : The same objective at a given ``alpha``.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import RidgeCV
    >>> from skinfluence.models import adapter_for
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = RidgeCV(alphas=[0.01, 0.1, 1.0]).fit(X, y)
    >>> float(adapter_for(model).penalty_strength()) == 2 * model.alpha_
    True
    """

    fit_selects_hyperparameters = True

    def penalty_strength(self):
        """Return ``2 alpha_``, the l2 penalty on each coefficient in sum form.

        Returns
        -------
        strength : float or ndarray of shape (n_targets,)
            The coefficient of ``‖w‖²/2``, one per target with ``alpha_per_target=True``.
        """
        return 2.0 * np.asarray(self.estimator.alpha_, dtype=np.float64)


class RidgeClassifierAdapter(RidgeAdapter):
    """Adapter of a fitted ``RidgeClassifier``: ``Ridge`` on ±1 codes of the classes.

    Objective in sum form ``Σ_i w_i Σ_k (t_ik − η_ik)² + α‖W‖²`` with ``t_i`` the
    ``LabelBinarizer(pos_label=1, neg_label=-1)`` code of ``y_i`` (K = 1 column for two classes,
    +1 for ``classes_[1]``; one column per class otherwise; the ±1 indicator matrix itself for
    multilabel ``y``), ``w_i`` = sample_weight × ``compute_sample_weight(class_weight, y)``,
    intercept unpenalised.

    Parameters
    ----------
    estimator : RidgeClassifier
        Fitted.

    See Also
    --------
    RidgeClassifierCVAdapter : The same objective at a cross-validated ``alpha_``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import RidgeClassifier
    >>> from skinfluence.models import adapter_for
    >>> X, y = load_iris(return_X_y=True)
    >>> adapter = adapter_for(RidgeClassifier().fit(X, y))
    >>> adapter.encode_target(y[[0, 50]])
    array([[ 1., -1., -1.],
           [-1.,  1., -1.]])
    """

    output_link = "scores"

    def __init__(self, estimator):
        super().__init__(estimator)
        self.classes_ = estimator.classes_
        self.multilabel = estimator._label_binarizer.y_type_.startswith("multilabel")

    def encode_target(self, y):
        """Return the ±1 codes the classifier regresses on.

        Parameters
        ----------
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Class labels, or a 0/1 indicator matrix for a multilabel model.

        Returns
        -------
        codes : ndarray of shape (n_samples, K)
            +1 for the row's class (``classes_[1]`` for two classes, one column), −1 elsewhere.

        Raises
        ------
        ValueError
            A label the model never saw, or an indicator matrix of the wrong shape.
        """
        y = np.asarray(y)
        if self.multilabel:
            if y.ndim != 2 or y.shape[1] != self.n_outputs or not np.isin(y, (0, 1)).all():
                raise ValueError(
                    f"y must be a 0/1 indicator matrix with {self.n_outputs} columns (the "
                    f"multilabel classes); got shape {y.shape}."
                )
            return 2.0 * y - 1.0
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D class labels; got shape {y.shape}.")
        codes = encode_labels(self.classes_, y)
        if len(self.classes_) == 2:
            return (2.0 * codes - 1.0)[:, None]
        t = -np.ones((len(codes), len(self.classes_)))
        t[np.arange(len(codes)), codes] = 1.0
        return t

    def row_weights(self, y, sample_weight=None):
        """Return the weight of each row in the objective: sample weight × class weight.

        Parameters
        ----------
        y : array-like of shape (n_samples,) or (n_samples, n_classes)
            Labels; ``class_weight='balanced'`` is resolved from them, as scikit-learn does.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights given to ``fit``.

        Returns
        -------
        weights : ndarray of shape (n_samples,)
            ``w_i`` of the sum form.
        """
        w = LinearModelAdapter.row_weights(self, y, sample_weight)
        cw = self.estimator.class_weight
        if not cw:
            return w
        self.encode_target(y)  # unseen labels: ValueError before compute_sample_weight's own
        return w * compute_sample_weight(cw, y)


class RidgeClassifierCVAdapter(RidgeClassifierAdapter):
    """Adapter of a fitted ``RidgeClassifierCV`` at its selected ``alpha_``.

    The :class:`RidgeClassifierAdapter` objective with ``α = alpha_``. The selection is held
    fixed: influence is that of ``RidgeClassifier(alpha=alpha_)``, not of rerunning the
    cross-validation without the row.

    Parameters
    ----------
    estimator : RidgeClassifierCV
        Fitted.

    See Also
    --------
    RidgeClassifierAdapter : The same objective at a given ``alpha``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import RidgeClassifierCV
    >>> from skinfluence.models import adapter_for
    >>> X, y = load_iris(return_X_y=True)
    >>> adapter = adapter_for(RidgeClassifierCV(alphas=[0.1, 1.0]).fit(X, y))
    >>> adapter.n_outputs, adapter.n_params
    (3, 15)
    """

    fit_selects_hyperparameters = True

    def penalty_strength(self):
        """Return ``2 alpha_``, the l2 penalty on each coefficient in sum form.

        Returns
        -------
        strength : float
            The coefficient of ``‖w‖²/2``.
        """
        return 2.0 * float(self.estimator.alpha_)


class LogisticRegressionCVAdapter(LogisticRegressionAdapter):
    """Adapter of a fitted ``LogisticRegressionCV`` (``refit=True``, l2) at its selected ``C_``.

    The ``LogisticRegression`` objective ``Σ_i w_i ℓ_i + ‖W‖²/(2 C_)``, with
    ``class_weight='balanced'`` resolved from the labels as scikit-learn does (liblinear also
    penalises the intercept, as ``b²/(2 C_)``: the refit ignores ``intercept_scaling``). The
    selection is held fixed: influence is that of ``LogisticRegression(C=C_)``, not of
    rerunning the cross-validation without the row.

    Parameters
    ----------
    estimator : LogisticRegressionCV
        Fitted with ``refit=True`` and the l2 penalty (``l1_ratios=(0,)``).

    Raises
    ------
    TypeError
        ``refit=False`` (averaged fold coefficients minimise no objective), an l1 or
        elastic-net selection, different ``C_`` per class, or liblinear on more than two
        classes.

    See Also
    --------
    LogisticRegressionAdapter : The same objective at a given ``C``.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegressionCV
    >>> from sklearn.preprocessing import scale
    >>> from skinfluence.models import adapter_for
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = LogisticRegressionCV(
    ...     Cs=[0.1, 1.0], l1_ratios=(0,), scoring="neg_log_loss", use_legacy_attributes=False
    ... ).fit(scale(X), y)
    >>> adapter_for(model).penalty_strength() == 1 / model.C_
    True
    """

    fit_selects_hyperparameters = True

    def __init__(self, estimator):
        LinearModelAdapter.__init__(self, estimator)
        if not estimator.refit:
            raise TypeError(
                "LogisticRegressionCV(refit=False) averages the coefficients of the folds, "
                "which minimise no single objective; refit with refit=True."
            )
        C = np.unique(np.asarray(estimator.C_, dtype=np.float64))
        if len(C) != 1:
            raise TypeError(
                f"LogisticRegressionCV selected different C_ per class ({C.tolist()}): one-vs-"
                "rest models, not one objective; refit a multinomial model (solver='lbfgs')."
            )
        self.C_ = float(C[0])
        self.classes_ = estimator.classes_
        self.binary = len(self.classes_) == 2
        self.penalty_ = None if np.isinf(self.C_) else _cv_l2_penalty(estimator)
        if estimator.solver == "liblinear" and not self.binary:
            raise TypeError(
                "LogisticRegressionCV(solver='liblinear') fits one-vs-rest models for more "
                "than two classes, which is not one objective; refit with solver='lbfgs'."
            )

    def penalty_strength(self):
        """Return ``1 / C_``, the l2 penalty on each coefficient in sum form.

        Returns
        -------
        strength : float
            The coefficient of ``‖w‖²/2`` (0 for ``C_ = inf``).
        """
        return 0.0 if self.penalty_ is None else 1.0 / self.C_

    def intercept_penalty_strength(self):
        """Return the penalty on the intercepts: ``1 / C_`` with liblinear, else 0.

        The final refit of ``LogisticRegressionCV.fit`` (scikit-learn 1.9) does not pass
        ``intercept_scaling`` to ``_logistic_regression_path``: the refitted intercept is
        penalised as a feature of value 1, whatever ``intercept_scaling`` the folds used.

        Returns
        -------
        strength : float
            The coefficient of ``b²/2``.
        """
        if self.estimator.solver == "liblinear" and self.penalty_ is not None:
            return 1.0 / self.C_
        return 0.0


def _cv_l2_penalty(estimator):
    """'l2' where the selected model's penalty is l2, as ``LogisticRegressionCV.fit`` resolves
    ``penalty``/``l1_ratios``; TypeError otherwise."""
    penalty = estimator.penalty
    l1_ratios = None if isinstance(estimator.l1_ratios, str) else estimator.l1_ratios
    if penalty == "deprecated":  # scikit-learn >= 1.8: the penalty follows l1_ratios
        if l1_ratios is None or np.all(np.asarray(l1_ratios) == 0):
            penalty = "l2"
        elif np.all(np.asarray(l1_ratios) == 1):
            penalty = "l1"
        else:
            penalty = "elasticnet"
    selected = np.asarray(getattr(estimator, "l1_ratio_", [0.0]), dtype=object).ravel()
    if penalty == "elasticnet" and all(r is not None and float(r) == 0 for r in selected):
        penalty = "l2"  # elastic-net at the selected l1_ratio_ = 0 is the l2 objective
    if penalty != "l2":
        raise TypeError(
            f"LogisticRegressionCV with penalty {penalty!r} (l1_ratios={l1_ratios!r}, selected "
            f"l1_ratio_={selected.tolist()}) is not twice differentiable; influence needs the "
            "l2 penalty (l1_ratios=(0,)). Use LeaveOneOutScorer or MemorizationScorer for "
            "other penalties."
        )
    return penalty


# -- registration, with the examples the common adapter tests check ------------------------
register_adapter(
    RidgeCV,
    RidgeCVAdapter,
    name="RidgeCV (at alpha_)",
    examples=[
        lambda: ridge_cv_example(RidgeCV(alphas=[0.1, 3.0, 30.0]), weighted=True),
        lambda: ridge_cv_example(
            RidgeCV(alphas=[0.1, 3.0, 300.0], alpha_per_target=True, fit_intercept=False), 2
        ),
        lambda: ridge_cv_example(RidgeCV(alphas=[0.1, 3.0, 30.0], cv=3), 2),
    ],
)
register_adapter(
    RidgeClassifier,
    RidgeClassifierAdapter,
    examples=[
        lambda: ridge_classifier_example(RidgeClassifier(alpha=2.0), weighted=True),
        lambda: ridge_classifier_example(
            RidgeClassifier(alpha=0.5, class_weight="balanced", fit_intercept=False), 3
        ),
        lambda: ridge_classifier_example(RidgeClassifier(alpha=1.0), 3, multilabel=True),
    ],
)
register_adapter(
    RidgeClassifierCV,
    RidgeClassifierCVAdapter,
    name="RidgeClassifierCV (at alpha_)",
    examples=[
        lambda: ridge_classifier_example(RidgeClassifierCV(alphas=[0.1, 1.0, 10.0]), 3),
        lambda: ridge_classifier_example(
            RidgeClassifierCV(alphas=[0.1, 1.0, 10.0], class_weight={"a": 2.0}), weighted=True
        ),
    ],
)
register_adapter(
    LogisticRegressionCV,
    LogisticRegressionCVAdapter,
    name="LogisticRegressionCV (l2, refit=True, at C_)",
    examples=[
        logistic_cv_example,
        lambda: logistic_cv_example(
            n_classes=3, class_weight="balanced", weighted=True, use_legacy_attributes=True
        ),
        lambda: logistic_cv_example(solver="liblinear", intercept_scaling=2.0),
    ],
)
