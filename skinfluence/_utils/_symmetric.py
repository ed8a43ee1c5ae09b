"""Filling a symmetric matrix from the one triangle a BLAS/LAPACK routine wrote."""

import functools

import numpy as np

_BLOCK = 512


@functools.lru_cache(maxsize=16)
def _strictly_lower(size):
    return np.tri(size, k=-1, dtype=bool)


def mirror_triangle(A, lower=False):
    """Copy the upper (``lower=False``) or lower triangle of square A onto the other, in place.

    By blocks of 512 rows: the off-diagonal blocks as transposed copies, each diagonal block
    through a cached boolean mask (no p × p temporaries, no index arrays; ~2 µs at p = 21
    against ~20 µs for ``np.triu(A) + np.triu(A, 1).T``). O(p²) time.

    Parameters
    ----------
    A : ndarray of shape (p, p)
        Written in place; the triangle read is left as it is.
    lower : bool, default=False
        Which triangle holds the values.

    Returns
    -------
    A : ndarray of shape (p, p)
        The same array, now symmetric.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence._utils._symmetric import mirror_triangle
    >>> mirror_triangle(np.array([[1.0, 2.0], [0.0, 3.0]]))
    array([[1., 2.],
           [2., 3.]])
    """
    U = A.T if lower else A  # the lower triangle of A is the upper one of Aᵀ
    p = U.shape[0]
    for start in range(0, p, _BLOCK):
        stop = min(p, start + _BLOCK)
        U[stop:, start:stop] = U[start:stop, stop:].T
        diagonal = U[start:stop, start:stop]
        np.copyto(diagonal, diagonal.T, where=_strictly_lower(stop - start))
    return A


def add_to_diagonal(A, values):
    """``A[i, i] += values[i]`` (or a scalar) in place, through einsum's view of the diagonal.

    ~1 µs at p = 21 against ~12 µs for ``A[np.diag_indices_from(A)] += values``.

    Parameters
    ----------
    A : ndarray of shape (p, p)
        Square; written in place.
    values : float or ndarray of shape (p,)
        Added to the diagonal.

    Returns
    -------
    A : ndarray of shape (p, p)
        The same array.

    Examples
    --------
    >>> import numpy as np
    >>> from skinfluence._utils._symmetric import add_to_diagonal
    >>> add_to_diagonal(np.zeros((2, 2)), [1.0, 2.0])
    array([[1., 0.],
           [0., 2.]])
    """
    diagonal = np.einsum("ii->i", A)  # a writeable view
    diagonal += values
    return A
