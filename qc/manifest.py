"""The sample manifest's Pandera schema and the normalisers that turn its cells into typed values.

A manifest is checked as written (text cells, the frame's index = the line in the file, header = line 1),
so every message can quote the cell; labdb.samples turns the checked cells into typed values with the
same parse helpers, so the check and the import can never disagree.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Collection, Mapping
from typing import Optional

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from qc.schemas import SchemaProblems, as_text
from qc.vocab import SAMPLE_TYPES

SAMPLE_TYPE_SYNONYMS: dict[str, str] = {  # keys as `_key` writes them: lower case, words split by one space
    "serum": "serum",
    "plasma edta": "plasma_edta",
    "edta plasma": "plasma_edta",
    "edta": "plasma_edta",
    "k2 edta plasma": "plasma_edta",
    "k3 edta plasma": "plasma_edta",
    "k2edta plasma": "plasma_edta",
    "plasma citrate": "plasma_citrate",
    "citrate plasma": "plasma_citrate",
    "citrate": "plasma_citrate",
    "sodium citrate plasma": "plasma_citrate",
    "plasma heparin": "plasma_heparin",
    "heparin plasma": "plasma_heparin",
    "heparin": "plasma_heparin",
    "lithium heparin plasma": "plasma_heparin",
    "li heparin plasma": "plasma_heparin",
    "platelet poor plasma": "platelet_poor_plasma",
    "ppp": "platelet_poor_plasma",
}
MANIFEST_REQUIRED = ("sample_id", "subject_id", "sample_type", "collected_at")
MANIFEST_NUMBERS = (
    "age",
    "platelet_count",
    "clotting_minutes",
    "minutes_to_centrifugation",
    "centrifuge_g",
    "storage_days",
    "freeze_thaw_cycles",
)
MANIFEST_WHOLE_NUMBERS = ("freeze_thaw_cycles",)
MANIFEST_YES_NO = ("platelet_poor", "fasting", "exercise_within_24h", "antidepressant", "smoking")
MANIFEST_COLUMNS = (
    *MANIFEST_REQUIRED,
    "site",
    "visit",
    "sex",
    "age",
    "platelet_count",
    "platelet_poor",
    "clotting_minutes",
    "minutes_to_centrifugation",
    "centrifuge_g",
    "storage_days",
    "freeze_thaw_cycles",
    "fasting",
    "exercise_within_24h",
    "antidepressant",
    "diagnosis",
    "smoking",
    "notes",
)
PLATELET_RANGE = (10.0, 1500.0)  # 10^9/L; outside this a unit mix-up (10^6/mL is fine, per uL is not) is likelier
AGE_RANGE = (0.0, 120.0)
YES = frozenset({"yes", "y", "true", "t", "1"})
NO = frozenset({"no", "n", "false", "f", "0"})
SEXES = {"f": "F", "female": "F", "m": "M", "male": "M"}
ISO_DATE = r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
MANIFEST_MAX_SHOWN = 30  # problems quoted in the one-line error; the count says how many in all


def manifest_cells(s: pd.Series) -> pd.Series:
    """Stripped text of each cell, '' for an empty one (object dtype)."""
    return as_text(s).map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())


def _key(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", value.lower()).strip()


def manifest_sample_type(s: pd.Series) -> pd.Series:
    """Canonical sample type of each cell (synonyms such as 'EDTA plasma' accepted), None if unknown or empty."""
    return manifest_cells(s).map(lambda v: SAMPLE_TYPE_SYNONYMS.get(_key(v)) if v else None)


def manifest_date(s: pd.Series) -> pd.Series:
    """Timestamps (local time, no zone) from ISO cells 'YYYY-MM-DD[ HH:MM[:SS]]'; NaT if empty or not a date."""
    cells = manifest_cells(s)
    iso = cells.map(lambda v: re.fullmatch(ISO_DATE, v) is not None).astype(bool)
    return pd.to_datetime(cells.where(iso, None), errors="coerce", format="ISO8601")


def manifest_number(s: pd.Series) -> pd.Series:
    """Floats from the cells; NaN if empty or not a finite number."""
    values = pd.to_numeric(manifest_cells(s).replace("", None), errors="coerce").astype(float)
    return values.where(np.isfinite(values))


def manifest_yes_no(s: pd.Series) -> pd.Series:
    """True / False / None (empty or not a yes/no word)."""
    return manifest_cells(s).map(lambda v: True if v.lower() in YES else (False if v.lower() in NO else None)).astype(object)


def manifest_sex(s: pd.Series) -> pd.Series:
    """'F' / 'M' / None."""
    return manifest_cells(s).map(lambda v: SEXES.get(v.lower())).astype(object)


def _filled(s: pd.Series) -> pd.Series:
    return manifest_cells(s).ne("")


def _sex_conflicts(df: pd.DataFrame, known: Mapping[str, str] | None = None) -> pd.Series:
    """Per row: None, or where the subject's other sex was given ('F on row 2', 'F in the database')."""
    out = pd.Series(None, index=df.index, dtype=object)
    if not {"subject_id", "sex"} <= set(df.columns):
        return out
    subjects, sexes = manifest_cells(df["subject_id"]), manifest_sex(df["sex"])
    first: dict[str, tuple[str, object]] = {}
    for i in df.index:
        subject, sex = subjects[i], sexes[i]
        if not subject or sex is None:
            continue
        if known and known.get(subject) and known[subject] != sex:
            out[i] = f"{known[subject]} in the database"
        elif subject in first and first[subject][0] != sex:
            out[i] = f"{first[subject][0]} on row {first[subject][1]}"
        else:
            first.setdefault(subject, (sex, i))
    return out


class SampleManifest(pa.DataFrameModel):
    """A sample manifest as written: one text cell per row and column, indexed by line in the file.

    Any column not named here is kept (it comes back in exports); `manifest_schema` adds the checks that need
    the database (known sites, subjects' recorded sex).
    """

    sample_id: Series[str]
    subject_id: Series[str]
    sample_type: Series[str]
    collected_at: Series[str]
    site: Optional[Series[str]]
    visit: Optional[Series[str]]
    sex: Optional[Series[str]]
    age: Optional[Series[str]]
    platelet_count: Optional[Series[str]]
    platelet_poor: Optional[Series[str]]
    clotting_minutes: Optional[Series[str]]
    minutes_to_centrifugation: Optional[Series[str]]
    centrifuge_g: Optional[Series[str]]
    storage_days: Optional[Series[str]]
    freeze_thaw_cycles: Optional[Series[str]]
    fasting: Optional[Series[str]]
    exercise_within_24h: Optional[Series[str]]
    antidepressant: Optional[Series[str]]
    diagnosis: Optional[Series[str]]
    smoking: Optional[Series[str]]
    notes: Optional[Series[str]]

    @pa.check(*MANIFEST_REQUIRED, name="required_value", error="is empty")
    def _required(cls, s: pd.Series) -> pd.Series:
        return _filled(s)

    @pa.check("sample_id", name="sample_id_unique", error="appears more than once in the file")
    def _unique(cls, s: pd.Series) -> pd.Series:
        cells = manifest_cells(s)
        return ~(cells.duplicated(keep=False) & cells.ne(""))

    @pa.check(
        "sample_type", name="sample_type_known", error=f"is not a sample type: use {', '.join(SAMPLE_TYPES[:-1])} or {SAMPLE_TYPES[-1]}"
    )
    def _sample_type(cls, s: pd.Series) -> pd.Series:
        return ~_filled(s) | manifest_sample_type(s).notna()

    @pa.check("collected_at", name="collected_at_date", error="is not a date: write YYYY-MM-DD or YYYY-MM-DD HH:MM (local time)")
    def _date(cls, s: pd.Series) -> pd.Series:
        return ~_filled(s) | manifest_date(s).notna()

    @pa.check("collected_at", name="collected_at_not_future", error="is in the future")
    def _not_future(cls, s: pd.Series) -> pd.Series:
        return ~(manifest_date(s) > pd.Timestamp.now()).fillna(False).astype(bool)

    @pa.check(*MANIFEST_NUMBERS, name="number", error="is not a number")
    def _number(cls, s: pd.Series) -> pd.Series:
        return ~_filled(s) | manifest_number(s).notna()

    @pa.check(*MANIFEST_NUMBERS, name="not_negative", error="is negative: counts, ages, times and forces cannot be below 0")
    def _not_negative(cls, s: pd.Series) -> pd.Series:
        return ~(manifest_number(s) < 0).fillna(False).astype(bool)

    @pa.check(*MANIFEST_WHOLE_NUMBERS, name="whole_number", error="is not a whole number")
    def _whole(cls, s: pd.Series) -> pd.Series:
        values = manifest_number(s)
        return values.isna() | (values == values.round())

    @pa.check(
        "platelet_count",
        name="platelet_count_plausible",
        error=f"is outside the plausible range {PLATELET_RANGE[0]:g}-{PLATELET_RANGE[1]:g} x10^9/L (check the unit)",
    )
    def _platelets(cls, s: pd.Series) -> pd.Series:
        values = manifest_number(s)
        return values.isna() | (values < 0) | values.between(*PLATELET_RANGE)

    @pa.check("age", name="age_plausible", error=f"is outside {AGE_RANGE[0]:g}-{AGE_RANGE[1]:g} years")
    def _age(cls, s: pd.Series) -> pd.Series:
        values = manifest_number(s)
        return values.isna() | (values < 0) | values.between(*AGE_RANGE)

    @pa.check(*MANIFEST_YES_NO, name="yes_no", error="is not yes or no (true/false, y/n and 1/0 work too)")
    def _yes_no(cls, s: pd.Series) -> pd.Series:
        return ~_filled(s) | manifest_yes_no(s).notna()

    @pa.check("sex", name="sex_known", error="is not F or M")
    def _sex(cls, s: pd.Series) -> pd.Series:
        return ~_filled(s) | manifest_sex(s).notna()

    @pa.dataframe_check(name="sex_consistent", error="differs from the sex given for the same subject")
    def _sex_consistent(cls, df: pd.DataFrame) -> pd.Series:
        return _sex_conflicts(df).isna()

    class Config:
        strict = False  # any other column is kept and comes back in exports
        coerce = True
        name = "SampleManifest"


_SEX_CHECKS = ("sex_consistent", "sex_recorded")


def manifest_schema(sites: Collection[str] | None = None, subject_sex: Mapping[str, str] | None = None) -> pa.DataFrameSchema:
    """SampleManifest plus the checks against what the database holds: known site codes, subjects' recorded sex."""
    schema = copy.deepcopy(SampleManifest.to_schema())  # to_schema() is cached: never change it in place
    if sites is not None:
        known = set(sites)
        site_check = pa.Check(
            lambda s: ~_filled(s) | manifest_cells(s).isin(known),
            name="site_known",
            error="is unknown: add it first with `labdb sites add CODE --hemisphere north|south`",
        )
        schema = schema.update_column("site", checks=[*schema.columns["site"].checks, site_check])
    if subject_sex:
        recorded = dict(subject_sex)
        schema.checks = [c for c in schema.checks if c.name != "sex_consistent"] + [
            pa.Check(
                lambda df: _sex_conflicts(df, recorded).isna(), name="sex_recorded", error="differs from the sex given for the same subject"
            )
        ]
    return schema


def check_manifest_cells(
    cells: pd.DataFrame, source: str, sites: Collection[str] | None = None, subject_sex: Mapping[str, str] | None = None
) -> None:
    """Validate a manifest's cells (index = line numbers) lazily; SchemaProblems lists every problem by row and column."""
    try:
        manifest_schema(sites, subject_sex).validate(cells, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise SchemaProblems(source, manifest_problems(exc.failure_cases, cells, sites, subject_sex)) from None


def manifest_problems(
    cases: pd.DataFrame, cells: pd.DataFrame, sites: Collection[str] | None = None, subject_sex: Mapping[str, str] | None = None
) -> list[str]:
    """Pandera failure cases -> 'row 4: platelet_count '-4' is negative: ...' lines, in file order."""
    order = {c: k for k, c in enumerate(cells.columns)}
    keyed = []
    for case in cases.to_dict("records"):
        index, column, check = case["index"], case["column"], str(case["check"])
        row = None if index is None or (not isinstance(index, str) and pd.isna(index)) else int(index)
        if case["schema_context"] == "DataFrameSchema" and row is not None and column != "sex":
            continue  # a row check (subject's sex) is reported once, on the column it is about
        keyed.append(((row if row is not None else -1, order.get(column, -1)), row, column, check, case["failure_case"]))
    keyed.sort(key=lambda k: k[0])
    conflicts = None
    lines: list[str] = []
    for _, row, column, check, value in keyed:
        if check == "column_in_dataframe":
            line = f"column '{value}' is missing (required: {', '.join(MANIFEST_REQUIRED)})"
        elif row is None:
            line = f"column '{column}': {check}"
        else:
            cell = manifest_cells(cells[column]).get(row, "") if column in cells else str(value)
            if cell == "":
                line = f"row {row}: {column} is empty"
            elif check == "is in the future":
                line = f"row {row}: {column} {cell} {check}"
            else:
                sentence = check.replace("CODE", cell) if column == "site" else check
                line = f"row {row}: {column} '{cell}' {sentence}" + _hint(column, check, cell, row, cells, sites)
            if column == "sex" and check.startswith("differs"):
                if conflicts is None:
                    conflicts = _sex_conflicts(cells, subject_sex)
                subject = manifest_cells(cells["subject_id"])[row]
                line = f"row {row}: sex '{cell}' of subject {subject} differs from {conflicts[row]}"
        if line not in lines:
            lines.append(line)
    return lines


def _hint(column: str, check: str, cell: str, row: int, cells: pd.DataFrame, sites: Collection[str] | None) -> str:
    """' (did you mean ...?)' and similar context for a problem line, or ''."""
    if column == "sample_type" and check.startswith("is not a sample type"):
        close = difflib.get_close_matches(_key(cell), list(SAMPLE_TYPE_SYNONYMS), n=1, cutoff=0.6)
        return f" (did you mean {SAMPLE_TYPE_SYNONYMS[close[0]]}?)" if close else ""
    if column == "site" and sites:
        close = difflib.get_close_matches(cell, list(sites), n=1, cutoff=0.6)
        return f" (did you mean {close[0]}?)" if close else ""
    if column == "sample_id" and check.startswith("appears more than once"):
        same = manifest_cells(cells["sample_id"])
        return f" (rows {', '.join(str(i) for i in same.index[same == cell])})"
    return ""
