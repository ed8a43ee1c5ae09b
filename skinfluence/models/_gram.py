"""Dense weighted Gram ``Xᵀ diag(w) X``, the bulk of a linear model's Hessian, by cache-sized
row blocks with a BLAS kernel chosen once per process.

The same block product has several routes: SYRK through scipy's bundled OpenBLAS, SYRK
through numpy's (numpy's ``R.T @ R`` calls its own library's SYRK; numpy and scipy wheels each
ship their own OpenBLAS, of different versions), or a GEMM ``Xᵀ (w ⊙ X)`` through numpy
(twice SYRK's flops). Which is fastest, and whether one of them falls off a cliff, depends
on the kernels OpenBLAS picked for the core type (``OPENBLAS_CORETYPE``), its cache
parameters (``OPENBLAS_L2_SIZE``) and its version: on one machine a route can be many times
slower than the others, and the fastest on the next. So the first Gram of each width d in a
process that has at least one full block times every route on that block; it keeps the
default route (numpy's SYRK) for the rest of the process unless another is more than
``_SWITCH_FACTOR`` times faster, in which case it keeps the fastest: a route that falls off a
cliff costs the probe, not the whole Gram, and routes within a few tens of percent of each
other (the usual case) do not make the choice, hence the rounding, vary between processes.
The probe runs under the thread limits in effect at that first call (threadpoolctl's, or
``OPENBLAS_NUM_THREADS``); the routes give the same Gram to rounding.
"""

import time

import numpy as np
from scipy.linalg import blas

from .._utils._symmetric import mirror_triangle

# Bytes per block of rows when forming Xᵀ diag(w) X: a cache-sized temporary instead of an
# n × d one (blocks of 1 MiB measured 2-5× faster than one n × d product at d = 20; 512 KiB
# another 5-8% faster than 1 MiB at n = 10⁴-10⁵, d = 20-100, 2026-12-03).
_GRAM_BLOCK_BYTES = 2**19

# Timed calls per route in the probe (the minimum is kept: robust to a busy machine).
_PROBE_CALLS = 2


def _scipy_syrk(Xb, wb):
    """Upper triangle of ``Xbᵀ diag(wb) Xb`` (wb ≥ 0): scipy's OpenBLAS SYRK on √wb ⊙ Xb."""
    return blas.dsyrk(1.0, (Xb * np.sqrt(wb)[:, None]).T)  # the transpose is F-ordered: no copy


def _numpy_syrk(Xb, wb):
    """``Xbᵀ diag(wb) Xb`` (wb ≥ 0) as ``Rᵀ R``, R = √wb ⊙ Xb: numpy's OpenBLAS SYRK."""
    R = Xb * np.sqrt(wb)[:, None]
    return R.T @ R


def _numpy_gemm(Xb, wb):
    """``Xbᵀ (wb ⊙ Xb)``: numpy's OpenBLAS GEMM, twice the flops of a SYRK."""
    return Xb.T @ (Xb * wb[:, None])


# Route name → block kernel; each returns at least the upper triangle of Xbᵀ diag(wb) Xb.
_KERNELS = {"numpy_syrk": _numpy_syrk, "scipy_syrk": _scipy_syrk, "numpy_gemm": _numpy_gemm}

# Kept unless the probe finds a route _SWITCH_FACTOR times faster; used without a probe while
# no Gram of that width has filled a block (a small product).
_DEFAULT_KERNEL = "numpy_syrk"

# How much faster than the default another route must be on the probe's block to replace it:
# well above the spread of timings on a busy machine, well below a cliff.
_SWITCH_FACTOR = 1.5

# Width d → the route the probe chose for this process.
_KERNEL_BY_WIDTH = {}


def _block_rows(d):
    return max(256, _GRAM_BLOCK_BYTES // (8 * max(d, 1)))


def _probed_kernel(Xb, wb):
    """The default route, or the fastest on this block if it beats the default by more than
    ``_SWITCH_FACTOR`` (each timed ``_PROBE_CALLS`` times, round-robin, minimum kept). Costs
    ``3 _PROBE_CALLS`` block products."""
    seconds = {name: np.inf for name in _KERNELS}
    for _ in range(_PROBE_CALLS):
        for name, kernel in _KERNELS.items():
            start = time.perf_counter()
            kernel(Xb, wb)
            seconds[name] = min(seconds[name], time.perf_counter() - start)
    fastest = min(seconds, key=seconds.get)
    if seconds[fastest] * _SWITCH_FACTOR < seconds[_DEFAULT_KERNEL]:
        return fastest
    return _DEFAULT_KERNEL


def _kernel_for(X, w):
    """The route for a Gram of X's width: probed on X's first full block, once per width."""
    n, d = X.shape
    name = _KERNEL_BY_WIDTH.get(d)
    if name is None:
        rows = _block_rows(d)
        if n < rows:
            return _DEFAULT_KERNEL
        name = _KERNEL_BY_WIDTH[d] = _probed_kernel(X[:rows], np.abs(w[:rows]))
    return name


def _unit_gram(X, name, intercept):
    """Upper triangle (at least) of ``X̃ᵀX̃`` by blocks, a SYRK route of ``_KERNELS``; X̃ is
    ``[X, 1]`` with ``intercept``."""
    n, d = X.shape
    rows = _block_rows(d)
    out = np.zeros((d + intercept, d + intercept))
    ones = np.ones(min(rows, n)) if intercept else None
    for start in range(0, n, rows):
        Xb = X[start : start + rows]
        out[:d, :d] += blas.dsyrk(1.0, Xb.T) if name == "scipy_syrk" else Xb.T @ Xb
        if intercept:  # a GEMV: numpy's column sum of a C-ordered block is 8x slower
            out[:d, d] += Xb.T @ ones[: len(Xb)]
    if intercept:
        out[d, d] = n
    return out


def _nonnegative_gram(X, w, kernel, intercept):
    """Upper triangle (at least) of ``X̃ᵀ diag(w) X̃`` for w ≥ 0, block by block; X̃ is
    ``[X, 1]`` with ``intercept`` (its column from each block while it is in cache)."""
    n, d = X.shape
    rows = _block_rows(d)
    out = np.zeros((d + intercept, d + intercept))
    for start in range(0, n, rows):
        Xb, wb = X[start : start + rows], w[start : start + rows]
        out[:d, :d] += kernel(Xb, wb)
        if intercept:
            out[:d, d] += Xb.T @ wb
    if intercept:
        out[d, d] = w.sum()
    return out


def dense_weighted_gram(X, w, kernel=None, intercept=False):
    """``X̃ᵀ diag(w) X̃`` for dense X (n, d) and weights w (n,) of any sign, as a symmetric array.

    X̃ is X, or ``[X, 1]`` with ``intercept`` (a (d + 1) × (d + 1) result whose last row and
    column, ``Σ w_i x_i`` and ``Σ w_i``, are taken from each block of rows while it is in
    cache instead of a second pass over X). Accumulated over blocks of rows (temporaries of
    ~1 MiB, not n × d). Weights of one sign (every block of a GLM's Hessian: the diagonal
    blocks have w ≥ 0, a softmax's off-diagonal blocks w ≤ 0) take one symmetric product,
    ``±Σ_i |w_i| x̃_i x̃_iᵀ``; mixed signs take two, ``Σ w⁺ x̃ x̃ᵀ − Σ w⁻ x̃ x̃ᵀ``. Time O(n d²)
    (n d² flops by SYRK, the half of the product a GEMM would also compute; the probe once per
    width and process: 6 blocks of ~1 MiB), memory O(d² + block). ``kernel`` forces a route
    (a key of ``_KERNELS``); by default the one probed for this width.
    """
    X = np.asarray(X, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    intercept = bool(intercept)
    name = _kernel_for(X, w) if kernel is None else kernel
    block_kernel = _KERNELS[name]
    c = w[0] if len(w) else 0.0
    if c > 0 and name != "numpy_gemm" and np.all(w == c):
        # One weight for every row (least squares without sample weights: w = 2): c X̃ᵀX̃,
        # the SYRK on X's own blocks, without the √w-scaled copy of each block (equal to the
        # scaled product to rounding).
        out = _unit_gram(X, name, intercept)
        out *= c
        return mirror_triangle(out)
    positive, negative = w > 0, w < 0
    if not negative.any():
        out = _nonnegative_gram(X, w, block_kernel, intercept)
    elif not positive.any():
        out = -_nonnegative_gram(X, -w, block_kernel, intercept)
    else:
        out = _nonnegative_gram(X, np.where(positive, w, 0.0), block_kernel, intercept)
        out -= _nonnegative_gram(X, np.where(negative, -w, 0.0), block_kernel, intercept)
    return mirror_triangle(out)
