"""``skinfluence.audit``: rank, count and flag the suspect rows of a labelled table.

The computation only: the command line (:mod:`skinfluence._audit._run`) reads the file,
calls :func:`audit_data` and prints the :class:`AuditResult`.
"""

from contextlib import contextmanager

import numpy as np
from threadpoolctl import threadpool_limits

from .._utils._docstring import inject_docs
from ..scorers import CombinedScorer
from ._checks import run_checks
from ._count import (
    estimate_corrupted_targets,
    estimate_issues,
    flag_rows,
    residual_reasons,
    row_reasons,
)
from ._data import as_audit_data, make_feature_map, split_singletons
from ._result import AuditResult
from ._scores import SCORES, AuditContext, import_mlp, make_model, resolve_scores


@inject_docs
def audit(
    X,
    y,
    *,
    model="logistic",
    scorers=None,
    weights="family",
    ids=None,
    known_issues=None,
    n_jobs=None,
    random_state=0,
):
    """Rank the rows of a labelled table by how likely their label is wrong; count and flag.

    The engine of ``skinfluence audit``, from Python. Several scores (higher = more
    suspect) from two model families, the given ``model`` and an extremely randomised
    forest, are combined by :class:`~skinfluence.CombinedScorer` (mean rank, by family;
    a family that predicts the labels significantly worse out of sample is left out). The
    number of wrong labels is estimated by confident learning on the out-of-sample
    probabilities of the families kept, and that many rows are flagged, each with the
    out-of-sample prediction as its suggested label and a one-line reason. Cheap data
    checks (duplicates, conflicts, outliers, tiny classes, id-like columns) always run.

    Read more in the :ref:`User Guide <audit_api>`.

    Parameters
    ----------
    X : array-like or pandas DataFrame of shape (n_samples, n_features)
        The features. Numeric columns are used as they are (missing values imputed with
        the median); text, boolean and categorical columns of a DataFrame are one-hot
        encoded (missing values imputed with the most frequent value).
    y : array-like of shape (n_samples,)
        The given class labels (numbers or strings). A class with a single row is not
        refused: the row is flagged (the models are fitted on the other rows).
    model : {"auto", "logistic", "hgb", "mlp"} or estimator, default="logistic"
        The model whose scores are combined with the forest's. ``"auto"``: for class
        labels histogram gradient boosting (its out-of-fold loss) beside a standardised
        logistic regression (a linear family: its self-influence and out-of-fold loss),
        the family rule keeping those that fit; for a continuous target a standardised
        ridge regression. Or one model: a standardised logistic regression, histogram
        gradient boosting, a one-hidden-layer skorch MLP (the ``torch`` extra), or your
        own scikit-learn classifier or Pipeline (cloned and refitted on the numeric
        features).
    scorers : list of str, default=None
        Names of the scores to combine (``skinfluence audit --help`` lists them); None:
        with ``model="auto"`` and class labels ``oof``, ``linear-self-influence``,
        ``linear-oof`` and ``forest``; otherwise ``self-influence``, ``oof`` and
        ``forest`` (``residual`` for ``oof`` on a continuous target), skipping any the
        model cannot give.
    weights : {"family", "kappa", "equal"} or dict, default="family"
        How families are weighted, see :class:`~skinfluence.CombinedScorer`.
    ids : array-like of shape (n_samples,), default=None
        A name for each row in the ranking (default: its position).
    known_issues : array-like of bool of shape (n_samples,), default=None
        The truly wrong labels, when known (a benchmark): detection is then measured.
    %(n_jobs)s
        Also the native thread pools (BLAS, OpenMP); None means 1.
    random_state : int, default=0
        Seeds the folds, the forest, the models and the count's bootstrap.

    Returns
    -------
    result : AuditResult
        ``result.ranking`` (a DataFrame, most suspect first), ``result.n_issues`` and its
        interval, ``result.flagged``, ``result.families``, ``result.checks``; ``to_html``,
        ``to_csv`` and ``plot``.

    See Also
    --------
    skinfluence.CombinedScorer : the combination, as an estimator.
    skinfluence.LossScorer : the out-of-fold loss.
    skinfluence.OutOfBagScorer : the forest's out-of-bag loss.

    Notes
    -----
    Cost: that of the scores (default: one model fit, its self-influence, k out-of-fold
    fits, one 300-tree forest; ``model="auto"`` adds k out-of-fold fits of the boosting),
    plus O(n log n) per score for the ranks, a 200-resample
    bootstrap of the count (O(200 n K)) and the data checks (a nearest-neighbour query,
    O(n log n p) with a tree, O(n² p) at worst).

    Examples
    --------
    >>> from skinfluence import audit
    >>> from skinfluence.datasets import load_noisy_breast_cancer
    >>> data = load_noisy_breast_cancer(0.1, random_state=0)
    >>> result = audit(data.X_train, data.y_train, known_issues=data.is_flipped)
    >>> result.ranking.columns[:4].tolist()
    ['row', 'label', 'suggested_label', 'self-influence']
    >>> bool(abs(result.n_issues - data.is_flipped.sum()) < 0.25 * data.is_flipped.sum())
    True
    """
    data = as_audit_data(X, y, ids=ids, known_issues=known_issues)
    return audit_data(
        data,
        model=model,
        scorers=scorers,
        weights=weights,
        n_jobs=n_jobs,
        random_state=random_state,
    )


def audit_data(
    data, *, model="logistic", scorers=None, weights="family", n_jobs=None, random_state=0
):
    """:func:`audit` on checked :class:`~skinfluence._audit._data.AuditData`."""
    # Native thread pools (OpenMP in gradient boosting, BLAS) follow n_jobs: on small data and
    # busy machines, unlimited threads cost 100x more than they give (measured: 13.7 s vs 0.1 s
    # for one 112-row HistGradientBoosting fit on a loaded 2-core machine).
    threads = None if n_jobs is not None and n_jobs < 0 else (n_jobs or 1)
    with threadpool_limits(limits=threads), _torch_threads(model, threads):
        return _audit_data(data, model, scorers, weights, n_jobs, random_state)


@contextmanager
def _torch_threads(model, threads):
    """torch's own thread pool follows n_jobs too, for the torch model."""
    if not (isinstance(model, str) and model == "mlp"):
        yield
        return
    with import_mlp().torch_threads(threads):  # AuditDependencyError without the torch extra
        yield


def _audit_data(data, model, scorers, weights, n_jobs, random_state):
    feature_map = make_feature_map(data).fit(data.X)
    Z_all = np.asarray(feature_map.transform(data.X), dtype=np.float64)
    feature_names = data.feature_names or [str(c) for c in feature_map.get_feature_names_out()]
    checks = run_checks(Z_all, data, feature_names)
    if data.task == "regression":
        audited, lone, lone_note = np.arange(len(data.y)), np.array([], dtype=int), None
    else:
        audited, lone, lone_note = split_singletons(data.y)
    notes = list(data.notes) + ([lone_note] if lone_note else [])
    Z, y = Z_all[audited], data.y[audited]
    ctx = AuditContext(
        model_name=model if isinstance(model, str) else "custom",
        model=make_model(model, random_state, data.task),
        Z=Z,
        y=y,
        n_jobs=n_jobs,
        random_state=random_state,
        task=data.task,
    )
    names, score_notes = resolve_scores(scorers, ctx)
    notes.extend(score_notes)
    combination = CombinedScorer(
        [(name, SCORES[name].make(ctx)) for name in names],
        families={name: SCORES[name].family for name in names},
        weights=weights,
    ).fit(Z, y)
    findings = _regression_findings if data.task == "regression" else _label_findings
    suggested, count, reasons, flagged = findings(combination, ctx, random_state)
    return AuditResult._from_parts(
        data=data,
        audited=audited,
        lone=lone,
        lone_suggested=(
            np.asarray(ctx.fitted_model.predict(Z_all[lone])) if len(lone) else np.array([])
        ),
        combination=combination,
        suggested=suggested,
        flagged=flagged,
        reasons=reasons,
        count=count,
        checks=checks,
        notes=notes,
        model_name=ctx.model_name,
        feature_names=feature_names,
        context=ctx,
        feature_map=feature_map,
    )


def _label_findings(combination, ctx, random_state):
    """(suggested labels, count, reasons, flags) of class labels."""
    classes, y = combination.classes_, ctx.y
    proba = combination.out_of_sample_proba_
    if proba is not None:
        suggested = classes[np.argmax(proba, axis=1)]
        count = estimate_issues(y, proba, classes, random_state)
    else:  # no out-of-fold score among those asked for: the in-sample prediction
        suggested = np.asarray(ctx.fitted_model.predict(ctx.Z))
        count = None
    n_flag = count.n_issues if count is not None else int(np.sum(suggested != y))
    flagged = flag_rows(combination.scores_, n_flag)
    reasons = row_reasons(
        combination.named_scores_,
        combination.family_of_,
        combination.family_weights_,
        proba,
        classes,
        y,
        suggested,
        flagged,
    )
    return suggested, count, reasons, flagged


def _regression_findings(combination, ctx, random_state):
    """(suggested values, count, reasons, flags) of continuous targets."""
    prediction = combination.out_of_sample_prediction_
    if prediction is None:  # no out-of-fold score asked for: the in-sample prediction
        prediction = np.asarray(ctx.fitted_model.predict(ctx.Z), dtype=np.float64)
    count = estimate_corrupted_targets(ctx.y, prediction, random_state)
    flagged = flag_rows(combination.scores_, count.n_issues)
    reasons = residual_reasons(
        combination.named_scores_,
        combination.family_of_,
        combination.family_weights_,
        prediction,
        ctx.y,
        flagged,
    )
    return prediction, count, reasons, flagged
