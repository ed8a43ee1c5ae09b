"""The tree branch of ``InfluenceScorer``: LeafInfluence, BoostIn and the fixed-structure
leave-one-out for boosted ensembles (:mod:`skinfluence.trees`), behind the same template.

``InfluenceScorer`` checks the tree capability (:func:`skinfluence.trees.is_tree_ensemble`)
and hands over here: the fitted model is read into a checked
:class:`~skinfluence.trees.TreeEnsemble` once, and ``scores_``, ``influence`` and
``score_samples`` are the chosen method's, in the same leave-one-out units.
"""

import numpy as np

from ..trees import (
    boostin,
    boostin_self,
    leaf_influence,
    leaf_influence_self,
    leaf_refit,
    leaf_refit_self,
    read_ensemble,
)
from ..trees._methods import Trajectory, new_row_self_influence

TREE_METHODS = ("leafinfluence", "boostin", "leafrefit")
# "auto" runs LeafInfluence while its self-influence pass, O(n² · T · K), stays within this
# budget (measured on one shared core at n = 2 000, T = 100: 4·10⁸ took 3.2-3.6 s, so the
# budget is about half a minute), else BoostIn (O(n · T · K)).
AUTO_LEAFINFLUENCE_MAX_WORK = 4 * 10**9


def resolve_tree_method(scorer, n_train):
    """The tree method that ``scorer.method`` names, with the refusals of the linear options."""
    method = scorer.method
    if method != "auto" and method not in TREE_METHODS:
        raise ValueError(
            f"method={method!r} is an inverse-Hessian solver, which boosted trees do not use "
            f"(their leaves are not fitted jointly); choose one of {['auto', *TREE_METHODS]}."
        )
    for name, value, default in (
        ("newton_step", scorer.newton_step, False),
        ("damping", scorer.damping, "auto"),
        ("hessian", scorer.hessian, "auto"),
        ("solver_params", scorer.solver_params, None),
    ):
        if value != default:
            raise ValueError(
                f"{name}={value!r} applies to the inverse-Hessian methods of smooth models, "
                f"not to boosted trees; leave it at {default!r} (tree methods: {TREE_METHODS})."
            )
    if method != "auto":
        return method
    ensemble = scorer.ensemble_
    work = n_train**2 * ensemble.n_iter * ensemble.n_outputs
    return "leafinfluence" if work <= AUTO_LEAFINFLUENCE_MAX_WORK else "boostin"


def fit_trees(scorer, X, y, sample_weight):
    """Read the fitted ensemble and compute the self-influence of the chosen method."""
    scorer.ensemble_ = read_ensemble(scorer.estimator_, X, y, sample_weight)
    scorer.method_ = resolve_tree_method(scorer, len(y))
    scorer.solver_ = scorer.curvature_ = scorer.damping_ = None
    scorer.train_X_, scorer.train_y_ = X, y
    scorer.train_weights_ = scorer.ensemble_.train_weight
    scorer._trajectory = None if scorer.method_ == "leafrefit" else Trajectory(scorer.ensemble_)
    chunk = scorer.chunk_size
    if scorer.method_ == "leafinfluence":
        scores = leaf_influence_self(
            scorer.ensemble_,
            chunk_size=chunk,
            trajectory=scorer._trajectory,
            verbose=scorer.verbose,
        )
    elif scorer.method_ == "boostin":
        scores = boostin_self(scorer.ensemble_, trajectory=scorer._trajectory)
    else:
        scores = leaf_refit_self(scorer.ensemble_, chunk_size=chunk, verbose=scorer.verbose)
    scorer.scores_ = scores


def tree_influence(scorer, X_test, y_test, *, aggregate=False):
    """(m, n) influence matrix, or (n,) on the summed test loss with ``aggregate``."""
    ensemble, method = scorer.ensemble_, scorer.method_
    if method == "leafinfluence":
        return leaf_influence(
            ensemble,
            X_test,
            y_test,
            aggregate=aggregate,
            chunk_size=scorer.chunk_size,
            trajectory=scorer._trajectory,
            verbose=scorer.verbose,
        )
    if method == "boostin":
        result = boostin(ensemble, X_test, y_test, trajectory=scorer._trajectory)
    else:
        result = leaf_refit(
            ensemble, X_test, y_test, chunk_size=scorer.chunk_size, verbose=scorer.verbose
        )
    return result.sum(axis=0) if aggregate else result


def tree_score_samples(scorer, X, y):
    """Self-influence of new rows, each as if it were added to the training rows."""
    return new_row_self_influence(
        scorer.ensemble_,
        X,
        np.asarray(y),
        scorer.method_,
        chunk_size=scorer.chunk_size,
        verbose=scorer.verbose,
    )
