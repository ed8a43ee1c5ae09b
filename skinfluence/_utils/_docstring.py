"""Shared parameter documentation, written once and injected into docstrings.

A docstring line that holds only ``%(name)s`` is replaced by the entry ``name`` of
:data:`SHARED_PARAMETERS`, indented as the placeholder is. Lines indented further right after
it continue the parameter's description (what is particular to that estimator).
"""

import re
import textwrap

SHARED_PARAMETERS = {
    "estimator_fitted": """\
estimator : estimator object
    The model. ``fit`` fits a clone of it; wrap an already fitted model in
    ``sklearn.frozen.FrozenEstimator`` to use it as it is.""",
    "estimator_retrained": """\
estimator : estimator object
    The model. ``fit`` trains clones of it; the object passed is never modified.""",
    "n_jobs": """\
n_jobs : int, default=None
    Number of parallel jobs (joblib). None means 1 unless in a
    ``joblib.parallel_config`` context; -1 means all processors. The backend is joblib's:
    ``joblib.parallel_config(backend="dask")`` sends the work to a dask cluster unchanged.""",
    "random_state": """\
random_state : int, RandomState instance or None, default=None
    Seeds the randomness described below; an int gives the same results on every call.""",
    "verbose": """\
verbose : int, default=0
    Show a progress bar (tqdm) over the long loop when > 0.""",
    "chunk_size": """\
chunk_size : int, default=None
    Rows processed at once: bounds the working memory.""",
}

_PLACEHOLDER = re.compile(r"^([ \t]*)%\((\w+)\)s[ \t]*$", flags=re.MULTILINE)


def inject_docs(obj):
    """Class or function decorator: fill the ``%(name)s`` placeholder lines of its docstring.

    Unknown names raise ``KeyError`` at import time, so a typo cannot ship.
    """
    if obj.__doc__:  # None under ``python -OO``

        def substitute(match):
            return textwrap.indent(SHARED_PARAMETERS[match.group(2)], match.group(1))

        obj.__doc__ = _PLACEHOLDER.sub(substitute, obj.__doc__)
    return obj
