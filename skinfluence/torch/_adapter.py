"""Adapter for torch models: fitted skorch nets and bare ``torch.nn.Module`` + loss.

Nothing here imports torch at module level: ``import skinfluence`` stays torch-free; the
adapter is registered by class path in :mod:`skinfluence.models`.

Objective (sum form of :mod:`skinfluence.models._base`): a net trained on the mean loss with
weight decay ``wd_j`` on parameter j minimises ``mean_i ℓ_i + Σ_j wd_j/2 θ_j²``; times the number
of training rows n (or the sum of ``sample_weight``) this is ``J(θ) = Σ_i w_i ℓ_i + n Σ_j wd_j/2
θ_j²``, whose Hessian is ``Σ_i w_i ∇²ℓ_i + n diag(wd)``. The per-sample loss ``ℓ_i`` is the
net's criterion applied to row i alone (for ``NeuralNetClassifier`` with ``NLLLoss``, on the
log of the module's probabilities, as skorch does).

Retraining a net without row i with the same weight decay minimises ``(n−1)·(mean loss +
wd/2 ‖θ‖²)``: the penalty loses one row's share too, whereas this objective (the contract of
:mod:`skinfluence.models._base`, which keeps R fixed, as scikit-learn's estimators do) removes
``ℓ_i`` only. The difference moves ``influence[t, :]`` by the same amount for every training
row (``−∇ℓ_tᵀ H⁻¹ (wd ⊙ θ)``, at the optimum minus the mean of ``influence[t, :]``), so the
ranking of training rows for each test row is unchanged.

Per-sample gradients use ``torch.func.vmap(grad(ℓ))`` over chunks of rows; Hessian-vector
products differentiate the gradient once more (reverse over reverse, batched over the columns
of V); solvers that multiply many times on the same rows use :meth:`TorchAdapter.hvp_operator`,
which traces the primal pass once (``torch.func.linearize`` of ``grad``; :mod:`._hvp`).
Computation is in float64 (:meth:`TorchAdapter.astype` gives a float32 copy) on the net's device
(a GPU when the net lives on one), on a copy of the module in ``eval`` mode (dropout off,
batch-norm running statistics).
"""

import copy
import warnings

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.utils import gen_batches

from .._utils._docstring import inherit_docstrings, inject_docs
from .._utils._labels import encode_labels
from ..exceptions import ApproximationWarning
from ..models._base import GaussNewton, GradientMatrix, KroneckerFactored, ModelAdapter
from ._imports import import_torch
from ._wrappers import ParameterSubset, TorchModule

__all__ = ["TorchAdapter", "TorchGradientMatrix", "torch_adapter"]


def _unwrap(estimator):
    while isinstance(estimator, FrozenEstimator):
        estimator = estimator.estimator
    return estimator


def torch_float_dtype(dtype):
    """torch.float32 or torch.float64 for a numpy, torch or string spelling of either."""
    torch = import_torch()
    if isinstance(dtype, torch.dtype):
        name = str(dtype).removeprefix("torch.")
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = None
    if name not in ("float32", "float64"):
        raise ValueError(f"dtype must be float32 or float64; got {dtype!r}.")
    return getattr(torch, name)


def _skorch_spec(net):
    """(module, per-batch loss, output transform, target kind, classes, wd by param id)."""
    torch = import_torch()
    import skorch

    net.check_is_fitted()  # skorch's NotInitializedError is a NotFittedError
    criterion = net.criterion_
    transform = None
    if isinstance(net, skorch.NeuralNetBinaryClassifier):
        kind, classes = "binary", np.array([0, 1])
        transform = "flatten"
    elif isinstance(net, skorch.NeuralNetClassifier):
        kind, classes = "multiclass", np.asarray(net.classes_)
        if isinstance(criterion, torch.nn.NLLLoss):
            transform = "log"
    else:
        kind, classes = "regression", None
    decay = {}
    decoupled = False
    for group in net.optimizer_.param_groups:
        wd = float(group.get("weight_decay", 0.0) or 0.0)
        decoupled |= wd > 0 and (
            bool(group.get("decoupled_weight_decay", False))
            or isinstance(net.optimizer_, torch.optim.AdamW)
        )
        for p in group["params"]:
            decay[id(p)] = wd
    if decoupled:
        warnings.warn(
            f"{type(net.optimizer_).__name__} decays weights outside the gradient, which is not "
            "an L2 penalty in the objective; influence treats it as one with the same "
            "coefficient (approximate).",
            ApproximationWarning,
            stacklevel=4,
        )
    device = torch.device(net.device) if isinstance(net.device, str) else net.device
    return net.module_, criterion, transform, kind, classes, decay, device


def _module_spec(model):
    torch = import_torch()
    module = model.module
    classes = None if model.classes is None else np.asarray(model.classes)
    out_dim = [m for m in module.modules() if hasattr(m, "out_features")]
    single = bool(out_dim) and out_dim[-1].out_features == 1
    kind = "regression" if classes is None else ("binary" if single else "multiclass")
    wd = model.weight_decay
    decay = {}
    for name, p in module.named_parameters():
        if isinstance(wd, dict):
            decay[id(p)] = float(
                next((v for k, v in wd.items() if name == k or name.startswith(k + ".")), 0.0)
            )
        else:
            decay[id(p)] = float(wd)
    device = next(module.parameters()).device
    transform = "flatten" if kind == "binary" else None
    del torch
    return module, model.loss, transform, kind, classes, decay, device


@inherit_docstrings
@inject_docs
class TorchAdapter(ModelAdapter, GaussNewton, KroneckerFactored):
    """Adapter of a fitted skorch net or :class:`TorchModule`, through ``torch.func``.

    skorch's ``NeuralNetClassifier``, ``NeuralNetBinaryClassifier`` and
    ``NeuralNetRegressor`` (and users' subclasses) are supported. The objective is the net's
    mean training loss times n plus its weight decay, in the sum form of
    :class:`ModelAdapter` (see :mod:`skinfluence.torch._adapter` for the details and for
    what differs from retraining without a row). Computation is in float64 on the net's
    device, on a copy of the module in ``eval`` mode.

    Parameters
    ----------
    estimator : fitted skorch net or TorchModule
        The net (possibly in a ``FrozenEstimator``); never modified.
    params : list of str, default=None
        Restrict θ to these parameters (names or module prefixes); None: all trainable ones.
    chunk_size : int, default=256
        Rows per vectorised call (per-sample gradients and HVPs): memory O(chunk · p).

    Attributes
    ----------
    param_names : list of str
        The parameters that make up θ, in its order.
    device : torch.device
        Where the products are computed.
    dtype : torch.dtype
        The precision of the products (float64; see :meth:`astype`).

    See Also
    --------
    TorchModule : wraps a bare trained ``torch.nn.Module`` for this adapter.
    ParameterSubset : restricts θ to some of the module's parameters.
    adapter_for : builds this adapter for a registered torch estimator.

    Notes
    -----
    Cost with p parameters and n rows: per-sample gradients O(n p) time (about three forward
    passes per row), O(chunk p) memory; one HVP O(n p); the dense Hessian p HVPs, O(n p²).

    Examples
    --------
    >>> import torch
    >>> from skinfluence.models import TorchAdapter, TorchModule
    >>> model = TorchModule(torch.nn.Linear(3, 2), torch.nn.CrossEntropyLoss(), classes=[0, 1])
    >>> adapter = TorchAdapter(model, params=["bias"])
    >>> adapter.param_names, adapter.gradients(torch.ones(4, 3), [0, 1, 1, 0]).shape
    (['bias'], (4, 2))
    """

    def __init__(self, estimator, *, params=None, chunk_size=256):
        torch = import_torch()
        super().__init__(estimator)
        est = _unwrap(estimator)
        spec = _module_spec(est) if isinstance(est, TorchModule) else _skorch_spec(est)
        module, self.criterion, self.transform, self.kind, self.classes_, decay, device = spec
        if device.type == "cuda" and not torch.cuda.is_available():
            device = torch.device("cpu")
        self.device = device
        self.dtype = torch.float64
        self.chunk_size = int(chunk_size)
        self.is_classifier = self.kind != "regression"
        self.module = copy.deepcopy(module).to(device=device, dtype=self.dtype).eval()
        if isinstance(self.criterion, torch.nn.Module):
            self.criterion = copy.deepcopy(self.criterion).to(device=device, dtype=self.dtype)
        self._unreduced = None
        if (
            isinstance(self.criterion, torch.nn.modules.loss._Loss)
            and getattr(self.criterion, "weight", None) is None
        ):
            self._unreduced = copy.copy(self.criterion)
            self._unreduced.reduction = "none"
        named = dict(module.named_parameters())
        selected = [n for n, p in named.items() if p.requires_grad]
        if params is not None:
            params = [params] if isinstance(params, str) else list(params)
            unknown = [q for q in params if not any(n == q or n.startswith(q + ".") for n in named)]
            if unknown:
                raise ValueError(
                    f"params={unknown} match no parameter of the module; its parameters are "
                    f"{list(named)}."
                )
            selected = [n for n in selected if any(n == q or n.startswith(q + ".") for q in params)]
        self.param_names = selected
        own = dict(self.module.named_parameters())
        self._shapes = [own[n].shape for n in selected]
        self._sizes = [own[n].numel() for n in selected]
        self._theta = torch.cat([own[n].detach().reshape(-1) for n in selected])
        self._fixed = _fixed_tensors(self.module, selected)
        self._decay = torch.cat(
            [
                torch.full((s,), decay.get(id(named[n]), 0.0), dtype=self.dtype, device=device)
                for n, s in zip(selected, self._sizes, strict=True)
            ]
        )

    @property
    def array_backend(self):
        """Where the solvers iterate for this net: torch on its device (``inverse._backend``).

        Hessian and Gauss–Newton products, and the solvers' recursions, take and return
        tensors there: nothing p-sized goes to the host inside an iteration.
        """
        from ..inverse._backend import TorchBackend

        return TorchBackend(self.device)

    @property
    def output_link(self):
        """The output link, from the criterion: see ``ModelAdapter.output_link``.

        "logistic" (BCEWithLogitsLoss), "softmax" (CrossEntropyLoss, or NLLLoss on
        log-probabilities), "identity" (MSELoss regression), else None (the loss only); the
        targets it supports are differentiated by autograd (``skinfluence.torch._targets``).
        """
        from ._targets import torch_output_link

        return torch_output_link(self)

    # -- parameters ----------------------------------------------------------------------
    @property
    def n_params(self):
        return int(self._theta.numel())

    def params(self):
        return self._theta.detach().cpu().numpy().astype(np.float64)

    def penalty_diagonal(self):
        """Return the weight decay of each element of θ.

        Returns
        -------
        decay : ndarray of shape (n_params,)
            ``wd_j``; the penalty of the sum-form objective is ``n Σ_j wd_j/2 θ_j²``.
        """
        return self._decay.cpu().numpy()

    def with_params(self, theta):
        """Return a copy of the adapter at other flat parameters (the module is shared).

        %(adapter_params_theta)s

        Returns
        -------
        adapter : TorchAdapter
            Its ``estimator`` is the original net (no fitted net at ``theta`` is built).
        """
        torch = import_torch()
        new = copy.copy(self)
        new._theta = torch.as_tensor(np.asarray(theta), dtype=self.dtype, device=self.device)
        return new

    def astype(self, dtype):
        """A copy of the adapter that computes in ``dtype`` (float32 or float64).

        float64 (the default) keeps products exact to rounding, as the comparisons with
        leave-one-out need; float32 is the precision nets are trained in and peer libraries
        compute in, and multiplies faster (the timings are in benchmarks/README.md). Results
        are returned as float64 arrays either way.

        Parameters
        ----------
        dtype : {numpy.float32, numpy.float64, torch.float32, torch.float64, "float32", "float64"}

        Returns
        -------
        adapter : TorchAdapter
            ``self`` when it already computes in ``dtype``.
        """
        torch = import_torch()
        dtype = torch_float_dtype(dtype)
        if dtype == self.dtype:
            return self
        new = copy.copy(self)
        new.dtype = dtype
        new.module = copy.deepcopy(self.module).to(dtype=dtype)
        if isinstance(self.criterion, torch.nn.Module):
            new.criterion = copy.deepcopy(self.criterion).to(dtype=dtype)
            if self._unreduced is not None:
                new._unreduced = copy.copy(new.criterion)
                new._unreduced.reduction = "none"
        new._theta = self._theta.to(dtype)
        new._decay = self._decay.to(dtype)
        new._fixed = _fixed_tensors(new.module, self.param_names)
        return new

    def at_state_dict(self, state_dict):
        """Return a copy of the adapter whose module has the given state (a checkpoint).

        TracIn reads its checkpoints through it.

        Parameters
        ----------
        state_dict : dict
            A ``module.state_dict()`` (tensors or arrays) of the adapted module.

        Returns
        -------
        adapter : TorchAdapter
            On a copy of the module; this adapter is unchanged.
        """
        torch = import_torch()
        new = copy.copy(self)
        new.module = copy.deepcopy(self.module)
        state = {k: torch.as_tensor(v) for k, v in state_dict.items()}
        new.module.load_state_dict(state)
        new.module.to(device=self.device, dtype=self.dtype).eval()
        own = dict(new.module.named_parameters())
        new._theta = torch.cat([own[n].detach().reshape(-1) for n in self.param_names])
        new._fixed = _fixed_tensors(new.module, self.param_names)
        return new

    # -- data ----------------------------------------------------------------------------
    def features(self, X):
        torch = import_torch()
        if isinstance(X, torch.Tensor):
            return X.to(device=self.device, dtype=self.dtype)
        X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
        return torch.as_tensor(
            np.asarray(X, dtype=np.float64), dtype=self.dtype, device=self.device
        )

    def encode_target(self, y):
        torch = import_torch()
        y = np.asarray(y)
        if self.kind == "regression":
            return torch.as_tensor(y.astype(np.float64), dtype=self.dtype, device=self.device)
        idx = encode_labels(self.classes_, y)
        if self.kind == "binary":
            return torch.as_tensor(idx, dtype=self.dtype, device=self.device)
        return torch.as_tensor(idx, dtype=torch.long, device=self.device)

    def _penalty_count(self, n, sample_weight):
        return float(n if sample_weight is None else np.sum(sample_weight))

    # -- functional pieces ---------------------------------------------------------------
    def _outputs(self, theta, X):
        """Module outputs on a batch X at the flat parameters θ (after the loss transform)."""
        from torch.func import functional_call

        params = dict(self._fixed)
        for name, piece, shape in zip(
            self.param_names, theta.split(self._sizes), self._shapes, strict=True
        ):
            params[name] = piece.view(shape)
        out = functional_call(self.module, params, (X,))
        if isinstance(out, tuple):
            out = out[0]
        if self.transform == "log":
            out = (out + np.finfo(np.float32).eps).log()
        elif self.transform == "flatten":
            out = out.reshape(-1)
        return out

    def _batch_losses(self, theta, X, t):
        """Per-sample losses of a batch, shape (b,): one batched call when the criterion has
        ``reduction="none"`` (torch's losses), else the criterion on each row (vmap)."""
        from torch.func import vmap

        if self._unreduced is None:
            return vmap(self._sample_loss, in_dims=(None, 0, 0))(theta, X, t)
        out = self._outputs(theta, X)
        target = t.reshape(out.shape) if self.kind == "regression" else t
        losses = self._unreduced(out, target)
        return losses.reshape(len(t), -1).mean(dim=1)

    def _sample_loss(self, theta, x, t):
        """ℓ(z; θ) for one row (x, t): the criterion on a batch of one."""
        out = self._outputs(theta, x.unsqueeze(0))
        target = t.unsqueeze(0)
        if self.kind == "regression":
            target = target.reshape(out.shape)
        return self.criterion(out, target)

    def _chunks(self, n):
        return gen_batches(n, self.chunk_size)

    def loss(self, X, y):
        torch = import_torch()
        Xt, t = self.features(X), self.encode_target(y)
        with torch.no_grad():
            out = [self._batch_losses(self._theta, Xt[s], t[s]) for s in self._chunks(len(t))]
        return _numpy(_cat(out, len(t)))

    def gradients(self, X, y):
        return TorchGradientMatrix(self, self.features(X), self.encode_target(y))

    def _grad_block(self, Xt, t):
        from torch.func import grad, vmap

        return vmap(grad(self._sample_loss), in_dims=(None, 0, 0))(self._theta, Xt, t).detach()

    def hvp(self, X, y, V, sample_weight=None):
        """Multiply by the Hessian of J: the gradient differentiated again, batched over V.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, ...)
            Raw training rows.
        %(adapter_y)s
        %(adapter_V)s
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights; they also scale the weight-decay term (n is their sum).

        Returns
        -------
        HV : ndarray of the shape of V
            ``(Σ_i w_i ∇²ℓ_i + n diag(wd)) V``: O(n p k) time, chunk by chunk.
        """
        from ._hvp import hessian_products

        return hessian_products(self, X, y, V, sample_weight)

    def hvp_operator(self, X, y, sample_weight=None):
        """Return ``V ↦ H @ V`` on fixed rows, for repeated products (CG, Lanczos, LiSSA).

        The same values as :meth:`hvp`, with the primal pass computed once and cached
        (:class:`~skinfluence.torch._hvp.TorchHessianOperator`). The cache, at most
        about 512 MiB, lives as long as the operator: a fitted CG or LiSSA solver (e.g.
        ``InfluenceScorer.solver_``) keeps it for later solves; pickling drops it.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, ...)
            Raw training rows.
        %(adapter_y)s
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, as for :meth:`hvp`.

        Returns
        -------
        operator : TorchHessianOperator
            Callable: ``operator(V)`` equals ``hvp(X, y, V, sample_weight)``.
        """
        from ._hvp import TorchHessianOperator

        return TorchHessianOperator(self, X, y, sample_weight)

    # -- Gauss–Newton curvature (GaussNewton capability) -----------------------------------
    def ggn_vp(self, X, y, V, sample_weight=None):
        """Multiply by the Gauss–Newton matrix G of J: a JVP, Λ and a VJP per column.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, ...)
            Raw training rows.
        %(adapter_y)s
        %(adapter_V)s
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights; they also scale the weight-decay term (n is their sum).

        Returns
        -------
        GV : ndarray of the shape of V
            ``(Σ_i w_i J_iᵀ Λ_i J_i + n diag(wd)) V`` (:mod:`skinfluence.torch._ggn`):
            O(n p k) time, no double backward.
        """
        from ._ggn import ggn_products

        return ggn_products(self, X, y, V, sample_weight)

    def ggn_operator(self, X, y, sample_weight=None):
        """Return ``V ↦ G @ V`` on fixed rows, with the primal pass and traces cached.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, ...)
            Raw training rows.
        %(adapter_y)s
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, as for :meth:`ggn_vp`.

        Returns
        -------
        operator : GaussNewtonOperator
            Callable: ``operator(V)`` equals ``ggn_vp(X, y, V, sample_weight)``.
        """
        from ._ggn import GaussNewtonOperator

        return GaussNewtonOperator(self, X, y, sample_weight)

    def ggn(self, X, y, sample_weight=None):
        """Compute the dense Gauss–Newton matrix from chunked output Jacobians.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, ...)
            Raw training rows.
        %(adapter_y)s
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights, as for :meth:`ggn_vp`.

        Returns
        -------
        G : ndarray of shape (p, p)
            ``Σ_i w_i J_iᵀ Λ_i J_i + n diag(wd)``: O(n K p²) time, O(p²) memory.
        """
        from ._ggn import dense_ggn

        return dense_ggn(self, X, y, sample_weight)

    # -- Kronecker factors (KroneckerFactored capability) ----------------------------------
    def kronecker_layers(self):
        from ._kfac import kronecker_layers

        return kronecker_layers(self)

    def kronecker_samples(self, X, y, sample_weight=None, **kwargs):
        """Per-row inputs and output pseudo-gradients of every ``nn.Linear`` / ``Conv2d``.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, ...)
            Raw training rows.
        %(adapter_y)s
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.
        **kwargs
            ``fisher="sampled"`` and ``random_state`` (an int): one label per row drawn
            from the model instead of the exact output Hessian.

        Returns
        -------
        chunks : generator
            Of ``(w, [(a, g) per layer])`` (:meth:`KroneckerFactored.kronecker_samples`);
            K backward passes per chunk, one when sampled (:mod:`skinfluence.torch._kfac`).
        """
        from ._kfac import kronecker_samples

        return kronecker_samples(self, X, y, sample_weight, **kwargs)

    def penalty_hessian_diagonal(self, n_samples, sample_weight=None):
        """Return the diagonal of the penalty's Hessian, ``n diag(wd)``.

        Parameters
        ----------
        n_samples : int
            Training rows (n, when ``sample_weight`` is None).
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights: n is their sum.

        Returns
        -------
        diagonal : ndarray of shape (n_params,)
            ``n wd_j``.
        """
        return self._penalty_count(n_samples, sample_weight) * self.penalty_diagonal()


def _fixed_tensors(module, param_names):
    """The module's parameters outside ``param_names`` and its buffers, by name: what
    ``functional_call`` needs besides θ."""
    fixed = {n: t.detach() for n, t in module.named_parameters() if n not in param_names}
    fixed.update(dict(module.named_buffers()))
    return fixed


def _cat(parts, n):
    torch = import_torch()
    return torch.cat(parts) if parts else torch.zeros(n)


def _numpy(t):
    return t.detach().cpu().numpy().astype(np.float64, copy=False)


@inherit_docstrings
class TorchGradientMatrix(GradientMatrix):
    """Per-sample gradients of a torch model, computed chunk by chunk (never all at once).

    Every product recomputes the gradients of the rows involved: O(n p) time, O(chunk · p)
    memory per call.
    """

    def __init__(self, adapter, Xt, t):
        self.adapter = adapter
        self.Xt = Xt
        self.t = t

    @property
    def shape(self):
        return (len(self.t), self.adapter.n_params)

    def _blocks(self):
        for rows in self.adapter._chunks(len(self.t)):
            yield rows, self.adapter._grad_block(self.Xt[rows], self.t[rows])

    def matmul(self, V):
        torch = import_torch()
        V = torch.as_tensor(
            np.asarray(V, np.float64).reshape(self.shape[1], -1),
            dtype=self.adapter.dtype,
            device=self.adapter.device,
        )
        out = [block @ V for _, block in self._blocks()]
        return _numpy(torch.cat(out)) if out else np.zeros((0, V.shape[1]))

    def rmatmul(self, U):
        torch = import_torch()
        U = torch.as_tensor(
            np.asarray(U, np.float64).reshape(self.shape[0], -1),
            dtype=self.adapter.dtype,
            device=self.adapter.device,
        )
        out = torch.zeros((self.shape[1], U.shape[1]), dtype=U.dtype, device=U.device)
        for rows, block in self._blocks():
            out += block.T @ U[rows]
        return _numpy(out)

    def iter_tensors(self, chunk_size=None):
        """Iterate over the gradients of consecutive rows as tensors on the adapter's device.

        The device path of the scorers (:mod:`skinfluence.scorers._device`) reads them:
        nothing is copied to the host. O(chunk · p) memory per block.

        Parameters
        ----------
        chunk_size : int, default=None
            Rows per block; None: the adapter's ``chunk_size``.

        Yields
        ------
        rows : slice
            The block's rows.
        block : torch.Tensor of shape (rows, p)
            Their gradients, in the adapter's dtype.
        """
        torch = import_torch()
        step = self.adapter.chunk_size if chunk_size is None else int(chunk_size)
        for rows in gen_batches(self.shape[0], max(1, step)):
            parts = [block for _, block in self.take(rows)._blocks()]
            yield rows, torch.cat(parts) if len(parts) > 1 else parts[0]

    def dense_rows(self, rows):
        idx = np.arange(self.shape[0])[rows]
        sub = self.take(idx)
        parts = [_numpy(block) for _, block in sub._blocks()]
        return np.concatenate(parts) if parts else np.zeros((0, self.shape[1]))

    def take(self, rows):
        torch = import_torch()
        if not isinstance(rows, slice):
            rows = torch.as_tensor(np.asarray(rows), device=self.Xt.device)
        return TorchGradientMatrix(self.adapter, self.Xt[rows], self.t[rows])


def torch_adapter(estimator):
    """Factory registered for skorch nets, TorchModule and ParameterSubset."""
    est = _unwrap(estimator)
    if isinstance(est, ParameterSubset):
        if not est.__sklearn_is_fitted__():
            raise NotFittedError(
                "This ParameterSubset instance is not fitted yet; call fit or wrap a fitted "
                "estimator in FrozenEstimator."
            )
        return TorchAdapter(est._fitted(), params=est.params)
    return TorchAdapter(est)
