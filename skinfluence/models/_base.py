"""The contract between a fitted model and the scorers: :class:`ModelAdapter`.

Every gradient-based scorer and inverse-Hessian solver talks to a model only through this
interface, so a new model family is one new adapter.

Objective convention (all adapters)
-----------------------------------
An adapter describes the *training objective in sum form*::

    J(θ) = Σ_i w_i ℓ(z_i; θ) + R(θ)

where ``ℓ`` is the per-sample loss the estimator minimises (unweighted), ``w_i`` the row's weight
in the objective (``sample_weight`` times ``class_weight``, 1 by default) and ``R`` the penalty.
Every estimator's objective can be rescaled to this form without moving its minimiser (e.g.
scikit-learn's ``LogisticRegression`` minimises ``C Σ w_i ℓ_i + ½‖W‖²``, i.e. ``R = ‖W‖²/(2C)``;
a torch net trained on the mean loss with weight decay ``wd`` has ``R = n·wd/2 ‖θ‖²``).
In this form removing row ``i`` subtracts ``w_i ℓ_i`` from ``J``, so one Newton step gives
``θ₋ᵢ − θ ≈ w_i H⁻¹ ∇ℓ_i`` with ``H = ∇²J``, and the first-order change of a test loss is
``w_i ∇ℓ(z_t)ᵀ H⁻¹ ∇ℓ_i`` — leave-one-out units, positive when row ``i`` helps ``z_t``.

Penalty shares
--------------
Some estimators minimise a *mean* loss plus a penalty (scikit-learn's GLMs
``1/(2Σs) Σ s_i dev_i + α/2‖w‖²``, SGD ``1/n Σ w_i L_i + α R``, Lasso, the MLPs): rescaled to a
sum, every row carries a share of the penalty, and removing a row removes its share too::

    J(θ) = Σ_i w_i ℓ_i(θ) + Σ_i c_i q(θ) + R₀(θ)

with ``q`` the penalty per unit of share, ``c_i`` the row's share (``s_i`` for the GLMs, 1 for
SGD) and ``R₀`` a fixed penalty (``R = Σ c_i q + R₀``). Removing row ``i`` subtracts
``w_i ℓ_i + c_i q``, so ``θ₋ᵢ − θ ≈ H⁻¹ (w_i ∇ℓ_i + c_i ∇q)``. An adapter declares its share
with :meth:`ModelAdapter.penalty_share_gradient` (``∇q`` at θ; None, the default, means no
share) and :meth:`ModelAdapter.penalty_shares` (the ``c_i``); its ``hvp``/``hessian`` on rows
(X, y) include ``(Σ_i c_i) ∇²q``. The scorers never add the term themselves: they build the
*training-side* gradients through :func:`training_gradients`, a :class:`GradientMatrix` whose
row i is ``w_i ∇ℓ_i + c_i ∇q`` (the rank-one term is never formed). Test-side gradients are of
the test loss alone (no penalty).

The contract
------------
:class:`ModelAdapter` is what *every* family provides; the scorers and solvers use nothing else
unless they first check for a capability with ``isinstance``:

* **Required** (abstract): ``n_params``, ``params()``, ``with_params(theta)``,
  ``encode_target(y)``, ``loss(X, y)``, ``gradients(X, y)`` (a :class:`GradientMatrix`) and
  ``hvp(X, y, V, sample_weight)``.
* **Optional** (defaults that are correct for any family, overridden where a family can do
  better): ``features(X)`` (identity), ``row_weights(y, sample_weight)`` (the sample weights),
  ``hvp_operator`` (repeated :meth:`~ModelAdapter.hvp`), ``hessian`` (p products),
  ``null_space()`` (none), ``penalty_share_gradient()`` (None: no penalty share) and
  ``penalty_shares(y, sample_weight)`` (the row weights).
* **Capability** :class:`GaussNewton`: products with the generalised Gauss–Newton matrix
  ``G = Σ_i w_i J_iᵀ Λ_i J_i + ∇²R`` (J_i the Jacobian of row i's outputs in θ, Λ_i the loss's
  Hessian in those outputs), positive semi-definite for a convex loss of the outputs even
  where the Hessian is not (a net away from a minimum). ``ggn_vp`` is required, ``ggn``
  (dense) and ``ggn_operator`` optional. ``InfluenceScorer(hessian=...)`` chooses the
  curvature (:func:`~skinfluence.models.with_curvature`).
* **Capability** :class:`GeneralizedLinear`: a family whose loss depends on θ only through the
  outputs ``η = x̃ W`` (K per row) declares it by subclassing; it enables the closed-form
  Newton-step correction (``InfluenceScorer(newton_step=True)``, ``_newton.py``) and the
  Newton leave-one-out refits (``LeaveOneOutScorer``, ``_loo_newton.py``). Since η is linear
  in θ, its Gauss–Newton matrix *is* its Hessian (any link): a GeneralizedLinear is a
  GaussNewton whose ``ggn_vp`` is ``hvp``. Callers test ``isinstance(adapter,
  GeneralizedLinear)``, never ``hasattr``.
* **Capability** :class:`KroneckerFactored`: the layers whose Gauss–Newton block K-FAC can
  factor (``kronecker_layers``) and their per-row inputs and output pseudo-gradients
  (``kronecker_samples``), for the ``kfac``/``ekfac`` solvers (torch nets' ``nn.Linear``,
  ``nn.Conv2d``).

Methods that take ``X`` take raw inputs (what the user's estimator accepts); methods that take
``Xf`` or ``eta`` take features already mapped by :meth:`ModelAdapter.features` or outputs.
A :class:`~skinfluence.models.PipelineAdapter` is a ``GeneralizedLinear`` exactly when its
final step's adapter is one: ``adapter_for`` builds the matching class, which forwards every
capability method explicitly (no attribute forwarding).

Families are registered with :func:`~skinfluence.models.register_adapter` (keyed by class, or by
``"module:qualname"`` for optional libraries), each with small fitted examples that the common
tests (``tests/models/test_adapter_common.py``) check the contract on.
"""

import functools
from abc import ABC, abstractmethod

import numpy as np

from .._utils._batches import gen_batches
from .._utils._docstring import inherit_docstrings, inject_docs


@inject_docs
class GradientMatrix(ABC):
    """Per-sample gradients ``G`` (n × p, row i = ∇θ ℓ(z_i; θ)) without materialising them.

    Subclasses provide the products the solvers need. ``dense_rows`` materialises a block of
    rows only when asked; callers keep blocks small (``iter_dense`` with a ``chunk_size``).
    :meth:`ModelAdapter.gradients` returns one; nobody builds it directly.

    See Also
    --------
    LinearGradientMatrix : the linear models' gradients, kept as (X, residuals).
    ModelAdapter.gradients : where a GradientMatrix comes from.

    Examples
    --------
    Products with the gradients of iris under a three-class logistic regression (p = 5 × 3):

    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skinfluence.models import adapter_for
    >>> X, y = load_iris(return_X_y=True)
    >>> G = adapter_for(LogisticRegression(max_iter=1000).fit(X, y)).gradients(X, y)
    >>> G.shape, G.matmul(np.ones((G.shape[1], 2))).shape, G.row_norms().shape
    ((150, 15), (150, 2), (150,))
    """

    @property
    @abstractmethod
    def shape(self):
        """(n_samples, n_params): rows are samples, columns parameters."""

    @abstractmethod
    def matmul(self, V):
        """Multiply by parameter-space vectors: ``G @ V``.

        Parameters
        ----------
        V : ndarray of shape (p, k)
            Vectors of the parameter space.

        Returns
        -------
        GV : ndarray of shape (n, k)
            ``GV[i] = ∇ℓ_iᵀ V``.
        """

    @abstractmethod
    def rmatmul(self, U):
        """Multiply the transpose by sample-space vectors: ``Gᵀ @ U``.

        Parameters
        ----------
        U : ndarray of shape (n, k)
            One coefficient per row and column.

        Returns
        -------
        GtU : ndarray of shape (p, k)
            ``Σ_i ∇ℓ_i U[i]``.
        """

    @abstractmethod
    def dense_rows(self, rows):
        """Materialise the gradients of some rows.

        %(adapter_params_rows)s

        Returns
        -------
        block : ndarray of shape (len(rows), p)
            Their dense gradients.
        """

    @abstractmethod
    def take(self, rows):
        """Restrict to some rows, without materialising them.

        %(adapter_params_rows)s

        Returns
        -------
        gradients : GradientMatrix
            Of shape (len(rows), p).
        """

    def row_norms(self, chunk_size=1024):
        """Compute the Euclidean norm of every row.

        Parameters
        ----------
        chunk_size : int, default=1024
            Rows materialised at once: memory O(chunk_size · p).

        Returns
        -------
        norms : ndarray of shape (n,)
            ``‖∇ℓ_i‖₂``.
        """
        return np.sqrt(self.row_quadratic_form(None, chunk_size=chunk_size))

    def row_quadratic_form(self, A, chunk_size=1024):
        """Compute the quadratic form ``g_iᵀ A g_i`` of every row i.

        Parameters
        ----------
        A : ndarray of shape (p, p) or None
            The form's matrix (e.g. an inverse Hessian); None means the identity.
        chunk_size : int, default=1024
            Rows materialised at once: memory O(chunk_size · p).

        Returns
        -------
        forms : ndarray of shape (n,)
            ``g_iᵀ A g_i``; O(n p²) time (O(n p) with ``A=None``).
        """
        out = np.empty(self.shape[0])
        for rows, block in self.iter_dense(chunk_size):
            out[rows] = np.einsum("ij,ij->i", block if A is None else block @ A, block)
        return out

    def iter_dense(self, chunk_size):
        """Iterate over dense blocks of rows, ``chunk_size`` at a time.

        Parameters
        ----------
        chunk_size : int
            Rows per block.

        Yields
        ------
        rows : slice
            The block's rows.
        block : ndarray of shape (rows, p)
            Their dense gradients.
        """
        for rows in gen_batches(self.shape[0], chunk_size):
            yield rows, self.dense_rows(rows)

    def __len__(self):
        return self.shape[0]


@inherit_docstrings
@inject_docs
class TrainingGradientMatrix(GradientMatrix):
    """Training-side gradients: row i is ``w_i ∇ℓ_i + c_i ∇q``, the change of ∇J without it.

    See "Penalty shares" in :mod:`skinfluence.models._base`. Wraps the loss gradients ``G``;
    products add the rank-one term ``c ⊗ ∇q`` without forming it: O(n + p) extra per
    product. Build it with :func:`training_gradients`.

    Parameters
    ----------
    gradients : GradientMatrix
        The loss gradients ``∇ℓ_i`` of the rows.
    weights : ndarray of shape (n,)
        ``w_i``.
    shares : ndarray of shape (n,) or None
        ``c_i`` (unused without a share gradient).
    share_gradient : ndarray of shape (p,) or None
        ``∇q``; None: no penalty share (rows ``w_i ∇ℓ_i``).

    Attributes
    ----------
    loss_gradients : GradientMatrix
        ``G`` (the test side of self-influence uses it: a row's own loss, no penalty).

    See Also
    --------
    training_gradients : builds it from an adapter.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence.models import LinearGradientMatrix, TrainingGradientMatrix
    >>> G = LinearGradientMatrix(np.array([[1.0, 2.0]]), np.array([[0.5]]), True)
    >>> T = TrainingGradientMatrix(G, np.array([2.0]), np.array([1.0]), np.array([1.0, 0, 0]))
    >>> T.dense_rows(slice(None))
    array([[2., 2., 1.]])
    """

    def __init__(self, gradients, weights, shares=None, share_gradient=None):
        self.loss_gradients = gradients
        self.weights = np.asarray(weights, dtype=np.float64)
        self.share_gradient = share_gradient
        self.shares = None if share_gradient is None else np.asarray(shares, dtype=np.float64)

    @property
    def shape(self):
        return self.loss_gradients.shape

    def _unit_weights(self):
        """Whether every ``w_i`` is 1 (checked once, O(n))."""
        unit = self.__dict__.get("_unit")
        if unit is None:
            unit = self._unit = bool(np.all(self.weights == 1.0))
        return unit

    @property
    def has_share(self):
        """Whether the rows carry a penalty share (``share_gradient`` is not None)."""
        return self.share_gradient is not None

    def matmul(self, V):
        V = np.asarray(V, dtype=np.float64).reshape(self.shape[1], -1)
        out = self.weights[:, None] * self.loss_gradients.matmul(V)
        if self.has_share:
            out += self.shares[:, None] * (self.share_gradient @ V)[None]
        return out

    def rmatmul(self, U):
        U = np.asarray(U, dtype=np.float64).reshape(self.shape[0], -1)
        out = self.loss_gradients.rmatmul(self.weights[:, None] * U)
        if self.has_share:
            out += self.share_gradient[:, None] * (self.shares @ U)[None]
        return out

    def dense_rows(self, rows):
        block = self.loss_gradients.dense_rows(rows)
        if not self._unit_weights():  # w_i = 1 (no sample or class weights): x · 1 = x
            block *= self.weights[rows, None]
        if self.has_share:
            block += self.shares[rows, None] * self.share_gradient[None]
        return block

    def take(self, rows):
        shares = None if self.shares is None else self.shares[rows]
        return TrainingGradientMatrix(
            self.loss_gradients.take(rows), self.weights[rows], shares, self.share_gradient
        )


def training_gradients(adapter, X, y, weights, shares=None):
    """The training-side gradients of rows (X, y): row i is ``w_i ∇ℓ_i + c_i ∇q``.

    The one place where the scorers build them (see "Penalty shares" in
    :mod:`skinfluence.models._base`): the loss gradients of ``adapter.gradients``, weighted, plus
    the penalty share of adapters that declare one.

    Parameters
    ----------
    adapter : ModelAdapter
        The fitted model's adapter.
    X, y : array-like
        Raw rows and their labels.
    weights : ndarray of shape (n,)
        ``w_i`` (``adapter.row_weights`` of the training rows).
    shares : ndarray of shape (n,) or None
        ``c_i`` (``adapter.penalty_shares``); None computes them from y (no sample weights).

    Returns
    -------
    gradients : TrainingGradientMatrix
        Of shape (n, p).

    See Also
    --------
    TrainingGradientMatrix : what it returns.
    ModelAdapter.penalty_share_gradient : the share an adapter declares.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> from skinfluence.models import adapter_for, training_gradients
    >>> X, y = load_diabetes(return_X_y=True)
    >>> adapter = adapter_for(Ridge().fit(X, y))
    >>> T = training_gradients(adapter, X[:4], y[:4], np.ones(4))
    >>> T.shape, T.has_share
    ((4, 11), False)
    """
    share_gradient = adapter.penalty_share_gradient()
    if share_gradient is not None and shares is None:
        shares = adapter.penalty_shares(y)
    return TrainingGradientMatrix(adapter.gradients(X, y), weights, shares, share_gradient)


@inject_docs
class ModelAdapter(ABC):
    """What every gradient-based scorer needs from a *fitted* model.

    Obtain one with :func:`skinfluence.models.adapter_for`. Methods take raw inputs ``X``
    (what the user's estimator accepts); the adapter applies its own feature map (e.g. the
    earlier steps of a Pipeline) through :meth:`features`. Every quantity refers to the
    training objective in sum form, ``J(θ) = Σ_i w_i ℓ(z_i; θ) + R(θ)``.

    See the module docstring (:mod:`skinfluence.models._base`) for what is required, what is
    optional and the :class:`GeneralizedLinear` capability.

    Parameters
    ----------
    estimator : object
        The fitted estimator.

    Attributes
    ----------
    estimator : object
        The fitted estimator (not copied; adapters never modify it).
    n_params : int
        Length of the flat parameter vector θ.

    See Also
    --------
    adapter_for : the adapter of a fitted estimator.
    register_adapter : add a model family.
    GeneralizedLinear : the capability of models whose loss depends on θ through η = x̃ W.

    Examples
    --------
    Every adapter is a ModelAdapter; Ridge on diabetes has 10 coefficients and an intercept:

    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import Ridge
    >>> from skinfluence.models import ModelAdapter, adapter_for
    >>> X, y = load_diabetes(return_X_y=True)
    >>> adapter = adapter_for(Ridge().fit(X, y))
    >>> isinstance(adapter, ModelAdapter), adapter.n_params, adapter.loss(X[:3], y[:3]).shape
    (True, 11, (3,))
    """

    #: Whether fitting the estimator again selects its hyper-parameters (cross-validated
    #: models): the adapter describes the objective at the selected value, which a refit on
    #: other rows may not keep, so leave-one-out ground truth must use the model's own fit.
    fit_selects_hyperparameters = False

    #: Whether the training objective is convex in θ (a ``GeneralizedLinear`` family is, by
    #: its penalised convex loss): ``InfluenceScorer(damping="auto")`` then adds no damping.
    convex_objective = False

    #: Whether θ's layout is built from the training rows (``KernelRidge``: coordinates in a
    #: basis of their kernel functions), so that the parameters of a model refitted on other
    #: rows are not comparable entry by entry (the common tests skip that comparison).
    layout_depends_on_rows = False

    def __init__(self, estimator):
        self.estimator = estimator

    # -- parameters and data -------------------------------------------------------------
    @property
    @abstractmethod
    def n_params(self):
        """Length of θ, p."""

    @abstractmethod
    def params(self):
        """Return θ, the model's parameters, as a flat vector.

        Returns
        -------
        theta : ndarray of shape (n_params,)
            A float64 copy, in the layout every other method uses.
        """

    @abstractmethod
    def with_params(self, theta):
        """Return an adapter of the same model at other parameters.

        The original estimator is not modified; the new adapter's ``estimator`` is a fitted
        model at ``theta`` where the family can build one (the Newton leave-one-out refits
        return it). Used by line searches, Newton refits and the finite-difference checks of
        the tests.

        %(adapter_params_theta)s

        Returns
        -------
        adapter : ModelAdapter
            Of the same class.
        """

    def features(self, X):
        """Map raw rows to what the adapted model consumes (identity by default).

        %(adapter_params_X)s

        Returns
        -------
        Xf : array-like
            The mapped rows (e.g. after a Pipeline's transformers, or a torch tensor).
        """
        return X

    @abstractmethod
    def encode_target(self, y):
        """Map user labels to the adapter's internal target representation.

        Parameters
        ----------
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Labels (classifiers) or targets (regressors).

        Returns
        -------
        t : ndarray
            Class indices, or float targets of shape (n_samples, K).

        Raises
        ------
        ValueError
            A label the model does not know, or the wrong number of targets.
        """

    def row_weights(self, y, sample_weight=None):
        """Return the weights ``w_i`` of the rows in the training objective.

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Their labels (class weights depend on them).
        sample_weight : array-like of shape (n_samples,), default=None
            The weights passed to ``fit``; None means 1.

        Returns
        -------
        w : ndarray of shape (n_samples,)
            Sample weight × class weight (the sample weights by default).
        """
        n = len(y)
        return np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)

    # -- loss, gradients, curvature --------------------------------------------------------
    @abstractmethod
    def loss(self, X, y):
        """Compute the per-sample loss ℓ(z_i; θ) (unweighted).

        %(adapter_params_X_y)s

        Returns
        -------
        loss : ndarray of shape (n_samples,)
            The loss the model minimises, one value per row.
        """

    @abstractmethod
    def gradients(self, X, y):
        """Return the per-sample loss gradients ∇θ ℓ(z_i; θ), never all formed at once.

        %(adapter_params_X_y)s

        Returns
        -------
        gradients : GradientMatrix
            Of shape (n_samples, n_params).
        """

    @abstractmethod
    def hvp(self, X, y, V, sample_weight=None):
        """Multiply by the Hessian H of the training objective J on (X, y): ``H @ V``.

        %(adapter_params_X_y_V_sample_weight)s

        Returns
        -------
        HV : ndarray of the shape of V
            ``(Σ_i w_i ∇²ℓ_i + ∇²R) V``, with ``∇²R = (Σ_i c_i) ∇²q + ∇²R₀`` over these rows
            for a family with a penalty share.
        """

    def hvp_operator(self, X, y, sample_weight=None):
        """Return ``V ↦ H @ V`` on fixed rows, for solvers that multiply many times.

        CG, Lanczos and full-batch LiSSA use it. Default: :meth:`hvp` per call; adapters
        that can reuse work across products on the same rows override it (the torch adapter
        caches the primal pass).

        %(adapter_params_X_y_sample_weight)s

        Returns
        -------
        operator : callable
            ``operator(V)`` equals ``hvp(X, y, V, sample_weight)``.
        """
        return functools.partial(self.hvp, X, y, sample_weight=sample_weight)

    def hessian(self, X, y, sample_weight=None):
        """Compute the dense Hessian of J on (X, y) (default: p Hessian-vector products).

        %(adapter_params_X_y_sample_weight)s

        Returns
        -------
        %(adapter_hessian_returns)s
        """
        return self.hvp(X, y, np.eye(self.n_params), sample_weight=sample_weight)

    def penalty_share_gradient(self):
        """Return ``∇q(θ)``, the gradient of the penalty share one unit of row share carries.

        Families whose estimator minimises a mean loss plus a penalty (see "Penalty shares"
        in :mod:`skinfluence.models._base`) return it; removing row i then removes
        ``c_i q`` from J as well as ``w_i ℓ_i``. The scorers add it through
        :func:`training_gradients`, never by hand.

        Returns
        -------
        gradient : ndarray of shape (n_params,) or None
            None (the default) when the penalty is fixed (no share).
        """
        return None

    def penalty_shares(self, y, sample_weight=None):
        """Return the penalty shares ``c_i`` of the rows (meaningful with a penalty share).

        Parameters
        ----------
        y : array-like of shape (n_samples,)
            Their labels or targets.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights passed to ``fit``; None means 1.

        Returns
        -------
        c : ndarray of shape (n_samples,)
            The share of ``q`` each row carries: by default its weight in the objective
            (:meth:`row_weights`); SGD, which decays the weights once per visited row whatever
            its weight, returns ones.
        """
        return self.row_weights(y, sample_weight)

    def check_optimum(self, X, y, sample_weight=None, solve=None):
        """Warn when θ is far from a stationary point of J on the training rows.

        Called by the scorers that linearise around the optimum (``InfluenceScorer``) once
        per fit. The default does nothing (families fitted by exact solvers); families whose
        estimator rarely reaches its optimum (SGD) measure ``∇J`` and warn with
        :class:`~skinfluence.exceptions.NotAtOptimumWarning`.

        %(adapter_params_X_y_sample_weight)s
        solve : callable, default=None
            ``B ↦ H⁻¹B`` (the scorer's fitted solver), to measure the distance in
            leave-one-out steps.

        Returns
        -------
        ratio : float or None
            The family's stationarity measure (None where it does not measure one).
        """
        return None

    #: How the family's outputs map to what the estimator returns, which decides the
    #: ``target=`` kinds of ``InfluenceScorer.influence`` it supports (see
    #: :mod:`skinfluence.models._targets`): "logistic" (one logit, binary probabilities),
    #: "softmax" (K logits), "identity" / "log" (regression, prediction η / exp(η)),
    #: "scores" (a classifier's decision scores, no probabilities) or None (the loss only).
    output_link = None

    def supported_targets(self):
        """Return the ``target=`` kinds this family differentiates.

        Every family supports "loss" and the group targets of the test losses
        (:class:`~skinfluence.models.WorstGroupLoss`, :class:`~skinfluence.models.GroupLossGap`);
        the others follow from :attr:`output_link` (:func:`~skinfluence.models.link_targets`).
        ``InfluenceScorer.influence`` refuses any other kind with an error naming these.

        Returns
        -------
        kinds : frozenset of str
            Among "loss", "prediction", "margin", "logit" and "metric" (a metric of the
            model's outputs on a set of rows).
        """
        from ._targets import link_targets

        return link_targets(self.output_link)

    def null_space(self):
        """Return an orthonormal basis of the exact flat directions of J, if any.

        Per-sample gradients are orthogonal to these directions; solvers add ``B Bᵀ`` to H
        so that the solve is exact on the complement instead of hiding the flat direction
        behind damping (e.g. multinomial logistic regression with an intercept).

        Returns
        -------
        B : ndarray of shape (p, r) or None
            None (the default) when J has no flat direction.
        """
        return None

    def astype(self, dtype):
        """A copy of the adapter whose products are computed in ``dtype``.

        Optional: families that can compute in float32 (torch nets) override it; the default
        computes in float64 only.

        Parameters
        ----------
        dtype : numpy dtype or str
            ``float64``, or ``float32`` where the family supports it.

        Returns
        -------
        adapter : ModelAdapter
            ``self`` for float64.

        Raises
        ------
        NotImplementedError
            The family computes in float64 only.
        """
        if np.dtype(dtype) == np.float64:
            return self
        raise NotImplementedError(f"{type(self).__name__} computes in float64 only.")


@inject_docs
class GaussNewton(ABC):
    """Capability: products with the generalised Gauss–Newton matrix of the objective.

    ``G = Σ_i w_i J_iᵀ Λ_i J_i + ∇²R``, with ``J_i = ∂o_i/∂θ`` the Jacobian of row i's
    outputs (the values the loss consumes: logits, predictions) and ``Λ_i = ∂²ℓ_i/∂o_i²``
    (Martens 2020; Schraudolph 2002). It drops from the Hessian the term ``Σ_k ∂ℓ/∂o_k
    ∇²o_k``, which vanishes at an interpolating fit and makes the Hessian of a net away from
    a minimum indefinite; G is positive semi-definite whenever ℓ is convex in the outputs
    (cross-entropy on logits, squared error). A :class:`ModelAdapter` declares it by also
    subclassing this class; :func:`~skinfluence.models.with_curvature` turns an adapter into
    one whose ``hvp`` / ``hessian`` are G's, so that every solver works on it unchanged.

    See Also
    --------
    GeneralizedLinear : linear in θ through its outputs, so G equals the Hessian.
    with_curvature : the adapter of a chosen curvature.

    References
    ----------
    Martens, J. (2020). New insights and perspectives on the natural gradient method. JMLR 21.

    Examples
    --------
    Logistic regression's Gauss–Newton matrix is its Hessian:

    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skinfluence.models import GaussNewton, adapter_for
    >>> X, y = load_iris(return_X_y=True)
    >>> adapter = adapter_for(LogisticRegression(max_iter=1000).fit(X, y))
    >>> isinstance(adapter, GaussNewton)
    True
    >>> bool(np.allclose(adapter.ggn(X, y), adapter.hessian(X, y)))
    True
    """

    @abstractmethod
    def ggn_vp(self, X, y, V, sample_weight=None):
        """Multiply by the Gauss–Newton matrix G of J on (X, y): ``G @ V``.

        %(adapter_params_X_y_V_sample_weight)s

        Returns
        -------
        GV : ndarray of the shape of V
            ``(Σ_i w_i J_iᵀ Λ_i J_i + ∇²R) V``.
        """

    def ggn_operator(self, X, y, sample_weight=None):
        """Return ``V ↦ G @ V`` on fixed rows (default: :meth:`ggn_vp` per call).

        %(adapter_params_X_y_sample_weight)s

        Returns
        -------
        operator : callable
            ``operator(V)`` equals ``ggn_vp(X, y, V, sample_weight)``.
        """
        return functools.partial(self.ggn_vp, X, y, sample_weight=sample_weight)

    def ggn(self, X, y, sample_weight=None):
        """Compute the dense Gauss–Newton matrix G on (X, y) (default: p products).

        %(adapter_params_X_y_sample_weight)s

        Returns
        -------
        G : ndarray of shape (p, p)
            ``Σ_i w_i J_iᵀ Λ_i J_i + ∇²R``.
        """
        return self.ggn_vp(X, y, np.eye(self.n_params), sample_weight=sample_weight)


@inject_docs
class KroneckerFactored(ABC):
    """Capability: layers whose Gauss–Newton block K-FAC can factor, and their statistics.

    A layer ``s = W̃ ã`` (``W̃ = [W, b]``, ``ã = [a, 1]``, d_out × d_in') has per-row
    Gauss–Newton pseudo-gradients ``g_ik ⊗ ã_i`` (``g_ik = ∂s/∂o_iᵀ l_ik``, ``Λ_i = Σ_k
    l_ik l_ikᵀ``), so its block of G is ``Σ_i w_i Σ_k (g_ik g_ikᵀ) ⊗ (ã_i ã_iᵀ)``, which
    K-FAC approximates by a Kronecker product (the ``kfac``/``ekfac`` solvers).

    See Also
    --------
    GaussNewton : the curvature it factors.
    skinfluence.inverse.KFACSolver : the solver that reads it.

    Examples
    --------
    A torch net's ``nn.Linear`` layers are factorable:

    >>> import torch
    >>> from skinfluence.models import KroneckerFactored, TorchModule, adapter_for
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    >>> adapter = adapter_for(TorchModule(net, torch.nn.CrossEntropyLoss(), classes=[0, 1]))
    >>> layers, others = adapter.kronecker_layers()
    >>> isinstance(adapter, KroneckerFactored), [layer["name"] for layer in layers], len(others)
    (True, ['0', '2'], 0)
    """

    @abstractmethod
    def kronecker_layers(self):
        """Describe the factorable layers and the parameters left over.

        Returns
        -------
        layers : list of dict
            One per layer: ``name``, ``kind`` (optional: "linear", "conv2d"), ``d_in``
            (C_in·kh·kw for a convolution), ``d_out``, ``weight`` and ``bias`` (index
            arrays into θ of the (d_out, d_in) weight, row-major, and of the d_out biases,
            or None where that parameter is not in θ).
        others : ndarray of int
            Indices of θ that belong to no factorable layer.
        """

    @abstractmethod
    def kronecker_samples(self, X, y, sample_weight=None):
        """Per-row inputs and output pseudo-gradients of every factorable layer, by chunks.

        %(adapter_params_X_y_sample_weight)s

        Yields
        ------
        w : ndarray of shape (b,)
            The chunk's row weights.
        samples : list of (array of shape (b, d_in), array of shape (b, K, d_out))
            Per layer of :meth:`kronecker_layers`, the inputs a_i (without the 1) and the K
            pseudo-gradients ``g_ik`` of its outputs; for a layer applied at T locations
            per row (a Conv2d's unfolded patches), shapes (b, T, d_in) and (b, K, T, d_out).
            numpy arrays, or torch tensors (the solver then works on their device).
        """

    @abstractmethod
    def penalty_hessian_diagonal(self, n_samples, sample_weight=None):
        """Return the diagonal of ∇²R, the penalty's Hessian, on a training set.

        Parameters
        ----------
        n_samples : int
            Number of training rows.
        sample_weight : array-like of shape (n_samples,), default=None
            Their weights (the penalty may scale with their sum).

        Returns
        -------
        diagonal : ndarray of shape (n_params,)
            In θ's layout.
        """


@inject_docs
class GeneralizedLinear(GaussNewton):
    """Capability: the loss depends on θ only through K outputs per row, ``η_i = x̃_iᵀ W``.

    θ is the (d, K) matrix ``W`` flattened row-major, ``d = n_features (+1 with an
    intercept)``, ``x̃_i = [Xf_i, 1]``. Then ``∇ℓ_i = x̃_i ⊗ r_i`` and ``∇²ℓ_i = x̃_i x̃_iᵀ ⊗ S_i``
    with ``r_i = ∂ℓ/∂η_i`` (K) and ``S_i = ∂²ℓ/∂η_i²`` (K × K); the penalty R is quadratic and
    diagonal. A :class:`ModelAdapter` declares the capability by also subclassing this class
    (``class MyGLMAdapter(ModelAdapter, GeneralizedLinear)``); the Newton-step influence and the
    Newton leave-one-out refits accept exactly the adapters for which
    ``isinstance(adapter, GeneralizedLinear)`` holds.

    See Also
    --------
    ModelAdapter : the contract every adapter follows.
    LogisticRegressionAdapter : a generalised linear adapter (softmax or sigmoid outputs).
    GeneralizedLinearPipelineAdapter : a Pipeline whose final step has the capability.

    Examples
    --------
    Logistic regression has the capability; its factors at three outputs per row:

    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skinfluence.models import GeneralizedLinear, adapter_for
    >>> X, y = load_iris(return_X_y=True)
    >>> adapter = adapter_for(LogisticRegression(max_iter=1000).fit(X, y))
    >>> isinstance(adapter, GeneralizedLinear), adapter.n_outputs, adapter.n_features
    (True, 3, 4)
    >>> R, S = adapter.newton_factors(X[:5], y[:5])
    >>> R.shape, S.shape
    ((5, 3), (5, 3, 3))
    """

    @property
    @abstractmethod
    def n_outputs(self):
        """K, the number of outputs η per row."""

    @property
    @abstractmethod
    def n_features(self):
        """Number of mapped features (columns of ``features(X)``), intercept excluded."""

    @property
    @abstractmethod
    def fit_intercept(self):
        """Whether θ ends with a row of K intercepts."""

    @abstractmethod
    def outputs(self, Xf):
        """Compute the outputs η = x̃ W of mapped rows.

        %(adapter_params_Xf)s

        Returns
        -------
        eta : ndarray of shape (n, K)
            The K outputs of each row.
        """

    @abstractmethod
    def output_derivatives(self, eta, t):
        """Compute the loss's first and second derivatives in the outputs.

        %(adapter_params_eta_t)s

        Returns
        -------
        R : ndarray of shape (n, K)
            ∂ℓ/∂η.
        S : ndarray of shape (n, K, K)
            ∂²ℓ/∂η².
        """

    def output_gradients(self, eta, t):
        """Compute ∂ℓ/∂η only (default: from :meth:`output_derivatives`).

        %(adapter_params_eta_t)s

        Returns
        -------
        R : ndarray of shape (n, K)
            ∂ℓ/∂η.
        """
        return self.output_derivatives(eta, t)[0]

    def stacked_output_gradients(self, eta, t):
        """Compute ∂ℓ/∂η of b parameter vectors on the same rows.

        Parameters
        ----------
        eta : ndarray of shape (n, b, K)
            The outputs of each of the n rows under each of b parameter vectors.
        t : ndarray of shape (n,) or (n, K)
            The rows' encoded targets (:meth:`encode_target`).

        Returns
        -------
        R : ndarray of shape (n, b, K)
            ∂ℓ/∂η (default: :meth:`output_gradients` on the targets repeated b times; a family
            overrides it to broadcast the targets instead).
        """
        n, b, K = eta.shape
        R = self.output_gradients(eta.reshape(n * b, K), np.repeat(t, b, axis=0))
        return R.reshape(n, b, K)

    @abstractmethod
    def loss_from_outputs(self, eta, y):
        """Compute the per-sample loss at given outputs (to evaluate stepped parameters).

        Parameters
        ----------
        eta : ndarray of shape (n, K)
            Outputs.
        y : array-like of shape (n,) or (n, K)
            User labels or targets (encoded here).

        Returns
        -------
        loss : ndarray of shape (n,)
            ℓ at η.
        """

    @abstractmethod
    def penalty_diagonal(self):
        """Return the diagonal of ∇²R, the penalty's Hessian.

        Returns
        -------
        diagonal : ndarray of shape (p,)
            In θ's layout (0 where a parameter is not penalised).
        """

    def penalty_share_diagonal(self):
        """Return the diagonal of ∇²q, the Hessian of the penalty share (see the module).

        Returns
        -------
        diagonal : ndarray of shape (p,) or None
            In θ's layout; None (the default) when the family has no penalty share. Then
            ``penalty_share_gradient() = penalty_share_diagonal() * θ``.
        """
        return None

    @abstractmethod
    def hessian_from_curvature(self, Xf, WS, share_weight=0.0):
        """Assemble ``Σ_i (x̃_i x̃_iᵀ ⊗ WS_i) + ∇²R`` from mapped rows and their curvature.

        %(adapter_params_Xf_WS)s
        share_weight : float, default=0.0
            ``Σ c_i`` of the rows whose penalty shares J holds (``∇²R = share_weight · ∇²q
            + ∇²R₀``); ignored by families without a penalty share.

        Returns
        -------
        H : ndarray of shape (p, p)
            The dense Hessian: O(n d² K²) time, O(p²) memory.
        """

    def newton_factors(self, X, y):
        """Compute the output derivatives at the fitted outputs of raw rows (X, y).

        %(adapter_params_X_y)s

        Returns
        -------
        R : ndarray of shape (n, K)
            ∂ℓ/∂η, as :meth:`output_derivatives`.
        S : ndarray of shape (n, K, K)
            ∂²ℓ/∂η².
        """
        return self.output_derivatives(self.outputs(self.features(X)), self.encode_target(y))

    def ggn_vp(self, X, y, V, sample_weight=None):
        """Multiply by the Gauss–Newton matrix, which for η linear in θ is the Hessian.

        %(adapter_params_X_y_V_sample_weight)s

        Returns
        -------
        GV : ndarray of the shape of V
            ``hvp(X, y, V, sample_weight)``.
        """
        return self.hvp(X, y, V, sample_weight=sample_weight)

    def ggn_operator(self, X, y, sample_weight=None):
        """Return ``V ↦ G @ V`` on fixed rows: the Hessian's operator (G = H here).

        %(adapter_params_X_y_sample_weight)s

        Returns
        -------
        operator : callable
            ``hvp_operator(X, y, sample_weight)``.
        """
        return self.hvp_operator(X, y, sample_weight=sample_weight)

    def ggn(self, X, y, sample_weight=None):
        """Compute the dense Gauss–Newton matrix: the Hessian (G = H here).

        %(adapter_params_X_y_sample_weight)s

        Returns
        -------
        G : ndarray of shape (p, p)
            ``hessian(X, y, sample_weight)``.
        """
        return self.hessian(X, y, sample_weight=sample_weight)
