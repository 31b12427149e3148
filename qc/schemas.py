"""Pandera schemas for the pipeline's frames (reader output, wells for `evaluate_plate`) and one-line error reports."""

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

from qc.acceptance import ROLES

WELL_PATTERN = r"^[A-P]([1-9]|1[0-9]|2[0-4])$"
READ_FLAGS = ("ok", "overflow", "missing", "invalid")
MAX_SHOWN = 5
_TYPE_WORDS = {"float64": "a number", "int64": "a whole number", "Int64": "a whole number", "bool": "true or false", "str": "text"}


def _text(s: pd.Series) -> pd.Series:
    """Object-dtype view of a text column, so comparisons never yield <NA>."""
    return s.astype(object).where(s.notna(), None)


def _is_well(s: pd.Series) -> pd.Series:
    return _text(s).map(lambda v: isinstance(v, str) and re.fullmatch(WELL_PATTERN, v) is not None).astype(bool)


class CanonicalReads(pa.DataFrameModel):
    """What every reader returns: one row per well and wavelength (see labdb.readers.canonical)."""

    well: Series[str]
    row: Series[str]
    column: Series[int]
    wavelength_nm: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    value: Series[float] = pa.Field(nullable=True)
    flag: Series[str]

    @pa.check("well", name="well_name", error="is not a well name like A1 or P24")
    def _well_name(cls, s: pd.Series) -> pd.Series:
        return _is_well(s)

    @pa.check("row", name="row_letter", error="row must be a letter A-P")
    def _row_letter(cls, s: pd.Series) -> pd.Series:
        return _text(s).isin(list("ABCDEFGHIJKLMNOP"))

    @pa.check("column", name="column_number", error="column must be 1-24")
    def _column_number(cls, s: pd.Series) -> pd.Series:
        return pd.to_numeric(s, errors="coerce").between(1, 24)

    @pa.check("flag", name="flag_known", error=f"flag must be one of {', '.join(READ_FLAGS)}")
    def _flag_known(cls, s: pd.Series) -> pd.Series:
        return _text(s).isin(READ_FLAGS)

    @pa.check("value", name="value_finite", error="value is infinite")
    def _value_finite(cls, s: pd.Series) -> pd.Series:
        return ~np.isinf(pd.to_numeric(s, errors="coerce").astype(float))

    @pa.dataframe_check(name="value_iff_ok", error="value must be present exactly when flag is 'ok'")
    def _value_iff_ok(cls, df: pd.DataFrame) -> pd.Series:
        if not {"value", "flag"} <= set(df.columns):
            return pd.Series(True, index=df.index)
        return df["value"].notna() == _text(df["flag"]).eq("ok")

    @pa.dataframe_check(name="well_matches_row_column", error="well does not match row and column")
    def _well_matches(cls, df: pd.DataFrame) -> pd.Series:
        if not {"well", "row", "column"} <= set(df.columns):
            return pd.Series(True, index=df.index)
        built = _text(df["row"]).astype(str) + df["column"].astype(str)
        return _text(df["well"]).eq(built)

    @pa.dataframe_check(name="one_read_per_well", error="more than one value for this well and wavelength")
    def _one_read(cls, df: pd.DataFrame) -> pd.Series:
        keys = [c for c in ("well", "wavelength_nm") if c in df.columns]
        return ~df.duplicated(keys, keep=False) if keys else pd.Series(True, index=df.index)

    class Config:
        strict = True
        coerce = True
        name = "CanonicalReads"


class PlateWells(pa.DataFrameModel):
    """The input of `qc.acceptance.evaluate_plate`: one row per well with its role and corrected OD."""

    well: Series[str]
    role: Series[str]
    level: Series[str] = pa.Field(nullable=True)
    nominal: Series[float] = pa.Field(nullable=True)
    dilution: Series[float] = pa.Field(default=1.0, nullable=True)  # missing means undiluted
    sample_id: Series[str] = pa.Field(nullable=True)
    od: Series[float] = pa.Field(nullable=True)
    masked: Series[bool]

    @pa.check("well", name="well_name", error="is not a well name like A1 or P24")
    def _well_name(cls, s: pd.Series) -> pd.Series:
        return _is_well(s)

    @pa.check("well", name="well_unique", error="appears more than once")
    def _well_unique(cls, s: pd.Series) -> pd.Series:
        return ~s.duplicated(keep=False)

    @pa.check("role", name="role_known", error=f"role must be one of {', '.join(ROLES)}")
    def _role_known(cls, s: pd.Series) -> pd.Series:
        return _text(s).isin(ROLES)

    @pa.check("dilution", name="dilution_positive", error="dilution must be a number > 0")
    def _dilution_positive(cls, s: pd.Series) -> pd.Series:
        return s.isna() | (pd.to_numeric(s, errors="coerce") > 0)

    @pa.check("nominal", name="nominal_non_negative", error="nominal must be >= 0 pg/mL")
    def _nominal_non_negative(cls, s: pd.Series) -> pd.Series:
        return s.isna() | (pd.to_numeric(s, errors="coerce") >= 0)

    @pa.check("od", name="od_finite", error="od is infinite")
    def _od_finite(cls, s: pd.Series) -> pd.Series:
        return ~np.isinf(pd.to_numeric(s, errors="coerce").astype(float))

    @pa.dataframe_check(name="nominal_required", error="standard, blank and control wells need a nominal value (pg/mL)")
    def _nominal_required(cls, df: pd.DataFrame) -> pd.Series:
        if not {"role", "nominal"} <= set(df.columns):
            return pd.Series(True, index=df.index)
        return ~(_text(df["role"]).isin(["standard", "blank", "control"]) & df["nominal"].isna())

    @pa.dataframe_check(name="sample_id_required", error="sample wells need a sample_id")
    def _sample_id_required(cls, df: pd.DataFrame) -> pd.Series:
        if not {"role", "sample_id"} <= set(df.columns):
            return pd.Series(True, index=df.index)
        ids = _text(df["sample_id"]).map(lambda v: isinstance(v, str) and v.strip() != "")
        return ~(_text(df["role"]).eq("sample") & ~ids.astype(bool))

    class Config:
        strict = True
        coerce = True
        name = "PlateWells"


# --- sample manifests ---------------------------------------------------------------------------------
# A manifest is checked as written (text cells, the frame's index = the line in the file, header = line 1),
# so every message can quote the cell; labdb.samples turns the checked cells into typed values with the
# same parse helpers, so the check and the import can never disagree.

SAMPLE_TYPES = ("serum", "plasma_edta", "plasma_citrate", "plasma_heparin", "platelet_poor_plasma")
CENSORING = ("none", "below_lloq", "above_uloq")
SAMPLE_TYPE_SYNONYMS: dict[str, str] = {  # keys as `_key` writes them: lower case, words split by one space
    "serum": "serum",
    "plasma edta": "plasma_edta", "edta plasma": "plasma_edta", "edta": "plasma_edta",
    "k2 edta plasma": "plasma_edta", "k3 edta plasma": "plasma_edta", "k2edta plasma": "plasma_edta",
    "plasma citrate": "plasma_citrate", "citrate plasma": "plasma_citrate", "citrate": "plasma_citrate",
    "sodium citrate plasma": "plasma_citrate",
    "plasma heparin": "plasma_heparin", "heparin plasma": "plasma_heparin", "heparin": "plasma_heparin",
    "lithium heparin plasma": "plasma_heparin", "li heparin plasma": "plasma_heparin",
    "platelet poor plasma": "platelet_poor_plasma", "ppp": "platelet_poor_plasma",
}
MANIFEST_REQUIRED = ("sample_id", "subject_id", "sample_type", "collected_at")
MANIFEST_NUMBERS = ("age", "platelet_count", "clotting_minutes", "minutes_to_centrifugation", "centrifuge_g",
                    "storage_days", "freeze_thaw_cycles")
MANIFEST_WHOLE_NUMBERS = ("freeze_thaw_cycles",)
MANIFEST_YES_NO = ("platelet_poor", "fasting", "exercise_within_24h", "antidepressant", "smoking")
MANIFEST_COLUMNS = (*MANIFEST_REQUIRED, "site", "visit", "sex", "age", "platelet_count", "platelet_poor",
                    "clotting_minutes", "minutes_to_centrifugation", "centrifuge_g", "storage_days",
                    "freeze_thaw_cycles", "fasting", "exercise_within_24h", "antidepressant", "diagnosis", "smoking",
                    "notes")
PLATELET_RANGE = (10.0, 1500.0)  # 10^9/L; outside this a unit mix-up (10^6/mL is fine, per uL is not) is likelier
AGE_RANGE = (0.0, 120.0)
YES = frozenset({"yes", "y", "true", "t", "1"})
NO = frozenset({"no", "n", "false", "f", "0"})
SEXES = {"f": "F", "female": "F", "m": "M", "male": "M"}
ISO_DATE = r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
MANIFEST_MAX_SHOWN = 30  # problems quoted in the one-line error; the count says how many in all


def manifest_cells(s: pd.Series) -> pd.Series:
    """Stripped text of each cell, '' for an empty one (object dtype)."""
    return _text(s).map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())


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

    @pa.check("sample_type", name="sample_type_known",
              error=f"is not a sample type: use {', '.join(SAMPLE_TYPES[:-1])} or {SAMPLE_TYPES[-1]}")
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

    @pa.check("platelet_count", name="platelet_count_plausible",
              error=f"is outside the plausible range {PLATELET_RANGE[0]:g}-{PLATELET_RANGE[1]:g} x10^9/L (check the unit)")
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
        site_check = pa.Check(lambda s: ~_filled(s) | manifest_cells(s).isin(known), name="site_known",
                              error="is unknown: add it first with `labdb sites add CODE --hemisphere north|south`")
        schema = schema.update_column("site", checks=[*schema.columns["site"].checks, site_check])
    if subject_sex:
        recorded = dict(subject_sex)
        schema.checks = [c for c in schema.checks if c.name != "sex_consistent"] + [
            pa.Check(lambda df: _sex_conflicts(df, recorded).isna(), name="sex_recorded",
                     error="differs from the sex given for the same subject")
        ]
    return schema


def check_manifest_cells(cells: pd.DataFrame, source: str, sites: Collection[str] | None = None,
                         subject_sex: Mapping[str, str] | None = None) -> None:
    """Validate a manifest's cells (index = line numbers) lazily; SchemaProblems lists every problem by row and column."""
    try:
        manifest_schema(sites, subject_sex).validate(cells, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise SchemaProblems(source, manifest_problems(exc.failure_cases, cells, sites, subject_sex)) from None


def manifest_problems(cases: pd.DataFrame, cells: pd.DataFrame, sites: Collection[str] | None = None,
                      subject_sex: Mapping[str, str] | None = None) -> list[str]:
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


class PlateResults(pa.DataFrameModel):
    """The final per-group results of a plate (`PlateEvaluation.results`), checked before they are stored."""

    role: Series[str] = pa.Field(isin=["control", "bridge", "sample"])
    name: Series[str] = pa.Field(str_length={"min_value": 1})
    dilution: Series[float] = pa.Field(gt=0)
    n_replicates: Series[int] = pa.Field(ge=0)
    mean_od: Series[float] = pa.Field(nullable=True)
    cv_pct: Series[float] = pa.Field(nullable=True, ge=0)
    conc: Series[float] = pa.Field(nullable=True, ge=0)
    censoring: Series[str] = pa.Field(isin=list(CENSORING))
    lloq: Series[float] = pa.Field(nullable=True, ge=0)
    uloq: Series[float] = pa.Field(nullable=True, ge=0)

    @pa.dataframe_check(name="loq_order", error="LLOQ must not exceed ULOQ")
    def _loq_order(cls, df: pd.DataFrame) -> pd.Series:
        return df["lloq"].isna() | df["uloq"].isna() | (df["lloq"] <= df["uloq"])

    class Config:
        strict = False
        coerce = True
        name = "PlateResults"


class SchemaProblems(ValueError):
    """A frame failed its schema; `.problems` holds short 'well B3: ...' / 'row 7: ...' lines."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s): {'; '.join(problems[:MAX_SHOWN])}")


def validate(
    df: pd.DataFrame, schema: type[pa.DataFrameModel] | pa.DataFrameSchema, source: str, first_row: int = 1
) -> pd.DataFrame:
    """The validated (coerced) frame, or SchemaProblems listing every problem found (lazy validation).

    Rows without a well name are reported as 'row N', counting from `first_row` (2 for a file with a header line).
    """
    work = df.reset_index(drop=True)
    try:
        out = schema.validate(work, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise SchemaProblems(source, _problems(exc.failure_cases, work, first_row)) from None
    out.index = df.index
    return out


def _problems(cases: pd.DataFrame, df: pd.DataFrame, first_row: int = 1) -> list[str]:
    """Pandera failure cases -> unique, ordered 'where: what' lines."""
    lines: list[str] = []
    coerced = set()
    records = cases.to_dict("records")
    records.sort(key=lambda c: -1 if c["index"] is None or pd.isna(c["index"]) else int(c["index"]))
    for case in records:
        check, column, value, index = str(case["check"]), case["column"], case["failure_case"], case["index"]
        if check.startswith("coerce_dtype"):
            coerced.add((column, index))
    for case in records:
        check, column, value, index = str(case["check"]), case["column"], case["failure_case"], case["index"]
        where = _where(df, index, first_row)
        if check == "column_in_schema":
            line = f"column '{value}': not expected here"
        elif check == "column_in_dataframe":
            line = f"column '{value}': missing"
        elif check.startswith("coerce_dtype") or check.startswith("dtype("):
            if check.startswith("dtype(") and (column, index) in coerced:
                continue
            target = check[check.index("(") + 1 : check.rindex(")")].strip("'\"")
            target = _TYPE_WORDS.get(target, target)
            line = f"{where}: {column} {value!r} is not {target}" if where else f"column '{column}': not {target}"
        elif not where:
            line = f"column '{column}': {check}"
        elif case["schema_context"] == "DataFrameSchema":
            line = f"{where}: {check}"
        elif check.startswith("not_nullable"):
            line = f"{where}: {column} is missing"
        elif check == "is not a well name like A1 or P24":
            line = f"{where}: {value!r} {check}"
        elif check == "appears more than once":
            line = f"{where}: {check}"
        else:
            line = f"{where}: {check} (got {value!r})"
        if line not in lines:
            lines.append(line)
    return lines


def _where(df: pd.DataFrame, index: object, first_row: int = 1) -> str:
    """'well B3' when the row has a valid well name, else 'row 7' (1-based), '' without a row."""
    if index is None or (not isinstance(index, str) and pd.isna(index)):
        return ""
    i = int(index)
    if "well" in df.columns and 0 <= i < len(df):
        well = df["well"].iloc[i]
        if isinstance(well, str) and re.fullmatch(WELL_PATTERN, well):
            return f"well {well}"
    return f"row {i + first_row}"
