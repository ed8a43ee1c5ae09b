"""How many joblib tasks to cut a batch of fits into."""

from joblib import effective_n_jobs


def n_parallel_batches(n_fits, n_jobs, verbose=0):
    """How many joblib tasks to split ``n_fits`` fits into.

    About four tasks per worker of the *active* joblib backend (``effective_n_jobs`` reads
    ``joblib.parallel_config``, so a dask cluster's workers count), one task when
    sequential, at least 20 with a progress bar so that it moves.
    """
    workers = effective_n_jobs(n_jobs)
    n_tasks = 1 if workers == 1 else 4 * workers
    if verbose:
        n_tasks = max(n_tasks, 20)
    return max(1, min(n_fits, n_tasks))
