"""Text output of the audit: the top rows, detection metrics, cleansing, the ranking file."""

import csv
import itertools

import numpy as np

from ._errors import AuditUsageError


def ranking_columns(result):
    """Header of the ranking file, in order."""
    columns = ["rank", result.id_name, "label", "predicted", "combined", *result.scores]
    if result.is_flipped is not None:
        columns.append("flipped")
    return columns


def ranking_rows(result):
    """Rows of the ranking, most suspect first (values as Python objects)."""
    for rank, i in enumerate(result.order, start=1):
        row = [rank, result.row_ids[i], result.labels[i], result.predicted[i]]
        row.append(float(result.combined[i]))
        row.extend(float(s[i]) for s in result.scores.values())
        if result.is_flipped is not None:
            row.append(bool(result.is_flipped[i]))
        yield row


def _fmt(value):
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    if isinstance(value, (np.generic,)):
        return str(value.item())
    return str(value)


def format_table(header, rows):
    """A plain-text table with right-aligned columns."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[j]) for r in cells)) for j, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines.extend("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells)
    return "\n".join(lines)


def print_top(result, top, stream):
    header = ranking_columns(result)
    rows = list(itertools.islice(ranking_rows(result), top))
    print(
        f"\ntop {len(rows)} of {len(result.order)} rows, most suspect first "
        "(combined = weighted mean rank in [0, 1] of the scores of the families kept; every "
        "score: higher = more suspect):",
        file=stream,
    )
    print(format_table(header, rows), file=stream)


def print_detection(detection, stream):
    print(
        "\nthe flipped rows are known, so detection can be measured "
        f"(random ranking: AUPRC {next(iter(detection.values())).base_rate:.3f}):",
        file=stream,
    )
    rows = [
        [name, float(d.auroc), float(d.auprc), float(d.precision_at_k)]
        for name, d in detection.items()
    ]
    print(format_table(["score", "AUROC", "AUPRC", "precision@k"], rows), file=stream)


def print_cleansing(cleansing, stream):
    print(
        f"\ndata cleansing: remove the k% most harmful training rows, refit, accuracy on "
        f"{cleansing.n_evaluate} held-out rows (rows to remove chosen by "
        f"{cleansing.harm_name}, and by the combined score):",
        file=stream,
    )
    rows = [
        [f"{k:g}%", n, acc_h, acc_c]
        for k, n, acc_h, acc_c in zip(
            cleansing.percents,
            cleansing.n_removed,
            cleansing.accuracy_harm,
            cleansing.accuracy_combined,
            strict=True,
        )
    ]
    print(
        format_table(["removed", "rows", cleansing.harm_name, "combined score"], rows),
        file=stream,
    )


def write_ranking(result, path):
    try:
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(ranking_columns(result))
            for row in ranking_rows(result):
                writer.writerow(_fmt_csv(v) for v in row)
    except OSError as exc:
        raise AuditUsageError(f"cannot write --output {path}: {exc.strerror}") from exc


def _fmt_csv(value):
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, np.generic):
        return value.item()
    return value
