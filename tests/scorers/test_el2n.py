"""EL2NScorer: the paper's quantity, out-of-fold probes, label noise, skorch probes, errors."""

import warnings

import joblib
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold, ShuffleSplit
from sklearn.svm import LinearSVC

from skinfluence import EL2NScorer
from skinfluence.datasets import flip_labels


def manual_el2n(model, X, y):
    """‖predict_proba − onehot(y)‖₂ written out from the definition."""
    proba = model.predict_proba(X)
    onehot = (y[:, None] == model.classes_[None, :]).astype(float)
    return np.linalg.norm(proba - onehot, axis=1)


def test_scores_are_the_mean_error_norm_of_seeded_probes(wine):
    X, y = wine
    scorer = EL2NScorer(
        SGDClassifier(loss="log_loss", max_iter=5, tol=None), n_repeats=3, random_state=0
    ).fit(X, y)
    seeds = [p.random_state for p in scorer.estimators_]
    assert len(set(seeds)) == 3  # one seed per probe
    for r, seed in enumerate(seeds):
        ref = SGDClassifier(loss="log_loss", max_iter=5, tol=None, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ref.fit(X, y)
        np.testing.assert_allclose(scorer.repeat_scores_[r], manual_el2n(ref, X, y), atol=1e-12)
    assert not np.allclose(scorer.repeat_scores_[0], scorer.repeat_scores_[1])
    np.testing.assert_allclose(scorer.scores_, scorer.repeat_scores_.mean(axis=0))
    np.testing.assert_allclose(scorer.score_samples(X, y), scorer.scores_)
    assert np.all((scorer.scores_ >= 0) & (scorer.scores_ <= np.sqrt(2) + 1e-12))


def test_out_of_fold_rows_are_scored_by_probes_that_never_saw_them(breast_cancer):
    X, y = breast_cancer
    X, y = X[:200], y[:200]
    cv = KFold(4, shuffle=True, random_state=1)
    scorer = EL2NScorer(LogisticRegression(), n_repeats=1, cv=cv).fit(X, y)
    assert len(scorer.estimators_) == 4
    expected = np.empty(len(y))
    for train, test in cv.split(X, y):
        expected[test] = manual_el2n(LogisticRegression().fit(X[train], y[train]), X[test], y[test])
    # Same deterministic lbfgs fits on the same rows: equal to rounding.
    np.testing.assert_allclose(scorer.scores_, expected, atol=1e-10)
    in_sample = EL2NScorer(LogisticRegression(), n_repeats=1).fit(X, y).scores_
    assert scorer.scores_.mean() > in_sample.mean()  # held-out error exceeds training error


def test_integer_cv_reshuffles_the_folds_in_every_repeat(breast_cancer):
    X, y = breast_cancer
    scorer = EL2NScorer(LogisticRegression(), n_repeats=2, cv=3, random_state=0)
    scorer.fit(X[:150], y[:150])
    assert len(scorer.estimators_) == 6
    # deterministic probes: the two repeats differ only through their folds
    assert not np.allclose(scorer.repeat_scores_[0], scorer.repeat_scores_[1])


def test_cv_that_leaves_rows_unscored_is_an_error(breast_cancer):
    X, y = breast_cancer
    with pytest.raises(ValueError, match="out of every test fold"):
        EL2NScorer(
            LogisticRegression(), n_repeats=1, cv=ShuffleSplit(2, test_size=0.1, random_state=0)
        ).fit(X[:100], y[:100])


@pytest.mark.parametrize(
    ("dataset", "params"),
    [
        ("breast_cancer", {}),
        ("breast_cancer", {"cv": 5}),
        ("digits", {"probe_params": {"max_iter": 5}}),
    ],
)
def test_flipped_labels_rank_high(dataset, params, request):
    X, y = request.getfixturevalue(dataset)
    aurocs = []
    for seed in range(3):
        y_noisy, flipped = flip_labels(y, 0.1, random_state=seed)
        scorer = EL2NScorer(LogisticRegression(), n_repeats=1, random_state=seed, **params)
        aurocs.append(roc_auc_score(flipped, scorer.fit(X, y_noisy).scores_))
    # Issue 5's bar; measured 0.98-0.998 on these data and seeds.
    assert min(aurocs) >= 0.9, aurocs


def test_label_free_transform_uses_the_probes_consensus_label(wine):
    X, y = wine
    scorer = EL2NScorer(LogisticRegression(), n_repeats=1).fit(X, y)
    free = scorer.transform(X)
    assert free.shape == (len(y), 1)
    # The most probable class is the closest one-hot vector: the label-free score is the
    # smallest EL2N over all labels.
    for c in scorer.classes_:
        assert np.all(free[:, 0] <= scorer.score_samples(X, np.full(len(y), c)) + 1e-12)
    np.testing.assert_array_equal(scorer.predicted_labels(X), scorer.estimators_[0].predict(X))
    assert scorer.get_feature_names_out().tolist() == ["el2n"]


def test_brief_probes_do_not_warn_about_convergence(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        EL2NScorer(LogisticRegression(), n_repeats=1, probe_params={"max_iter": 2}).fit(X, y)


def test_inputs_and_estimator_are_not_modified(breast_cancer):
    X, y = breast_cancer
    X, y = X[:120].copy(), y[:120].copy()
    est = LogisticRegression(max_iter=50)
    before = joblib.hash((X, y, est))
    EL2NScorer(est, n_repeats=2, probe_params={"max_iter": 3}, cv=3, random_state=0).fit(X, y)
    assert joblib.hash((X, y, est)) == before


def test_bad_inputs_give_clear_errors(wine):
    X, y = wine
    with pytest.raises(ValueError, match="predict_proba"):
        EL2NScorer(LinearSVC()).fit(X, y)
    with pytest.raises(ValueError, match="Unknown label type"):
        EL2NScorer(LogisticRegression(), n_repeats=1).fit(X, y + 0.5)
    scorer = EL2NScorer(LogisticRegression(), n_repeats=1).fit(X, y)
    with pytest.raises(ValueError, match="not seen in fit"):
        scorer.score_samples(X[:3], np.array([0, 1, 7]))
    with pytest.raises(ValueError, match="n_repeats"):
        EL2NScorer(LogisticRegression(), n_repeats=0).fit(X, y)


def test_parallel_probes_match_serial(breast_cancer):
    X, y = breast_cancer
    kw = {"n_repeats": 2, "cv": 3, "random_state": 0}
    serial = EL2NScorer(LogisticRegression(), **kw).fit(X[:150], y[:150]).scores_
    parallel = EL2NScorer(LogisticRegression(), n_jobs=2, **kw).fit(X[:150], y[:150]).scores_
    np.testing.assert_allclose(parallel, serial, atol=1e-12)


def test_skorch_probes_rank_flipped_labels_high(breast_cancer):
    torch = pytest.importorskip("torch")
    skorch = pytest.importorskip("skorch")

    class MLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.Sequential(
                torch.nn.Linear(30, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)
            )

        def forward(self, X):
            return torch.softmax(self.layers(X), dim=-1)

    X, y = breast_cancer
    y_noisy, flipped = flip_labels(y, 0.1, random_state=0)
    net = skorch.NeuralNetClassifier(
        MLP, max_epochs=20, lr=0.1, batch_size=128, train_split=None, verbose=0
    )
    scorer = EL2NScorer(net, n_repeats=2, probe_params={"max_epochs": 5}, random_state=0)
    scorer.fit(X, y_noisy)  # float64 X and any labels: the scorer converts for skorch
    assert net.get_params()["max_epochs"] == 20 and not hasattr(net, "module_")
    assert not np.allclose(scorer.repeat_scores_[0], scorer.repeat_scores_[1])  # two seeds
    # Same bar as for the linear probes; measured 0.99 with 5 epochs.
    assert roc_auc_score(flipped, scorer.scores_) >= 0.9
    assert scorer.transform(X[:5]).shape == (5, 1)
