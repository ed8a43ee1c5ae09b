"""Text output of the audit: the top rows, detection metrics, cleansing, the ranking file."""

import csv
import itertools

import numpy as np

from ._errors import AuditUsageError


def ranking_columns(result):
    """Header of the ranking, in order (``rank`` first)."""
    return ["rank", *result.ranking.columns]


def ranking_rows(result, flagged_only=False):
    """Rows of the ranking, most suspect first (values as Python objects)."""
    frame = result.ranking
    if flagged_only:
        frame = frame[frame["flagged"]]
    for rank, values in zip(frame.index, frame.itertuples(index=False), strict=True):
        yield [int(rank), *(_plain(v) for v in values)]


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def summary_lines(result):
    """What the audit found, as lines of text: families, the count, the checks, notes."""
    lines = []
    fitted = {f: b for f, b in sorted(result.families.items()) if "accuracy" in b}
    if len(fitted) > 1:
        lines.append(
            "model families, out-of-sample accuracy and weight (Cohen's kappa; 0 = fits "
            "significantly worse than the best family, left out of 'combined'): "
            + ", ".join(f"{f} {b.accuracy:.3f} {b.weight:.2f}" for f, b in fitted.items())
        )
    fitted = {f: b for f, b in sorted(result.families.items()) if "mae" in b}
    if len(fitted) > 1:
        lines.append(
            "model families, out-of-sample mean absolute error and weight (skill: 1 - MAE over "
            "the targets' mean absolute deviation; 0 = fits significantly worse than the best "
            "family, left out of 'combined'): "
            + ", ".join(f"{f} {b.mae:.4g} {b.weight:.2f}" for f, b in fitted.items())
        )
    what = "corrupted targets" if result.task == "regression" else "label issues"
    low, high = result.n_issues_interval
    n = len(result.labels)
    lines.append(
        f"estimated {what}: {result.n_issues} of {n} rows "
        f"({100 * result.n_issues / n:.1f}%; 90% interval {low}-{high}"
        + (f"; {result.count_method}" if result.count_method else "")
        + f"); flagged: the {int(result.flagged.sum())} most suspect rows"
    )
    if not result.checks:
        lines.append(
            "data checks: no duplicates, conflicts, outliers, tiny classes or id-like columns found"
        )
    for check in result.checks:
        lines.append(f"data check, {check.name}: {check.message}")
    return lines


def _fmt(value):
    if isinstance(value, (float, np.floating)):
        return f"{value:.4g}"
    if isinstance(value, (np.generic,)):
        return str(value.item())
    return str(value)


def format_table(header, rows, left=()):
    """A plain-text table with right-aligned columns (left-aligned: the names in ``left``)."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[j]) for r in cells)) for j, h in enumerate(header)]

    def line(values):
        return "  ".join(
            v.ljust(w) if h in left else v.rjust(w)
            for v, w, h in zip(values, widths, header, strict=True)
        ).rstrip()

    return "\n".join([line(header), *(line(r) for r in cells)])


def print_summary(result, stream):
    for line in summary_lines(result):
        print(line, file=stream)


def print_top(result, top, stream):
    header = ranking_columns(result)
    rows = list(itertools.islice(ranking_rows(result), top))
    print(
        f"\ntop {len(rows)} of {len(result.order)} rows, most suspect first "
        "(combined = weighted mean rank in [0, 1] of the scores of the families kept; every "
        "score: higher = more suspect; suggested_label = the out-of-sample prediction):",
        file=stream,
    )
    print(format_table(header, rows, left=("reason",)), file=stream)


def print_flagged_ids(result, stream):
    """``--flag-only``: the id of each flagged row, one a line, most suspect first."""
    for row in ranking_rows(result, flagged_only=True):
        print(row[1], file=stream)


def print_detection(detection, stream):
    print(
        "\nthe flipped rows are known, so detection can be measured "
        f"(random ranking: AUPRC {next(iter(detection.values())).base_rate:.3f}):",
        file=stream,
    )
    rows = [
        [name, float(d.auroc), float(d.auprc), float(d.precision_at_k)]
        for name, d in detection.items()
        if not name.startswith("flag_")
    ]
    print(format_table(["score", "AUROC", "AUPRC", "precision@k"], rows), file=stream)
    print(
        f"flagged rows: precision {detection['flag_precision']:.3f}, recall "
        f"{detection['flag_recall']:.3f}",
        file=stream,
    )


def print_cleansing(cleansing, stream):
    print(
        f"\ndata cleansing: remove the k% most harmful training rows, refit, accuracy on "
        f"{cleansing.n_evaluate} held-out rows, mean of {cleansing.repeats} repeats (rows to "
        f"remove chosen by {cleansing.harm_name}; baselines: as many random rows, and the "
        "combined score; 0% = removing none). Last column: harmful minus random, mean and "
        "paired 95% interval over the repeats:",
        file=stream,
    )
    rows = [
        [f"{k:g}%", n, acc_h, acc_r, acc_c, _interval(diff)]
        for k, n, acc_h, acc_r, acc_c, diff in zip(
            cleansing.percents,
            cleansing.n_removed,
            cleansing.accuracy_harm,
            cleansing.accuracy_random,
            cleansing.accuracy_combined,
            cleansing.harm_minus_random,
            strict=True,
        )
    ]
    header = ["removed", "rows", cleansing.harm_name, "random", "combined score", "harm - random"]
    print(format_table(header, rows), file=stream)


def _interval(diff):
    mean, low, high = diff
    if not np.isfinite(mean):
        return "-"
    if not np.isfinite(low):
        return f"{mean:+.4f}"
    return f"{mean:+.4f} [{low:+.4f}, {high:+.4f}]"


def write_ranking(result, path, flagged_only=False):
    try:
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(ranking_columns(result))
            for row in ranking_rows(result, flagged_only):
                writer.writerow(_fmt_csv(v) for v in row)
    except OSError as exc:
        raise AuditUsageError(f"cannot write --output {path}: {exc.strerror}") from exc


def _fmt_csv(value):
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, np.generic):
        return value.item()
    return value
