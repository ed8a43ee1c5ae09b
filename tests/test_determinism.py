"""Reliability: determinism, pickling and cloning of every public estimator (issue 9).

The estimators come from the registry in ``tests/test_reliability_inputs.py``, so a new
public estimator is covered without editing this file. "Identical" means bit-identical:
the same seed must give the same floats, not merely close ones.
"""

import inspect
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests.test_reliability_inputs import (
    ESTIMATOR_NAMES,
    assert_same_outputs,
    make_estimator,
    outputs,
    public_estimators,
    small_binary,
)

# Estimators whose result depends on their own seed (subsets, k-means starts, dropout masks
# and net initialisation): a different seed must change it, or the "same seed, same result"
# checks prove nothing. (EL2N and GraNd draw nothing themselves: with a deterministic probe
# such as the Newton-solved logistic regression used here, every seed gives the same scores.)
SEEDED = {"BanzhafScorer", "MemorizationScorer", "PrototypeScorer", "TurnOverDropoutScorer"}


def _takes(name, param):
    return param in inspect.signature(public_estimators()[name]).parameters


@pytest.fixture(scope="module")
def data():
    return small_binary()


def _exactly_equal(a, b):
    assert_same_outputs(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_same_seed_gives_identical_results(name, data):
    X, y, X_test, y_test = data
    first = outputs(make_estimator(name).fit(X, y), X_test, y_test)
    again = outputs(make_estimator(name).fit(X, y), X_test, y_test)
    _exactly_equal(first, again)
    if _takes(name, "random_state"):
        # A RandomState instance seeded alike is the same seed.
        fresh = make_estimator(name, random_state=np.random.RandomState(0)).fit(X, y)
        seeded = make_estimator(name, random_state=0).fit(X, y)
        # sklearn's convention: an int seed and RandomState(seed) draw the same stream.
        _exactly_equal(outputs(fresh, X_test, y_test), outputs(seeded, X_test, y_test))


@pytest.mark.parametrize("name", sorted(SEEDED & set(ESTIMATOR_NAMES)))
def test_another_seed_changes_seeded_results(name, data):
    X, y, X_test, y_test = data
    a = make_estimator(name, random_state=0).fit(X, y)
    b = make_estimator(name, random_state=1).fit(X, y)
    assert not np.array_equal(
        outputs(a, X_test, y_test)["scores_"], outputs(b, X_test, y_test)["scores_"]
    )


@pytest.mark.parametrize("name", [n for n in ESTIMATOR_NAMES if _takes(n, "n_jobs")])
def test_n_jobs_does_not_change_results(name, data):
    X, y, X_test, y_test = data
    sequential = outputs(make_estimator(name, n_jobs=1).fit(X, y), X_test, y_test)
    parallel = outputs(make_estimator(name, n_jobs=2).fit(X, y), X_test, y_test)
    _exactly_equal(sequential, parallel)


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_pickle_round_trip_gives_identical_outputs(name, data):
    X, y, X_test, y_test = data
    est = make_estimator(name).fit(X, y)
    expected = outputs(est, X_test, y_test)
    restored = pickle.loads(pickle.dumps(est))
    _exactly_equal(outputs(restored, X_test, y_test), expected)
    # The restored estimator also works on rows it has never seen in any form.
    _exactly_equal(outputs(restored, X[:5], y[:5]), outputs(est, X[:5], y[:5]))


def _nested_estimators(params):
    return {k: v for k, v in params.items() if hasattr(v, "get_params")}


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_clone_copies_nested_estimators_and_drops_fitted_state(name, data):
    X, y, _, _ = data
    est = make_estimator(name).fit(X, y)
    copy = clone(est)
    params, copied = est.get_params(deep=True), copy.get_params(deep=True)
    assert params.keys() == copied.keys()
    for key, value in params.items():
        if hasattr(value, "get_params"):
            assert copied[key] is not value, f"{key} is shared between clones"
            assert type(copied[key]) is type(value)
        elif not callable(value):
            assert repr(copied[key]) == repr(value), key
    with pytest.raises(NotFittedError):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(copy)
    # Setting a nested parameter reaches the nested estimator and survives cloning.
    nested = [k for k in params if "__" in k and k.endswith("__C")]
    for key in nested:
        copy.set_params(**{key: 0.125})
        assert clone(copy).get_params(deep=True)[key] == 0.125
        assert est.get_params(deep=True)[key] != 0.125  # the original is untouched


def test_nested_scorer_in_grid_search(data):
    """Grid search over a nested scorer's model parameter: clone + set_params end to end."""
    names = public_estimators()
    if "PruningSelector" not in names:
        pytest.skip("PruningSelector not available yet")
    X, y, X_test, _ = data
    Scorer = names["InfluenceScorer"]
    selector = names["PruningSelector"](
        Scorer(make_pipeline(StandardScaler(), LogisticRegression())),
        LogisticRegression(),
        fraction=0.75,
        random_state=0,
    )
    grid = GridSearchCV(
        selector,
        {"scorer__estimator__logisticregression__C": [0.1, 1.0], "fraction": [0.5, 0.75]},
        cv=3,
    ).fit(X, y)
    best = grid.best_estimator_
    assert best.get_params()["scorer__estimator__logisticregression__C"] in (0.1, 1.0)
    # The selector given to the grid search is left unfitted and unchanged.
    assert selector.get_params()["scorer__estimator__logisticregression__C"] == 1.0
    assert not hasattr(selector, "support_")
    assert is_classifier(selector) == is_classifier(best)
    again = pickle.loads(pickle.dumps(grid))
    np.testing.assert_array_equal(again.predict(X_test), grid.predict(X_test))


_SUBPROCESS = """
import json, sys
import numpy as np
from tests.test_reliability_inputs import ESTIMATOR_NAMES, make_estimator, outputs, small_binary
X, y, X_test, y_test = small_binary()
result = {}
for name in ESTIMATOR_NAMES:
    out = outputs(make_estimator(name).fit(X, y), X_test, y_test)
    result[name] = {k: np.asarray(v, dtype=float).tolist() for k, v in out.items()
                    if np.asarray(v).dtype.kind in "fiub"}
json.dump(result, sys.stdout)
"""


@pytest.mark.slow  # a second interpreter imports torch and refits everything: ~30-80 s
def test_results_do_not_depend_on_the_process(data):
    """Another interpreter with another hash seed computes bit-identical results."""
    X, y, X_test, y_test = data
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    run = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        check=True,
        timeout=300,
    )
    other = json.loads(run.stdout)
    assert sorted(other) == ESTIMATOR_NAMES
    for name in ESTIMATOR_NAMES:
        here = outputs(make_estimator(name).fit(X, y), X_test, y_test)
        for key, values in other[name].items():
            # JSON carries float64 exactly (repr round-trips), so equality is exact.
            np.testing.assert_array_equal(
                np.asarray(here[key], dtype=float), np.asarray(values), err_msg=f"{name} {key}"
            )
