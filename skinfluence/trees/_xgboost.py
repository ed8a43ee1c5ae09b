"""Reader of XGBoost models: ``XGBClassifier``, ``XGBRegressor`` and ``xgboost.Booster``.

XGBoost is imported only when such a model is read (``pip install skinfluence[boosting]``).
What is read, all from the fitted model itself:

- the training parameters, from ``Booster.save_config()`` (``eta``, ``lambda``, ``alpha``,
  ``max_delta_step``, the objective, ``base_score`` and whether it was estimated from the
  data, ``boost_from_average``);
- every leaf value, from the JSON model (``Booster.save_raw("json")``; stored in float32);
- the leaf of every row in every tree, from ``predict(..., pred_leaf=True)``.

The leaf-value rule (``src/tree/param.h: CalcWeight``) is ``−eta · T_α(G) / (H + λ)``,
clipped at ``max_delta_step``, the per-row gradients computed and stored in float32, the
Hessian of the logistic loss floored at 1e-16 (``regression_loss.h``), that of softprob
``2 p (1 − p)`` (``multiclass_obj.cu``: the Hessian factor 2). ``base_score`` is estimated
from the training rows unless it was given (``boost_from_average``): the weighted mean
(squared error; binary, in probability space) or, since XGBoost 3.1, the centred log class
frequencies (softprob; XGBoost's estimate is within 1e-5 of them, not exactly equal); the
ensemble's baseline is then fitted, otherwise a constant. The check recomputes the leaves
from XGBoost's own (float32) base score, and compares that with the intercept-only optimum
separately.

Because XGBoost stores leaves, base score and the running margin in float32, the model is
reproduced only to float32 precision: the check's tolerance is 1e-5 of the largest leaf and
raw score (measured: 2e-8 to 3e-7 typically; up to 1e-6 where ``max_delta_step`` makes every
leaf small, since the float32 gradient sums err in absolute terms).

Refused, with what to do instead: row subsampling (``subsample`` < 1), ``num_parallel_tree``
> 1 (boosted forests), the ``dart`` and ``gblinear`` boosters, multi-output trees
(``multi_strategy="multi_output_tree"``), ``scale_pos_weight`` ≠ 1 (pass ``sample_weight``),
``process_type="update"`` and losses other than ``reg:squarederror``, ``binary:logistic``,
``multi:softprob`` and ``multi:softmax``. Column subsampling
(``colsample_*``) only changes which splits were chosen and is fine; monotone constraints
that clipped a leaf are caught by the leaf-value check.
"""

import dataclasses
import json

import numpy as np

from .._utils._optional import import_optional
from ._ensemble import (
    TreeEnsemble,
    check_ensemble,
    encode_targets,
    intercept_only,
    structure_only,
    training_data,
)

RETRAINING = "Use LeaveOneOutScorer or MemorizationScorer (retraining) for this model."
OBJECTIVES = {
    "reg:squarederror": "squared_error",
    "binary:logistic": "binary_logistic",
    "multi:softprob": "multinomial",
    "multi:softmax": "multinomial",
}
TOLERANCE = 1e-5


def _xgboost():
    return import_optional("xgboost", extra="boosting", caller="reading an XGBoost model")


def _refuse(name, what, fix):
    raise TypeError(
        f"{name} with {what} is not supported by the tree-influence methods: {fix} {RETRAINING}"
    )


def _float32(value, default=0.0):
    """A parameter as XGBoost holds it: a float32, widened exactly to float64."""
    if value in (None, ""):
        value = default
    return float(np.float32(float(value)))


def _parse_base_score(text):
    text = str(text).strip()
    if text.startswith("["):
        text = text[1:-1]
    return np.array([float(v) for v in text.split(",") if v.strip()], dtype=np.float32)


def _learner_config(booster, name):
    """The learner section of the config, after the refusals; returns (objective, params)."""
    learner = json.loads(booster.save_config())["learner"]
    gbm = learner["gradient_booster"]
    if gbm.get("name") != "gbtree":
        _refuse(
            name,
            f"booster={gbm.get('name')!r}",
            "only 'gbtree' recomputes its leaves from the data (DART rescales earlier trees,"
            " gblinear has no trees).",
        )
    if int(gbm["gbtree_model_param"].get("num_parallel_tree", 1)) != 1:
        _refuse(
            name,
            f"num_parallel_tree={gbm['gbtree_model_param']['num_parallel_tree']}",
            "boosted forests fit several trees per iteration on row samples. Fit with "
            "num_parallel_tree=1,",
        )
    if gbm.get("gbtree_train_param", {}).get("process_type", "default") != "default":
        _refuse(name, "process_type='update'", "refresh/prune updates are not modelled.")
    train = gbm["tree_train_param"]
    if _float32(train.get("subsample"), 1.0) < 1.0:
        _refuse(
            name,
            f"subsample={train['subsample']}",
            "the rows each tree was fitted on are not stored, so its leaf values cannot be "
            "recomputed. Fit with subsample=1.0 (colsample_* may stay),",
        )
    strategy = learner.get("learner_train_param", {}).get("multi_strategy", "one_output_per_tree")
    if strategy != "one_output_per_tree":
        _refuse(
            name,
            f"multi_strategy={strategy!r}",
            "vector-leaf trees are not modelled. Fit with multi_strategy='one_output_per_tree',",
        )
    objective = learner["objective"]["name"]
    if objective not in OBJECTIVES:
        _refuse(
            name,
            f"objective={objective!r}",
            f"the supported losses are {sorted(OBJECTIVES)} (squared error, log-loss).",
        )
    spw = learner["objective"].get("reg_loss_param", {}).get("scale_pos_weight", "1")
    if _float32(spw, 1.0) != 1.0:
        _refuse(name, f"scale_pos_weight={spw}", "pass the weights as sample_weight instead,")
    return objective, learner


def _leaf_tables(trees):
    """Per tree: leaf values (in node order) and the node id -> local leaf index map."""
    values, maps = [], []
    for tree in trees:
        left = np.asarray(tree["left_children"])
        is_leaf = left == -1
        node_map = np.full(len(left), -1, dtype=np.intp)
        node_map[is_leaf] = np.arange(int(is_leaf.sum()))
        values.append(np.asarray(tree["split_conditions"], dtype=np.float32)[is_leaf])
        maps.append(node_map)
    return values, maps


class XGBoostLeafApply:
    """``X -> (m, n_iter, K)`` global leaf ids of an XGBoost model (picklable).

    XGBoost's own ``pred_leaf`` routes the rows (missing values, categories, thresholds);
    its node ids are mapped to the ensemble's global leaf ids. ``model`` is the sklearn
    wrapper (its ``apply`` keeps the wrapper's input handling) or a ``Booster``.
    """

    def __init__(self, model, n_iter, K, node_maps, offsets):
        self.model = model
        self.n_iter = n_iter
        self.K = K
        self.node_maps = node_maps
        self.offsets = np.asarray(offsets, dtype=np.intp)

    def _nodes(self, X):
        xgb = _xgboost()
        if isinstance(self.model, xgb.Booster):
            data = X if isinstance(X, xgb.DMatrix) else xgb.DMatrix(X)
            return self.model.predict(data, pred_leaf=True, iteration_range=(0, self.n_iter))
        return self.model.apply(X, iteration_range=(0, self.n_iter))

    def __call__(self, X):
        nodes = np.asarray(self._nodes(X)).astype(np.intp).reshape(-1, self.n_iter * self.K)
        out = np.empty_like(nodes)
        for tree, node_map in enumerate(self.node_maps):
            out[:, tree] = node_map[nodes[:, tree]] + self.offsets[tree]
        return out.reshape(-1, self.n_iter, self.K)


def _raw_scores(model, X, n_iter):
    xgb = _xgboost()
    if isinstance(model, xgb.Booster):
        data = X if isinstance(X, xgb.DMatrix) else xgb.DMatrix(X)
        return model.predict(data, output_margin=True, iteration_range=(0, n_iter))
    return model.predict(X, output_margin=True, iteration_range=(0, n_iter))


def _n_iterations(booster, n_trees, K):
    best = booster.attr("best_iteration")
    total = n_trees // K
    if best is not None and 0 <= int(best) < total:
        return int(best) + 1
    return total


def read_xgboost(estimator, X=None, y=None, sample_weight=None):
    """A :class:`TreeEnsemble` of a fitted XGBoost model and its training data.

    Parameters
    ----------
    estimator : xgboost.XGBClassifier, xgboost.XGBRegressor or xgboost.Booster
        Fitted on ``(X, y, sample_weight)``. For a ``Booster``, ``y`` holds the labels
        given to the ``DMatrix`` (class indices 0..K − 1 for classification) and ``X``
        what ``xgboost.DMatrix`` takes (or the DMatrix itself).
    X : array-like of shape (n_samples, n_features), default=None
        The training rows; None reads the structure only (no training rows, not checked).
    y : array-like of shape (n_samples,), default=None
        Their labels or targets.
    sample_weight : array-like of shape (n_samples,), default=None
        The weights it was fitted with.

    Returns
    -------
    TreeEnsemble
        Checked: the leaf values recomputed from the data and the raw scores equal the
        model's to 1e-5 (relative; XGBoost computes in float32).

    Raises
    ------
    TypeError
        For the options of the module docstring, with what to do instead.

    Examples
    --------
    >>> import xgboost  # doctest: +SKIP
    >>> from sklearn.datasets import load_breast_cancer  # doctest: +SKIP
    >>> from skinfluence.trees import read_ensemble  # doctest: +SKIP
    >>> X, y = load_breast_cancer(return_X_y=True)  # doctest: +SKIP
    >>> model = xgboost.XGBClassifier(n_estimators=5).fit(X, y)  # doctest: +SKIP
    >>> read_ensemble(model, X, y).train_leaves.shape  # doctest: +SKIP
    (569, 5, 1)
    """
    xgb = _xgboost()
    name = type(estimator).__name__
    if isinstance(estimator, xgb.Booster):
        booster, classes = estimator, None
    else:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(estimator)
        booster, classes = estimator.get_booster(), getattr(estimator, "classes_", None)
    xgb_objective, learner = _learner_config(booster, name)
    objective = OBJECTIVES[xgb_objective]
    model = json.loads(bytes(booster.save_raw("json")))["learner"]["gradient_booster"]["model"]
    K = int(learner["learner_model_param"].get("num_class", "0")) or 1
    n_iter = _n_iterations(booster, len(model["trees"]), K)
    trees = model["trees"][: n_iter * K]
    tree_info = np.asarray(model["tree_info"][: n_iter * K])
    if not np.array_equal(tree_info, np.tile(np.arange(K), n_iter)):
        raise TypeError(f"{name}: unexpected tree order {tree_info[: 2 * K]}. {RETRAINING}")

    if objective != "squared_error" and classes is None:
        classes = np.arange(max(K, 2))
    params = learner["gradient_booster"]["tree_train_param"]
    model_param = learner["learner_model_param"]
    base = _parse_base_score(model_param["base_score"])
    # XGBoost >= 3.1 estimates one intercept per class (a vector); earlier releases hold one
    # constant for all classes, which the softmax ignores.
    per_class = len(base) == K
    base = np.broadcast_to(base, (K,)).astype(np.float32)
    if xgb_objective == "binary:logistic":
        baseline = np.log(base) - np.log1p(-base)  # ProbToMargin, in float32
        baseline = baseline.astype(np.float32).astype(np.float64)
    else:
        baseline = base.astype(np.float64)
    fitted = model_param.get("boost_from_average", "1") == "1" and (
        objective != "multinomial" or per_class
    )

    values, maps = _leaf_tables(trees)
    sizes = [len(v) for v in values]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    apply_model = booster if isinstance(estimator, xgb.Booster) else estimator
    apply = XGBoostLeafApply(apply_model, n_iter, K, maps, offsets[:-1])
    if X is None:
        data = structure_only(n_iter, K)
    else:
        if objective == "squared_error":
            y_enc = np.asarray(y, dtype=np.float32).astype(np.float64).reshape(-1)
        else:
            y_enc = encode_targets(classes, y)
        n = len(y_enc)
        weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
        weight = weight.reshape(n).astype(np.float32).astype(np.float64)
        raw = np.asarray(_raw_scores(apply_model, X, n_iter), dtype=np.float64).reshape(n, K)
        data = training_data(apply, X, y_enc, weight, raw)
    ensemble = TreeEnsemble(
        objective=objective,
        n_outputs=K,
        classes=None if objective == "squared_error" else classes,
        learning_rate=_float32(params.get("eta", params.get("learning_rate")), 0.3),
        l2_regularization=_float32(params.get("lambda", params.get("reg_lambda")), 1.0),
        l1_regularization=_float32(params.get("alpha", params.get("reg_alpha")), 0.0),
        hessian_scale=2.0 if objective == "multinomial" else 1.0,
        max_delta_step=_float32(params.get("max_delta_step"), 0.0),
        baseline=baseline,
        baseline_is_fitted=fitted,
        leaf_values=np.concatenate(values).astype(np.float64),
        leaf_tree=np.repeat(np.arange(len(values)), sizes),
        apply=apply,
        min_hessian=0.0 if objective == "squared_error" else 1e-16,
        gradient_dtype="float32",
        tolerance=TOLERANCE,
        library=name,
        **data,
    )
    if X is None:
        return ensemble
    try:
        _check(ensemble)
    except TypeError as exc:
        if str(params.get("monotone_constraints", "()")).strip("()0, ") == "":
            raise
        raise TypeError(
            f"{exc} Likely cause for this {name}: monotone constraints that clipped leaf values."
        ) from exc
    return ensemble


def _check(ensemble):
    """The leaf-value check from XGBoost's own base score, then the base score itself.

    XGBoost's softprob intercept is an approximation of the optimum (off by up to ~5e-6):
    recomputing the leaves from the exact optimum would carry that into every leaf, so the
    leaves are recomputed from the stored base score and the base score is compared with the
    optimum at the same tolerance.
    """
    fixed = dataclasses.replace(ensemble, baseline_is_fitted=False)
    errors = check_ensemble(fixed)
    if ensemble.baseline_is_fitted:
        optimum = intercept_only(
            ensemble.objective, ensemble.target_matrix(), ensemble.train_weight
        ).reshape(-1)
        diff = optimum - ensemble.baseline
        if ensemble.objective == "multinomial":
            diff = diff - diff.mean()
        errors["baseline"] = np.abs(diff).max() / max(np.abs(ensemble.baseline).max(), 1.0)
        if not errors["baseline"] <= TOLERANCE:
            raise TypeError(
                f"The {ensemble.library} model's base_score is not the intercept-only optimum "
                f"of the training rows (off by {errors['baseline']:.2g}, relative): was it "
                "fitted on these rows and weights? Pass them, or set base_score explicitly "
                f"(then it is a constant). {RETRAINING}"
            )
    return errors
