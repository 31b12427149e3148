"""Pandera schemas for the pipeline's frames (reader output, wells for `evaluate_plate`, results) and one-line error reports.

The sample manifest's schema is in qc.manifest; the words every schema allows come from qc.vocab."""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from qc.vocab import (
    CENSORING,
    PLATE_SHAPES,
    READ_FLAGS,
    RESULT_ROLES,
    ROLES,
    ROW_LETTERS,
    VALUED_FLAGS,
    WELL_PATTERN,
    plate_shape,
    wells_of,
)

MAX_SHOWN = 5
_TYPE_WORDS = {"float64": "a number", "int64": "a whole number", "Int64": "a whole number", "bool": "true or false", "str": "text"}


def as_text(s: pd.Series) -> pd.Series:
    """Object-dtype view of a text column, so comparisons never yield <NA>."""
    return s.astype(object).where(s.notna(), None)


def _on_plate(s: pd.Series, n_wells: int) -> pd.Series:
    """Whether each value is a well name of a plate of `n_wells` (qc.vocab.wells_of)."""
    return s.isin(wells_of(n_wells))


def _is_well(s: pd.Series) -> pd.Series:
    return _on_plate(s, max(PLATE_SHAPES))  # a well of the largest plate: the names WELL_PATTERN allows


class CanonicalReads(pa.DataFrameModel):
    """What every reader returns: one row per well and wavelength (see labdb.readers.canonical)."""

    well: Series[str]
    row: Series[str]
    column: Series[int]
    wavelength_nm: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    value: Series[float] = pa.Field(nullable=True)
    flag: Series[str]
    marker: Series[str] = pa.Field(nullable=True)  # the file's text of a cell that is not a plain number

    @pa.check("well", name="well_name", error="is not a well name like A1 or P24")
    def _well_name(cls, s: pd.Series) -> pd.Series:
        return _is_well(s)

    @pa.check("row", name="row_letter", error="row must be a letter A-P")
    def _row_letter(cls, s: pd.Series) -> pd.Series:
        return s.isin(list(ROW_LETTERS))

    @pa.check("column", name="column_number", error="column must be 1-24")
    def _column_number(cls, s: pd.Series) -> pd.Series:
        return pd.to_numeric(s, errors="coerce").between(1, 24)

    @pa.check("flag", name="flag_known", error=f"flag must be one of {', '.join(READ_FLAGS)}")
    def _flag_known(cls, s: pd.Series) -> pd.Series:
        return s.isin(READ_FLAGS)

    @pa.check("value", name="value_finite", error="value is infinite")
    def _value_finite(cls, s: pd.Series) -> pd.Series:
        return ~np.isinf(pd.to_numeric(s, errors="coerce").astype(float))

    @pa.dataframe_check(name="value_iff_valued", error=f"value must be present exactly when flag is {' or '.join(VALUED_FLAGS)}")
    def _value_iff_valued(cls, df: pd.DataFrame) -> pd.Series:
        if not {"value", "flag"} <= set(df.columns):
            return pd.Series(True, index=df.index)
        return df["value"].notna() == df["flag"].isin(VALUED_FLAGS)

    @pa.dataframe_check(name="well_matches_row_column", error="well does not match row and column")
    def _well_matches(cls, df: pd.DataFrame) -> pd.Series:
        if not {"well", "row", "column"} <= set(df.columns):
            return pd.Series(True, index=df.index)
        built = df["row"].astype(str) + df["column"].astype(str)
        return (df["well"].astype(str) == built).fillna(False).astype(bool)

    @pa.dataframe_check(name="one_read_per_well", error="is read more than once at one wavelength; each well needs one read per wavelength")
    def _one_read(cls, df: pd.DataFrame) -> pd.Series:
        keys = [c for c in ("well", "wavelength_nm") if c in df.columns]
        return ~df.duplicated(keys, keep=False) if keys else pd.Series(True, index=df.index)

    class Config:
        strict = True
        coerce = True
        name = "CanonicalReads"


ON_PLATE = "does not exist on a"  # start of the on-plate check's sentence (reads_schema), quoted with the well


@cache
def reads_schema(n_wells: int) -> pa.DataFrameSchema:
    """CanonicalReads for one plate size: every well must also lie on a plate of `n_wells` (96 or 384)."""
    rows, cols = plate_shape(n_wells)
    schema = CanonicalReads.to_schema()
    on_plate = pa.Check(
        lambda s: _on_plate(s, n_wells),
        name="well_on_plate",
        error=f"{ON_PLATE} {n_wells}-well plate (rows A-{ROW_LETTERS[rows - 1]}, columns 1-{cols})",
    )
    return schema.update_column("well", checks=[*schema.columns["well"].checks, on_plate])


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
        return as_text(s).isin(ROLES)

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
        return ~(as_text(df["role"]).isin(["standard", "blank", "control"]) & df["nominal"].isna())

    @pa.dataframe_check(name="sample_id_required", error="sample wells need a sample_id")
    def _sample_id_required(cls, df: pd.DataFrame) -> pd.Series:
        if not {"role", "sample_id"} <= set(df.columns):
            return pd.Series(True, index=df.index)
        ids = as_text(df["sample_id"]).map(lambda v: isinstance(v, str) and v.strip() != "")
        return ~(as_text(df["role"]).eq("sample") & ~ids.astype(bool))

    class Config:
        strict = True
        coerce = True
        name = "PlateWells"


class PlateResults(pa.DataFrameModel):
    """The final per-group results of a plate (`PlateEvaluation.results`), checked before they are stored."""

    role: Series[str] = pa.Field(isin=list(RESULT_ROLES))
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


def validate(df: pd.DataFrame, schema: type[pa.DataFrameModel] | pa.DataFrameSchema, source: str, first_row: int = 1) -> pd.DataFrame:
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
        elif check.startswith(ON_PLATE):
            line = f"well {value!r} {check}"
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


def reads_conform(reads: pd.DataFrame, n_wells: int) -> bool:
    """Whether `reads` pass `reads_schema(n_wells)`, decided in plain Python on the small arrays of one plate.

    Pandera's `validate` costs ~10 ms a plate, which would cap reading at ~100 plates a second; this fast path
    decides the usual, conforming plate in ~0.1 ms, and `validate` runs only to describe a plate that fails (or
    that this function cannot vouch for). The rules are the schema's: columns READ_COLUMNS, wells on the plate,
    row and column matching the well, known flags, a finite value exactly where the flag carries one, one read per
    well and wavelength. tests/qc/test_schemas.py holds the two to the same answer on random plates."""
    if list(reads.columns) != list(CanonicalReads.to_schema().columns) or reads.empty:
        return False
    if not (pd.api.types.is_integer_dtype(reads["column"]) and pd.api.types.is_float_dtype(reads["value"])):
        return False
    if not (isinstance(reads["wavelength_nm"].dtype, pd.Int64Dtype)):
        return False
    wells, rows, cols, flags = (reads[c].tolist() for c in ("well", "row", "column", "flag"))
    on_plate = wells_of(n_wells)
    if not all(isinstance(w, str) and w in on_plate and r == w[0] and c == int(w[1:]) for w, r, c in zip(wells, rows, cols)):
        return False
    if not set(flags) <= set(READ_FLAGS):
        return False
    value = reads["value"].to_numpy(dtype=float)
    valued = np.array([f in VALUED_FLAGS for f in flags], dtype=bool)
    if np.isinf(value).any() or not np.array_equal(~np.isnan(value), valued):
        return False
    if not (pd.api.types.is_string_dtype(reads["marker"]) or reads["marker"].dtype == object):
        return False
    if not all(isinstance(m, str) for m in reads["marker"].dropna().tolist()):
        return False
    keys = list(zip(wells, reads["wavelength_nm"].fillna(-1).tolist()))
    return len(set(keys)) == len(keys)
