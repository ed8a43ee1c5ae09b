"""PrototypeScorer: outliers score highest, per-class prototypes, embeddings, errors."""

import joblib
import numpy as np
import pytest
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.datasets import make_blobs
from sklearn.decomposition import PCA

from skinfluence import PrototypeScorer

# Three classes, each made of two well-separated sub-blobs (so that k = 2 prototypes per
# class is the right model).
SUB_BLOB_CENTRES = np.array([[0, 0], [10, 0], [30, 0], [40, 0], [0, 30], [10, 30]], float)


def blobs_with_outliers(seed):
    """600 rows of 3 classes plus 3 outliers: rows labelled c lying inside another class."""
    X, sub = make_blobs(600, centers=SUB_BLOB_CENTRES, cluster_std=1.0, random_state=seed)
    y = sub // 2
    rng = np.random.RandomState(seed)
    X_out = np.array([[30.0, 0], [0, 30], [10, 0]]) + rng.randn(3, 2) * 0.5
    return np.vstack([X, X_out]), np.r_[y, [0, 1, 2]]


@pytest.mark.parametrize("seed", range(5))
def test_per_class_prototypes_give_outliers_the_highest_scores(seed):
    X, y = blobs_with_outliers(seed)
    outliers = {600, 601, 602}
    scorer = PrototypeScorer(n_clusters=2, per_class=True, random_state=seed).fit(X, y)
    assert set(np.argsort(-scorer.scores_)[:3]) == outliers
    # Label-free prototypes cannot see these outliers: they sit inside another class's blob.
    free = PrototypeScorer(n_clusters=6, random_state=seed).fit(X, y).scores_
    assert not outliers & set(np.argsort(-free)[:30])


def test_far_outliers_score_highest_without_labels():
    X, _ = make_blobs(400, centers=SUB_BLOB_CENTRES[:4], cluster_std=1.0, random_state=0)
    far = np.array([[20.0, 25], [-15, -15], [55, -10]])
    scorer = PrototypeScorer(n_clusters=4, random_state=0).fit(np.vstack([X, far]))
    assert set(np.argsort(-scorer.scores_)[:3]) == {400, 401, 402}


def test_scores_are_distances_to_the_nearest_prototype_of_the_own_class(wine):
    X, y = wine
    scorer = PrototypeScorer(n_clusters=3, per_class=True, random_state=0).fit(X, y)
    assert scorer.cluster_centers_.shape == (9, X.shape[1])
    for i in range(0, len(y), 17):
        own = scorer.cluster_centers_[scorer.cluster_classes_ == y[i]]
        expected = np.min(np.linalg.norm(own - X[i], axis=1))
        np.testing.assert_allclose(scorer.scores_[i], expected, rtol=1e-10)
        any_class = np.min(np.linalg.norm(scorer.cluster_centers_ - X[i], axis=1))
        np.testing.assert_allclose(scorer.transform(X[i : i + 1])[0, 0], any_class, rtol=1e-10)
    # the label-free distance is a minimum over more prototypes
    assert np.all(scorer.transform(X)[:, 0] <= scorer.score_samples(X, y) + 1e-12)
    np.testing.assert_allclose(scorer.score_samples(X, y), scorer.scores_)


def test_unfitted_embedding_is_cloned_and_fitted(digits):
    X, _ = digits
    X = X[:300]
    pca = PCA(n_components=5, random_state=0)
    before = joblib.hash(pca)
    scorer = PrototypeScorer(n_clusters=4, embedding=pca, random_state=0).fit(X)
    assert joblib.hash(pca) == before and not hasattr(pca, "components_")
    Z = scorer.embedding_.transform(X)
    assert scorer.cluster_centers_.shape == (4, 5)
    expected = np.min(np.linalg.norm(Z[:, None, :] - scorer.cluster_centers_[None], axis=2), axis=1)
    np.testing.assert_allclose(scorer.scores_, expected, rtol=1e-10)


def test_fitted_embedding_is_used_as_it_is(digits):
    X, _ = digits
    pca = PCA(n_components=4, random_state=0).fit(X[300:600])
    before = joblib.hash(pca)
    scorer = PrototypeScorer(n_clusters=3, embedding=pca, random_state=0).fit(X[:300])
    assert scorer.embedding_ is pca and joblib.hash(pca) == before  # not refitted on X[:300]


def test_clusters_are_capped_at_the_class_size():
    X = np.array([[0.0, 0], [0, 1], [5, 5], [5, 6], [5, 7]])
    y = np.array([0, 0, 1, 1, 1])
    scorer = PrototypeScorer(n_clusters=8, per_class=True, random_state=0).fit(X, y)
    assert [len(km.cluster_centers_) for km in scorer.kmeans_] == [2, 3]
    np.testing.assert_allclose(scorer.scores_, 0.0, atol=1e-12)  # every row is a prototype


def test_kmeans_flavour():
    X, _ = make_blobs(200, centers=3, random_state=0)
    assert isinstance(PrototypeScorer(kmeans="minibatch").fit(X).kmeans_[0], MiniBatchKMeans)
    assert type(PrototypeScorer(kmeans="auto").fit(X).kmeans_[0]) is KMeans


def test_bad_inputs_give_clear_errors(wine):
    X, y = wine
    with pytest.raises(ValueError, match="requires y"):
        PrototypeScorer(per_class=True).fit(X)
    scorer = PrototypeScorer(n_clusters=2, per_class=True, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="not seen in fit"):
        scorer.score_samples(X[:2], np.array([0, 9]))
    with pytest.raises(ValueError, match="n_clusters"):
        PrototypeScorer(n_clusters=0).fit(X)
    with pytest.raises(ValueError, match="Unknown label type"):
        PrototypeScorer(per_class=True).fit(X, y + 0.5)
