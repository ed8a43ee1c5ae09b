"""Checks shared by every public entry point."""

import numbers

import numpy as np
from sklearn.utils._param_validation import make_constraint


def check_target(y, n_samples):
    """Validate labels for ``n_samples`` already-validated rows.

    Returns ``y`` as a 1-D array (a single column is flattened), or 2-D for multi-output
    regression; float labels must be finite.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim not in (1, 2):
        raise ValueError(
            f"y must be 1-D (or 2-D for multi-output regression); got shape {y.shape}."
        )
    if len(y) != n_samples:
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: X has {n_samples} "
            f"rows but y has {len(y)}."
        )
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinity; drop or impute those rows first.")
    return y


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
    """Validate the ``damping`` (λ ≥ 0 added to the Hessian's diagonal, or "auto")."""
    if isinstance(damping, str) and damping == "auto":
        return damping
    if not isinstance(damping, numbers.Real) or not np.isfinite(damping) or damping < 0:
        raise ValueError(
            f"damping must be a finite number >= 0 (λ in H + λI); got {damping!r}. "
            "damping='auto' takes a small fraction of the curvature's mean eigenvalue."
        )
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


def shared_constraints(*names):
    """``_parameter_constraints`` entries of the parameters many estimators share, by name:
    ``random_state``, ``n_jobs``, ``verbose`` and ``chunk_size`` (a positive int or None)."""
    from sklearn.utils._param_validation import Interval

    table = {
        "random_state": ["random_state"],
        "n_jobs": n_jobs_constraint(),
        "verbose": ["verbose"],
        "chunk_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
    }
    return {name: table[name] for name in names}


_CONSTRAINT_OBJECTS = {}  # class -> (its _parameter_constraints dict, the constraint objects)


def params_satisfy_constraints(estimator):
    """Whether every parameter of ``estimator`` satisfies one of its ``_parameter_constraints``.

    The predicate of scikit-learn's ``_validate_params``, with each class's constraint objects
    made once instead of on every ``fit`` (~20 µs a call, several times that right after
    large BLAS calls evict the caches). A caller that gets False runs scikit-learn's own
    check, which raises its ``InvalidParameterError``.
    """
    cls = type(estimator)
    declared = cls._parameter_constraints
    cached = _CONSTRAINT_OBJECTS.get(cls)
    if cached is None or cached[0] is not declared:
        objects = {
            name: [make_constraint(c) for c in constraints]
            for name, constraints in declared.items()
            if not (isinstance(constraints, str) and constraints == "no_validation")
        }
        cached = _CONSTRAINT_OBJECTS[cls] = (declared, objects)
    objects = cached[1]
    for name, value in estimator.get_params(deep=False).items():
        for constraint in objects.get(name, ()):
            if constraint.is_satisfied_by(value):
                break
        else:
            if name in objects:
                return False
    return True
