"""``PrototypeScorer``: distance to the nearest k-means prototype (Sorscher et al. 2022)."""

import numbers

import numpy as np
from sklearn.base import clone
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.exceptions import NotFittedError
from sklearn.metrics import euclidean_distances
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, check_random_state

from .._utils._docstring import inject_docs
from .._utils._labels import encode_labels
from .._utils._random import draw_seeds
from .._validation import shared_constraints
from ._base import BaseTrainingScorer

# kmeans="auto" switches to MiniBatchKMeans above this many rows (per clustering): Lloyd
# iterations then cost more than the mini-batch updates' small loss of centroid quality.
AUTO_MINIBATCH_ABOVE = 10_000


def _is_fitted(estimator):
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        return False
    return True


@inject_docs
class PrototypeScorer(BaseTrainingScorer):
    """Self-supervised prototype score: distance from each row to its nearest k-means centroid.

    Rows far from every prototype are atypical (**higher = harder**); rows near a centroid
    are prototypical and redundant. The score needs no labels and no trained classifier,
    which is why Sorscher et al. use it to prune data before training.

    Read more in the :ref:`User Guide <prototype_scorer>`.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of prototypes (per class with ``per_class=True``); capped at the number of
        rows clustered.
    embedding : transformer or None, default=None
        The space the prototypes live in, e.g. ``PCA`` or a skorch net's hidden layer
        wrapped as a transformer; None uses the features. A fitted transformer is used as
        it is (never refitted nor modified); an unfitted one is cloned and fitted on the
        training rows. Normalise inside it (e.g. ``Normalizer``) for cosine distances.
    per_class : bool, default=False
        Cluster each class separately (class-balanced prototypes) and score a labelled row
        by its distance to its own class's prototypes; needs y in ``fit``.
    n_init : int, default=3
        k-means restarts (k-means++ seeding each); the clustering of lowest inertia is kept.
        A single run (scikit-learn's ``n_init="auto"``) often spends a prototype on a lone
        outlier, because k-means++ seeds with probability ∝ squared distance; then the
        outlier scores 0. Restarts make that rarer.
    kmeans : {"auto", "full", "minibatch"}, default="auto"
        scikit-learn's ``KMeans`` ("full"), ``MiniBatchKMeans`` ("minibatch") or the
        latter above 10 000 rows per clustering ("auto").
    %(random_state)s
        Seeds the k-means initialisations.

    Attributes
    ----------
    embedding_ : transformer or None
        The fitted embedding (the user's object when it was passed fitted).
    kmeans_ : list of KMeans or MiniBatchKMeans
        One clustering, or one per class with ``per_class=True``.
    cluster_centers_ : ndarray of shape (n_prototypes, n_embedding_dims)
        All prototypes.
    cluster_classes_ : ndarray of shape (n_prototypes,)
        Class of each prototype (``per_class=True`` only).
    classes_ : ndarray of shape (n_classes,)
        Defined with ``per_class=True``.
    scores_ : ndarray of shape (n_train,)
        Distance of each training row to its nearest prototype (of its own class with
        ``per_class=True``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has string column names.

    See Also
    --------
    EL2NScorer, GraNdScorer : label-aware difficulty from trained probes.
    skinfluence.PruningSelector : keeps a fraction of rows by this score.

    Notes
    -----
    ``score(x) = min_c ‖φ(x) − μ_c‖₂`` with φ the embedding and μ_c the k-means centroids
    (with ``per_class=True`` and a label y, the minimum runs over class y's centroids only).
    ``transform(X)`` and ``score_samples(X)`` without y give the label-free distance to the
    nearest prototype of any class.

    Cost: k-means, O(n k d · iterations · n_init) time and O(n d + k d) memory for n rows,
    k prototypes and d embedding dimensions; scoring O(n k d), plus the embedding's own cost.

    References
    ----------
    Sorscher, B., Geirhos, R., Shekhar, S., Ganguli, S. & Morcos, A. S. (2022). Beyond
    neural scaling laws: beating power law scaling via data pruning. NeurIPS.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skinfluence import PrototypeScorer
    >>> X, y = load_iris(return_X_y=True)
    >>> scorer = PrototypeScorer(n_clusters=2, per_class=True, random_state=0).fit(X, y)
    >>> scorer.scores_.shape, scorer.cluster_centers_.shape
    ((150,), (6, 4))
    """

    score_name = "prototype_distance"

    _parameter_constraints = {  # noqa: RUF012
        **shared_constraints("random_state"),
        "n_clusters": [Interval(numbers.Integral, 1, None, closed="left")],
        "embedding": [HasMethods(["transform"]), None],
        "per_class": ["boolean"],
        "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
        "kmeans": [StrOptions({"auto", "full", "minibatch"})],
    }

    def __init__(
        self,
        *,
        n_clusters=8,
        embedding=None,
        per_class=False,
        n_init=3,
        kmeans="auto",
        random_state=None,
    ):
        self.n_clusters = n_clusters
        self.embedding = embedding
        self.per_class = per_class
        self.n_init = n_init
        self.kmeans = kmeans
        self.random_state = random_state

    def _accepts_raw_X(self):
        return self.embedding is not None  # the embedding validates its own input

    def fit(self, X, y=None):
        """Fit the embedding (if unfitted) and the prototypes; compute ``scores_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            Class labels; required with ``per_class=True``, ignored otherwise.

        Returns
        -------
        self : PrototypeScorer
        """
        return super().fit(X, y)

    def _fit(self, X, y, sample_weight):
        if self.per_class:
            check_classification_targets(y)
        rng = check_random_state(self.random_state)
        if self.embedding is None:
            self.embedding_ = None
        elif _is_fitted(self.embedding):
            self.embedding_ = self.embedding
        else:
            self.embedding_ = clone(self.embedding).fit(X, y)
        Z = self._embed(X)
        if self.per_class:
            self.classes_ = np.unique(y)
            groups = [Z[y == c] for c in self.classes_]
        else:
            groups = [Z]
        self.kmeans_ = [
            self._make_kmeans(Zc.shape[0], draw_seeds(rng, 1)[0]).fit(Zc) for Zc in groups
        ]
        self.cluster_centers_ = np.vstack([km.cluster_centers_ for km in self.kmeans_])
        if self.per_class:
            self.cluster_classes_ = np.repeat(
                self.classes_, [len(km.cluster_centers_) for km in self.kmeans_]
            )
        self.scores_ = self._distances(Z, y if self.per_class else None)

    def _make_kmeans(self, n_rows, seed):
        k = min(self.n_clusters, n_rows)
        minibatch = self.kmeans == "minibatch" or (
            self.kmeans == "auto" and n_rows > AUTO_MINIBATCH_ABOVE
        )
        cls = MiniBatchKMeans if minibatch else KMeans
        return cls(n_clusters=k, n_init=self.n_init, random_state=seed)

    def _embed(self, X):
        if self.embedding_ is None:
            return X
        return _as_matrix(self.embedding_.transform(X))

    def _distances(self, Z, y):
        D = euclidean_distances(Z, self.cluster_centers_)
        if y is not None:
            codes = encode_labels(self.classes_, y)
            own = self.cluster_classes_[None, :] == self.classes_[codes][:, None]
            D = np.where(own, D, np.inf)
        return D.min(axis=1)

    def _score_samples(self, X, y):
        # With per_class and a label, each row against its own class's prototypes only.
        return self._distances(self._embed(X), y if self.per_class else None)

    def _predicted_labels(self, X):
        return None  # the score is label-free: y=None gives the distance to any prototype

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = self.per_class
        tags.input_tags.sparse = self.embedding is None
        return tags


def _as_matrix(Z):
    """The embedding's output as a float64 matrix (sparse kept sparse, pandas unwrapped)."""
    if hasattr(Z, "tocsr"):
        return Z.astype(np.float64).tocsr()
    Z = np.asarray(Z, dtype=np.float64)
    return Z.reshape(len(Z), -1)
