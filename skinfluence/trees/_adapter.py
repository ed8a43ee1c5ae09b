"""The model adapter of boosted tree ensembles: parameters = leaf values, structure fixed.

``adapter_for(HistGradientBoostingClassifier(...).fit(X, y))`` returns a
:class:`TreeEnsembleAdapter`. Its parameters θ are the leaf values (learning rate included),
the raw score of a row is ``baseline + Σ_trees v_leaf(row)``, linear in θ, and its objective is
the data term ``J(θ) = Σ_i w_i ℓ(z_i; θ)`` (no penalty), so the gradient-only scorers
(TracIn, GraNd, the gradient outlier score) work on trees as on any family. Boosting does not
minimise J jointly (each tree takes one Newton step at the scores of the earlier ones), so
influence for trees does not invert J's Hessian: :class:`~skinfluence.InfluenceScorer`
checks the :class:`TreeEnsembleAdapter` capability and runs the tree methods of
:mod:`skinfluence.trees` (LeafInfluence, BoostIn, the fixed-structure refit) on the
:class:`~skinfluence.trees.TreeEnsemble` read with the training data.
"""

import dataclasses

import numpy as np
import scipy.sparse as sp

from ..models._base import GradientMatrix, ModelAdapter
from ._ensemble import encode_targets, loss_raw_derivative, per_row_loss
from ._readers import read_ensemble


class SparseGradientMatrix(GradientMatrix):
    """Per-sample gradients held as a sparse (n × p) matrix (a tree row touches T · K leaves).

    Parameters
    ----------
    G : scipy.sparse matrix of shape (n, p)
        The gradients.

    See Also
    --------
    TreeEnsembleAdapter.gradients : returns one.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from skinfluence.trees._adapter import SparseGradientMatrix
    >>> G = SparseGradientMatrix(sp.csr_matrix(np.eye(3)))
    >>> G.shape, G.matmul(np.ones((3, 1))).ravel().tolist()
    ((3, 3), [1.0, 1.0, 1.0])
    """

    def __init__(self, G):
        self.G = sp.csr_matrix(G)

    @property
    def shape(self):
        """(n_samples, n_params)."""
        return self.G.shape

    def matmul(self, V):
        """Multiply by parameter-space vectors: ``G @ V``.

        Parameters
        ----------
        V : ndarray of shape (p, k)
            Vectors of the parameter space.

        Returns
        -------
        GV : ndarray of shape (n, k)
        """
        return np.asarray(self.G @ V)

    def rmatmul(self, U):
        """Multiply the transpose by sample-space vectors: ``Gᵀ @ U``.

        Parameters
        ----------
        U : ndarray of shape (n, k)
            One coefficient per row and column.

        Returns
        -------
        GtU : ndarray of shape (p, k)
        """
        return np.asarray(self.G.T @ U)

    def dense_rows(self, rows):
        """Materialise the gradients of some rows.

        Parameters
        ----------
        rows : slice or array-like of int
            Which rows.

        Returns
        -------
        block : ndarray of shape (len(rows), p)
        """
        return self.G[rows].toarray()

    def take(self, rows):
        """Restrict to some rows.

        Parameters
        ----------
        rows : slice or array-like of int
            Which rows.

        Returns
        -------
        gradients : SparseGradientMatrix
        """
        return SparseGradientMatrix(self.G[rows])


class TreeEnsembleAdapter(ModelAdapter):
    """Adapter of a fitted boosted tree ensemble; θ = the leaf values, structure fixed.

    Obtain one with :func:`skinfluence.models.adapter_for`. The loss is the model's own:
    log-loss on its raw scores (classifiers) or the squared error (regressors).

    Parameters
    ----------
    estimator : estimator
        A fitted HistGradientBoosting or GradientBoosting model (LightGBM, XGBoost where
        their readers are installed).
    ensemble : TreeEnsemble, default=None
        Its structure, when already read (``with_params`` passes a modified one).

    Attributes
    ----------
    ensemble : TreeEnsemble
        The structure read without training rows (``read_ensemble(estimator)``).

    See Also
    --------
    skinfluence.trees.read_ensemble : the same structure with the training rows, checked.
    skinfluence.InfluenceScorer : LeafInfluence, BoostIn and the fixed-structure
        leave-one-out for the models of this adapter.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> from skinfluence.models import adapter_for
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> model = HistGradientBoostingClassifier(max_iter=5, random_state=0).fit(X, y)
    >>> adapter = adapter_for(model)
    >>> adapter.n_params == adapter.ensemble.leaf_values.size, adapter.loss(X[:2], y[:2]).shape
    (True, (2,))
    """

    def __init__(self, estimator, ensemble=None):
        super().__init__(estimator)
        self.ensemble = read_ensemble(estimator) if ensemble is None else ensemble

    @property
    def n_params(self):
        """Length of θ: the number of leaves of all trees."""
        return self.ensemble.leaf_values.size

    def params(self):
        """Return θ, the leaf values (learning rate included), as a float64 copy.

        Returns
        -------
        theta : ndarray of shape (n_params,)
        """
        return self.ensemble.leaf_values.astype(np.float64, copy=True)

    def with_params(self, theta):
        """Return an adapter of the same structure at other leaf values.

        The estimator is not modified (nor rebuilt: ``estimator`` stays the original).

        Parameters
        ----------
        theta : ndarray of shape (n_params,)
            Leaf values.

        Returns
        -------
        adapter : TreeEnsembleAdapter
        """
        theta = np.asarray(theta, dtype=np.float64).reshape(self.n_params).copy()
        return type(self)(self.estimator, dataclasses.replace(self.ensemble, leaf_values=theta))

    def encode_target(self, y):
        """Map labels to class indices (classifiers) or float targets (regressors).

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Labels or targets.

        Returns
        -------
        t : ndarray of shape (n_samples,)

        Raises
        ------
        ValueError
            A label the model does not know, or more than one target.
        """
        y = np.asarray(y)
        if self.ensemble.classes is None and y.ndim > 1 and y.shape[1:] != (1,):
            raise ValueError(
                f"The model has one target; y has shape {y.shape}. Pass y of shape (n_samples,)."
            )
        return encode_targets(self.ensemble.classes, y)

    def _targets(self, y):
        t = self.encode_target(y)
        K = self.ensemble.n_outputs
        if self.ensemble.objective == "multinomial":
            return (t[:, None] == np.arange(K)).astype(np.float64)
        return np.asarray(t, dtype=np.float64).reshape(-1, 1)

    def _raw(self, X):
        leaves = np.asarray(self.ensemble.apply(X), dtype=np.intp)
        return leaves, self.ensemble.raw_predict(leaves)

    def loss(self, X, y):
        """Compute the per-sample loss: log-loss on the raw scores, or the squared error.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows, as the estimator takes them.
        y : array-like of shape (n_samples,)
            Their labels or targets.

        Returns
        -------
        loss : ndarray of shape (n_samples,)
        """
        _, raw = self._raw(X)
        return per_row_loss(self.ensemble.objective, raw, self._targets(y))

    def _indicator(self, leaves, coef):
        """Sparse (n, p): row i has coef[i, k] at its leaf of every tree (t, k)."""
        n, T, K = leaves.shape
        data = np.broadcast_to(coef[:, None, :], (n, T, K)).ravel()
        rows = np.broadcast_to(np.arange(n)[:, None, None], (n, T, K)).ravel()
        return sp.csr_matrix((data, (rows, leaves.ravel())), shape=(n, self.n_params))

    def gradients(self, X, y):
        """Return the per-sample gradients with respect to the leaf values (sparse).

        Row i holds ``∂ℓ/∂F_k`` at its leaf of every tree (t, k), 0 elsewhere.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows, as the estimator takes them.
        y : array-like of shape (n_samples,)
            Their labels or targets.

        Returns
        -------
        gradients : SparseGradientMatrix
            Of shape (n_samples, n_params).
        """
        leaves, raw = self._raw(X)
        coef = loss_raw_derivative(self.ensemble.objective, raw, self._targets(y))
        return SparseGradientMatrix(self._indicator(leaves, coef))

    def _curvature(self, raw):
        """∇²ℓ with respect to the raw scores, (n, K, K)."""
        objective = self.ensemble.objective
        n, K = raw.shape
        if objective == "squared_error":
            return np.full((n, 1, 1), 2.0)
        if objective == "binary_logistic":
            p = 1.0 / (1.0 + np.exp(-raw))
            return (p * (1.0 - p))[:, :, None]
        p = np.exp(raw - raw.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return np.einsum("nk,kl->nkl", p, np.eye(K)) - p[:, :, None] * p[:, None, :]

    def hvp(self, X, y, V, sample_weight=None):
        """Multiply by the Hessian of the data term ``Σ w_i ℓ_i`` in the leaf values.

        The raw scores are linear in θ, so this is ``Σ w_i J_iᵀ ∇²ℓ_i J_i V`` exactly, with
        ``J_i`` the leaf indicator of row i.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows, as the estimator takes them.
        y : array-like of shape (n_samples,)
            Their labels or targets.
        V : ndarray of shape (n_params,) or (n_params, k)
            Directions.
        sample_weight : array-like of shape (n_samples,), default=None
            The rows' weights (None: 1).

        Returns
        -------
        HV : ndarray of the shape of V
        """
        leaves, raw = self._raw(X)
        n, _, K = leaves.shape
        w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        S = self._curvature(raw) * w[:, None, None]
        V = np.asarray(V, dtype=np.float64)
        flat = V.ndim == 1
        V2 = V.reshape(self.n_params, -1)
        J = [self._indicator(leaves, np.eye(K)[None, k].repeat(n, axis=0)) for k in range(K)]
        U = [np.asarray(Jk @ V2) for Jk in J]  # raw-score directions, (n, r) per output
        out = np.zeros_like(V2)
        for k in range(K):
            Z = sum(S[:, k, m, None] * U[m] for m in range(K))
            out += np.asarray(J[k].T @ Z)
        return out.reshape(V.shape) if flat else out


def tree_adapter(estimator):
    """The adapter factory registered for every boosted tree model."""
    return TreeEnsembleAdapter(estimator)


def _row_weights(self, y, sample_weight=None):
    """Sample weight × class weight (HistGradientBoostingClassifier's ``class_weight``)."""
    w = super(TreeEnsembleAdapter, self).row_weights(y, sample_weight)
    class_weight = getattr(self.estimator, "class_weight", None)
    if class_weight is not None and self.ensemble.classes is not None:
        from sklearn.utils.class_weight import compute_sample_weight

        w = w * compute_sample_weight(class_weight, self.encode_target(y))
    return w


TreeEnsembleAdapter.row_weights = _row_weights
TreeEnsembleAdapter.row_weights.__doc__ = ModelAdapter.row_weights.__doc__


def register_tree_model(
    class_path, reader, *, name=None, requires=(), accepts_subclasses=True, examples=()
):
    """Register a boosted tree model class: its reader and its adapter family, together.

    Parameters
    ----------
    class_path : str
        ``"module:qualname"`` of the estimator class (its module is not imported).
    reader : callable
        ``reader(estimator, X=None, y=None, sample_weight=None) -> TreeEnsemble``.
    name : str, default=None
        Shown in messages and in :func:`~skinfluence.models.supported_families`.
    requires : tuple of str, default=()
        Optional libraries the reader needs (e.g. ``("lightgbm",)``).
    accepts_subclasses : bool, default=True
        Also read subclasses (e.g. ``LGBMClassifier`` when registering ``LGBMModel``).
    examples : sequence of callables, default=()
        ``() -> AdapterExample`` for the common adapter tests (see
        :func:`skinfluence.trees._examples.tree_example`).

    Returns
    -------
    family : AdapterFamily

    See Also
    --------
    register_reader : registers the reader alone.
    skinfluence.models.register_adapter : registers an adapter family.

    Examples
    --------
    >>> from skinfluence.trees._adapter import register_tree_model
    >>> from skinfluence.trees._sklearn import read_gradient_boosting
    >>> family = register_tree_model(
    ...     "sklearn.ensemble._gb:GradientBoostingRegressor",
    ...     read_gradient_boosting,
    ...     name="GradientBoostingRegressor",
    ...     accepts_subclasses=False,
    ... )
    >>> family.name
    'GradientBoostingRegressor'
    """
    from ..models._registry import _FAMILIES, register_adapter
    from ._readers import register_reader

    register_reader(class_path, reader, name=name)
    previous = _FAMILIES.get(class_path)
    return register_adapter(
        class_path,
        tree_adapter,
        name=name,
        accepts_subclasses=accepts_subclasses,
        requires=requires,
        examples=tuple(examples) or (previous.examples if previous is not None else ()),
    )
