"""Reader of LightGBM models: ``LGBMClassifier``, ``LGBMRegressor`` and ``lightgbm.Booster``.

LightGBM is imported only when such a model is read (``pip install skinfluence[boosting]``).
What is read, all from the fitted model itself:

- the resolved training parameters, from the ``parameters:`` block of
  ``Booster.model_to_string()`` (``learning_rate``, ``lambda_l2``, ``lambda_l1``,
  ``max_delta_step``, ``objective``, ``boost_from_average``, and the options refused below);
- every leaf value, from the ``Tree=`` blocks of the same model string (17 significant
  digits, the doubles ``Booster.dump_model()`` holds, several times faster to read);
- the leaf of every row in every tree, from ``Booster.predict(X, pred_leaf=True)``.

The leaf-value rule (``feature_histogram.hpp: CalculateSplittedLeafOutput``) is
``−lr · T_α(G) / (H + λ)``, clipped at ``max_delta_step``, with LightGBM's per-row gradients
stored in float32 (``score_t``), its labels and weights in float32 (``label_t``). Multiclass
softmax Hessians carry the factor K/(K − 1) (``multiclass_objective.hpp``). With
``boost_from_average`` (the default for regression, binary and multiclass) LightGBM adds the
initial score to the first iteration's leaves (``gbdt.cpp: AddBias``): it is taken out of
them again here and becomes the ensemble's fitted baseline, the weighted mean label
(regression), its logit (binary) or the log class frequencies (multiclass).

Refused, with what to do instead (they cannot be modelled with the structure fixed): bagging
(``bagging_fraction`` / ``subsample`` < 1 with ``bagging_freq`` > 0), GOSS, DART and random
forests, ``linear_tree``, ``path_smooth``, quantised gradients, ``is_unbalance`` and
``scale_pos_weight`` (pass ``sample_weight`` instead), losses other than ``regression`` (L2),
``binary`` and ``multiclass``, and trees LightGBM left as one constant leaf. Feature
subsampling (``colsample_bytree``, ``feature_fraction``) and ``extra_trees`` only change which
splits were chosen and are fine. Monotone constraints or categorical splits that changed a
leaf value are caught by the leaf-value check.
"""

import re

import numpy as np
from sklearn.utils import _safe_indexing

from .._utils._optional import import_optional
from ._ensemble import (
    TreeEnsemble,
    check_ensemble,
    encode_targets,
    structure_only,
    training_data,
)

RETRAINING = "Use LeaveOneOutScorer or MemorizationScorer (retraining) for this model."
OBJECTIVES = {
    "regression": "squared_error",
    "binary": "binary_logistic",
    "multiclass": "multinomial",
}
_K_EPSILON = 1e-15  # LightGBM's kEpsilon (meta.h)


def _lightgbm():
    return import_optional("lightgbm", extra="boosting", caller="reading a LightGBM model")


def booster_parameters(booster, text=None):
    """The resolved training parameters of a fitted ``lightgbm.Booster``, as strings.

    Read from the ``parameters:`` block that LightGBM writes into the model string, i.e.
    what the model was trained with (aliases resolved), also for a Booster loaded from a
    file.

    Parameters
    ----------
    booster : lightgbm.Booster
    text : str, default=None
        Its ``model_to_string()``, when already at hand.

    Returns
    -------
    dict of str to str

    Examples
    --------
    >>> import lightgbm  # doctest: +SKIP
    """
    text = booster.model_to_string() if text is None else text
    start = text.find("\nparameters:\n")
    stop = text.find("\nend of parameters", start)
    params = {}
    if start < 0 or stop < 0:
        return params
    for line in text[start:stop].splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]") and ": " in line:
            key, value = line[1:-1].split(": ", 1)
            params[key] = value
    return params


def _number(params, key, default=0.0):
    value = params.get(key, "")
    return float(value) if value not in ("", None) else float(default)


def _refuse(name, what, fix):
    raise TypeError(
        f"{name} with {what} is not supported by the tree-influence methods: {fix} {RETRAINING}"
    )


def _check_options(params, name):
    """Refuse what the fixed-structure leaf-value rule cannot reproduce."""
    boosting = params.get("boosting", "gbdt")
    if boosting != "gbdt":
        _refuse(
            name,
            f"boosting={boosting!r}",
            "only plain gradient boosting ('gbdt') recomputes its leaves from the data "
            "(DART rescales earlier trees, 'rf' averages them).",
        )
    if params.get("data_sample_strategy", "bagging") == "goss":
        _refuse(
            name,
            "data_sample_strategy='goss'",
            "GOSS fits each tree on a reweighted sample of rows that is not stored. "
            "Fit with data_sample_strategy='bagging' and no bagging,",
        )
    if (
        int(_number(params, "bagging_freq")) > 0
        and min(
            _number(params, key, 1.0)
            for key in ("bagging_fraction", "pos_bagging_fraction", "neg_bagging_fraction")
        )
        < 1.0
    ):
        _refuse(
            name,
            "row subsampling (bagging_fraction/subsample < 1 with bagging_freq > 0)",
            "the rows each tree was fitted on are not stored, so its leaf values cannot be "
            "recomputed. Fit with subsample=1.0 (colsample_bytree may stay),",
        )
    for key, what in (
        ("linear_tree", "linear_tree=True (leaves hold linear models)"),
        ("use_quantized_grad", "use_quantized_grad=True (leaves from quantised gradients)"),
        ("is_unbalance", "is_unbalance=True"),
    ):
        if params.get(key, "0") not in ("0", "false", "False", ""):
            fix = (
                "pass the class weights as sample_weight instead,"
                if key == "is_unbalance"
                else ("fit without it,")
            )
            _refuse(name, what, fix)
    if _number(params, "path_smooth") > 0:
        _refuse(
            name,
            f"path_smooth={params['path_smooth']}",
            "smoothing ties each leaf to its parent's value. Fit with path_smooth=0,",
        )
    if _number(params, "scale_pos_weight", 1.0) != 1.0:
        _refuse(
            name,
            f"scale_pos_weight={params['scale_pos_weight']}",
            "pass the weights as sample_weight instead,",
        )
    if params.get("reg_sqrt", "0") not in ("0", ""):
        _refuse(name, "reg_sqrt=True", "fit on sqrt(y) yourself instead,")
    objective = params.get("objective", "").split(" ")[0]
    if objective not in OBJECTIVES:
        _refuse(
            name,
            f"objective={objective!r}",
            f"the supported losses are {sorted(OBJECTIVES)} (squared error, log-loss).",
        )
    if objective == "binary" and _number(params, "sigmoid", 1.0) != 1.0:
        _refuse(name, f"sigmoid={params['sigmoid']}", "fit with sigmoid=1.0,")
    return OBJECTIVES[objective]


_TREE_KEYS = re.compile(r"\n(Tree|num_leaves|num_cat|shrinkage|leaf_value)=([^\n]*)")


def _model_trees(text):
    """The trees of a LightGBM model string: ``(K, trees)`` with ``trees`` a dict of arrays
    over the trees, ``num_leaves``, ``num_cat``, ``shrinkage``, and ``leaf_value`` (all
    leaves, tree after tree, in LightGBM's leaf-index order).

    Read from the text LightGBM itself saves (``leaf_value=`` at 17 significant digits, the
    same doubles as ``dump_model``) rather than from its JSON dump, which takes several
    times longer to build and parse: one regular-expression pass over the tree blocks.
    """
    head, _, body = text.partition("\nTree=")
    K = 1
    for line in head.splitlines():
        if line.startswith("num_tree_per_iteration="):
            K = int(line.split("=", 1)[1])
    body = body.split("\nend of trees", 1)[0]
    empty = {
        "num_leaves": np.zeros(0, np.intp),
        "num_cat": np.zeros(0, np.intp),
        "shrinkage": np.zeros(0),
        "leaf_value": np.zeros(0),
    }
    if not body:
        return K, empty
    found = {key: [] for key in ("Tree", "num_leaves", "num_cat", "shrinkage", "leaf_value")}
    for key, value in _TREE_KEYS.findall("\nTree=" + body):
        found[key].append(value)
    n_trees = len(found["Tree"])

    def column(key, default=None):
        # each tree block has each key once; num_cat and shrinkage are absent from very old
        # model files
        if len(found[key]) != n_trees:
            if default is None:
                raise ValueError(
                    f"LightGBM model string: {len(found[key])} '{key}=' lines for {n_trees} trees."
                )
            return [default] * n_trees
        return found[key]

    num_leaves = np.array(column("num_leaves"), dtype=np.intp)
    values = np.array(" ".join(column("leaf_value")).split(), dtype=np.float64)
    if len(values) != num_leaves.sum():
        raise ValueError(
            f"LightGBM model string: {num_leaves.sum()} leaves but {len(values)} leaf values."
        )
    return K, {
        "num_leaves": num_leaves,
        "num_cat": np.array(column("num_cat", "0"), dtype=np.intp),
        "shrinkage": np.array(column("shrinkage", "1"), dtype=np.float64),
        "leaf_value": values,
    }


class LightGBMLeafApply:
    """``X -> (m, n_iter, K)`` global leaf ids of a LightGBM booster (picklable).

    LightGBM's own ``predict(X, pred_leaf=True)`` routes the rows (missing values,
    categories, thresholds), so test rows fall where the model sends them.
    """

    def __init__(self, booster, n_iter, K, offsets):
        self.booster = booster
        self.n_iter = n_iter
        self.K = K
        self.offsets = np.asarray(offsets, dtype=np.intp)

    def __call__(self, X):
        leaves = self.booster.predict(X, pred_leaf=True, num_iteration=self.n_iter)
        leaves = np.asarray(leaves, dtype=np.intp).reshape(-1, self.n_iter * self.K)
        return (leaves + self.offsets[None, :]).reshape(-1, self.n_iter, self.K)


_RAW_CHECK_ROWS = 64
_LEARNING_RATE_KEYS = ("learning_rate", "shrinkage_rate", "eta")


def _exact_learning_rate(booster, estimator, written):
    """The learning rate the trees were shrunk with, to full precision.

    LightGBM writes ``shrinkage`` (and ``[learning_rate: …]``) into the model string with 6
    significant digits, so a rate such as 0.123456789 would be read as 0.123457 and the
    leaf check would refuse the model (error ~1e-6). The sklearn wrapper's
    ``learning_rate`` and a trained Booster's ``params`` (what was passed to
    ``lightgbm.train``, aliases included) hold the exact value: used when it rounds to the
    written one (6 digits), else the written one.
    """
    sources = [getattr(booster, "params", None) or {}]
    if estimator is not booster:
        sources.append({"learning_rate": getattr(estimator, "learning_rate", None)})
    for params in sources:
        for key in _LEARNING_RATE_KEYS:
            value = params.get(key)
            if isinstance(value, int | float | np.number) and not isinstance(value, bool):
                value = float(value)
                if value > 0 and abs(value - written) <= 1e-5 * abs(written):
                    return value
    return written


def _booster_of(estimator):
    lgb = _lightgbm()
    if isinstance(estimator, lgb.Booster):
        return estimator, estimator, None
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    return estimator.booster_, estimator, getattr(estimator, "classes_", None)


def _n_iterations(booster, estimator, n_trees, K):
    best = getattr(estimator, "best_iteration_", None) if estimator is not booster else None
    if best is None:
        best = booster.best_iteration
    total = n_trees // K
    return int(best) if best and 0 < best <= total else total


def _training_targets(estimator, booster, objective, classes, y, sample_weight):
    """Encoded targets and weights as LightGBM fitted on them (float32 labels and weights)."""
    if objective == "squared_error":
        # LightGBM stores labels in float32 (label_t): the trees were fitted on those.
        y_enc = np.asarray(y, dtype=np.float32).astype(np.float64).reshape(-1)
    else:
        y_enc = encode_targets(classes, y)
    n = len(y_enc)
    weight = (
        np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64).reshape(n)
    )
    class_weight = getattr(estimator, "_class_weight", None) if estimator is not booster else None
    if class_weight is not None:
        from sklearn.utils.class_weight import compute_sample_weight

        weight = weight * compute_sample_weight(class_weight, y_enc)
    return y_enc, weight.astype(np.float32).astype(np.float64)


def _init_score(objective, y, weight, K):
    """LightGBM's ``BoostFromScore`` (regression/binary) or the log class frequencies."""
    total = weight.sum()
    if objective == "squared_error":
        return np.array([(weight * y).sum() / total])
    if objective == "binary_logistic":
        p = min(max((weight * (y > 0)).sum() / total, _K_EPSILON), 1.0 - _K_EPSILON)
        return np.array([np.log(p / (1.0 - p))])
    freq = np.bincount(y.astype(np.intp), weights=weight, minlength=K) / total
    return np.log(np.maximum(freq, _K_EPSILON))


def read_lightgbm(estimator, X=None, y=None, sample_weight=None):
    """A :class:`TreeEnsemble` of a fitted LightGBM model and its training data.

    Parameters
    ----------
    estimator : lightgbm.LGBMClassifier, lightgbm.LGBMRegressor or lightgbm.Booster
        Fitted on ``(X, y, sample_weight)``. For a ``Booster``, ``y`` holds what was passed
        to ``lightgbm.Dataset`` (class indices 0..K − 1 for classification).
    X : array-like of shape (n_samples, n_features), default=None
        The training rows; None reads the structure only (no training rows, not checked).
    y : array-like of shape (n_samples,), default=None
        Their labels (classes as the classifier was fitted with) or targets.
    sample_weight : array-like of shape (n_samples,), default=None
        The weights it was fitted with; a classifier's ``class_weight`` is applied here as
        LightGBM's wrapper does.

    Returns
    -------
    TreeEnsemble
        Checked: the leaf values recomputed from the data and the raw scores equal the
        model's to 1e-8 (relative).

    Raises
    ------
    TypeError
        For the options of the module docstring, with what to do instead.

    Examples
    --------
    >>> import lightgbm  # doctest: +SKIP
    >>> from sklearn.datasets import load_breast_cancer  # doctest: +SKIP
    >>> from skinfluence.trees import read_ensemble  # doctest: +SKIP
    >>> X, y = load_breast_cancer(return_X_y=True)  # doctest: +SKIP
    >>> model = lightgbm.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y)  # doctest: +SKIP
    >>> read_ensemble(model, X, y).train_leaves.shape  # doctest: +SKIP
    (569, 5, 1)
    """
    booster, estimator, classes = _booster_of(estimator)
    name = type(estimator).__name__
    text = booster.model_to_string()
    params = booster_parameters(booster, text)
    objective = _check_options(params, name)
    K, trees = _model_trees(text)
    n_iter = _n_iterations(booster, estimator, len(trees["num_leaves"]), K)
    num_leaves = trees["num_leaves"][: n_iter * K]
    offsets = np.concatenate([[0], np.cumsum(num_leaves)])
    values = trees["leaf_value"][: offsets[-1]].copy()

    if classes is None and objective != "squared_error":
        classes = np.arange(max(K, 2))
    # (a tree LightGBM could not split is a constant, not shrunk: shrinkage 1)
    later = trees["shrinkage"][K : n_iter * K][num_leaves[K:] > 1]
    shrinkages = set(later.tolist()) or {_number(params, "learning_rate")}
    if len(num_leaves) == 0:
        raise TypeError(f"{name} has no trees. {RETRAINING}")
    if len(shrinkages) != 1:
        raise TypeError(
            f"{name} was fitted with a learning rate that changed between iterations "
            f"({sorted(shrinkages)}); the tree-influence methods need one. {RETRAINING}"
        )
    learning_rate = _exact_learning_rate(booster, estimator, shrinkages.pop())

    boost_from_average = params.get("boost_from_average", "1") not in ("0", "false")
    baseline = np.zeros(K)
    apply = LightGBMLeafApply(booster, n_iter, K, offsets[:-1])
    if X is None:
        # No rows: the initial score stays inside the first trees' leaves (same predictions).
        data = structure_only(n_iter, K)
    else:
        y_enc, weight = _training_targets(estimator, booster, objective, classes, y, sample_weight)
        if boost_from_average:
            baseline = _init_score(objective, y_enc, weight, K)
            # LightGBM skips an initial score of |s| <= kEpsilon (gbdt.cpp: BoostFromAverage).
            baseline[np.abs(baseline) <= _K_EPSILON] = 0.0
            for k in range(K):
                values[offsets[k] : offsets[k + 1]] -= baseline[k]
        # The model's raw scores on a sample of the training rows: every leaf value is
        # checked on every row by the leaf rule (check_ensemble); the raw scores check that
        # LightGBM predicts the sum of those leaves (no option adds anything).
        rows = np.unique(np.linspace(0, len(y_enc) - 1, min(len(y_enc), _RAW_CHECK_ROWS)))
        rows = rows.astype(np.intp)
        raw = booster.predict(_safe_indexing(X, rows), raw_score=True, num_iteration=n_iter)
        raw = np.asarray(raw, dtype=np.float64).reshape(len(rows), K)
        data = training_data(apply, X, y_enc, weight, raw)
        data["raw_train_rows"] = rows

    ensemble = TreeEnsemble(
        objective=objective,
        n_outputs=K,
        classes=classes,
        learning_rate=learning_rate,
        l2_regularization=_number(params, "lambda_l2"),
        l1_regularization=_number(params, "lambda_l1"),
        hessian_scale=K / (K - 1.0) if objective == "multinomial" else 1.0,
        max_delta_step=_number(params, "max_delta_step"),
        baseline=baseline,
        baseline_is_fitted=boost_from_average,
        leaf_values=values,
        leaf_tree=np.repeat(np.arange(len(num_leaves)), num_leaves),
        apply=apply,
        gradient_dtype="float32",
        # Weighted L2 rounds the residual to float32 before multiplying it by the weight
        # (regression_objective.hpp: (score_t)(score_t)(score - label) * weight).
        round_gradient_before_weight=objective == "squared_error",
        # A tree that LightGBM could not split (no split met min_child_samples /
        # min_sum_hessian_in_leaf; in multiclass, one class's tree while the others split)
        # is a constant 0 (gbdt.cpp: AsConstantTree), or in the first iteration the initial
        # score, which the baseline takes out above: no Newton step, no influence.
        # check_ensemble catches a constant that is anything else.
        single_leaf_is_zero=True,
        library=name,
        **data,
    )
    if X is None:
        return ensemble
    _checked(ensemble, params, name, bool((trees["num_cat"][: n_iter * K] > 0).any()))
    return ensemble


def _checked(ensemble, params, name, categorical):
    try:
        check_ensemble(ensemble)
    except TypeError as exc:
        hints = []
        if params.get("monotone_constraints", "").strip(", 0") != "":
            hints.append("monotone constraints that clipped leaf values")
        if categorical:
            hints.append("categorical splits (their leaves use lambda_l2 + cat_l2)")
        written = f"{ensemble.learning_rate:.6g}"
        digits = written.split("e")[0].replace(".", "").lstrip("-0")
        if float(written) == ensemble.learning_rate and len(digits) >= 6:
            hints.append(
                "a learning rate with more than the 6 digits LightGBM writes into the model "
                "string (pass the fitted LGBMClassifier / LGBMRegressor, or the Booster "
                "returned by lightgbm.train, whose params hold the exact rate)"
            )
        if not hints:
            raise
        raise TypeError(f"{exc} Likely cause for this {name}: {' or '.join(hints)}.") from exc
