"""``AuditResult``: what :func:`skinfluence.audit` found, as data (printing lives elsewhere)."""

import numpy as np
from sklearn.utils import Bunch

from ..metrics import detection_scores
from ._data import plain

LONE_REASON = "the only row of class {label!r}: a typo, or a class too small to learn"


class AuditResult:
    """The audit's findings: the ranking, the estimated number of issues, flags and checks.

    Made by :func:`skinfluence.audit`; not meant to be built by hand.

    Parameters
    ----------
    **parts : dict
        The attributes below, as the audit computed them.

    Attributes
    ----------
    ranking : pandas.DataFrame
        One row per audited row, most suspect first, indexed by rank (1 = most suspect):
        the row's id, ``label``, ``suggested_label`` (the out-of-sample prediction), every
        score, ``combined`` (in [0, 1]), ``flagged``, ``reason``, and ``flipped`` when the
        true issues were given. Built on first access.
    n_issues : int
        Estimated number of wrong labels (confident learning on the out-of-sample
        probabilities of the families kept), plus the rows of single-row classes.
    n_issues_interval : tuple of int
        The 5% and 95% bootstrap quantiles of that estimate.
    flagged : ndarray of bool of shape (n_samples,)
        The ``n_issues`` rows of highest combined score (and every single-row class's row).
    suggested_label : ndarray of shape (n_samples,)
        The most probable class out of sample for each row.
    reason : ndarray of str of shape (n_samples,)
        One line per flagged row (and per row a data check names): which score ranks it
        highest and the out-of-sample probabilities, or the check.
    scores : dict of str to ndarray
        Each score, in row order (NaN for a single-row class's row).
    combined : ndarray of shape (n_samples,)
        The combined score, in row order.
    families : dict of str to Bunch
        Per model family: ``scores``, ``weight`` and, with several families, the
        ``accuracy``, ``kappa`` and ``kept`` of its out-of-sample predictions.
    checks : list of DataCheck
        The data checks that found something: ``name``, ``message``, ``rows``
        (positions), ``groups``, ``columns``.
    detection : dict or None
        With known issues: AUROC, AUPRC and precision@k of each score, and
        ``flag_precision`` / ``flag_recall`` of the flags.
    combined_scorer : CombinedScorer
        The fitted combination (its members in ``named_scorers_``).

    See Also
    --------
    skinfluence.audit : makes it.
    skinfluence.CombinedScorer : the combination behind ``combined``.

    Examples
    --------
    >>> from skinfluence import audit
    >>> from skinfluence.datasets import load_noisy_breast_cancer
    >>> data = load_noisy_breast_cancer(0.1, random_state=0)
    >>> result = audit(data.X_train, data.y_train)
    >>> top = result.ranking.head(3)  # most suspect first
    >>> top[["label", "suggested_label", "flagged"]].shape
    (3, 3)
    >>> result.n_issues_interval[0] <= result.n_issues <= result.n_issues_interval[1]
    True
    """

    def __init__(self, **parts):
        self.__dict__.update(parts)

    @classmethod
    def _from_parts(
        cls,
        *,
        data,
        audited,
        lone,
        lone_suggested,
        combination,
        suggested,
        flagged,
        reasons,
        count,
        checks,
        notes,
        model_name,
        feature_names,
        context,
        feature_map,
    ):
        n = len(data.y)

        def full(values, fill, dtype=None):
            out = np.full(n, fill, dtype=dtype if dtype is not None else np.asarray(values).dtype)
            out[audited] = values
            return out

        scores = {
            name: full(values, np.nan, np.float64)
            for name, values in combination.named_scores_.items()
        }
        combined = full(combination.scores_, 1.0, np.float64)
        suggested_all = np.empty(n, dtype=object)
        suggested_all[audited] = list(suggested)
        suggested_all[lone] = list(lone_suggested)
        suggested_all = np.asarray(suggested_all.tolist())
        flagged_all = full(flagged, True, bool)
        reason = full(reasons, "", object)
        for i in lone:
            reason[i] = LONE_REASON.format(label=plain(data.y[i]))
        for check in checks:
            for i, note in check.row_notes.items():
                reason[i] = f"{reason[i]}; {note}" if reason[i] else note
        order = np.concatenate([lone, audited[np.argsort(-combination.scores_, kind="stable")]])
        families = {}
        for name, family in combination.family_of_.items():
            entry = families.setdefault(
                family, Bunch(scores=[], weight=combination.family_weights_[family])
            )
            entry.scores.append(name)
            entry.update(combination.family_fit_.get(family, {}))
        n_lone = len(lone)
        if count is not None:
            n_issues = count.n_issues + n_lone
            interval = (count.low + n_lone, count.high + n_lone)
        else:
            n_issues = int(flagged_all.sum())
            interval = (n_issues, n_issues)
        result = cls(
            name=data.name,
            task=data.task,
            id_name=data.id_name,
            row_ids=np.asarray(data.row_ids),
            labels=np.asarray(data.y),
            scores=scores,
            combined=combined,
            order=order,
            suggested_label=suggested_all,
            flagged=flagged_all,
            reason=reason.astype(str),
            n_issues=int(n_issues),
            n_issues_interval=(int(interval[0]), int(interval[1])),
            count_method=None if count is None else count.method,
            families=families,
            family_weights=dict(combination.family_weights_),
            checks=checks,
            notes=notes,
            is_flipped=data.is_flipped,
            detection=None,
            cleansing=None,
            model_name=model_name,
            feature_names=feature_names,
            combined_scorer=combination,
            influence_scorer=combination.named_scorers_.get("self-influence"),
            _context=context,
            _feature_map=feature_map,
            _audited=audited,
        )
        if data.is_flipped is not None:
            result.detection = result._detection()
        return result

    def _detection(self):
        truth = np.asarray(self.is_flipped, dtype=bool)
        rows = self._audited
        detection = {
            name: detection_scores(truth[rows], values[rows])
            for name, values in {**self.scores, "combined": self.combined}.items()
        }
        hits = int(np.sum(self.flagged & truth))
        detection["flag_precision"] = hits / max(int(self.flagged.sum()), 1)
        detection["flag_recall"] = hits / max(int(truth.sum()), 1)
        return detection

    # -- the ranking ---------------------------------------------------------------------
    @property
    def ranking(self):
        """The ranking as a pandas DataFrame, most suspect first (see the class's Attributes)."""
        if "_ranking" not in self.__dict__:
            self._ranking = self._make_ranking()
        return self._ranking

    def _make_ranking(self):
        from ._data import _import_pandas

        pd = _import_pandas()
        o = self.order
        columns = {
            self.id_name: self.row_ids[o],
            "label": self.labels[o],
            "suggested_label": self.suggested_label[o],
            **{name: values[o] for name, values in self.scores.items()},
            "combined": self.combined[o],
            "flagged": self.flagged[o],
            "reason": self.reason[o],
        }
        if self.is_flipped is not None:
            columns["flipped"] = np.asarray(self.is_flipped, dtype=bool)[o]
        frame = pd.DataFrame(columns)
        frame.index = pd.RangeIndex(1, len(o) + 1, name="rank")
        return frame

    def to_csv(self, path, *, flagged_only=False):
        """Write the ranking (with its ``rank`` column) to a CSV file.

        Parameters
        ----------
        path : str or path-like
            The file to write.
        flagged_only : bool, default=False
            Write only the flagged rows.

        Returns
        -------
        path : str or path-like
            ``path``.
        """
        frame = self.ranking[self.ranking["flagged"]] if flagged_only else self.ranking
        frame.to_csv(path, index=True)
        return path

    def to_html(self, path):
        """Write a self-contained HTML report (plots embedded; needs matplotlib).

        Parameters
        ----------
        path : str or path-like
            The file to write (``.html``; ``.png`` writes the plots side by side).

        Returns
        -------
        path : str or path-like
            ``path``.
        """
        from ._report import write_report

        write_report(self, path, title=self.name)
        return path

    def plot(self, ax=None):
        """The distribution of the combined score, the flagged rows in their own colour.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw (a new figure when None).

        Returns
        -------
        ax : matplotlib Axes
        """
        from ._report import _pyplot, _score_histogram

        if ax is None:
            _, ax = _pyplot().subplots(figsize=(6, 4), layout="constrained")
        _score_histogram(self, ax)
        return ax

    def summary(self):
        """The audit's findings as the command line prints them (without the top rows).

        Returns
        -------
        text : str
            Families and weights, the estimated count and the flags, the data checks.
        """
        from ._output import summary_lines

        return "\n".join(summary_lines(self))

    def __repr__(self):
        low, high = self.n_issues_interval
        return (
            f"<AuditResult: {len(self.labels)} rows, ~{self.n_issues} label issues "
            f"({low}-{high}), {int(self.flagged.sum())} flagged, {len(self.checks)} data "
            "check(s) with findings>"
        )
