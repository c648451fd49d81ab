"""Datasets of other grains, brought as a YAML spec and one CSV the test writes, with no
pre-processing script: a yearly survey whose rows carry a ``year`` and no date (its partition
timestamp is derived in the spec), and a monthly ledger with a timestamp column."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from mlops_assets_tests.conftest import write_csv

SURVEY_YEARS = list(range(2012, 2022))
SURVEY_PEOPLE_PER_YEAR = 600
SURVEY_FIELDS = ["household", "person", "year", "age", "region", "hours", "status"]

SURVEY_SPEC_YAML = """\
name: survey
description: A yearly labour survey; is a person employed?
source: {files: data/survey.csv, format: csv}
timestamp: {derive: "make_date(year, 1, 1)"}
partitions: {grain: yearly, start_date: 2012-01-01, end_date: 2022-01-01, backfill_days_per_run: 4}
entity_key: [household, person, year]
target: {name: employed, expression: "status = 'employed'"}
columns:
  household: {type: int, min: 1, max_null_rate: 0}
  person: {type: int, min: 1, max: 9, max_null_rate: 0}
  year: {type: int, min: 2000, max: 2100, max_null_rate: 0}
  age: {type: int, min: 16, max: 99, max_null_rate: 0}
  region: {type: int, allowed: [1, 2, 3, 4], max_null_rate: 0}
  hours: {type: float, min: 0, max: 100, max_null_rate: 0.2}
  status: {type: string, allowed: [employed, unemployed], max_null_rate: 0}
forbidden_columns: [status]
features:
  age: {kind: numeric}
  region: {kind: categorical}
  hours: {kind: numeric, max_null_rate: 0.2}
  region_employment_3y: {kind: numeric, min: 0, max: 1, max_null_rate: 1.0}
trailing_rates:
  - {name: region_employment_3y, group_by: [region], window: 3 years}
slices: [region]
quality:
  row_count: {trailing: 5 years, min_history: 3}
intended_use: Tests of the platform on a yearly grain.
limitations: [Synthetic data.]
"""


def survey_rows(year: int, people: int = SURVEY_PEOPLE_PER_YEAR) -> list[dict]:
    """One row per person interviewed that year; households come back every year (the composite key
    household, person, year is unique across the dataset, household and person alone are not)."""
    rng = random.Random(f"survey-{year}")
    rows = []
    for index in range(people):
        household, person = index // 3 + 1, index % 3 + 1
        age = rng.randint(16, 80)
        region = rng.randint(1, 4)
        score = 0.5 + (0.25 if 25 <= age <= 60 else -0.2) + (0.1 if region in (1, 2) else -0.05) + rng.gauss(0, 0.3)
        employed = score > 0.5
        rows.append({
            "household": household, "person": person, "year": year, "age": age, "region": region,
            "hours": None if rng.random() < 0.05 else round(rng.uniform(0, 50) + (10 if employed else 0), 1),
            "status": "employed" if employed else "unemployed",
        })
    return rows


def write_survey(folder: Path, years: list[int] = SURVEY_YEARS) -> Path:
    """The survey as a user has it: one CSV of every year, and the spec beside it; returns the spec path."""
    write_csv(folder / "data" / "survey.csv", [row for year in years for row in survey_rows(year)], SURVEY_FIELDS)
    spec_path = folder / "survey.yaml"
    spec_path.write_text(SURVEY_SPEC_YAML)
    return spec_path


LEDGER_SPEC_YAML = """\
name: ledger
description: Monthly card payments; is a payment disputed?
source: {files: data/ledger.csv, format: csv}
timestamp: {column: paid_at, timezone: Europe/Paris}
partitions: {grain: monthly, start_date: 2023-01-01, end_date: 2024-01-01}
entity_key: [account, paid_at]
target: {name: disputed, expression: "outcome = 'disputed'"}
columns:
  account: {type: string, max_null_rate: 0}
  paid_at: {type: timestamp, max_null_rate: 0}
  amount: {type: float, min: 0, max_null_rate: 0}
  channel: {type: string, allowed: [web, shop, phone], max_null_rate: 0}
  outcome: {type: string, allowed: [ok, disputed], max_null_rate: 0}
forbidden_columns: [outcome]
features:
  amount: {kind: numeric}
  channel: {kind: categorical}
  channel_dispute_rate_2m: {kind: numeric, min: 0, max: 1, max_null_rate: 1.0}
trailing_rates:
  - {name: channel_dispute_rate_2m, group_by: [channel], window: 2 months}
quality:
  row_count: {trailing: 6, min_history: 3}
intended_use: Tests of the platform on a monthly grain.
limitations: [Synthetic data.]
"""
LEDGER_FIELDS = ["account", "paid_at", "amount", "channel", "outcome"]


def ledger_rows(month: dt.date, payments: int = 120) -> list[dict]:
    """Payments spread over the month, in UTC; the first falls on the 1st at 00:30 Paris time, which
    is the last day of the month before in UTC: the partition is the spec's timezone's month."""
    rng = random.Random(f"ledger-{month}")
    first = dt.datetime.combine(month, dt.time(0, 30)) - dt.timedelta(hours=1)  # Paris is UTC+1 in winter
    rows = []
    for index in range(payments):
        amount = round(rng.uniform(1, 500), 2)
        channel = rng.choice(["web", "shop", "phone"])
        disputed = (amount > 350 and channel != "shop" and rng.random() < 0.7) or rng.random() < 0.05
        paid_at = first + dt.timedelta(hours=index * 5)
        rows.append({"account": f"a{index % 40:03d}", "paid_at": paid_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "amount": amount, "channel": channel, "outcome": "disputed" if disputed else "ok"})
    return rows


def write_ledger(folder: Path, months: list[dt.date]) -> Path:
    write_csv(folder / "data" / "ledger.csv", [row for month in months for row in ledger_rows(month)], LEDGER_FIELDS)
    spec_path = folder / "ledger.yaml"
    spec_path.write_text(LEDGER_SPEC_YAML)
    return spec_path


HOUSING_YEARS = list(range(2014, 2024))
HOUSING_FIELDS = ["household", "year", "age", "region", "income", "tenure"]
HOUSING_SPEC_YAML = """\
name: housing
description: A yearly housing survey; does a household own, rent privately or rent social housing?
source: {files: data/housing.csv, format: csv}
timestamp: {derive: "make_date(year, 1, 1)"}
partitions: {grain: yearly, start_date: 2014-01-01, end_date: 2024-01-01, backfill_days_per_run: 5}
entity_key: [household, year]
targets:
  - {name: tenure_class, type: class, expression: tenure, description: own / private / social}
columns:
  household: {type: int, min: 1, max_null_rate: 0}
  year: {type: int, min: 2000, max: 2100, max_null_rate: 0}
  age: {type: int, min: 18, max: 99, max_null_rate: 0}
  region: {type: int, allowed: [1, 2, 3], max_null_rate: 0}
  income: {type: float, min: 0, max: 500, max_null_rate: 0}
  tenure: {type: string, allowed: [own, private, social], max_null_rate: 0}
forbidden_columns: [tenure]
features:
  age: {kind: numeric}
  region: {kind: categorical}
  income: {kind: numeric}
slices: [region]
quality:
  row_count: {trailing: 5 years, min_history: 3}
intended_use: Tests of the platform with a multiclass model on a yearly grain.
limitations: [Synthetic data.]
"""


def housing_rows(year: int, households: int = 600) -> list[dict]:
    """Older, richer households own; poorer ones rent social housing; the rest rent privately."""
    rng = random.Random(f"housing-{year}")
    rows = []
    for household in range(1, households + 1):
        age, region = rng.randint(18, 90), rng.randint(1, 3)
        income = round(max(0.0, rng.gauss(40 + (age - 18) * 0.6 + (10 if region == 1 else 0), 15)), 1)
        score = income / 20 + age / 30 + rng.gauss(0, 0.8)
        tenure = "own" if score > 5.2 else ("social" if score < 3.6 else "private")
        rows.append({"household": household, "year": year, "age": age, "region": region, "income": income,
                     "tenure": tenure})
    return rows


def write_housing(folder: Path, years: list[int] = HOUSING_YEARS) -> Path:
    write_csv(folder / "data" / "housing.csv", [row for year in years for row in housing_rows(year)], HOUSING_FIELDS)
    spec_path = folder / "housing.yaml"
    spec_path.write_text(HOUSING_SPEC_YAML)
    return spec_path
