"""The ``skinfluence`` command line. ``skinfluence audit --help`` explains every option."""

import argparse
import sys
import textwrap

from . import __version__


def _build_parser():
    from ._audit import AUTO_SCORES, DEFAULT_SCORES, EXIT_CODES_HELP, MODELS, SCORES

    parser = argparse.ArgumentParser(
        prog="skinfluence",
        description="Training-data influence, memorisation and pruning for scikit-learn.",
    )
    parser.add_argument("--version", action="version", version=f"skinfluence {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    scores_help = "\n".join(
        textwrap.fill(
            f"{name}: {spec.description}",
            width=88,
            initial_indent="  ",
            subsequent_indent="      ",
        )
        for name, spec in SCORES.items()
    )
    audit = commands.add_parser(
        "audit",
        help="rank the training rows of a labelled CSV by how suspect their label is",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Rank the rows of a labelled table by how likely their label is wrong, estimate\n"
            "how many labels are wrong and flag that many rows (with a suggested label and a\n"
            "reason), and run cheap data checks (duplicates, conflicts, outliers). Ranks use\n"
            "several scores and their rank average ('combined'): scores of the model and of an\n"
            "extremely randomised forest, each model family kept only if it predicts the given\n"
            "labels out of sample about as well as the best one. Without a file, audits the\n"
            "bundled default (breast-cancer, 10% of training labels flipped, seeded) and, as\n"
            "the flips are known, prints how well each score finds them.\n\n"
            "CSV input: numeric columns are used as they are (missing values imputed with the\n"
            "median), text/boolean columns are one-hot encoded (missing values imputed with\n"
            "the most frequent value); imputation is reported. The target may hold numbers or\n"
            "strings (class labels); rows without a target are left out. A continuous target\n"
            "is audited for corrupted values (out-of-fold and out-of-bag residuals, ridge\n"
            "self-influence) and the count is of corrupted targets."
        ),
        epilog=f"scores (every score: higher = more suspect):\n{scores_help}\n\n{EXIT_CODES_HELP}",
    )
    audit.add_argument(
        "data",
        nargs="?",
        default=None,
        help="CSV file with a header row (default: the bundled breast-cancer data)",
    )
    audit.add_argument("--target", metavar="COL", help="name of the label column (CSV only)")
    audit.add_argument(
        "--id",
        dest="id_column",
        metavar="COL",
        help="column naming each row in the output; not used as a feature (default: the "
        "0-based data row number)",
    )
    audit.add_argument(
        "--sep",
        metavar="CHAR",
        help="field delimiter of the CSV file (default: sniffed among , ; tab |)",
    )
    audit.add_argument(
        "--model",
        default="logistic",
        metavar="{" + ",".join(MODELS) + "} or FILE",
        help="model to audit with: standardised logistic regression (default); auto "
        "(class labels: histogram gradient boosting's out-of-fold loss beside the "
        "logistic regression's self-influence and out-of-fold loss, a linear family, and "
        "the forest; a continuous target: the standardised ridge regression), "
        "histogram gradient boosting, a one-hidden-layer skorch MLP "
        "(gradient scores on its output layer; needs pip install skinfluence[torch]), "
        "LightGBM / XGBoost "
        "(needs pip install skinfluence[boosting]; boosted trees' self-influence is "
        "LeafInfluence with the splits held fixed), or the path of your own "
        "pickled/joblib scikit-learn classifier or Pipeline (cloned and refitted on the "
        "numeric features; unpickling runs code: only files you trust)",
    )
    audit.add_argument(
        "--scorers",
        metavar="LIST",
        type=_comma_list,
        help=f"comma-separated scores to compute and combine (default: "
        f"{','.join(AUTO_SCORES)} with --model auto and class labels, else "
        f"{','.join(DEFAULT_SCORES)}, skipping any the model cannot give)",
    )
    audit.add_argument(
        "--output",
        metavar="FILE",
        help="write the full ranking to this CSV, most suspect first: rank, id, label, "
        "suggested_label, every score, combined, flagged, reason",
    )
    audit.add_argument(
        "--flag-only",
        action="store_true",
        help="for scripts: print only the ids of the flagged rows (the estimated number of "
        "label issues, most suspect first), one a line; everything else goes to stderr, and "
        "--output holds the flagged rows only",
    )
    audit.add_argument(
        "--report",
        metavar="FILE",
        help="write a self-contained report: .html (plots embedded) or .png (needs matplotlib)",
    )
    audit.add_argument(
        "--n-jobs",
        type=int,
        default=None,
        metavar="N",
        help="parallel jobs for cross-validation, forests and refits (joblib; -1 = all cores)",
    )
    audit.add_argument(
        "--validation-fraction",
        type=_fraction,
        default=None,
        metavar="F",
        help="hold out this fraction of the rows and run data cleansing: remove the 1, 2 and "
        "5%% of training rows most harmful to the validation loss, refit, and print "
        "held-out accuracy before and after",
    )
    audit.add_argument(
        "--top", type=int, default=10, metavar="K", help="rows to print (default 10)"
    )
    audit.add_argument(
        "--random-state",
        type=int,
        default=0,
        metavar="SEED",
        help="seed of the default data's flips, the splits and the models (default 0)",
    )
    return parser


def _comma_list(text):
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected a comma-separated list of score names")
    return names


def _fraction(text):
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1); got {text!r}") from exc
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1); got {text!r}")
    return value


def main(argv=None):
    """Entry point of the ``skinfluence`` console script; returns the exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from ._audit import EXIT_OK, AuditError, run_audit

    try:
        run_audit(
            args.data,
            target=args.target,
            model=args.model,
            scorers=args.scorers,
            output=args.output,
            report=args.report,
            n_jobs=args.n_jobs,
            id_column=args.id_column,
            validation_fraction=args.validation_fraction,
            top=args.top,
            random_state=args.random_state,
            sep=args.sep,
            flag_only=args.flag_only,
        )
    except AuditError as exc:
        print(f"skinfluence audit: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
