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
  ``null_space()`` (none).
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
  (``kronecker_samples``), for the ``kfac``/``ekfac`` solvers (torch nets' ``nn.Linear``).

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
from sklearn.utils import gen_batches

from .._utils._docstring import inject_docs


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
            ``(Σ_i w_i ∇²ℓ_i + ∇²R) V``.
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
            One per layer: ``name``, ``d_in``, ``d_out``, ``weight`` and ``bias`` (index
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
        samples : list of (ndarray of shape (b, d_in), ndarray of shape (b, K, d_out))
            Per layer of :meth:`kronecker_layers`, the inputs a_i (without the 1) and the K
            pseudo-gradients ``g_ik`` of its outputs.
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

    @abstractmethod
    def hessian_from_curvature(self, Xf, WS):
        """Assemble ``Σ_i (x̃_i x̃_iᵀ ⊗ WS_i) + ∇²R`` from mapped rows and their curvature.

        %(adapter_params_Xf_WS)s

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
