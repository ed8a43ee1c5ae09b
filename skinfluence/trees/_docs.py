"""Docstring text shared by the tree methods (added to the shared docstring entries):
parameters, their See Also and the fitted ensemble of their Examples."""

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
        "tree_linear": """\
linear : bool, default=False
    True: the pure first-order influence, ``−w_i dL/dw_i`` at the training weights (the
    derivative of the fixed-structure refit; Sharchilev et al.'s LeafInfluence). False:
    two pieces of the leave-one-out are taken exactly instead of along their tangents: a
    row's own leaves move by their exact change when its gradient and Hessian leave the
    leaves' sums (the leaf rule is a ratio, far from linear in a small leaf), and the test
    loss is evaluated at the moved raw scores (its tangent vanishes at a zero residual);
    only the propagation through later trees stays first order. Same order of cost.""",
        "tree_refit_rows": """\
refit_rows : int or "auto", default="auto"
    How many training rows get their exact fixed-structure leave-one-out (the refit of
    :func:`leaf_refit`) in place of the first-order propagation: the rows whose removal
    moves their own leaves the most (``Σ_t |Δv|``, from the training rows alone, so a
    test row's numbers do not depend on the other test rows). Their influence is the
    largest, and it is where the propagation through later trees is least linear
    (saturated rows, leaf Hessian sums near 0): 100 LightGBM trees on breast-cancer,
    Pearson with LeafRefit 0.952 with none, 0.9997 with 64 (benchmarks/README.md).
    The refits are computed once per trajectory (O(r · n · T · K), about the cost of the
    adjoint passes of r test rows) and cost O(r · m · T · K) per call. "auto": 64 (at
    most n); 0: none. Ignored with ``linear=True`` (the pure derivative).""",
        "tree_checkpoints": """\
checkpoints : bool, default=True
    True: the loss gradient of each tree (t, k) at the raw score before iteration t, the
    boosting iterations as TracIn's checkpoints (Brophy et al.'s BoostIn). False: every
    gradient at the final model (a first-order influence without propagation).""",
        "tree_see_also": """\
See Also
--------
leaf_refit : the fixed-structure leave-one-out (exact).
leaf_influence : its approximation through the derivative, with propagation.
boostin : shared-leaf gradient products, no propagation.""",
        "tree_example_ensemble": """\
>>> from sklearn.datasets import load_breast_cancer
>>> from sklearn.ensemble import HistGradientBoostingClassifier
>>> from skinfluence.trees import read_ensemble
>>> X, y = load_breast_cancer(return_X_y=True)
>>> model = HistGradientBoostingClassifier(max_iter=10, random_state=0)
>>> ensemble = read_ensemble(model.fit(X[:200], y[:200]), X[:200], y[:200])""",
        "tree_leaf_derivative": """\
leaf_derivative : {"tree-influence", "exact"}, default="tree-influence"
    How the training row's weight moves the shared leaf. "exact": the derivative of the
    leaf's value, ``−lr (g_i + u h_i) / (H + λ)`` with ``u`` its Newton step.
    "tree-influence": the Hessian term times the learning rate (``u`` replaced by the
    shrunk leaf value ``lr · u``), as tree-influence 0.1.7's BoostIn computes it (equal to
    it to 6e-10 on a LightGBM model). It is no derivative (it weights a row by its
    gradient more than by its Hessian), but it is BoostIn's purpose, ranking the rows to
    remove, that it serves better: in the removal test of benchmarks/README.md (50 test
    rows; 3 data sets, HistGradientBoosting and LightGBM) removing the 5 % most helpful
    rows raised the test loss more with it in 5 of 6 pairs (paired differences +0.04 to
    +0.36, three of them about 2 standard errors; −0.10 ± 0.14 on the sixth; at 1 %
    the two tie), so it is the default. "exact" correlates better with the leave-one-out.""",
        "tree_chunk_size": """\
chunk_size : int, default=None
    Rows per block of the vectorised pass: bounds the working memory (default about 2¹⁷
    doubles per (n_train, block) array, at least 32 rows).""",
    }
)
