"""``run_audit``: load, score, rank, print, and optionally cleanse and report."""

import sys
from contextlib import contextmanager

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch, _safe_indexing
from threadpoolctl import threadpool_limits

from .._utils._progress import progress
from ..metrics import detection_scores
from ._combine import combine, family_fit, family_weights
from ._data import load_csv, load_default, make_feature_map
from ._errors import AuditUsageError
from ._output import print_cleansing, print_detection, print_top, write_ranking
from ._scores import SCORES, AuditContext, import_mlp, make_model, resolve_scores


def _split_validation(data, fraction, random_state):
    """Hold out ``fraction`` of the rows: half to select rows against, half to evaluate on.

    The bundled default has a clean test set: it is the evaluation set, and ``fraction`` of
    the training rows are the selection set.
    """
    idx = np.arange(len(data.y))
    if not 0 < fraction < 1:
        raise AuditUsageError(f"--validation-fraction must be in (0, 1); got {fraction}")
    try:
        train, held = train_test_split(
            idx, test_size=fraction, stratify=data.y, random_state=random_state
        )
        if data.X_test is not None:
            return train, held, None
        select, evaluate = train_test_split(
            held, test_size=0.5, stratify=data.y[held], random_state=random_state
        )
    except ValueError as exc:
        raise AuditUsageError(
            f"--validation-fraction {fraction} leaves too few rows of some class to split "
            f"({exc}); use a larger fraction or more data"
        ) from exc
    return train, select, evaluate


def _feature_names(data, feature_map):
    if data.feature_names is not None:
        return list(data.feature_names)
    return [str(name) for name in feature_map.get_feature_names_out()]


def _subset(data, rows):
    return _safe_indexing(data.X, rows), data.y[rows]


def run_audit(
    path=None,
    *,
    target=None,
    model="logistic",
    scorers=None,
    output=None,
    report=None,
    n_jobs=None,
    id_column=None,
    validation_fraction=None,
    top=10,
    random_state=0,
    stream=None,
):
    """Run the audit and print its results; returns a Bunch with the ranking and metrics.

    Parameters mirror the command-line options (see ``skinfluence audit --help``).
    """
    stream = stream or sys.stdout
    # Native thread pools (OpenMP in gradient boosting, BLAS) follow --n-jobs: on small data and
    # busy machines, unlimited threads cost 100x more than they give (measured: 13.7 s vs 0.1 s
    # for one 112-row HistGradientBoosting fit on a loaded 2-core machine).
    threads = None if n_jobs is not None and n_jobs < 0 else (n_jobs or 1)
    with threadpool_limits(limits=threads), _torch_threads(model, threads):
        return _run_audit(
            path,
            target=target,
            model=model,
            scorers=scorers,
            output=output,
            report=report,
            n_jobs=n_jobs,
            id_column=id_column,
            validation_fraction=validation_fraction,
            top=top,
            random_state=random_state,
            stream=stream,
        )


@contextmanager
def _torch_threads(model, threads):
    """torch's own thread pool follows --n-jobs too, for the torch model."""
    if model != "mlp":
        yield
        return
    with import_mlp().torch_threads(threads):  # AuditDependencyError without the torch extra
        yield


def _run_audit(
    path,
    *,
    target,
    model,
    scorers,
    output,
    report,
    n_jobs,
    id_column,
    validation_fraction,
    top,
    random_state,
    stream,
):
    if path is None:
        if target is not None or id_column is not None:
            raise AuditUsageError("--target and --id need a CSV file")
        data = load_default(random_state)
    else:
        if target is None:
            raise AuditUsageError("a CSV file needs --target COLUMN (the label column)")
        data = load_csv(path, target, id_column)
    print(f"data: {data.name}", file=stream)
    for note in data.notes:
        print(f"note: {note}", file=stream)

    rows = np.arange(len(data.y))
    select_rows = evaluate_rows = None
    if validation_fraction is not None:
        rows, select_rows, evaluate_rows = _split_validation(
            data, validation_fraction, random_state
        )
        print(
            f"note: {len(select_rows)} rows held out to cleanse against"
            + (
                f" and {len(evaluate_rows)} to measure accuracy on"
                if evaluate_rows is not None
                else " (accuracy is measured on the bundled clean test set)"
            )
            + "; they are not ranked",
            file=stream,
        )
    X_train, y_train = _subset(data, rows)
    feature_map = make_feature_map(data).fit(X_train)
    Z = np.asarray(feature_map.transform(X_train), dtype=np.float64)
    ctx = AuditContext(
        model_name=model,
        model=make_model(model, random_state),
        Z=Z,
        y=y_train,
        n_jobs=n_jobs,
        random_state=random_state,
    )
    names, notes = resolve_scores(scorers, ctx)
    for note in notes:
        print(f"note: {note}", file=stream)
    print(
        f"model: {model} on {Z.shape[1]} numeric features; scores: {', '.join(names)}",
        file=stream,
    )
    scores = {}
    for name in progress(names, verbose=None, desc="scoring", unit="score"):
        scores[name] = np.asarray(SCORES[name].compute(ctx), dtype=np.float64)
    weights = family_weights(ctx, names)
    if len(weights) > 1:
        fit = family_fit(ctx, list(weights))
        print(
            "model families, out-of-sample accuracy and weight (Cohen's kappa; 0 = fits "
            "significantly worse than the best family, left out of 'combined'): "
            + ", ".join(f"{f} {fit[f][1]:.3f} {w:.2f}" for f, w in weights.items()),
            file=stream,
        )
    combined = combine(scores, weights)
    order = np.argsort(-combined, kind="stable")
    is_flipped = data.is_flipped[rows] if data.is_flipped is not None else None
    result = Bunch(
        order=order,
        row_ids=data.row_ids[rows],
        id_name=data.id_name,
        labels=y_train,
        predicted=ctx.fitted_model.predict(Z),
        combined=combined,
        scores=scores,
        is_flipped=is_flipped,
        detection=None,
        cleansing=None,
        family_weights=weights,
        notes=[*data.notes, *notes],
        influence_scorer=ctx.cache.get("InfluenceScorer"),
        feature_names=_feature_names(data, feature_map),
    )
    print_top(result, top, stream)
    if is_flipped is not None:
        result.detection = {
            name: detection_scores(is_flipped, s)
            for name, s in {**scores, "combined": combined}.items()
        }
        print_detection(result.detection, stream)
    if validation_fraction is not None:
        from ._cleansing import cleanse

        if evaluate_rows is None:
            X_eval, y_eval = data.X_test, data.y_test
        else:
            X_eval, y_eval = _subset(data, evaluate_rows)
        X_sel, y_sel = _subset(data, select_rows)
        result.cleansing = cleanse(
            ctx,
            combined,
            np.asarray(feature_map.transform(X_sel), dtype=np.float64),
            y_sel,
            np.asarray(feature_map.transform(X_eval), dtype=np.float64),
            y_eval,
        )
        print_cleansing(result.cleansing, stream)
    if output is not None:
        write_ranking(result, output)
        print(f"ranking of {len(order)} rows written to {output}", file=stream)
    if report is not None:
        from ._report import write_report

        write_report(result, report, title=data.name)
        print(f"report written to {report}", file=stream)
    return result
