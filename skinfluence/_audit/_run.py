"""``run_audit``: the command line's job: load, call :func:`audit_data`, print, write files."""

import sys
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils import _safe_indexing

from ._api import audit_data
from ._data import AuditData, load_csv, load_default
from ._errors import AuditDataError, AuditUsageError
from ._output import (
    print_cleansing,
    print_detection,
    print_flagged_ids,
    print_summary,
    print_top,
    write_ranking,
)
from ._scores import MODELS


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


def _subset(data, rows):
    return _safe_indexing(data.X, rows), data.y[rows]


def load_model(spec):
    """``--model``: a built-in name, or the path of a pickled / joblib scikit-learn estimator.

    The file is unpickled (only load files you trust: unpickling runs code); the estimator is
    cloned and refitted by the audit, so a fitted one works as well as an unfitted one.
    """
    if spec in MODELS:
        return spec
    path = Path(spec)
    if not path.is_file():
        raise AuditUsageError(
            f"--model {spec!r} is neither one of {', '.join(MODELS)} nor a file; give a "
            "built-in name or the path of a pickled scikit-learn estimator (.pkl, .joblib)"
        )
    import joblib

    try:
        model = joblib.load(path)
    except Exception as exc:  # any unpickling failure: one line, exit 3
        raise AuditDataError(
            f"--model {spec}: cannot unpickle it ({type(exc).__name__}: {exc}); save the "
            "estimator with joblib.dump or pickle.dump"
        ) from exc
    if not isinstance(model, BaseEstimator) or not hasattr(model, "predict_proba"):
        raise AuditDataError(
            f"--model {spec} holds a {type(model).__name__}, not a scikit-learn classifier "
            "with predict_proba (or a Pipeline ending in one)"
        )
    return model


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
    sep=None,
    flag_only=False,
    stream=None,
):
    """Run the audit and print its results; returns the :class:`AuditResult`.

    Parameters mirror the command-line options (see ``skinfluence audit --help``).
    ``flag_only`` prints only the ids of the flagged rows, one a line (the other text goes
    to standard error).
    """
    stream = stream or sys.stdout
    info = sys.stderr if flag_only else stream
    model = load_model(model) if isinstance(model, str) else model
    if path is None:
        if target is not None or id_column is not None:
            raise AuditUsageError("--target and --id need a CSV file")
        if sep is not None:
            raise AuditUsageError("--sep needs a CSV file")
        data = load_default(random_state)
    else:
        if target is None:
            raise AuditUsageError("a CSV file needs --target COLUMN (the label column)")
        data = load_csv(path, target, id_column, sep=sep)
    print(f"data: {data.name}", file=info)

    rows = np.arange(len(data.y))
    select_rows = evaluate_rows = None
    if validation_fraction is not None:
        if data.task == "regression":
            raise AuditUsageError(
                "--validation-fraction measures held-out accuracy: it needs class labels, not "
                "a continuous target"
            )
        rows, select_rows, evaluate_rows = _split_validation(
            data, validation_fraction, random_state
        )
        held = len(select_rows) + (len(evaluate_rows) if evaluate_rows is not None else 0)
        data.notes.append(
            f"{held} rows held out"
            + (
                ", split anew in each repeat into halves to cleanse against and to measure "
                "accuracy on"
                if evaluate_rows is not None
                else " to cleanse against (accuracy is measured on the bundled clean test set)"
            )
            + "; they are not ranked"
        )
    result = audit_data(
        _rows_of(data, rows),
        model=model,
        scorers=scorers,
        n_jobs=n_jobs,
        random_state=random_state,
    )
    for note in result.notes:
        print(f"note: {note}", file=info)
    names = ", ".join(result.scores)
    print(
        f"model: {_model_label(model)} on {result._context.Z.shape[1]} numeric features; "
        f"scores: {names}",
        file=info,
    )
    print_summary(result, info)
    if flag_only:
        print_flagged_ids(result, stream)
    else:
        print_top(result, top, stream)
    if result.detection is not None:
        print_detection(result.detection, info)
    if validation_fraction is not None:
        from ._cleansing import cleanse

        feature_map = result._feature_map

        def numeric(X):
            return np.asarray(feature_map.transform(X), dtype=np.float64)

        held_rows = select_rows if evaluate_rows is None else np.r_[select_rows, evaluate_rows]
        X_held, y_held = _subset(data, held_rows)
        X_test = None if data.X_test is None else numeric(data.X_test)
        result.cleansing = cleanse(
            result._context,
            result.combined[result._audited],
            numeric(X_held),
            y_held,
            X_test,
            data.y_test,
            random_state=random_state,
        )
        print_cleansing(result.cleansing, info)
    if output is not None:
        write_ranking(result, output, flagged_only=flag_only)
        shown = "flagged rows" if flag_only else f"ranking of {len(result.order)} rows"
        print(f"{shown} written to {output}", file=info)
    if report is not None:
        from ._report import write_report

        write_report(result, report, title=data.name)
        print(f"report written to {report}", file=info)
    return result


def _model_label(model):
    return model if isinstance(model, str) else f"your {type(model).__name__}"


def _rows_of(data, rows):
    """The AuditData of some rows (all of them: the data itself)."""
    if len(rows) == len(data.y):
        return data
    X, y = _subset(data, rows)
    return AuditData(
        name=data.name,
        X=X,
        y=y,
        row_ids=data.row_ids[rows],
        id_name=data.id_name,
        numeric_columns=data.numeric_columns,
        categorical_columns=data.categorical_columns,
        is_flipped=None if data.is_flipped is None else data.is_flipped[rows],
        feature_names=data.feature_names,
        notes=data.notes,
        task=data.task,
    )
