"""Errors of ``skinfluence audit`` and the exit codes a script can rely on."""

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_DATA = 3
EXIT_DEPENDENCY = 4

EXIT_CODES_HELP = f"""exit codes:
  {EXIT_OK}  success
  {EXIT_INTERNAL}  internal error (a bug: please report it with the traceback)
  {EXIT_USAGE}  bad command-line usage (unknown option, bad value)
  {EXIT_DATA}  the data cannot be used (missing file, empty file, unknown column, one class,
     non-numeric text in a numeric column, ...); the one-line message names the column
  {EXIT_DEPENDENCY}  an optional dependency is missing (matplotlib for --report, lightgbm or
     xgboost for their --model, torch and skorch for --model mlp); the message says what to
     install"""


class AuditError(Exception):
    """An error the audit reports in one line and exits on, with ``exit_code``."""

    exit_code = EXIT_INTERNAL


class AuditDataError(AuditError, ValueError):
    """The input data (or a column of it) cannot be used; says which and what to do."""

    exit_code = EXIT_DATA


class AuditUsageError(AuditError, ValueError):
    """A combination of options that cannot work (e.g. a scorer the model does not support)."""

    exit_code = EXIT_USAGE


class AuditDependencyError(AuditError, ImportError):
    """An optional dependency is missing; says which extra to install."""

    exit_code = EXIT_DEPENDENCY
