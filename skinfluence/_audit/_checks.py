"""Cheap, deterministic data checks that every audit runs beside the scores.

On the numeric features (after encoding and imputation), standardised column by column:

- ``duplicates``: rows with identical features and the same label;
- ``conflicts``: rows with identical features and different labels (at most one is right);
- ``near duplicates``: a row whose nearest neighbour is closer than :data:`NEAR_FRACTION`
  times the median nearest-neighbour distance (and not identical);
- ``outliers``: a row whose mean distance to its :data:`OUTLIER_NEIGHBOURS` nearest
  neighbours is, on a log scale, more than :data:`OUTLIER_Z` robust standard deviations
  (1.4826 MAD) above the median;
- ``small classes``: classes with fewer than :data:`SMALL_CLASS` rows (fewer than the
  out-of-fold models need to learn them);
- ``id-like columns``: a numeric feature column whose values are distinct integers that
  count up the rows (a row number or identifier used as a feature).

Cost: one ``np.unique`` over the rows, O(n p log n), and one nearest-neighbour query of
``OUTLIER_NEIGHBOURS + 1`` neighbours (a tree: about O(n log n p) in low dimension; brute
force O(n² p) in chunks at worst).
"""

from dataclasses import dataclass, field

import numpy as np
from sklearn.neighbors import NearestNeighbors

from ._data import plain

NEAR_FRACTION = 0.02
OUTLIER_NEIGHBOURS = 5
OUTLIER_Z = 6.0
SMALL_CLASS = 5
ID_MIN_ROWS = 20
#: Dimension above which the neighbours are found by brute force (BLAS) instead of a tree.
BRUTE_ABOVE = 15


@dataclass
class DataCheck:
    """One check's finding: the rows involved (positions) and a one-line message."""

    name: str
    message: str
    rows: np.ndarray  # positions of the rows involved, sorted
    groups: list = field(default_factory=list)  # lists of positions that go together
    columns: list = field(default_factory=list)
    row_notes: dict = field(default_factory=dict)  # position -> a note for its reason


def _standardised(Z):
    scale = Z.std(axis=0)
    scale[scale == 0] = 1.0
    return (Z - Z.mean(axis=0)) / scale


def _identical(Z, y, ids):
    _, inverse, counts = np.unique(Z, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    duplicates, conflicts = [], []
    for group_id in np.flatnonzero(counts > 1):
        rows = np.flatnonzero(inverse == group_id)
        (conflicts if len(np.unique(y[rows])) > 1 else duplicates).append(rows)
    checks = []
    if duplicates:
        checks.append(
            _grouped(
                "duplicates",
                duplicates,
                ids,
                "rows with identical features and the same label (each copy counts again in "
                "every fit)",
                lambda i, others: f"duplicate of {others}",
            )
        )
    if conflicts:
        checks.append(
            _grouped(
                "conflicts",
                conflicts,
                ids,
                "rows with identical features and different labels (at most one label is right)",
                lambda i, others: f"same features as {others} with another label",
                y=y,
            )
        )
    return checks


def _grouped(name, groups, ids, what, note, y=None):
    rows = np.sort(np.concatenate(groups))
    notes = {}
    for group in groups:
        for i in group:
            others = ", ".join(
                f"{plain(ids[j])}" + ("" if y is None else f" ({plain(y[j])})")
                for j in group
                if j != i
            )
            notes[int(i)] = note(i, f"row {others}")
    shown = "; ".join(", ".join(str(plain(ids[j])) for j in group) for group in groups[:3]) + (
        "; ..." if len(groups) > 3 else ""
    )
    return DataCheck(
        name,
        f"{len(rows)} {what}, in {len(groups)} group(s): {shown}",
        rows,
        groups=[list(g) for g in groups],
        row_notes=notes,
    )


def _neighbour_checks(Z, y, ids, exact_rows):
    n = len(Z)
    k = min(OUTLIER_NEIGHBOURS + 1, n)
    if k < 2:
        return []
    S = _standardised(Z)
    # Trees lose to chunked BLAS distances beyond ~15 dimensions (digits, 64: 148 ms with
    # "auto", 74 ms brute force, on one thread).
    algorithm = "brute" if S.shape[1] > BRUTE_ABOVE else "auto"
    distances, neighbours = (
        NearestNeighbors(n_neighbors=k, algorithm=algorithm).fit(S).kneighbors(S)
    )
    # Row i is its own first neighbour, except among identical rows (any copy may come first).
    other = neighbours[:, 0] == np.arange(n)
    nearest = np.where(other, distances[:, 1], distances[:, 0])
    nearest_row = np.where(other, neighbours[:, 1], neighbours[:, 0])
    checks = []
    positive = nearest[nearest > 0]
    if len(positive):
        typical = float(np.median(positive))
        near = np.flatnonzero((nearest > 0) & (nearest < NEAR_FRACTION * typical))
        near = near[~np.isin(near, exact_rows)]
        if len(near):
            notes = {
                int(i): f"near duplicate of row {plain(ids[nearest_row[i]])}"
                + (" with another label" if y[i] != y[nearest_row[i]] else "")
                for i in near
            }
            pairs = sorted({tuple(sorted((int(i), int(nearest_row[i])))) for i in near})
            differ = sum(y[a] != y[b] for a, b in pairs)
            checks.append(
                DataCheck(
                    "near duplicates",
                    f"{len(near)} rows whose nearest neighbour is closer than "
                    f"{NEAR_FRACTION:g} x the typical nearest-neighbour distance ({len(pairs)} "
                    f"pair(s), {differ} with different labels): "
                    + ", ".join(f"{plain(ids[a])}~{plain(ids[b])}" for a, b in pairs[:5])
                    + (", ..." if len(pairs) > 5 else ""),
                    np.sort(near),
                    groups=[list(p) for p in pairs],
                    row_notes=notes,
                )
            )
    if k > 2 and n > OUTLIER_NEIGHBOURS + 1:
        spread = np.log(np.maximum(distances[:, 1:].mean(axis=1), 1e-300))
        median = np.median(spread)
        mad = 1.4826 * np.median(np.abs(spread - median))
        if mad > 0:
            z = (spread - median) / mad
            outliers = np.flatnonzero(z > OUTLIER_Z)
            if len(outliers):
                checks.append(
                    DataCheck(
                        "outliers",
                        f"{len(outliers)} rows far from every other row (mean distance to "
                        f"their {OUTLIER_NEIGHBOURS} nearest neighbours more than "
                        f"{OUTLIER_Z:g} robust standard deviations above the typical, log "
                        "scale): "
                        + ", ".join(str(plain(ids[i])) for i in outliers[:8])
                        + (", ..." if len(outliers) > 8 else ""),
                        outliers,
                        row_notes={
                            int(i): f"feature-space outlier (z {z[i]:.0f})" for i in outliers
                        },
                    )
                )
    return checks


def _small_classes(y):
    classes, counts = np.unique(y, return_counts=True)
    small = classes[counts < SMALL_CLASS]
    if not len(small):
        return []
    rows = np.flatnonzero(np.isin(y, small))
    sizes = ", ".join(
        f"{plain(c)!r} ({int(n)} row{'s' if n > 1 else ''})"
        for c, n in zip(classes, counts, strict=True)
        if n < SMALL_CLASS
    )
    return [
        DataCheck(
            "small classes",
            f"classes with fewer than {SMALL_CLASS} rows, too few to learn out of fold: {sizes}",
            rows,
            row_notes={
                int(i): f"class {plain(y[i])!r} has {int(np.sum(y == y[i]))} row(s)" for i in rows
            },
        )
    ]


def _id_like_columns(data):
    X = data.X
    found = []
    n = len(data.y)
    if n < ID_MIN_ROWS:
        return []
    for column in data.numeric_columns:
        values = np.asarray(X[column] if hasattr(X, "columns") else X[:, column], dtype=float)
        if not np.isfinite(values).all() or not np.all(values == np.round(values)):
            continue
        if len(np.unique(values)) != n:
            continue
        ordered = np.all(np.diff(values) > 0) or np.all(np.diff(values) < 0)
        consecutive = values.max() - values.min() + 1 == n
        if ordered or consecutive:
            name = data.feature_names[column] if data.feature_names else column
            found.append(str(name))
    if not found:
        return []
    return [
        DataCheck(
            "id-like columns",
            f"feature column(s) {', '.join(map(repr, found))} hold distinct integers that "
            "count up the rows (a row number or identifier?); pass such a column with --id "
            "(ids= from Python) or drop it",
            np.array([], dtype=int),
            columns=found,
        )
    ]


def run_checks(Z, data, feature_names=None):
    """Every check on the encoded features ``Z`` of ``data``; returns a list of DataCheck."""
    y, ids = data.y, data.row_ids
    checks = _identical(Z, y, ids)
    exact = np.concatenate([c.rows for c in checks]) if checks else np.array([], dtype=int)
    checks += _neighbour_checks(Z, y, ids, exact)
    if data.task == "classification":
        checks += _small_classes(y)
    checks += _id_like_columns(data)
    return checks
