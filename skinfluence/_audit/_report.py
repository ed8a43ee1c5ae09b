"""The audit's report: one self-contained HTML file (plots embedded as PNG) or one PNG."""

import base64
import html
import io
from pathlib import Path

import numpy as np

from .._utils._optional import import_optional
from ._errors import AuditDependencyError, AuditUsageError
from ._output import _fmt, _interval, ranking_columns, ranking_rows

REPORT_TOP = 25


def _pyplot():
    matplotlib = import_optional(
        "matplotlib", extra="plot", caller="--report", error=AuditDependencyError
    )
    matplotlib.use("Agg")
    return import_optional("matplotlib.pyplot", extra="plot", caller="--report")


def _score_histogram(result, ax):
    combined = result.combined
    if result.is_flipped is not None:
        bins = np.linspace(0, 1, 31)
        ax.hist(combined[~result.is_flipped], bins=bins, alpha=0.7, label="label kept")
        ax.hist(combined[result.is_flipped], bins=bins, alpha=0.7, label="label flipped")
        ax.legend()
    else:
        ax.hist(combined, bins=30)
    ax.set(
        xlabel="combined score (higher = more suspect)",
        ylabel="rows",
        title="distribution of the combined score",
    )


def _figures(result):
    """(title, figure) pairs of the report's plots."""
    plt = _pyplot()
    from ..plotting import DetectionCurveDisplay, InfluenceDisplay

    figures = []
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    _score_histogram(result, ax)
    figures.append(("Combined score", fig))
    if result.is_flipped is not None:
        fig, ax = plt.subplots(figsize=(6, 5), layout="constrained")
        truth = np.asarray(result.is_flipped, dtype=bool)
        for name, values in {**result.scores, "combined": result.combined}.items():
            scored = np.isfinite(values)  # a single-row class's row has no score but combined
            DetectionCurveDisplay.from_scores(truth[scored], values[scored], name=name, ax=ax)
        ax.set_title("finding the known flipped labels")
        figures.append(("Detection of the flipped labels", fig))
    if getattr(result, "influence_scorer", None) is not None:
        top = int(result.order[0])
        scorer = result.influence_scorer
        X, y = scorer.train_X_, scorer.train_y_
        # The bars' tick labels name the rows only; their two most telling features are
        # written inside the panel (long feature names squeezed the bars as tick labels).
        fig, ax = plt.subplots(figsize=(7, 5), layout="constrained")
        display = InfluenceDisplay.from_estimator(
            scorer,
            X[top],
            y[top],
            X,
            y,
            k=4,
            feature_names=getattr(result, "feature_names", None),
            ax=ax,
        )
        display.ax_.set_title(
            f"what helps / harms suspect {result.id_name} {result.row_ids[top]}", fontsize=10
        )
        _move_feature_text_into_bars(display.ax_)
        figures.append(("Why the model fits the most suspect row as it does", display.figure_))
    return figures


def _move_feature_text_into_bars(ax):
    """Short tick labels (the row, helps/harms, its label); the features that tell the row
    apart are written beside the zero line, on the side the bar leaves free, so long feature
    names no longer squeeze the bars."""
    ticks = ax.get_yticks()
    heads, tails = [], []
    for tick in ax.get_yticklabels():
        head, _, tail = tick.get_text().partition(": ")
        heads.append(head)
        tails.append(tail)
    ax.set_yticks(ticks, heads, fontsize=8)
    bars = sorted(ax.patches, key=lambda p: p.get_y())
    by_y = {round(b.get_y() + b.get_height() / 2, 6): b.get_width() for b in bars}
    for y, tail in zip(ticks, tails, strict=True):
        if not tail:
            continue
        width = by_y.get(round(float(y), 6), 0.0)
        # Beside the bar's root, on the free side of zero, small and grey.
        ha, offset = ("right", -3) if width >= 0 else ("left", 3)
        ax.annotate(
            tail,
            (0, y),
            xytext=(offset, 0),
            textcoords="offset points",
            ha=ha,
            va="center",
            fontsize=7,
            color="0.3",
            clip_on=True,
        )
    low, high = ax.get_xlim()
    span = max(abs(low), abs(high))
    ax.set_xlim(-span, span)  # room for the text on both sides of zero


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _td(value):
    """A table cell: numbers and short labels right-aligned, sentences (reasons) left."""
    text = _fmt(value)
    prose = isinstance(value, str) and " " in text and len(text) > 12
    return f"<td{' class=text' if prose else ''}>{html.escape(text)}</td>"


def _table(header, rows):
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(_td(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(result, title, figures):
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>skinfluence audit: {html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;"
        "padding:2px 6px;text-align:right}td.text{text-align:left}</style></head><body>",
        "<h1>skinfluence audit</h1>",
        f"<p>{html.escape(title)}</p>",
        f"<p>Scores: {html.escape(', '.join(result.scores))}. Every score: higher = more "
        "suspect; <em>combined</em> is their weighted mean rank in [0, 1].</p>",
    ]
    weights = getattr(result, "family_weights", None) or {}
    if len(weights) > 1:
        parts.append(
            "<p>Model families and their weight in <em>combined</em> (Cohen's kappa of their "
            "out-of-sample predictions; 0 = fits the labels significantly worse than the best "
            "family, left out): "
            + html.escape(", ".join(f"{f} {w:.2f}" for f, w in weights.items()))
            + ".</p>"
        )
    for note in getattr(result, "notes", []):
        parts.append(f"<p>Note: {html.escape(note)}</p>")
    low, high = result.n_issues_interval
    parts.append(
        f"<h2>How many labels are wrong</h2><p>Estimated label issues: "
        f"<b>{result.n_issues}</b> of {len(result.labels)} rows (90% interval {low}-{high}); "
        f"the {int(result.flagged.sum())} most suspect rows are flagged.</p>"
    )
    parts.append("<h2>Data checks</h2>")
    if result.checks:
        parts.append(
            "<ul>"
            + "".join(
                f"<li><b>{html.escape(c.name)}</b>: {html.escape(c.message)}</li>"
                for c in result.checks
            )
            + "</ul>"
        )
    else:
        parts.append("<p>No duplicates, conflicts, outliers, tiny classes or id-like columns.</p>")
    rows = list(zip(range(REPORT_TOP), ranking_rows(result), strict=False))
    parts.append(f"<h2>The {len(rows)} most suspect rows</h2>")
    parts.append(_table(ranking_columns(result), [row for _, row in rows]))
    if result.detection is not None:
        parts.append("<h2>Detection of the known flipped labels</h2>")
        parts.append(
            _table(
                ["score", "AUROC", "AUPRC", "precision@k"],
                [
                    [n, d.auroc, d.auprc, d.precision_at_k]
                    for n, d in result.detection.items()
                    if not n.startswith("flag_")
                ],
            )
        )
    if result.cleansing is not None:
        c = result.cleansing
        parts.append(
            f"<h2>Data cleansing</h2><p>Accuracy on {c.n_evaluate} held-out rows after "
            f"removing the k% most harmful training rows (chosen by {html.escape(c.harm_name)}"
            f"), as many random rows, or by the combined score; mean of {c.repeats} repeats, "
            "and harmful minus random with its paired 95% interval.</p>"
        )
        parts.append(
            _table(
                ["removed", "rows", c.harm_name, "random", "combined score", "harm - random"],
                list(
                    zip(
                        (f"{k}%" for k in c.percents),
                        c.n_removed,
                        c.accuracy_harm,
                        c.accuracy_random,
                        c.accuracy_combined,
                        (_interval(d) for d in c.harm_minus_random),
                        strict=True,
                    )
                ),
            )
        )
    for name, fig in figures:
        data = base64.b64encode(_png(fig)).decode("ascii")
        parts.append(f"<h2>{html.escape(name)}</h2><img src='data:image/png;base64,{data}'>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(result, path, *, title):
    """Write ``path``: .html (self-contained) or .png (the plots side by side)."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".html", ".htm", ".png"):
        raise AuditUsageError(f"--report must end in .html or .png; got {path}")
    plt = _pyplot()
    figures = _figures(result)
    try:
        if suffix == ".png":
            images = [plt.imread(io.BytesIO(_png(fig)), format="png") for _, fig in figures]
            height = max(im.shape[0] for im in images)
            padded = [
                np.pad(im, ((0, height - im.shape[0]), (0, 0), (0, 0)), constant_values=1.0)
                for im in images
            ]
            plt.imsave(path, np.concatenate(padded, axis=1))
        else:
            Path(path).write_text(_html(result, title, figures), encoding="utf-8")
    except OSError as exc:
        raise AuditUsageError(f"cannot write --report {path}: {exc.strerror}") from exc
    finally:
        for _, fig in figures:
            plt.close(fig)
