"""Checks shared by every public entry point."""

import numbers

import numpy as np
from sklearn.utils import check_array, check_consistent_length


def check_labelled(X, y, *, accept_sparse=("csr", "csc"), name="X", dtype=np.float64):
    """Validate a labelled set without copying more than needed.

    Returns ``X`` as a finite array of ``dtype`` (float64 by default; sparse kept sparse) and
    ``y`` as a 1-D or 2-D array of the same length.
    """
    if y is None:
        raise ValueError(f"y is required: influence needs the label of every row of {name}.")
    X = check_array(
        X,
        accept_sparse=list(accept_sparse),
        dtype=dtype,
        ensure_all_finite=True,
        input_name=name,
    )
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim not in (1, 2):
        raise ValueError(
            f"y must be 1-D (or 2-D for multi-output regression); got shape {y.shape}."
        )
    check_consistent_length(X, y)
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinity; drop or impute those rows first.")
    return X, y


def check_sample_weight_nonneg(sample_weight, n_samples):
    """Return ``sample_weight`` as a float64 (n,) array of non-negative finite weights, or None."""
    if sample_weight is None:
        return None
    sw = np.asarray(sample_weight, dtype=np.float64)
    if sw.ndim == 0:
        sw = np.full(n_samples, float(sw))
    if sw.shape != (n_samples,):
        raise ValueError(f"sample_weight has shape {sw.shape}; expected ({n_samples},).")
    if not np.all(np.isfinite(sw)) or np.any(sw < 0):
        raise ValueError("sample_weight must be finite and non-negative.")
    if n_samples and not np.any(sw > 0):
        # No row in the objective: nothing to fit (and some solvers crash on it).
        raise ValueError("sample_weight is zero for every row; at least one must be > 0.")
    return sw


def check_damping(damping):
    """Validate the ``damping`` (λ ≥ 0 added to the Hessian's diagonal)."""
    if not isinstance(damping, numbers.Real) or not np.isfinite(damping) or damping < 0:
        raise ValueError(f"damping must be a finite number >= 0 (λ in H + λI); got {damping!r}.")
    return float(damping)


def check_chunk_size(chunk_size, default=4096):
    """Return the number of rows processed at once."""
    if chunk_size is None:
        return default
    if not isinstance(chunk_size, numbers.Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer; got {chunk_size!r}.")
    return int(chunk_size)


def n_jobs_constraint():
    """``_parameter_constraints`` entry for joblib's ``n_jobs``: None, a positive int or a
    negative one (-1 = all cores); 0 is refused by name before any work starts."""
    from sklearn.utils._param_validation import Interval

    return [
        Interval(numbers.Integral, None, -1, closed="right"),
        Interval(numbers.Integral, 1, None, closed="left"),
        None,
    ]
