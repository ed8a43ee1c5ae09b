"""Slices of consecutive rows, without scikit-learn's per-call parameter validation."""


def gen_batches(n, batch_size):
    """Yield ``slice(start, stop)`` of at most ``batch_size`` rows covering ``range(n)``.

    The batches of ``sklearn.utils.gen_batches(n, batch_size)``, for the scorers' inner loops:
    scikit-learn validates its arguments on every call (``validate_params``, ~40 µs), which
    the hot paths (one call per ``influence``) paid several times per call. The callers pass
    validated sizes (``check_chunk_size``).

    Parameters
    ----------
    n : int
        Number of rows.
    batch_size : int
        Rows per batch (≥ 1).

    Yields
    ------
    rows : slice
        The next batch.

    Examples
    --------
    >>> from skinfluence._utils._batches import gen_batches
    >>> list(gen_batches(5, 2))
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size}.")
    n = int(n)
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))
