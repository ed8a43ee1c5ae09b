"""Where the iterative solvers compute: numpy on the host, or torch on the net's device.

The solvers (``cg``, ``lissa``, ``arnoldi``, ``direct``) are written against the few array
operations below, so that for a torch model their iterations run in torch on the device the
net lives on (a GPU when it is on one) and nothing p-sized crosses to the host inside a loop;
for every other model they run in numpy exactly as before. The backend is the adapter's:
:func:`backend_for` reads its ``array_backend`` (``TorchAdapter`` has one; the Gauss–Newton
view of :func:`~skinfluence.models.with_curvature` is looked through), numpy otherwise.

Contract of a solver's ``solve(V)`` and of the Hessian operators: the result has the kind of
the argument. A NumPy array in gives a NumPy array out (the vectors are moved to the device
once and the result back once); a torch tensor in gives a float64 tensor on the adapter's
device out, with no host transfer at all. The scorers pass tensors (per-sample gradients
computed on the device), so only the (m × n) influence blocks come back to the host.

Both backends compute in float64 (the products themselves may be float32, see
``LissaSolver(dtype=...)``).
"""

import numpy as np

__all__ = ["NUMPY", "NumpyBackend", "TorchBackend", "backend_for"]


class NumpyBackend:
    """The host backend: numpy float64 arrays (every non-torch model)."""

    name = "numpy"
    device = None

    def asarray(self, V):
        return np.asarray(V, dtype=np.float64)

    def like(self, V, A):
        """``A`` in the kind of ``V`` (here always an ndarray)."""
        return np.asarray(A)

    def to_numpy(self, A):
        return np.asarray(A, dtype=np.float64)

    def is_native(self, V):
        return isinstance(V, np.ndarray)

    def zeros(self, shape):
        return np.zeros(shape)

    def eye(self, p):
        return np.eye(p)

    def copy(self, A):
        return A.copy()

    def column_dots(self, A, B):
        """``Σ_i A_ij B_ij`` per column j."""
        return np.einsum("ij,ij->j", A, B)

    def column_norms(self, A):
        return np.linalg.norm(A, axis=0)

    def norm(self, A):
        return np.linalg.norm(A)

    def sqrt(self, a):
        return np.sqrt(a)

    def flatnonzero(self, mask):
        return np.flatnonzero(mask)

    def all_finite(self, a):
        return bool(np.all(np.isfinite(a)))

    def eigh(self, A):
        return np.linalg.eigh(A)

    def cholesky(self, A):
        """The lower Cholesky factor of ``A``, or None when it is not positive definite."""
        from scipy.linalg import LinAlgError, cholesky

        try:
            return cholesky(A, lower=True, check_finite=False)
        except LinAlgError:
            return None

    def __repr__(self):
        return "NumpyBackend()"


NUMPY = NumpyBackend()


class TorchBackend:
    """torch float64 tensors on ``device`` (the net's).

    Parameters
    ----------
    device : torch.device
        Where the vectors live.
    """

    name = "torch"

    def __init__(self, device):
        import torch

        self._torch = torch
        self.device = torch.device(device)
        self.dtype = torch.float64

    def __reduce__(self):  # the module handle does not pickle: rebuild from the device
        return (TorchBackend, (str(self.device),))

    def asarray(self, V):
        torch = self._torch
        if isinstance(V, torch.Tensor):
            return V.detach().to(device=self.device, dtype=self.dtype)
        return torch.as_tensor(np.asarray(V, dtype=np.float64), device=self.device)

    def like(self, V, A):
        """``A`` in the kind of ``V``: a tensor for a tensor, else an ndarray (one transfer)."""
        return A if isinstance(V, self._torch.Tensor) else self.to_numpy(A)

    def to_numpy(self, A):
        if isinstance(A, np.ndarray):
            return A
        return A.detach().cpu().numpy().astype(np.float64, copy=False)

    def is_native(self, V):
        return isinstance(V, self._torch.Tensor)

    def zeros(self, shape):
        return self._torch.zeros(shape, dtype=self.dtype, device=self.device)

    def eye(self, p):
        return self._torch.eye(p, dtype=self.dtype, device=self.device)

    def copy(self, A):
        return A.clone()

    def column_dots(self, A, B):
        # not torch.einsum: on the CPU its "ij,ij->j" took 140 ms for 839 × 30 (a batched
        # matmul of 1 × 1 blocks), the product and sum 1 ms. torch sums in another order than
        # numpy: the last bit may differ (CG amplifies that up to its tolerance)
        return (A * B).sum(0)

    def column_norms(self, A):
        return self._torch.linalg.vector_norm(A, dim=0)

    def norm(self, A):
        return self._torch.linalg.vector_norm(A)

    def sqrt(self, a):
        return self._torch.sqrt(a)

    def flatnonzero(self, mask):
        return self._torch.nonzero(mask).flatten()

    def all_finite(self, a):
        return bool(self._torch.isfinite(a).all())  # one scalar synchronisation, no copy

    def eigh(self, A):
        return self._torch.linalg.eigh(A)

    def cholesky(self, A):
        """The lower Cholesky factor of ``A``, or None when it is not positive definite."""
        factor, info = self._torch.linalg.cholesky_ex(A)
        return factor if int(info) == 0 else None  # one scalar synchronisation

    def __repr__(self):
        return f"TorchBackend(device={str(self.device)!r})"


def backend_for(adapter):
    """The backend of an adapter: its ``array_backend`` when it has one, else numpy.

    Parameters
    ----------
    adapter : ModelAdapter or None
        A fitted model's adapter (a ``GaussNewtonView`` is looked through).

    Returns
    -------
    backend : NumpyBackend or TorchBackend
        ``TorchBackend`` on the net's device for torch models, ``NUMPY`` otherwise.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skinfluence.models import adapter_for
    >>> from skinfluence.inverse._backend import backend_for
    >>> X, y = load_iris(return_X_y=True)
    >>> backend_for(adapter_for(LogisticRegression(max_iter=500).fit(X, y)))
    NumpyBackend()
    """
    seen = 0
    while adapter is not None and seen < 8:
        backend = getattr(type(adapter), "array_backend", None)
        if backend is not None:
            backend = adapter.array_backend
            return NUMPY if backend is None else backend
        adapter = getattr(adapter, "adapter", None)  # a view of another adapter
        seen += 1
    return NUMPY
