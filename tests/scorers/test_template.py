"""The scorer template (BaseTrainingScorer / BaseInfluenceScorer) and the shared primitives.

What every scorer gets from the base classes is tested here once, over every scorer.
"""

import numpy as np
import pytest
import sklearn
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

from skinfluence import (
    BanzhafScorer,
    DataOOBScorer,
    EL2NScorer,
    GradientOutlierScorer,
    GraNdScorer,
    InfluenceScorer,
    KNNShapleyScorer,
    LeaveOneGroupOutScorer,
    LeaveOneOutScorer,
    MemorizationScorer,
    PrototypeScorer,
    TracInScorer,
    TRAKScorer,
)
from skinfluence._utils._docstring import inject_docs
from skinfluence._utils._labels import align_proba, encode_labels, label_log_loss
from skinfluence._validation import params_satisfy_constraints
from skinfluence.scorers import BaseInfluenceScorer, BaseTrainingScorer, per_sample_loss
from skinfluence.toy import MarginScorer

SCORERS = [
    lambda: InfluenceScorer(LogisticRegression()),
    lambda: LeaveOneOutScorer(LogisticRegression()),
    lambda: LeaveOneGroupOutScorer(LogisticRegression()),
    lambda: MemorizationScorer(LogisticRegression(), n_estimators=30, random_state=0),
    lambda: TracInScorer(LogisticRegression()),
    lambda: TRAKScorer(LogisticRegression(), projection_dim=8, random_state=0),
    lambda: GradientOutlierScorer(LogisticRegression(), random_state=0),
    lambda: EL2NScorer(LogisticRegression(), n_repeats=1),
    lambda: GraNdScorer(LogisticRegression(), n_repeats=1),
    lambda: PrototypeScorer(n_clusters=3, random_state=0),
    lambda: MarginScorer(),
    lambda: DataOOBScorer(RandomForestClassifier(20, random_state=0)),
    lambda: KNNShapleyScorer(n_neighbors=3),
    lambda: BanzhafScorer(LogisticRegression(), n_estimators=30, random_state=0),
]
INFLUENCE_SCORERS = [make for make in SCORERS if isinstance(make(), BaseInfluenceScorer)]


def _ids(makers):
    return [type(make()).__name__ for make in makers]


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(60, 4, n_informative=3, n_redundant=0, random_state=0)
    return X, y


# -- labels the model never saw ------------------------------------------------------------


@pytest.fixture(scope="module")
def three_classes():
    """Labels {0, 2, 4}: a 3 sorts between known classes, a 5 past the last one."""
    X, y = make_classification(90, 4, n_informative=3, n_redundant=0, n_classes=3, random_state=1)
    return X, 2 * y


@pytest.mark.parametrize("model", [LogisticRegression(), DecisionTreeClassifier(random_state=0)])
@pytest.mark.parametrize("unseen", [3, 5, -1])
def test_per_sample_loss_refuses_a_label_the_model_never_saw(three_classes, model, unseen):
    # Was: label 3 silently got class 4's loss (a bare searchsorted), label 5 an IndexError.
    X, y = three_classes
    fitted = model.fit(X, y)
    with pytest.raises(ValueError, match=r"labels not seen in fit: \[" + str(unseen)):
        per_sample_loss(fitted, X[:2], np.array([0, unseen]))


def test_per_sample_loss_is_the_log_loss_of_the_given_label(three_classes):
    X, y = three_classes
    tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X, y)
    proba = tree.predict_proba(X)
    expected = -np.log(np.clip(proba[np.arange(len(y)), y // 2], 1e-15, 1))
    np.testing.assert_allclose(per_sample_loss(tree, X, y), expected)


def test_per_sample_loss_aligns_a_model_that_missed_a_class(three_classes):
    X, y = three_classes
    seen = y != 4
    tree = DecisionTreeClassifier(random_state=0).fit(X[seen], y[seen])
    loss = per_sample_loss(tree, X, y, classes=np.array([0, 2, 4]))
    # Class 4 has probability 0 under a model that never saw it: the clipped log-loss.
    np.testing.assert_allclose(loss[~seen], -np.log(1e-15))
    np.testing.assert_allclose(loss[seen], per_sample_loss(tree, X[seen], y[seen]))


@pytest.mark.parametrize(
    "make",
    [
        lambda: LeaveOneOutScorer(DecisionTreeClassifier(random_state=0)),
        lambda: MemorizationScorer(DecisionTreeClassifier(), n_estimators=30, random_state=0),
        lambda: InfluenceScorer(LogisticRegression()),
    ],
    ids=["LeaveOneOutScorer", "MemorizationScorer", "InfluenceScorer"],
)
def test_influence_refuses_a_test_label_the_model_never_saw(three_classes, make):
    X, y = three_classes
    scorer = make().fit(X[:40], y[:40])
    with pytest.raises(ValueError, match="not seen in fit"):
        scorer.influence(X[:2], np.array([0, 3]))


def test_label_primitives():
    classes = np.array(["a", "c", "d"])
    np.testing.assert_array_equal(encode_labels(classes, np.array(["d", "a"])), [2, 0])
    with pytest.raises(ValueError, match="'b'"):
        encode_labels(classes, np.array(["b"]))
    aligned = align_proba(np.array([[0.25, 0.75]]), np.array(["a", "d"]), classes)
    np.testing.assert_array_equal(aligned, [[0.25, 0.0, 0.75]])
    np.testing.assert_allclose(label_log_loss(aligned, np.array([1])), -np.log(1e-15))


@pytest.mark.parametrize("n_classes", [1, 2, 3, 8, 9, 20])
@pytest.mark.parametrize("dtype", [np.int64, np.float64, np.int8])
def test_encode_labels_by_comparison_equals_the_search(n_classes, dtype):
    rng = np.random.RandomState(n_classes)
    classes = np.sort(rng.choice(100, n_classes, replace=False)).astype(dtype)
    y = classes[rng.randint(0, n_classes, 500)]
    np.testing.assert_array_equal(encode_labels(classes, y), np.searchsorted(classes, y))
    bad = y.astype(np.float64)
    bad[7] = 100.5 if dtype is np.float64 else np.nan
    with pytest.raises(ValueError, match="not seen in fit"):
        encode_labels(classes, bad)


# -- the template, over every scorer -------------------------------------------------------


@pytest.mark.parametrize("make", SCORERS, ids=_ids(SCORERS))
def test_fit_honours_skip_parameter_validation(data, make, monkeypatch):
    X, y = data
    calls = []
    scorer = make()
    monkeypatch.setattr(type(scorer), "_validate_params", lambda self: calls.append(1))
    scorer.fit(X, y)
    assert calls == [1]  # validated once, by _fit_context
    with sklearn.config_context(skip_parameter_validation=True):
        make().fit(X, y)
    assert calls == [1]


@pytest.mark.parametrize("make", SCORERS, ids=_ids(SCORERS))
def test_constraints_are_merged_from_the_base(make):
    scorer = make()
    if "estimator" in scorer.get_params(deep=False):
        assert "estimator" in type(scorer)._parameter_constraints
        with pytest.raises(InvalidParameterError, match="'estimator' parameter"):
            scorer.set_params(estimator="LogisticRegression").fit(
                np.zeros((4, 2)), np.array([0, 1, 0, 1])
            )


@pytest.mark.parametrize("make", SCORERS, ids=_ids(SCORERS))
def test_cached_constraints_decide_as_sklearn_does(make):
    """The fit's parameter check (constraint objects made once per class) accepts exactly
    what scikit-learn's own check accepts, value by value, and a rejected value raises
    scikit-learn's error."""
    candidates = [None, "auto", "bogus", -1, 0, 1, 2.5, -0.5, True, np.float64(0.3), {}, [1]]
    checked = rejected = 0
    for name in type(make())._parameter_constraints:
        for value in candidates:
            scorer = make().set_params(**{name: value})
            try:
                validate_parameter_constraints(
                    type(scorer)._parameter_constraints, scorer.get_params(deep=False), "x"
                )
                valid = True
            except InvalidParameterError:
                valid = False
            assert params_satisfy_constraints(scorer) is valid, (name, value)
            if not valid:
                rejected += 1
                with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
                    scorer._validate_params()
            checked += 1
    assert checked and rejected


@pytest.mark.parametrize("make", INFLUENCE_SCORERS, ids=_ids(INFLUENCE_SCORERS))
def test_influence_aggregates_once(data, make):
    X, y = data
    scorer = make().fit(X[:40], y[:40])
    full = scorer.influence(X[40:], y[40:])
    assert full.shape == (20, 40)
    # "sum" may take a faster path (one solve): it must agree with summing the matrix.
    # (to rounding: a sum of differences of means, or a difference of means of sums)
    np.testing.assert_allclose(
        scorer.influence(X[40:], y[40:], aggregate="sum"), full.sum(0), atol=1e-12
    )
    np.testing.assert_allclose(
        scorer.influence(X[40:], y[40:], aggregate="mean"), full.mean(0), atol=1e-15
    )
    with pytest.raises(ValueError, match="aggregate must be None, 'sum' or 'mean'"):
        scorer.influence(X[40:], y[40:], aggregate="max")
    top = scorer.explain(X[40:42], y[40:42], k=3)
    np.testing.assert_array_equal(top.helpful_influence, -np.sort(-full[:2], axis=1)[:, :3])


@pytest.mark.parametrize("make", SCORERS, ids=_ids(SCORERS))
def test_score_samples_without_labels_uses_the_predicted_ones(data, make):
    X, y = data
    scorer = make().fit(X, y)
    labels = scorer.predicted_labels(X[:5])
    np.testing.assert_allclose(scorer.score_samples(X[:5]), scorer.score_samples(X[:5], labels))
    np.testing.assert_allclose(scorer.transform(X[:5])[:, 0], scorer.score_samples(X[:5]))


def test_shared_parameter_docs_are_injected():
    for cls in (InfluenceScorer, LeaveOneOutScorer, MemorizationScorer, EL2NScorer, GraNdScorer):
        assert "%(" not in cls.__doc__
    assert "joblib.parallel_config" in MemorizationScorer.__doc__
    assert "joblib.parallel_config" in LeaveOneOutScorer.__doc__

    class Typo:
        """Summary.

        Parameters
        ----------
        %(n_job)s
        """

    with pytest.raises(KeyError, match="n_job"):
        inject_docs(Typo)


def test_a_new_scorer_needs_only_the_private_methods(data):
    """The template is what a new scorer copies: _fit and _score_samples are enough."""

    class RowNormScorer(BaseTrainingScorer):
        _parameter_constraints = {}  # noqa: RUF012

        def _fit(self, X, y, sample_weight):
            self.scores_ = self._score_samples(X, y)

        def _score_samples(self, X, y):
            return np.linalg.norm(X, axis=1)

        def _predicted_labels(self, X):
            return None

    X, y = data
    scorer = RowNormScorer().fit(X, y)
    np.testing.assert_allclose(scorer.scores_, np.linalg.norm(X, axis=1))
    np.testing.assert_allclose(scorer.transform(X[:3])[:, 0], scorer.scores_[:3])
    with pytest.raises(ValueError, match="requires y"):
        RowNormScorer().fit(X)


# -- the validation shortcut for finite float64 arrays --------------------------------------
@pytest.mark.parametrize("make", SCORERS[:3])
def test_float_array_shortcut_concludes_what_validate_data_does(data, make):
    pd = pytest.importorskip("pandas")
    X, y = data
    scorer = make().fit(X, y)
    assert scorer._validate_X(X, reset=False) is X  # no copy
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    scorer.fit(frame, y)
    assert list(scorer.feature_names_in_) == list(frame.columns)
    # fitted with names, called without: scikit-learn's own path and warning
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        scorer.score_samples(X[:5], y[:5])
    scorer.fit(X, y)  # a refit on an array forgets the names, as validate_data does
    assert not hasattr(scorer, "feature_names_in_") and scorer.n_features_in_ == X.shape[1]
    with pytest.raises(ValueError, match=rf"X has 2 features, but {type(scorer).__name__} is "):
        scorer.score_samples(X[:5, :2], y[:5])


@pytest.mark.parametrize(
    ("value", "message"), [(np.nan, "Input X contains NaN"), (np.inf, "Input X contains inf")]
)
def test_float_array_shortcut_leaves_the_errors_to_validate_data(data, value, message):
    X, y = data
    bad = X.copy()
    bad[3, 1] = value
    with pytest.raises(ValueError, match=message):
        InfluenceScorer(LogisticRegression()).fit(bad, y)
    with pytest.raises(ValueError, match="0 sample"):
        InfluenceScorer(LogisticRegression()).fit(X[:0], y[:0])
    # finite entries whose sum overflows: not the shortcut, still accepted
    huge = np.full((4, 2), np.finfo(float).max)
    scorer = InfluenceScorer(LogisticRegression())
    assert scorer._validate_X(huge, reset=True) is huge
