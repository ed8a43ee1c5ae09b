"""The ``skinfluence audit`` job: rank the training rows of a labelled table by suspicion.

Argument parsing lives in :mod:`skinfluence.cli`; the work in these private modules.
"""

from ._errors import (
    EXIT_CODES_HELP,
    EXIT_DATA,
    EXIT_DEPENDENCY,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_USAGE,
    AuditDataError,
    AuditDependencyError,
    AuditError,
    AuditUsageError,
)
from ._run import run_audit
from ._scores import DEFAULT_SCORES, MODELS, SCORES

__all__ = [
    "DEFAULT_SCORES",
    "EXIT_CODES_HELP",
    "EXIT_DATA",
    "EXIT_DEPENDENCY",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_USAGE",
    "MODELS",
    "SCORES",
    "AuditDataError",
    "AuditDependencyError",
    "AuditError",
    "AuditUsageError",
    "run_audit",
]
