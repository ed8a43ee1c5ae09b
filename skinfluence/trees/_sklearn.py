"""Readers of scikit-learn's boosted trees: HistGradientBoosting and GradientBoosting.

Each reader returns a :class:`~skinfluence.trees._ensemble.TreeEnsemble` and checks it with
:func:`~skinfluence.trees._ensemble.check_ensemble` (every leaf value recomputed from the
training data, the raw scores compared with the model's own), so that what is read is what
the model computes.

HistGradientBoosting (``sklearn/ensemble/_hist_gradient_boosting``): leaf value
``−lr · G / (H + λ + 1e-15)`` (``splitting.pyx: compute_node_value``) with the per-row
weighted gradients stored in float32 (``G_H_DTYPE``); the baseline is the loss's
``fit_intercept_only`` on the training part; with early stopping on a validation fraction,
the split is ``train_test_split(..., random_state=_random_seed, stratify=y)`` (classifiers),
reproduced here and confirmed by the leaf-value check (validation rows get weight 0).

GradientBoosting (``sklearn/ensemble/_gb.py: _update_terminal_regions``): one Newton step per
leaf, ``Σ w (−g) / Σ w h`` (binomial), ``(K − 1)/K`` times that (multinomial, hence
``hessian_scale = K/(K − 1)``), the weighted mean of the residuals (squared error), a leaf
with denominator below 1e-150 set to 0 (``_safe_divide``); the learning rate multiplies the
stored tree values at prediction time (folded into ``leaf_values`` here).
"""

import numpy as np
from sklearn._loss.loss import HalfBinomialLoss, HalfMultinomialLoss, HalfSquaredError
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from ._ensemble import (
    TreeEnsemble,
    check_ensemble,
    encode_targets,
    structure_only,
    training_data,
)

RETRAINING = "Use LeaveOneOutScorer or MemorizationScorer (retraining) for this model."


def _objective_of(loss, name):
    if isinstance(loss, HalfSquaredError):
        return "squared_error"
    if isinstance(loss, HalfBinomialLoss):
        return "binary_logistic"
    if isinstance(loss, HalfMultinomialLoss):
        return "multinomial"
    raise TypeError(
        f"{name} with loss {type(loss).__name__} is not supported by the tree-influence "
        "methods: they need a smooth loss with a Newton leaf step (squared_error, log_loss). "
        f"{RETRAINING}"
    )


def _weights(sample_weight, n):
    if sample_weight is None:
        return np.ones(n)
    return np.asarray(sample_weight, dtype=np.float64).reshape(n).copy()


class HGBLeafApply:
    """``X -> (m, n_iter, K)`` global leaf ids of a fitted HistGradientBoosting model.

    Each tree's predictor is copied with every node's value replaced by the global id of
    the leaf it is (internal nodes: -1), so that the library's own prediction routine
    (missing values, categories, thresholds) returns leaf ids, exactly.
    """

    def __init__(self, estimator):
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

        self.estimator = estimator
        self.predictors = []
        offset = 0
        for iteration in estimator._predictors:
            row = []
            for predictor in iteration:
                nodes = predictor.nodes.copy()
                ids = np.full(len(nodes), -1.0)
                leaves = np.flatnonzero(nodes["is_leaf"])
                ids[leaves] = offset + np.arange(len(leaves))
                nodes["value"] = ids
                offset += len(leaves)
                row.append(
                    TreePredictor(
                        nodes, predictor.binned_left_cat_bitsets, predictor.raw_left_cat_bitsets
                    )
                )
            self.predictors.append(row)
        self.n_leaves = offset

    def __call__(self, X):
        est = self.estimator
        X = est._preprocess_X(X, reset=False)
        known_cat_bitsets, f_idx_map = est._bin_mapper.make_known_categories_bitsets()
        K = est.n_trees_per_iteration_
        out = np.empty((X.shape[0], len(self.predictors), K), dtype=np.intp)
        for it, row in enumerate(self.predictors):
            for k, predictor in enumerate(row):
                out[:, it, k] = predictor.predict(X, known_cat_bitsets, f_idx_map, n_threads=1)
        return out


def _hgb_training_mask(estimator, y_encoded, n):
    """Which of the n rows the trees were fitted on (early stopping holds some out)."""
    if not (estimator.do_early_stopping_ and estimator._use_validation_data):
        return np.ones(n, dtype=bool)
    stratify = y_encoded if hasattr(estimator._loss, "predict_proba") else None
    train_idx, _ = train_test_split(
        np.arange(n),
        test_size=estimator.validation_fraction,
        stratify=stratify,
        random_state=estimator._random_seed,
    )
    mask = np.zeros(n, dtype=bool)
    mask[train_idx] = True
    return mask


def read_hist_gradient_boosting(estimator, X=None, y=None, sample_weight=None):
    """A :class:`TreeEnsemble` of a fitted HistGradientBoosting model and its training data.

    Parameters
    ----------
    estimator : HistGradientBoostingClassifier or HistGradientBoostingRegressor
        Fitted on ``(X, y, sample_weight)``.
    X, y, sample_weight
        The training data it was fitted on; X=None reads the structure only (no training
        rows, not checked), as :func:`~skinfluence.models.adapter_for` does.

    Returns
    -------
    TreeEnsemble
    """
    check_is_fitted(estimator)
    name = type(estimator).__name__
    objective = _objective_of(estimator._loss, name)
    classes = getattr(estimator, "classes_", None)
    apply = HGBLeafApply(estimator)
    K = estimator.n_trees_per_iteration_
    if X is None:
        data = structure_only(len(estimator._predictors), K)
    else:
        y_enc = encode_targets(classes, y)
        weight = _weights(sample_weight, len(y_enc))
        if classes is not None and getattr(estimator, "class_weight", None) is not None:
            weight = estimator._finalize_sample_weight(weight, y_enc)
        mask = _hgb_training_mask(estimator, y_enc, len(y_enc))
        data = training_data(apply, X, y_enc, weight * mask, _model_raw_scores(estimator, X))
    leaf_values = np.concatenate(
        [
            p.nodes["value"][p.nodes["is_leaf"].astype(bool)]
            for row in estimator._predictors
            for p in row
        ]
    )
    leaf_tree = np.concatenate(
        [
            np.full(int(p.nodes["is_leaf"].sum()), t * len(row) + k)
            for t, row in enumerate(estimator._predictors)
            for k, p in enumerate(row)
        ]
    )
    ensemble = TreeEnsemble(
        objective=objective,
        n_outputs=K,
        classes=classes,
        learning_rate=float(estimator.learning_rate),
        l2_regularization=float(estimator.l2_regularization),
        baseline=np.asarray(estimator._baseline_prediction).reshape(-1),
        baseline_is_fitted=True,
        leaf_values=leaf_values,
        leaf_tree=leaf_tree,
        apply=apply,
        denominator_eps=1e-15,
        gradient_dtype="float32",
        single_leaf_is_zero=True,
        library=name,
        **data,
    )
    if X is not None:
        try:
            check_ensemble(ensemble)
        except TypeError:
            if mask.all():
                raise
            # Early stopping on an X_val passed to fit: no split of X was made (the model
            # does not record it), so every row was fitted on.
            ensemble.train_weight = weight
            check_ensemble(ensemble)
    return ensemble


def _gb_prior_baseline(estimator, K):
    # The prior's raw score as GradientBoosting computes it (_init_raw_predictions): the
    # link of the class frequencies, clipped to [eps, 1 - eps].
    prior = np.asarray(estimator.init_.class_prior_, dtype=np.float64)
    eps = np.finfo(np.float64).eps
    p = np.clip(prior if K > 1 else prior[1:], eps, 1 - eps)
    return np.asarray(estimator._loss.link.link(p[None, :]), dtype=np.float64).reshape(K)


class GBLeafApply:
    """``X -> (m, n_iter, K)`` global leaf ids of a fitted GradientBoosting model."""

    def __init__(self, estimator):
        self.estimator = estimator
        self.maps = []
        offset = 0
        for tree in estimator.estimators_.ravel():
            t = tree.tree_
            ids = np.full(t.node_count, -1, dtype=np.intp)
            leaves = np.flatnonzero(t.children_left == -1)
            ids[leaves] = offset + np.arange(len(leaves))
            offset += len(leaves)
            self.maps.append(ids)
        self.n_leaves = offset

    def __call__(self, X):
        est = self.estimator
        nodes = est.apply(X).astype(np.intp).reshape(-1, *est.estimators_.shape)
        out = np.empty(nodes.shape, dtype=np.intp)
        n_iter, K = est.estimators_.shape
        for it in range(n_iter):
            for k in range(K):
                out[:, it, k] = self.maps[it * K + k][nodes[:, it, k]]
        return out


def read_gradient_boosting(estimator, X=None, y=None, sample_weight=None):
    """A :class:`TreeEnsemble` of a fitted GradientBoosting model and its training data.

    Parameters
    ----------
    estimator : GradientBoostingClassifier or GradientBoostingRegressor
        Fitted on ``(X, y, sample_weight)``.
    X, y, sample_weight
        The training data it was fitted on; X=None reads the structure only (no training
        rows, not checked), as :func:`~skinfluence.models.adapter_for` does.

    Returns
    -------
    TreeEnsemble
    """
    check_is_fitted(estimator)
    name = type(estimator).__name__
    objective = _objective_of(estimator._loss, name)
    if estimator.subsample < 1.0:
        raise TypeError(
            f"{name} with subsample={estimator.subsample} is not supported by the tree-"
            "influence methods: the rows each tree was fitted on are not stored, so its leaf "
            f"values cannot be recomputed. Fit with subsample=1.0, or: {RETRAINING}"
        )
    classes = getattr(estimator, "classes_", None)
    init = estimator.init_
    K = estimator.n_trees_per_iteration_
    if isinstance(init, str) and init == "zero":
        baseline, fitted = np.zeros(K), False
    elif isinstance(init, DummyClassifier) and init.strategy == "prior":
        baseline, fitted = _gb_prior_baseline(estimator, K), True
    elif isinstance(init, DummyRegressor) and init.strategy == "mean":
        baseline, fitted = np.asarray(init.constant_, dtype=np.float64).reshape(K), True
    else:
        raise TypeError(
            f"{name} with init={init!r} is not supported by the tree-influence methods (the "
            f"baseline must be the prior, the mean or 'zero'). {RETRAINING}"
        )
    trees = estimator.estimators_.ravel()
    lr = float(estimator.learning_rate)
    leaf_values = np.concatenate(
        [lr * t.tree_.value[t.tree_.children_left == -1, 0, 0] for t in trees]
    )
    leaf_tree = np.concatenate(
        [np.full(int((t.tree_.children_left == -1).sum()), i) for i, t in enumerate(trees)]
    )
    apply = GBLeafApply(estimator)
    if X is None:
        data = structure_only(estimator.estimators_.shape[0], K)
    else:
        y_enc = encode_targets(classes, y)
        weight = _weights(sample_weight, len(y_enc)) * _gb_training_mask(estimator, y_enc)
        data = training_data(apply, X, y_enc, weight, _model_raw_scores(estimator, X))
    ensemble = TreeEnsemble(
        objective=objective,
        n_outputs=K,
        classes=classes,
        learning_rate=lr,
        l2_regularization=0.0,
        baseline=baseline,
        baseline_is_fitted=fitted,
        leaf_values=leaf_values,
        leaf_tree=leaf_tree,
        apply=apply,
        hessian_scale=K / (K - 1) if objective == "multinomial" else 1.0,
        min_denominator=1e-150,
        library=name,
        **data,
    )
    if X is not None:
        check_ensemble(ensemble)
    return ensemble


def _gb_training_mask(estimator, y_encoded):
    """Which rows the trees were fitted on (``n_iter_no_change`` holds some out)."""
    n = len(y_encoded)
    mask = np.ones(n, dtype=bool)
    if estimator.n_iter_no_change is not None:
        train_idx, _ = train_test_split(
            np.arange(n),
            random_state=estimator.random_state,
            test_size=estimator.validation_fraction,
            stratify=y_encoded if getattr(estimator, "classes_", None) is not None else None,
        )
        mask[:] = False
        mask[train_idx] = True
    return mask


def _model_raw_scores(estimator, X):
    """The model's own raw scores (n, K): decision_function or, for regressors, predict."""
    if getattr(estimator, "classes_", None) is not None:
        raw = estimator.decision_function(X)
    else:
        raw = estimator.predict(X)
    return np.asarray(raw, dtype=np.float64).reshape(len(raw), -1)
