"""Reading the audit's data: the bundled default or a user's CSV, checked column by column.

Every problem becomes an :class:`AuditDataError` whose one-line message names the column and
says what to do. Features are turned into a numeric matrix by a ``ColumnTransformer``
(median imputation of numeric columns, most-frequent imputation and one-hot encoding of
categorical ones), fitted on the training rows only; the scorers then see numbers.
"""

import csv
from dataclasses import dataclass, field

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils.multiclass import type_of_target

from .._utils._optional import import_optional
from ._errors import AuditDataError, AuditDependencyError

# An object column whose values parse as numbers this often is a numeric column with junk.
NUMERIC_JUNK_FRACTION = 0.8
# A text column with more distinct values than this (and than half its rows) is not categorical.
MAX_CATEGORIES = 50
# Delimiters tried when sniffing a file (the first SNIFF_BYTES bytes).
DELIMITERS = ",;\t|"
SNIFF_BYTES = 65536
# A target with more distinct values than this fraction of its rows (and than MAX_CATEGORIES)
# is an identifier or a continuous quantity, not a class label.
ID_LIKE_TARGET_FRACTION = 0.5
# Fewest rows of a continuous target (5 folds, 20 neighbours for the local scale).
MIN_REGRESSION_ROWS = 30


def plain(value):
    """A value as people write it: ``7`` and ``'id0'``, not ``np.int64(7)``, ``np.str_('id0')``."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass
class AuditData:
    """What the audit works on: raw features, labels, row names and optional ground truth."""

    name: str
    X: object  # DataFrame or ndarray of raw features
    y: np.ndarray
    row_ids: np.ndarray
    id_name: str = "row"
    numeric_columns: list = field(default_factory=list)
    categorical_columns: list = field(default_factory=list)
    is_flipped: np.ndarray | None = None
    feature_names: list | None = None  # when the columns of X have no names of their own
    X_test: object = None
    y_test: np.ndarray | None = None
    notes: list = field(default_factory=list)
    task: str = "classification"  # or "regression": a continuous target


def load_default(random_state=0):
    """The bundled default: breast-cancer with 10% of the training labels flipped (seeded)."""
    from ..datasets import load_noisy_breast_cancer

    data = load_noisy_breast_cancer(0.1, random_state=random_state)
    n = len(data.y_train)
    return AuditData(
        name=(
            "bundled default: scikit-learn's breast-cancer data, "
            f"{n} training rows, 10% of their labels flipped (seed {random_state})"
        ),
        X=data.X_train,
        y=np.asarray(data.y_train),
        row_ids=np.arange(n),
        numeric_columns=list(range(data.X_train.shape[1])),
        is_flipped=data.is_flipped,
        feature_names=list(data.feature_names),
        X_test=data.X_test,
        y_test=np.asarray(data.y_test),
    )


def _import_pandas():
    return import_optional("pandas", extra="all", caller="the audit", error=AuditDependencyError)


def sniff_delimiter(path):
    """The delimiter of a CSV file among ``DELIMITERS`` (``,`` when the sniffer cannot tell)."""
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as handle:
            sample = handle.read(SNIFF_BYTES)
    except OSError:
        return ","  # the reader below reports the missing file or directory
    lines = sample.splitlines()
    if len(sample) == SNIFF_BYTES and len(lines) > 1:
        sample = "\n".join(lines[:-1])  # a cut last line can mislead the sniffer
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def _read_csv(path, sep=None):
    pd = _import_pandas()
    sep = sniff_delimiter(path) if sep is None else sep
    try:
        frame = pd.read_csv(path, sep=sep)
    except FileNotFoundError as exc:
        raise AuditDataError(f"file not found: {path}") from exc
    except IsADirectoryError as exc:
        raise AuditDataError(f"{path} is a directory; give the path of a CSV file") from exc
    except pd.errors.EmptyDataError as exc:
        raise AuditDataError(f"{path} is empty; expected a CSV file with a header row") from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AuditDataError(f"{path} is not a readable CSV file ({first})") from exc
    if len(frame) == 0:
        raise AuditDataError(f"{path} has a header but no data rows")
    return frame


def _check_column(frame, column, option):
    if column not in frame.columns:
        shown = ", ".join(map(str, frame.columns[:12]))
        more = ", ..." if len(frame.columns) > 12 else ""
        raise AuditDataError(
            f"column {column!r} given to {option} is not in the file; its columns are: "
            f"{shown}{more}"
        )


def _classify_feature(pd, frame, column, notes):
    """Return 'numeric', 'categorical' or None (dropped); raise on unusable columns."""
    values = frame[column]
    if values.isna().all():
        notes.append(f"column {column!r} is empty in every row: dropped")
        return None
    if pd.api.types.is_bool_dtype(values):
        return "categorical"
    if pd.api.types.is_numeric_dtype(values):
        if not np.isfinite(values.dropna().to_numpy(dtype=np.float64)).all():
            raise AuditDataError(
                f"column {column!r} holds infinite values; replace them or blank those cells"
            )
        return "numeric"
    present = values.dropna()
    parsed = pd.to_numeric(present, errors="coerce")
    n_numeric = int(parsed.notna().sum())
    if n_numeric >= NUMERIC_JUNK_FRACTION * len(present):
        bad = present[parsed.isna()]
        position = frame.index.get_loc(bad.index[0])
        raise AuditDataError(
            f"column {column!r} is numeric but data row {position} holds "
            f"{plain(bad.iloc[0])!r}; "
            "fix or blank such cells (blanks are imputed)"
        )
    n_distinct = present.nunique()
    if n_distinct > max(MAX_CATEGORIES, len(present) // 2):
        raise AuditDataError(
            f"column {column!r} has {n_distinct} distinct text values, too many for a "
            "category (an identifier or free text?); pass it with --id or drop it"
        )
    return "categorical"


def check_target(y, target="y"):
    """The task of a target, "classification" or "regression"; refuses unusable targets.

    Continuous numbers (and integers with many distinct values that are not a row count)
    are a regression target; a class with one row is audited, not refused.
    """
    kind = type_of_target(y)
    classes, counts = np.unique(y, return_counts=True)
    many = len(classes) > max(MAX_CATEGORIES, ID_LIKE_TARGET_FRACTION * len(y))
    numeric = np.issubdtype(np.asarray(y).dtype, np.number)
    if numeric and (kind == "continuous" or many) and not _counts_rows(y):
        if len(y) < MIN_REGRESSION_ROWS:
            raise AuditDataError(
                f"target column {target!r} holds continuous numbers but only {len(y)} rows; "
                f"a regression audit needs at least {MIN_REGRESSION_ROWS}"
            )
        return "regression"
    if many:
        raise AuditDataError(
            f"target column {target!r} looks like an identifier, not a class label: "
            f"{len(classes)} distinct values in {len(y)} rows; give the column of class labels "
            "to --target (and this one to --id)"
        )
    if len(classes) < 2:
        raise AuditDataError(
            f"target column {target!r} has a single class ({plain(classes[0])!r}); "
            "a label audit needs at least two"
        )
    if np.sum(counts >= 2) < 2:
        raise AuditDataError(
            f"target column {target!r} has fewer than two classes with 2 rows or more; "
            "out-of-fold scores need them"
        )
    return "classification"


def _counts_rows(y):
    """Distinct integers that count up the rows: a row number, not a target."""
    values = np.asarray(y, dtype=np.float64)
    if len(np.unique(values)) != len(values) or not np.all(values == np.round(values)):
        return False
    return bool(np.all(np.diff(values) > 0) or values.max() - values.min() + 1 == len(values))


def split_singletons(y):
    """Positions of the rows audited and of the rows whose class has no other row, and a note.

    A class with one row cannot be predicted out of sample: its row is left out of the fits
    and flagged (it is a typo, or a class too small to learn), with the models' prediction
    from the other rows as its suggested label.
    """
    classes, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    lone = np.flatnonzero(counts[inverse] == 1)
    audited = np.flatnonzero(counts[inverse] > 1)
    note = None
    if len(lone):
        shown = ", ".join(repr(plain(v)) for v in classes[counts == 1][:5])
        note = (
            f"{len(lone)} row(s) are the only row of their class ({shown}"
            f"{', ...' if len(lone) > 5 else ''}): flagged, and left out of the model fits"
        )
    return audited, lone, note


def load_csv(path, target, id_column=None, sep=None):
    """Read and check a user's CSV; returns :class:`AuditData`."""
    pd = _import_pandas()
    frame = _read_csv(path, sep)
    _check_column(frame, target, "--target")
    if id_column is not None:
        _check_column(frame, id_column, "--id")
        if id_column == target:
            raise AuditDataError(f"column {target!r} cannot be both --target and --id")
    notes = []
    missing_target = frame[target].isna().to_numpy()
    if missing_target.all():
        raise AuditDataError(f"target column {target!r} is empty in every row")
    row_numbers = np.arange(len(frame))[~missing_target]
    if missing_target.any():
        notes.append(
            f"{int(missing_target.sum())} rows with no value in target column {target!r}: left out"
        )
        frame = frame.loc[~missing_target]
    y = frame[target].to_numpy()
    if y.dtype == object:
        y = y.astype(str)
    task = check_target(y, target)
    if task == "regression":
        y = y.astype(np.float64)
    feature_columns = [c for c in frame.columns if c not in (target, id_column)]
    X, numeric, categorical = _features(
        pd,
        frame[feature_columns],
        notes,
        nothing_left=f"{path} has no usable feature column besides the target {target!r}"
        + (f" and the id {id_column!r}" if id_column is not None else ""),
    )
    row_ids = frame[id_column].to_numpy() if id_column is not None else row_numbers
    return AuditData(
        name=f"{path}: {len(y)} rows, {len(numeric)} numeric and {len(categorical)} "
        f"categorical feature columns, target {target!r}",
        X=X,
        y=y,
        row_ids=row_ids,
        id_name=id_column if id_column is not None else "row",
        numeric_columns=numeric,
        categorical_columns=categorical,
        notes=notes,
        task=task,
    )


def _features(pd, frame, notes, nothing_left):
    """The usable columns of a DataFrame of features, typed; returns (X, numeric, categorical)."""
    numeric, categorical = [], []
    for column in frame.columns:
        kind = _classify_feature(pd, frame, column, notes)
        if kind == "numeric":
            numeric.append(column)
        elif kind == "categorical":
            categorical.append(column)
    if not numeric and not categorical:
        raise AuditDataError(nothing_left)
    X = frame[numeric + categorical].copy()
    for column in categorical:  # one dtype per column for the encoder (bools, mixed text)
        X[column] = X[column].map(lambda v: str(v) if pd.notna(v) else np.nan).astype(object)
    n_missing = int(X.isna().to_numpy().sum())
    if n_missing:
        columns = [c for c in X.columns if X[c].isna().any()]
        notes.append(
            f"{n_missing} missing feature values in column(s) {', '.join(map(repr, columns))}: "
            "imputed (median for numbers, most frequent value for categories)"
        )
    return X, numeric, categorical


def as_audit_data(X, y, *, ids=None, known_issues=None):
    """:class:`AuditData` from a user's X (array or DataFrame) and y, checked."""
    from sklearn.utils.validation import check_array

    y = np.asarray(y)
    if y.ndim != 1:
        raise AuditDataError(f"y must be one label per row (1-d); got shape {y.shape}")
    if y.dtype == object:
        y = y.astype(str)
    notes = []
    if hasattr(X, "columns") and hasattr(X, "iloc"):  # a DataFrame
        pd = _import_pandas()
        X, numeric, categorical = _features(
            pd, X.reset_index(drop=True), notes, nothing_left="X has no usable feature column"
        )
        feature_names = None
    else:
        X = check_array(X, dtype=np.float64, ensure_all_finite="allow-nan")
        numeric, categorical = list(range(X.shape[1])), []
        feature_names = [f"x{j}" for j in range(X.shape[1])]
    if len(y) != X.shape[0]:
        raise AuditDataError(f"X has {X.shape[0]} rows but y has {len(y)} labels")
    task = check_target(y)
    if task == "regression":
        y = y.astype(np.float64)
    row_ids = np.arange(len(y)) if ids is None else np.asarray(ids)
    if len(row_ids) != len(y):
        raise AuditDataError(f"ids has {len(row_ids)} entries for {len(y)} rows")
    return AuditData(
        name=f"{len(y)} rows, {len(numeric)} numeric and {len(categorical)} categorical features",
        X=X,
        y=y,
        row_ids=row_ids,
        numeric_columns=numeric,
        categorical_columns=categorical,
        is_flipped=None if known_issues is None else np.asarray(known_issues, dtype=bool),
        feature_names=feature_names,
        notes=notes,
        task=task,
    )


def make_feature_map(data):
    """A ``ColumnTransformer`` turning the raw features into numbers (unfitted)."""
    parts = []
    if data.numeric_columns:
        parts.append(("numeric", SimpleImputer(strategy="median"), data.numeric_columns))
    if data.categorical_columns:
        encoder = OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            max_categories=MAX_CATEGORIES,
            sparse_output=False,
        )
        parts.append(
            (
                "categorical",
                make_pipeline(SimpleImputer(strategy="most_frequent"), encoder),
                data.categorical_columns,
            )
        )
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)
