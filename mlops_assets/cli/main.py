"""``mlops-assets``: the command line for people who are not in the Dagster UI.

- ``demo``: land the first partitions of each dataset the project's models use (or of ``--spec`` /
  ``--model``'s) and run the lifecycle on them through Dagster, on the embedded defaults, then print
  what happened. Runs are recorded in the local Dagster instance, so
  ``mlops-assets dev`` shows them afterwards.
- ``replay``: land whole days from the dataset's source into the landing folder.
- ``backfill``: ingest the landed days of a range through Dagster, in ranged runs.
- ``validate``: check a dataset spec without running anything.
- ``dev``: start ``dagster dev`` (webserver and daemon) on 127.0.0.1 with the state folder wired in.
- ``rollback``: run rollback_job (previous champion, or a named version) on the local instance.
- ``override``: record a gate override (who, why, until when) for one model.
- ``acknowledge-registry-reset``: record that the ledger's champion is gone from a lost MLflow store.
- ``ledger``: print the promotion ledger.
- ``migrate``: key a state folder written before models were named by the dataset's one model.
- ``train``: run train_job on a window of ingested days (``--start/--end`` or ``--last-days``).
- ``score``: run score_job on one ingested day (predictions and drift).
"""

from __future__ import annotations

import argparse
import errno
import re
import sys

from mlops_assets.cli import data, model
from mlops_assets.cli.common import UsageError, day, positive_days, whole_number


class _Parser(argparse.ArgumentParser):
    """argparse, raising instead of printing usage and exiting, so every refusal is one line."""

    def error(self, message: str):
        # argparse says "argument --days: must be ..."; say "--days must be ..."
        message = re.sub(r"^argument (\S+): ", r"\1 ", message)
        raise UsageError(f"{self.prog}: {message}")


def main(argv: list[str] | None = None) -> int:
    """Run a command; a refusal (bad arguments, spec, state folder or warehouse) is one line on
    stderr and exit code 2, never a traceback."""
    from mlops_assets.core.paths import StateFolderError
    from mlops_assets.core.spec import SpecError
    from mlops_assets.core.warehouse import WarehouseNotWritableError, WarehouseUnreadableError
    from mlops_assets.gate.overrides import OverrideRefused
    from mlops_assets.ingest.landing import LandingError
    from mlops_assets.core.warehouse import SingleModelStateError
    from mlops_assets.promote.agreement import ChampionDisagreement

    refusals = (UsageError, SpecError, OverrideRefused, StateFolderError, WarehouseUnreadableError,
                WarehouseNotWritableError, LandingError, ChampionDisagreement, SingleModelStateError)
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return 2
        return args.handler(args)
    except refusals as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    except OSError as error:
        if error.errno not in _UNWRITABLE:
            raise
        print(f"error: cannot write {error.filename or 'the state folder'}: {error.strerror}; make the state "
              "folder writable (and free space), or point --state-dir / MLOPS_STATE_DIR elsewhere", file=sys.stderr)
        return 2


# a state folder we may not write to (or a full disk): the user's to fix, not a crash
_UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mlops-assets", description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", help="state folder (default: $MLOPS_STATE_DIR or ./.mlops_state)")
    parser.add_argument("--spec", help="dataset spec: a YAML path or a built-in name (default: nycflights)")
    parser.add_argument("--model", help="a model of the project (defs/models/<name>); default: the spec's own model, "
                        "<dataset>_<first target>")
    commands = parser.add_subparsers(dest="command")

    demo = commands.add_parser("demo", help="land the first partitions of each dataset and run the lifecycle on them")
    demo.add_argument("--start", type=day, help="first partition: a day, or an hour as YYYY-MM-DDTHH (default: each spec's start)")
    demo.add_argument("--days", type=positive_days,
                      help="how many partitions of each dataset to land and ingest (default: 28 of a daily dataset, "
                      "10 of a weekly one; data.DEMO_PARTITIONS)")
    demo.add_argument("--skip-training", action="store_true", help="only the data half")
    demo.set_defaults(handler=data.demo)

    replay = commands.add_parser("replay", help="land whole partitions from the dataset's source (with a label feed: "
                                    "and the outcomes due by then, in landing/<dataset>/labels/)")
    replay.add_argument("--start", type=day, help="first partition: a day, or an hour as YYYY-MM-DDTHH (default: the spec's start)")
    replay.add_argument("--days", type=positive_days, default=1)
    replay.set_defaults(handler=data.replay)

    backfill = commands.add_parser("backfill", help="ingest the landed partitions of a range (and their landed outcomes), "
                                      "in ranged runs")
    backfill.add_argument("--start", type=day, help="first partition: a day, or an hour as YYYY-MM-DDTHH (default: the spec's start)")
    backfill.add_argument("--days", type=positive_days, default=1)
    backfill.set_defaults(handler=data.backfill)

    validate = commands.add_parser("validate", help="validate a dataset spec (shape, names and SQL)")
    validate.add_argument("path", nargs="?", help="spec path (default: --spec or the built-in)")
    validate.set_defaults(handler=data.validate)

    dev = commands.add_parser("dev", help="start the Dagster UI and daemon on 127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    dev.set_defaults(handler=data.dev)

    loop = commands.add_parser("replay-loop", help="replay days through the real sensors and automation")
    loop.add_argument("--start", type=day, help="first partition: a day, or an hour as YYYY-MM-DDTHH (default: the spec's start)")
    loop.add_argument("--train-days", type=positive_days, default=28, help="days before the first champion (default 28)")
    loop.add_argument("--days", type=positive_days, default=150,
                      help="days replayed after that (default 150: through June; 337 for the whole year)")
    loop.add_argument("--evidently-every", type=int, default=7,
                      help="write Evidently's HTML drift report every N days (0: never)")
    loop.set_defaults(handler=data.replay_loop)

    roll = commands.add_parser("rollback", help="make the previous champion (or --to-version) the champion again")
    roll.add_argument("--reason", required=True, help="why (kept in the ledger)")
    roll.add_argument("--to-version", help="registry version (default: the champion before the current one)")
    roll.add_argument("--operator", help="who rolls back (default: your user name)")
    roll.add_argument("--override-until", help="for a version that never passed the gates: override until this date")
    roll.set_defaults(handler=model.rollback)

    override = commands.add_parser("override", help="let one model past failed promotion gates, until a date")
    override.add_argument("--sha", required=True, help="the candidate's sha256 (a unique prefix of 8+ characters)")
    override.add_argument("--gate", action="append", required=True, dest="gates",
                          help="a failed gate to accept (repeat for several)")
    override.add_argument("--reason", required=True, help="why the failed gate may be ignored")
    override.add_argument("--until", required=True, help="expiry: YYYY-MM-DD or an ISO time (at most 90 days)")
    override.add_argument("--operator", help="who accepts it (default: your user name)")
    override.set_defaults(handler=model.override)

    reset = commands.add_parser(
        "acknowledge-registry-reset",
        help="record that the ledger's champion is gone from the MLflow store for good, so training may promote anew",
    )
    reset.add_argument("--reason", required=True, help="why the old champion cannot be restored (kept in the ledger)")
    reset.add_argument("--operator", help="who accepts it (default: your user name)")
    reset.set_defaults(handler=model.acknowledge_registry_reset)

    migrate = commands.add_parser("migrate", help="key a state folder from before models were named by model")
    migrate.set_defaults(handler=model.migrate)

    show_ledger = commands.add_parser("ledger", help="print the promotion ledger")
    show_ledger.set_defaults(handler=model.ledger)

    mlflow_ui = commands.add_parser("mlflow-ui", help="start the MLflow UI on the platform's store")
    mlflow_ui.add_argument("--port", type=int, default=5000)
    mlflow_ui.add_argument("--host", default="127.0.0.1")
    mlflow_ui.set_defaults(handler=data.mlflow_ui)

    train = commands.add_parser("train", help="run train_job on a window of ingested days (promotes only past the gates)")
    train.add_argument("--start", type=day, help="first partition, YYYY-MM-DD or YYYY-MM-DDTHH for an hour "
                                                 "(default: the earliest ingested)")
    train.add_argument("--end", type=day, help="last partition, inclusive, YYYY-MM-DD or YYYY-MM-DDTHH "
                                               "(default: the latest ingested)")
    train.add_argument("--last-days", type=positive_days, help="train on the N days ending at --end (instead of --start)")
    train.add_argument("--trials", type=whole_number(1), help="hyperparameter sets tried (default: the tuning budget's)")
    train.add_argument("--holdout-days", type=whole_number(0), help="the window's last N days held out as the out-of-time test "
                                              "the champion is compared on (default 7; 0 disables it)")
    train.set_defaults(handler=model.train)

    score = commands.add_parser("score", help="run score_job on one ingested day: predictions and drift")
    score.add_argument("--day", type=day, required=True,
                       help="the partition to score: the one holding this day, YYYY-MM-DD, or hour, YYYY-MM-DDTHH")
    score.set_defaults(handler=model.score)
    return parser


if __name__ == "__main__":
    sys.exit(main())
