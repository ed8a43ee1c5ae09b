"""Reliability: the inputs users really pass, and the bad ones (issue 9).

Every public estimator of skinfluence is discovered at import time (``public_estimators``),
so an estimator added later is covered without editing this file: a small, fast instance is
built from its signature (``make_estimator``), with per-class settings in ``_SETTINGS`` only
where the defaults would be slow. The other reliability modules import this registry.
"""

import importlib
import inspect
import signal
import tracemalloc

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, scale
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    StrOptions,
    make_constraint,
)

import skinfluence

# -- the registry --------------------------------------------------------------------------
# Modules whose ``__all__`` may hold public estimators besides the package root.
_PUBLIC_MODULES = ("skinfluence", "skinfluence.selection", "skinfluence.toy")

# Settings that keep each estimator fast on ~50 rows (defaults are sized for real data),
# as functions so that every instance gets its own nested estimators.
_SETTINGS = {
    "CombinedScorer": lambda: {"families": {"oof": "linear", "gradient": "linear"}},
    "MemorizationScorer": lambda: {"n_estimators": 20},
    "BanzhafScorer": lambda: {"n_estimators": 20},
    "DataOOBScorer": lambda: {"estimator": _forest()},
    "EL2NScorer": lambda: {"n_repeats": 2},
    "GraNdScorer": lambda: {"n_repeats": 2},
    "PrototypeScorer": lambda: {"n_clusters": 2},
    "TRAKScorer": lambda: {"projection_dim": 8},
    "TurnOverDropoutScorer": lambda: {"estimator": _dropout_net()},
    # With an estimator: the meta-estimator (fit, predict, score); without, a sampler.
    "PruningSelector": lambda: {"estimator": _model()},
}

# Estimators whose scores come from gradients: a model without an adapter must be refused.
GRADIENT_SCORERS = {
    "InfluenceScorer",
    "GraNdScorer",
    "GradientOutlierScorer",
    "TracInScorer",
    "TRAKScorer",
}
# Estimators whose computation is exact in float64 (no sampling, no iterative solver).
EXACT_SCORERS = {"InfluenceScorer", "LeaveOneOutScorer"}


def _model():
    # Newton's method to 1e-10: two fits of the same objective agree to ~1e-10, so the
    # comparisons below measure skinfluence, not the optimiser's stopping point.
    return LogisticRegression(solver="newton-cholesky", tol=1e-10)


def _forest():
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(20, random_state=0)


def _dropout_net():
    """A small skorch dropout MLP sized from the data it is fitted on (imports torch)."""
    from tests._skorch_nets import data_sized_dropout_net

    return data_sized_dropout_net(module__hidden=16, max_epochs=3)


# Scorers of continuous targets (residuals); the tests feed them the 0/1 labels as numbers.
REGRESSION_SCORERS = {"ResidualScorer"}

# How to fill required constructor arguments, by name.
_REQUIRED_ARGUMENTS = {
    "estimator": _model,
    "scorer": lambda: skinfluence.InfluenceScorer(_model()),
    "scorers": lambda: [
        ("oof", skinfluence.LossScorer(_model(), cv=3, random_state=0)),
        ("gradient", skinfluence.InfluenceScorer(_model())),
    ],
}


def public_estimators():
    """``{name: class}`` of every public estimator class skinfluence exports."""
    found = {}
    for module_name in _PUBLIC_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if inspect.isclass(obj) and issubclass(obj, BaseEstimator):
                found.setdefault(name, obj)
    return found


def make_estimator(name, **overrides):
    """A small, fast, seeded instance of the public estimator ``name``."""
    cls = public_estimators()[name]
    signature = inspect.signature(cls)
    kwargs = {}
    for arg, param in signature.parameters.items():
        if param.default is inspect.Parameter.empty and param.kind not in (
            param.VAR_POSITIONAL,
            param.VAR_KEYWORD,
        ):
            if arg not in _REQUIRED_ARGUMENTS:
                raise AssertionError(
                    f"{name} requires {arg!r}: add a builder to _REQUIRED_ARGUMENTS in "
                    "tests/test_reliability_inputs.py"
                )
            kwargs[arg] = _REQUIRED_ARGUMENTS[arg]()
    if "random_state" in signature.parameters:
        kwargs["random_state"] = 0
    kwargs.update(_SETTINGS.get(name, dict)())
    kwargs.update(overrides)
    return cls(**kwargs)


ESTIMATOR_NAMES = sorted(public_estimators())


def needs_labels(estimator):
    return estimator.__sklearn_tags__().target_tags.required


def accepts_sparse(estimator):
    return estimator.__sklearn_tags__().input_tags.sparse


def has_sample_weight(estimator):
    return "sample_weight" in inspect.signature(estimator.fit).parameters


def outputs(estimator, X, y):
    """Everything a fitted estimator returns for (X, y), by name, as float arrays."""
    result = {}
    if hasattr(estimator, "scores_"):
        result["scores_"] = np.asarray(estimator.scores_, dtype=np.float64)
    for method in ("score_samples", "influence"):
        if hasattr(estimator, method):
            result[method] = np.asarray(getattr(estimator, method)(X, y), dtype=np.float64)
    for method in ("transform", "predict_proba", "decision_function"):
        if hasattr(estimator, method):
            result[method] = np.asarray(getattr(estimator, method)(X), dtype=np.float64)
    if hasattr(estimator, "predict"):
        result["predict"] = np.asarray(estimator.predict(X))
    assert result, f"{type(estimator).__name__} has no output to compare"
    return result


def assert_same_outputs(a, b, rtol=1e-9, atol=1e-12):
    assert a.keys() == b.keys()
    for key in a:
        if a[key].dtype.kind in "fc":
            np.testing.assert_allclose(a[key], b[key], rtol=rtol, atol=atol, err_msg=key)
        else:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# -- data ----------------------------------------------------------------------------------
def small_binary():
    """48 training and 12 test rows of standardised breast cancer, labels 0/1."""
    X, y = load_breast_cancer(return_X_y=True)
    idx = np.random.RandomState(0).permutation(len(y))[:60]
    X, y = scale(X)[idx][:, :8], y[idx]
    return X[:48], y[:48], X[48:], y[48:]


@pytest.fixture(scope="module")
def data():
    return small_binary()


# -- input types ---------------------------------------------------------------------------
# Tolerances: the same floats go in, so results agree to rounding; 1e-9 relative only allows
# BLAS to sum in another order (a DataFrame converts to a Fortran-ordered array).


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_pandas_in_pandas_out(name, data):
    X, y, X_test, y_test = data
    columns = [f"feature {j}" for j in range(X.shape[1])]
    df = pd.DataFrame(X, columns=columns, index=np.arange(1000, 1000 + len(y)))
    # A Series with an index that does not match positions: labels must be read by position.
    series = pd.Series(y, index=df.index[::-1], name="target")
    df_test = pd.DataFrame(X_test, columns=columns)
    est = make_estimator(name).fit(df, series)
    np.testing.assert_array_equal(est.feature_names_in_, columns)
    reference = make_estimator(name).fit(X, y)
    assert_same_outputs(outputs(est, df_test, y_test), outputs(reference, X_test, y_test))
    if hasattr(est, "transform") and hasattr(est, "set_output"):
        out = est.set_output(transform="pandas").transform(df_test)
        assert isinstance(out, pd.DataFrame)
        assert list(out.columns) == list(est.get_feature_names_out())
        pd.testing.assert_index_equal(out.index, df_test.index)
        with pytest.raises(ValueError, match="feature names"):
            est.transform(df_test.iloc[:, ::-1])


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_string_labels_and_lists_give_the_same_scores(name, data):
    X, y, X_test, y_test = data
    names = np.array(["benign", "malignant"])  # sorted like 0 < 1: the same class order
    est = make_estimator(name)
    if name in REGRESSION_SCORERS:
        pytest.skip(f"{name} scores continuous targets: labels as strings do not apply")
    reference = make_estimator(name).fit(X, y)
    expected = outputs(reference, X_test, y_test)
    as_strings = clone(est).fit(X, names[y])
    got = outputs(as_strings, X_test, names[y_test])
    if "predict" in got:
        np.testing.assert_array_equal(got.pop("predict"), names[expected.pop("predict")])
    assert_same_outputs(got, expected)
    as_lists = clone(est).fit(X.tolist(), y.tolist())
    assert_same_outputs(
        outputs(as_lists, X_test.tolist(), y_test.tolist()), outputs(reference, X_test, y_test)
    )


@pytest.mark.parametrize("name", sorted(EXACT_SCORERS & set(ESTIMATOR_NAMES)))
def test_float32_is_computed_in_float64(name, data):
    X, y, X_test, y_test = data
    X32, X_test32 = X.astype(np.float32), X_test.astype(np.float32)
    est = make_estimator(name).fit(X32, y)
    # The model is fitted on float64 (sklearn would otherwise fit float32 and lose ~7 digits).
    assert est.estimator_.coef_.dtype == np.float64
    assert est.scores_.dtype == np.float64
    reference = make_estimator(name).fit(X32.astype(np.float64), y)
    # Identical: the float32 values are cast once, exactly, and then everything is float64.
    assert_same_outputs(
        outputs(est, X_test32, y_test),
        outputs(reference, X_test32.astype(np.float64), y_test),
        rtol=0,
        atol=0,
    )


def test_float32_ridge_and_multiclass_string_labels():
    X, y = load_wine(return_X_y=True)
    idx = np.random.RandomState(0).permutation(len(y))
    X, y = scale(X)[idx], y[idx]
    names = np.array(["barolo", "grignolino", "barbera"])[y]  # not in sorted order
    est = skinfluence.InfluenceScorer(_model()).fit(X[:120], names[:120])
    ref = skinfluence.InfluenceScorer(_model()).fit(X[:120], y[:120])
    # Class order differs (sorted strings), the objective is the same up to relabelling.
    np.testing.assert_allclose(
        est.influence(X[120:], names[120:]),
        ref.influence(X[120:], y[120:]),
        rtol=1e-6,
        atol=1e-10,
    )
    X32, t32 = X.astype(np.float32), (X @ np.arange(13.0)).astype(np.float32)
    ridge = skinfluence.InfluenceScorer(Ridge()).fit(X32, t32)
    ridge64 = skinfluence.InfluenceScorer(Ridge()).fit(X32.astype(float), t32.astype(float))
    assert ridge.estimator_.coef_.dtype == np.float64
    # Same float64 values in, same float64 computation: identical.
    np.testing.assert_array_equal(ridge.scores_, ridge64.scores_)
    np.testing.assert_array_equal(
        ridge.influence(X32[:3], t32[:3]), ridge64.influence(X32[:3].astype(float), t32[:3])
    )


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
# Ridge's sparse solvers are iterative: tol=1e-12 makes them agree with the dense solution.
@pytest.mark.parametrize("model", [_model(), Ridge(alpha=2.0, tol=1e-12), LinearRegression()])
def test_sparse_matches_dense_for_linear_adapters(fmt, model, data):
    X, y, X_test, y_test = data
    X = np.where(np.abs(X) < 0.5, 0.0, X)  # a genuinely sparse matrix (about 40% zeros)
    X_test = np.where(np.abs(X_test) < 0.5, 0.0, X_test)
    dense = skinfluence.InfluenceScorer(model).fit(X, y)
    sparse = skinfluence.InfluenceScorer(model).fit(sp.csr_matrix(X).asformat(fmt), y)
    # Sparse and dense model fits stop at the same 1e-10 tolerance (closed form for
    # least squares), so influence agrees to ~1e-8 relative.
    np.testing.assert_allclose(sparse.scores_, dense.scores_, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(
        sparse.influence(sp.csr_matrix(X_test).asformat(fmt), y_test),
        dense.influence(X_test, y_test),
        rtol=1e-6,
        atol=1e-10,
    )


def _sparse_problem(n, p, nnz_per_row, seed=0):
    """Binary problem on a CSR matrix with ``nnz_per_row`` non-zeros per row, built without
    ever forming an n × p array (scipy.sparse.random draws from n·p cells: 8 GB here)."""
    rng = np.random.RandomState(seed)
    cols = np.sort(rng.randint(0, p, size=(n, nnz_per_row)), axis=1).ravel()
    indptr = np.arange(0, n * nnz_per_row + 1, nnz_per_row)
    X = sp.csr_matrix((rng.randn(n * nnz_per_row), cols, indptr), shape=(n, p))
    X.sum_duplicates()
    y = (X @ rng.randn(p) + 0.5 * rng.randn(n) > 0).astype(int)
    return X, y


class _TimeLimit:
    """Raise TimeoutError in the main thread after ``seconds`` (checked between C calls)."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        def _raise(signum, frame):
            raise TimeoutError(f"took more than {self.seconds} s")

        self._old = signal.signal(signal.SIGALRM, _raise)
        signal.alarm(self.seconds)

    def __exit__(self, *exc):
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self._old)


@pytest.mark.slow
def test_large_sparse_input_is_never_densified():
    """100 000 × 10 000 CSR at 0.1% density (8 GB if dense): fit (self-influence of every
    row) and influence on 5 test rows, with the exact solver, in bounded time and memory.

    Measured: 56 s on the 2-core machine, quiet (the p³ inverse, then self-influence over each
    row's non-zeros, O(nnz · p); it was 12 min under load with O(n p²) GEMMs on dense gradient
    blocks); the 10 min limit leaves room for a loaded runner and catches a regression to
    anything much slower, e.g. dense blocks again or CG solves per row."""
    X, y = _sparse_problem(100_000, 10_000, 10)
    dense_bytes = X.shape[0] * X.shape[1] * 8
    tracemalloc.start()
    try:
        with _TimeLimit(600):
            # "auto" picks the approximate Arnoldi solver here (p > 5 000, n > 1 000); the
            # dense 10 001² Hessian (0.8 GB) is the exact path, and feasible.
            scorer = skinfluence.InfluenceScorer(LogisticRegression(), method="direct")
            scorer.fit(X, y)
            infl = scorer.influence(X[:5], y[:5])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert infl.shape == (5, 100_000) and np.all(np.isfinite(infl))
    assert np.all(np.isfinite(scorer.scores_)) and np.all(scorer.scores_ >= 0)
    # The exact path holds the p × p Hessian, its Cholesky factor and the explicit inverse
    # (3 × 0.8 GB; 3.4 GB peak measured); half the dense size (4 GB) rules out
    # any n × p array (8 GB).
    assert peak < dense_bytes / 2, f"peak {peak / 1e9:.2f} GB vs dense X {dense_bytes / 1e9} GB"


# -- bad inputs ----------------------------------------------------------------------------
def _with(X, row, col, value):
    X = X.copy()
    X[row, col] = value
    return X


_BAD_X = {
    "nan": (lambda X: _with(X, 3, 1, np.nan), "NaN"),
    "inf": (lambda X: _with(X, 3, 1, np.inf), "infinity"),
    "empty": (lambda X: X[:0], "0 sample"),
}


@pytest.mark.parametrize("case", sorted(_BAD_X))
@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_bad_X_at_fit_time(name, case, data):
    X, y, _, _ = data
    corrupt, match = _BAD_X[case]
    Xb = corrupt(X)
    with pytest.raises(ValueError, match=match):
        make_estimator(name).fit(Xb, y[: len(Xb)])


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_bad_X_after_fit(name, data):
    X, y, X_test, y_test = data
    est = make_estimator(name).fit(X, y)
    for method in ("score_samples", "transform", "influence", "predict"):
        if not hasattr(est, method):
            continue
        call = getattr(est, method)
        args = (y_test,) if method == "influence" else ()
        with pytest.raises(ValueError, match="features"):
            call(X_test[:, :-1], *args)
        with pytest.raises(ValueError, match="NaN"):
            call(_with(X_test, 0, 0, np.nan), *args)
        with pytest.raises(ValueError, match="infinity"):
            call(_with(X_test, 0, 0, -np.inf), *args)


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_degenerate_training_sets(name, data):
    X, y, _, _ = data
    est = make_estimator(name)
    if not needs_labels(est):
        pytest.skip(f"{name} ignores y (unsupervised): any y, even none, is accepted")
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples|rows"):
        clone(est).fit(X, y[:-1])
    with pytest.raises(ValueError):  # one row is one class: no model to fit
        clone(est).fit(X[:1], y[:1])
    with pytest.raises(ValueError, match="class"):
        clone(est).fit(X, np.zeros_like(y))


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_bad_sample_weight(name, data):
    X, y, _, _ = data
    est = make_estimator(name)
    if not has_sample_weight(est):
        pytest.skip(f"{name}.fit takes no sample_weight")
    for sw in (-np.ones(len(y)), np.zeros(len(y)), np.full(len(y), np.nan), np.ones(len(y) - 1)):
        with pytest.raises(ValueError, match=r"(?i)sample.weight"):
            clone(est).fit(X, y, sample_weight=sw)


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_not_fitted(name, data):
    _, _, X_test, y_test = data
    est = make_estimator(name)
    for method in ("score_samples", "transform", "influence", "predict", "explain"):
        if hasattr(est, method):
            args = (y_test,) if method in ("influence", "explain") else ()
            with pytest.raises(NotFittedError):
                getattr(est, method)(X_test, *args)


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_wrong_type_or_unfitted_estimator(name, data):
    X, y, _, _ = data
    est = make_estimator(name)
    if "estimator" not in est.get_params(deep=False):
        pytest.skip(f"{name} takes no estimator")
    with pytest.raises((TypeError, ValueError), match="estimator"):
        clone(est).set_params(estimator="LogisticRegression").fit(X, y)
    if name in GRADIENT_SCORERS:
        with pytest.raises(TypeError, match="gradient"):
            clone(est).set_params(estimator=RandomForestClassifier(n_estimators=3)).fit(X, y)
        frozen_unfitted = FrozenEstimator(LogisticRegression())
        with pytest.raises(NotFittedError, match="fit"):
            clone(est).set_params(estimator=frozen_unfitted).fit(X, y)


def _out_of_range(constraints):
    """A value no constraint accepts, near the edge of an Interval or StrOptions."""
    objects = [make_constraint(c) for c in constraints]
    candidates = []
    for c in objects:
        if isinstance(c, Interval):
            if c.left is not None:
                candidates.append(c.left if c.closed in ("right", "neither") else c.left - 1)
            if c.right is not None:
                candidates.append(c.right if c.closed in ("left", "neither") else c.right + 1)
        if isinstance(c, StrOptions):
            candidates.append("not-an-option")
    return [v for v in candidates if not any(o.is_satisfied_by(v) for o in objects)]


_PARAM_CASES = [
    (name, param, value)
    for name in ESTIMATOR_NAMES
    for param, constraints in getattr(
        public_estimators()[name], "_parameter_constraints", {}
    ).items()
    for value in _out_of_range(constraints)
]


@pytest.mark.parametrize(("name", "param", "value"), _PARAM_CASES)
def test_out_of_range_parameters_are_named(name, param, value, data):
    X, y, _, _ = data
    est = make_estimator(name, **{param: value})
    with pytest.raises(InvalidParameterError, match=f"'{param}' parameter"):
        est.fit(X, y)


def test_influence_call_time_arguments(data):
    X, y, X_test, y_test = data
    est = skinfluence.InfluenceScorer(_model()).fit(X, y)
    with pytest.raises(ValueError, match="aggregate"):
        est.influence(X_test, y_test, aggregate="max")
    with pytest.raises(ValueError, match="out"):
        est.influence(X_test, y_test, out=np.empty((len(y_test), len(y) + 1)))
    with pytest.raises(ValueError, match="k must"):
        est.explain(X_test, y_test, k=0)
    with pytest.raises(ValueError, match="labels not seen in fit"):
        est.influence(X_test, np.full(len(y_test), 7))
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples|rows"):
        est.influence(X_test, y_test[:-1])
    with pytest.raises(ValueError, match="NaN"):
        est.influence(X_test, np.where(y_test == 1, np.nan, 0.0))


# -- nothing is mutated --------------------------------------------------------------------
@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_inputs_and_estimators_are_not_mutated(name, data):
    X, y, X_test, y_test = data
    df = pd.DataFrame(X, columns=[f"c{j}" for j in range(X.shape[1])])
    est = make_estimator(name)
    kw = {"sample_weight": np.linspace(0.5, 1.5, len(y))} if has_sample_weight(est) else {}
    inputs = [X, y, X_test, y_test, df, *kw.values()]
    before = [joblib.hash(a) for a in inputs]
    params_before = joblib.hash(est.get_params(deep=True))
    outputs(clone(est).fit(df, y, **kw), df.iloc[:12], y_test)
    outputs(est.fit(X, y, **kw), X_test, y_test)  # the instance itself, fitted in place
    assert joblib.hash(est.get_params(deep=True)) == params_before, "parameters changed"
    assert [joblib.hash(a) for a in inputs] == before, "an input array was modified"


def test_prefitted_model_is_not_mutated(data):
    X, y, X_test, y_test = data
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    before = joblib.hash(model)
    scorer = skinfluence.InfluenceScorer(FrozenEstimator(model)).fit(X, y)
    scorer.influence(X_test, y_test)
    scorer.explain(X_test, y_test, k=2)
    scorer.transform(X_test)
    assert joblib.hash(model) == before
