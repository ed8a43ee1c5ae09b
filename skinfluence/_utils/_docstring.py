"""Shared parameter documentation, written once and injected into docstrings.

A docstring line that holds only ``%(name)s`` is replaced by the entry ``name`` of
:data:`SHARED_PARAMETERS`, indented as the placeholder is. Lines indented further right after
it continue the parameter's description (what is particular to that estimator).
"""

import re
import textwrap

SHARED_PARAMETERS = {
    # removal_curve and RemovalCurveDisplay.from_estimator
    "removal_curve_parameters": """\
scorer : scorer estimator or array-like of shape (n_samples,)
    A skinfluence scorer (a clone is fitted on ``(X, y)`` and its ``scores_`` used:
    higher = more suspect), or the scores themselves (e.g. minus
    ``influence(X_val, y_val, aggregate="mean")`` to remove the least valuable rows
    for a validation set first).
estimator : estimator object
    The model retrained on the rows that remain (a clone each time).
X : array-like of shape (n_samples, n_features)
    Training rows.
y : array-like of shape (n_samples,)
    Their labels.
X_eval : array-like of shape (n_eval, n_features)
    Held-out rows the retrained models are scored on.
y_eval : array-like of shape (n_eval,)
    Their labels.
fractions : sequence of float in [0, 1), default=(0.0, 0.05, 0.1, 0.2, 0.3)
    Fractions of the training rows removed.
order : {"high", "low"}, default="high"
    Remove the highest scores (most suspect) first, or the lowest.
n_repeats : int, default=5
    Random removals per fraction.
scoring : str or callable, default=None
    A scikit-learn scorer (``sklearn.metrics.check_scoring``); None is the estimator's
    ``score`` (accuracy for classifiers).
confidence : float in (0, 1), default=0.95
    Coverage of the random band: ``mean ± z · std`` of the random removals' scores
    (normal approximation), where one random removal falls with that probability.
random_state : int, RandomState instance or None, default=None
    Seeds the random removals (and the scorer's ``random_state``, if it is None).
n_jobs : int, default=None
    Retraining runs in parallel (joblib).
""",
    "estimator_fitted": """\
estimator : estimator object
    The model. ``fit`` fits a clone of it; wrap an already fitted model in
    ``sklearn.frozen.FrozenEstimator`` to use it as it is.""",
    "estimator_retrained": """\
estimator : estimator object
    The model. ``fit`` trains clones of it; the object passed is never modified.""",
    "n_jobs": """\
n_jobs : int, default=None
    Number of parallel jobs (joblib). None means 1 unless in a
    ``joblib.parallel_config`` context; -1 means all processors. The backend is joblib's:
    ``joblib.parallel_config(backend="dask")`` sends the work to a dask cluster unchanged.""",
    "random_state": """\
random_state : int, RandomState instance or None, default=None
    Seeds the randomness described below; an int gives the same results on every call.""",
    "verbose": """\
verbose : int, default=0
    Show a progress bar (tqdm) over the long loop when > 0.""",
    "chunk_size": """\
chunk_size : int, default=None
    Rows processed at once: bounds the working memory.""",
    # the probes of EL2NScorer and GraNdScorer
    "n_repeats_probes": """\
n_repeats : int, default=5
    Number of probes, each with its own seed (every ``random_state`` parameter of the probe,
    nested ones included; skorch nets are seeded through ``torch.manual_seed``).
    Deterministic models (e.g. ``LogisticRegression`` with lbfgs) give identical probes:
    use ``n_repeats=1`` for them.""",
    "probe_params": """\
probe_params : dict, default=None
    Parameters set on each probe to train it briefly, e.g. ``{"max_iter": 5}`` for
    scikit-learn or ``{"max_epochs": 10}`` for skorch; None trains the probes as configured.
    When given, scikit-learn's ``ConvergenceWarning`` is silenced during probe fits
    (stopping early is the point).""",
    # the rows of BaseTrainingScorer's public methods
    "X_rows": """\
X : {array-like, sparse matrix} of shape (n_samples, n_features)
    Rows, as the scorer's model takes them (sparse where it accepts sparse input).""",
    # pruning_curve and PruningCurveDisplay's from_scores and from_selector
    "curve_X_y": """\
X : array-like of shape (n_samples, n_features)
    Training rows.
y : array-like of shape (n_samples,)
    Training labels.""",
    "curve_test_fractions_keep": """\
X_test : array-like of shape (n_test, n_features)
    Held-out rows the fitted models are scored on.
y_test : array-like of shape (n_test,)
    Their labels.
fractions : sequence of float in (0, 1] or int, default=(0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
    Fractions (or counts) of the training rows kept.
keep : sequence of {"easy", "hard", "random", "moderate", "coverage"}, \
default=("easy", "hard", "moderate", "coverage")
    One curve per rule (as in :class:`~skinfluence.PruningSelector`); random selection is
    always added.""",
    "curve_n_repeats": """\
n_repeats : int, default=5
    Random subsets drawn per fraction, for the "random" curve (their mean) and its band.""",
    "curve_scoring": """\
scoring : str or callable, default=None
    The estimator's ``score`` (accuracy for classifiers) when None.""",
    "curve_n_jobs": """\
n_jobs : int, default=None
    Fits run in parallel through joblib.""",
    "curve_name_ax": """\
name : str, default=None
    The score's name in the legend.
ax : matplotlib Axes, default=None
    Axes to draw on; a new figure if None.""",
    # influence(X_test, y_test, *, aggregate=None): BaseInfluenceScorer and its overrides
    "X_test": """\
X_test : {array-like, sparse matrix} of shape (n_test, n_features)
    Test rows.""",
    "y_test": """\
y_test : array-like of shape (n_test,)
    Their labels (targets for regressors).""",
    "aggregate": """\
aggregate : {None, "sum", "mean"}, default=None
    None: the full (n_test, n_train) matrix. "sum"/"mean": influence on the total or mean
    loss of the test set, shape (n_train,) (data cleansing against a validation set).""",
    "influence_returns": """\
influence : ndarray of shape (n_test, n_train) or (n_train,)
    ``[t, i]`` ≈ ``L(z_t; θ₋ᵢ) − L(z_t; θ)``; positive = row i helps z_t.""",
}


# The parameters of the model adapters' methods (skinfluence.models), composed into whole
# Parameters sections: ``%(adapter_params_X_y)s`` is the section of a method of (X, y).
_ADAPTER_PARAMETERS = {
    "X": """\
X : array-like of shape (n_samples, n_features)
    Raw rows, as the user's estimator takes them.""",
    "y": """\
y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    Their labels (classifiers) or targets (regressors).""",
    "V": """\
V : ndarray of shape (p,) or (p, k)
    Vectors of the parameter space.""",
    "sample_weight": """\
sample_weight : array-like of shape (n_samples,), default=None
    Weights of the rows in the objective (``ModelAdapter.row_weights``); None means 1.""",
    "theta": """\
theta : ndarray of shape (n_params,)
    Parameters in ``params()``' layout.""",
    "Xf": """\
Xf : {ndarray, sparse matrix} of shape (n, n_features)
    Rows already mapped by ``features``.""",
    "eta_t": """\
eta : ndarray of shape (n, K)
    Outputs.
t : ndarray
    Encoded targets (``encode_target``).""",
    "WS": """\
WS : ndarray of shape (n, K, K)
    Weighted curvature ``w_i ∂²ℓ/∂η_i²``.""",
    "rows": """\
rows : slice or ndarray of int
    The rows.""",
}
for _names in (
    ("X",),
    ("X", "y"),
    ("X", "y", "sample_weight"),
    ("X", "y", "V", "sample_weight"),
    ("theta",),
    ("Xf",),
    ("Xf", "WS"),
    ("eta_t",),
    ("rows",),
):
    SHARED_PARAMETERS["adapter_params_" + "_".join(_names)] = "\n".join(
        ["Parameters", "----------", *(_ADAPTER_PARAMETERS[name] for name in _names)]
    )
SHARED_PARAMETERS["curve_parameters"] = "\n".join(  # pruning_curve, from_scores
    [
        "estimator : estimator\n    Unfitted model; a clone is fitted per (rule, fraction).",
        SHARED_PARAMETERS["curve_X_y"],
        "scores : array-like of shape (n_samples,)\n"
        "    One score per training row, higher = harder (a scorer's ``scores_``).",
        SHARED_PARAMETERS["curve_test_fractions_keep"],
        "class_balance : bool, default=True\n    As in :class:`~skinfluence.PruningSelector`.",
        SHARED_PARAMETERS["curve_scoring"],
        SHARED_PARAMETERS["curve_n_repeats"],
        "hard_cutoff : float in [0, 1) or None, default=None\n"
        '    For "coverage", as in :class:`~skinfluence.PruningSelector`.',
        "n_strata : int, default=50\n"
        '    For "coverage", as in :class:`~skinfluence.PruningSelector`.',
        "random_state : int, RandomState instance or None, default=None\n"
        '    Tie-breaking, the "coverage" draws and the random subsets.',
        SHARED_PARAMETERS["curve_n_jobs"],
    ]
)
SHARED_PARAMETERS["params_X_rows"] = "Parameters\n----------\n" + SHARED_PARAMETERS["X_rows"]
SHARED_PARAMETERS.update({"adapter_" + name: text for name, text in _ADAPTER_PARAMETERS.items()})
SHARED_PARAMETERS["adapter_hessian_returns"] = """\
H : ndarray of shape (p, p)
    ``Σ_i w_i ∇²ℓ_i + ∇²R``."""
SHARED_PARAMETERS["pipeline_and_inner"] = """\
pipeline : Pipeline
    Fitted.
inner : ModelAdapter
    The adapter of its final step."""

_PLACEHOLDER = re.compile(r"^([ \t]*)%\((\w+)\)s[ \t]*$", flags=re.MULTILINE)


def inject_docs(obj):
    """Class or function decorator: fill the ``%(name)s`` placeholder lines of its docstring.

    On a class, the docstrings of the methods and properties it defines are filled too.
    Unknown names raise ``KeyError`` at import time, so a typo cannot ship.
    """
    _substitute(obj)
    if isinstance(obj, type):
        for attr in vars(obj).values():
            if isinstance(attr, property):
                _substitute(attr)
            elif callable(func := getattr(attr, "__func__", attr)) and not isinstance(func, type):
                _substitute(func)
    return obj


def _substitute(obj):
    if getattr(obj, "__doc__", None):  # None under ``python -OO``

        def substitute(match):
            return textwrap.indent(SHARED_PARAMETERS[match.group(2)], match.group(1))

        obj.__doc__ = _PLACEHOLDER.sub(substitute, obj.__doc__)


def inherit_docstrings(cls):
    """Class decorator: give each method and property it defines without a docstring the
    docstring of the same name in its bases (the contract's text, written once there).

    An override with other parameter names writes its own docstring instead.
    """
    for name, attr in vars(cls).items():
        if name.startswith("_"):
            continue
        func = attr.fget if isinstance(attr, property) else getattr(attr, "__func__", attr)
        if not callable(func) or getattr(func, "__doc__", None):
            continue
        for base in cls.__mro__[1:]:
            doc = getattr(base.__dict__.get(name), "__doc__", None)
            if doc:
                func.__doc__ = doc
                if isinstance(attr, property):
                    attr.__doc__ = doc
                break
    return cls
