"""The progress bar of long loops (tqdm), shown when ``verbose`` > 0."""

from tqdm.auto import tqdm


def progress(iterable, *, verbose, total=None, desc=None, unit="it"):
    """``iterable`` wrapped in a tqdm bar (on stderr) when ``verbose`` is truthy, else
    unchanged; ``verbose=None`` shows it only on a terminal (the command line's choice)."""
    if verbose is None:
        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=None)
    if not verbose:
        return iterable
    return tqdm(iterable, total=total, desc=desc, unit=unit)


def progress_bar(*, verbose, total, desc=None, unit="it"):
    """A tqdm bar to ``update`` by hand (disabled, and silent, when ``verbose`` is falsy)."""
    return tqdm(total=total, desc=desc, unit=unit, disable=not verbose)
