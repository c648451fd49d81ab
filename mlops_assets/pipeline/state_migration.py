"""``mlops-assets migrate``: key a state folder written by the single-model platform by model.

Before models were named, every model-level row (ledger, evaluations, overrides, drift, live
performance) was keyed by its dataset, predictions lived in ``predictions_<dataset>``, the gate
verdicts under the asset ``candidate_evaluation``, the handles and reports without the model's name.
That state belonged to the dataset's one model, ``<dataset>_<first target>``, which is also the name
its registry always used, so migrating renames keys and moves files; the MLflow registry is
untouched. The warehouse changes in one transaction; each file moves by an atomic rename; running
it again finds nothing left to do, so a migration cut short is finished by running it again.

Dagster's own run history stays under the old asset keys (the UI shows it as history of assets
that no longer exist); the platform's state does not depend on it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from mlops_assets.core.paths import StateLayout
from mlops_assets.core.spec import DatasetSpec
from mlops_assets.core.verdicts import EVALUATION_ASSET, evaluation_asset
from mlops_assets.core.warehouse import connect, table_columns, table_exists, transaction

# the warehouse tables whose rows belong to one model
MODEL_TABLES = ("evaluations", "gate_overrides", "promotion_ledger", "drift_reference_bins", "drift_history",
                "performance_history")
# the model's assets whose handles the IO manager keeps, once named by the asset alone
MODEL_HANDLES = ("training_snapshot", "candidate_model", "candidate_evaluation", "model_card", "champion_model")
# what a model's report folder holds
MODEL_REPORTS = ("evaluations", "cards", "drift", "timeline.png")


@dataclass
class Migration:
    model: str
    tables: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.tables or self.moved)


def migrate_to_models(layout: StateLayout, spec: DatasetSpec) -> Migration:
    """Key the state of ``spec``'s dataset by its one model, ``spec.model.name``."""
    from mlops_assets.monitor.drift_store import migrate_wide_history

    migration = Migration(spec.model.name)
    old_reports, new_reports = layout.reports_dir / spec.name, layout.model_reports_dir(spec.model.name)
    if layout.warehouse_path.exists():
        with connect(layout.warehouse_path) as con:
            migrate_wide_history(con)
            with transaction(con):
                migration.tables = _migrate_tables(con, spec, old_reports, new_reports)
    migration.moved = _move_handles(layout, spec) + _move_reports(old_reports, new_reports)
    return migration


def _migrate_tables(con, spec: DatasetSpec, old_reports: Path, new_reports: Path) -> list[str]:
    model, changed = spec.model.name, []
    for table in MODEL_TABLES:
        if table_exists(con, table) and "model" not in table_columns(con, table):
            con.execute(f"ALTER TABLE {table} RENAME COLUMN dataset TO model")
            con.execute(f"UPDATE {table} SET model = ? WHERE model = ?", [model, spec.name])
            changed.append(table)
    if "evaluations" in changed:  # their plots moved with the reports
        con.execute("UPDATE evaluations SET document = replace(document, ?, ?) WHERE model = ?",
                    [f"{old_reports}/", f"{new_reports}/", model])
    old_predictions, new_predictions = f"predictions_{spec.name}", f"predictions_{model}"
    if table_exists(con, old_predictions) and not table_exists(con, new_predictions):
        con.execute(f'ALTER TABLE "{old_predictions}" RENAME TO "{new_predictions}"')
        changed.append(f"{old_predictions} -> {new_predictions}")
    if table_exists(con, "gate_results"):
        moved = con.execute("SELECT count(*) FROM gate_results WHERE dataset = ? AND asset = ?",
                            [spec.name, EVALUATION_ASSET]).fetchall()[0][0]
        if moved:
            con.execute("UPDATE gate_results SET asset = ? WHERE dataset = ? AND asset = ?",
                        [evaluation_asset(model), spec.name, EVALUATION_ASSET])
            changed.append(f"gate_results ({moved} promotion-gate verdicts)")
    return changed


def _move_handles(layout: StateLayout, spec: DatasetSpec) -> list[str]:
    from mlops_assets.core.files import write_text_atomically

    folder, moved = layout.root / "handles", []
    old_reports, new_reports = str(layout.reports_dir / spec.name) + "/", str(layout.model_reports_dir(spec.model.name)) + "/"
    for asset in MODEL_HANDLES:
        old, new = folder / f"{asset}.json", folder / f"{spec.model.name}__{asset}.json"
        if old.exists() and not new.exists():
            handle = json.loads(old.read_text())
            text = json.dumps(handle, indent=2, sort_keys=True, default=str).replace(old_reports, new_reports)
            write_text_atomically(new, text)
            old.unlink()
            moved.append(f"handles/{old.name} -> handles/{new.name}")
    return moved


def _move_reports(old_reports: Path, new_reports: Path) -> list[str]:
    moved = []
    for name in MODEL_REPORTS:
        old, new = old_reports / name, new_reports / name
        if old.exists() and not new.exists():
            new.parent.mkdir(parents=True, exist_ok=True)
            os.replace(old, new)
            moved.append(f"reports/{old_reports.name}/{name} -> reports/{new_reports.name}/{name}")
    return moved
