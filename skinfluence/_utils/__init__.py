"""Primitives shared by the scorers, adapters and the audit: one home for each.

Label encoding, class-probability alignment and log-loss (``_labels``), reseeding
(``_random``), progress bars (``_progress``), optional imports (``_optional``) and what kind of
estimator a scorer was given (``_estimators``). Private: the public API re-exports nothing from
here.
"""
