"""Parameter text shared by the tree methods (added to the shared docstring entries)."""

from .._utils._docstring import SHARED_PARAMETERS

SHARED_PARAMETERS.update(
    {
        "tree_ensemble": """\
ensemble : TreeEnsemble
    The fitted model with its training rows (:func:`read_ensemble`).""",
        "tree_trajectory": """\
trajectory : Trajectory, default=None
    The boosting trajectory of ``ensemble``, to reuse between calls (built when None).""",
        "tree_rows": """\
rows : array-like of int, default=None
    Which training rows (default all).
row_weight : float or array-like, default=None
    Their weights in the leave-one-out units (default their training weights); 1 for rows
    of weight 0 scores them as if they were added with weight 1.""",
        "tree_chunk_size": """\
chunk_size : int, default=None
    Rows per block of the vectorised pass: bounds the working memory (default about 2¹⁷
    doubles per (n_train, block) array, at least 32 rows).""",
    }
)
