"""GradientOutlierScorer: mislabel detection on digits, structured gradients, detectors."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score
from sklearn.neighbors import LocalOutlierFactor
from sklearn.svm import SVC

from skinfluence import GradientOutlierScorer, InfluenceScorer


def _flip(y, rate, n_classes, seed):
    rng = np.random.RandomState(seed)
    flipped = rng.rand(len(y)) < rate
    y = y.copy()
    y[flipped] = (y[flipped] + rng.randint(1, n_classes, flipped.sum())) % n_classes
    return y, flipped


def test_detects_flipped_digit_labels(digits):
    X, y = digits
    X, y = X[:1000], y[:1000]
    y_noisy, flipped = _flip(y, 0.10, 10, seed=0)
    model = LogisticRegression(C=1.0, max_iter=2000)
    ours = GradientOutlierScorer(model, random_state=0).fit(X, y_noisy)
    auprc = average_precision_score(flipped, ours.scores_)
    noise_rate = flipped.mean()
    # The bar: 3 × the noise rate (random ranking scores the noise rate).
    assert auprc >= 3 * noise_rate, auprc
    influence = InfluenceScorer(model).fit(X, y_noisy)
    self_influence = influence.scores_
    loss = influence.adapter_.loss(X, y_noisy)
    print(
        f"AUPRC outlier-gradient {auprc:.3f}, self-influence "
        f"{average_precision_score(flipped, self_influence):.3f}, loss "
        f"{average_precision_score(flipped, loss):.3f}, random {noise_rate:.3f}"
    )


def test_sparse_input_gives_the_dense_scores(wine):
    X, y = wine
    dense = GradientOutlierScorer(LogisticRegression(), random_state=0).fit(X, y)
    sparse = GradientOutlierScorer(LogisticRegression(), random_state=0).fit(sp.csr_matrix(X), y)
    # Same gradients (one as CSR), same forest: scores agree to rounding.
    np.testing.assert_allclose(sparse.scores_, dense.scores_, rtol=1e-10)


def test_any_outlier_detector_and_fit_subset(wine):
    X, y = wine
    lof = GradientOutlierScorer(LogisticRegression(), detector=LocalOutlierFactor(novelty=True))
    lof.fit(X, y)
    assert lof.scores_.shape == (len(y),)
    np.testing.assert_allclose(lof.score_samples(X, y), lof.scores_)
    sub = GradientOutlierScorer(LogisticRegression(), max_fit_samples=50, random_state=0).fit(X, y)
    assert sub.detector_.max_samples_ == 50  # the forest saw 50 gradients
    assert sub.scores_.shape == (len(y),)
    with pytest.raises(TypeError, match="score_samples nor decision_function"):
        GradientOutlierScorer(LogisticRegression(), detector=KMeans(n_clusters=2)).fit(X, y)
    with pytest.raises(TypeError, match="MemorizationScorer"):
        GradientOutlierScorer(SVC()).fit(X, y)


@pytest.mark.slow
def test_torch_mlp_detects_flipped_digit_labels(digits):
    torch = pytest.importorskip("torch")
    skorch = pytest.importorskip("skorch")
    from skinfluence.models import ParameterSubset

    X, y = digits
    X, y = X[:800], y[:800]
    y_noisy, flipped = _flip(y, 0.10, 10, seed=1)
    torch.manual_seed(0)
    net = skorch.NeuralNetClassifier(
        torch.nn.Sequential(
            torch.nn.Linear(64, 32, dtype=torch.float64),
            torch.nn.Tanh(),
            torch.nn.Linear(32, 10, dtype=torch.float64),
        ),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=0.01,
        optimizer__weight_decay=1e-4,
        max_epochs=60,
        batch_size=128,
        train_split=None,
        verbose=0,
    )
    scores = {}
    for label, est in (("all", net), ("last layer", ParameterSubset(net, params=["2"]))):
        scorer = GradientOutlierScorer(est, random_state=0).fit(X, y_noisy)
        scores[label] = average_precision_score(flipped, scorer.scores_)
    print(scores)
    assert min(scores.values()) >= 3 * flipped.mean()
