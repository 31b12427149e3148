"""qc.schemas: CanonicalReads and PlateWells, and the one-line SchemaProblems report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qc.acceptance import evaluate_plate
from qc.schemas import CanonicalReads, PlateWells, SchemaProblems, reads_conform, reads_schema, validate
from qc.vocab import READ_FLAGS, VALUED_FLAGS, plate_shape

WELL_COLUMNS = ["well", "role", "level", "nominal", "dilution", "sample_id", "od", "masked"]


def reads(records: list[tuple]) -> pd.DataFrame:
    """A canonical reads frame from (well, wavelength_nm, value, flag[, marker]), as a reader builds it."""
    records = [r if len(r) == 5 else (*r, None) for r in records]
    df = pd.DataFrame(records, columns=["well", "wavelength_nm", "value", "flag", "marker"])
    df["row"] = df["well"].str[0]
    df["column"] = df["well"].str[1:].astype(int)
    df["wavelength_nm"] = df["wavelength_nm"].astype("Int64")
    df["value"] = df["value"].astype(float)
    df["marker"] = df["marker"].astype("str")
    return df[["well", "row", "column", "wavelength_nm", "value", "flag", "marker"]]


def plate_wells() -> pd.DataFrame:
    """A small valid evaluate_plate input: 7 standards + blank, one control level, two samples, one empty well."""
    rows = [
        (f"{r}{c}", "standard", f"S{i + 1}", 4000 / 2**i, 1.0, None, 2.4 / (i + 1), False) for i, r in enumerate("ABCDEFG") for c in (1, 2)
    ]
    rows += [("H1", "blank", "S0", 0.0, 1.0, None, 0.05, False), ("H2", "blank", "S0", 0.0, 1.0, None, 0.05, False)]
    rows += [("A3", "control", "low", 150.0, 1.0, None, 0.28, False), ("A4", "control", "low", 150.0, 1.0, None, 0.27, False)]
    rows += [("B3", "sample", None, np.nan, 50.0, "P1", 0.9, False), ("B4", "sample", None, np.nan, 50.0, "P1", np.nan, True)]
    rows += [("C3", "empty", None, np.nan, 1.0, None, np.nan, False)]
    return pd.DataFrame(rows, columns=WELL_COLUMNS)


def problems_of(df: pd.DataFrame, schema) -> list[str]:
    with pytest.raises(SchemaProblems) as info:
        validate(df, schema, "run7.xlsx")
    return info.value.problems


# --- CanonicalReads -----------------------------------------------------------------------------------


def test_valid_reads_pass_and_keep_dtypes():
    df = reads([("A1", 450, 0.512, "ok"), ("A1", 630, 0.041, "ok"), ("H12", 450, None, "overflow"), ("P24", None, 45_000.0, "ok")])
    out = validate(df, CanonicalReads, "run7.xlsx")
    assert str(out["wavelength_nm"].dtype) == "Int64" and out["wavelength_nm"].isna().sum() == 1
    assert out["value"].dtype == float and out["column"].tolist() == [1, 1, 12, 24]


def test_fluorescence_sized_values_are_fine_but_infinity_is_not():
    ok = reads([("A1", 485, 52_000.0, "ok"), ("A2", 485, -3.0, "ok")])
    validate(ok, CanonicalReads, "fluor.csv")
    assert problems_of(reads([("A1", 450, np.inf, "ok")]), CanonicalReads) == ["well A1: value is infinite (got inf)"]


def test_value_must_be_nan_exactly_when_flag_is_not_ok():
    """A value goes with ok and flagged (a number the reader marked), never with the other flags."""
    df = reads(
        [
            ("A1", 450, None, "ok"),
            ("A2", 450, 3.9, "overflow"),
            ("A3", 450, None, "missing"),
            ("A4", 450, None, "flagged", "*"),
            ("A5", 450, 0.356, "flagged", "*0.356*"),
        ]
    )
    assert problems_of(df, CanonicalReads) == [
        "well A1: value must be present exactly when flag is ok or flagged",
        "well A2: value must be present exactly when flag is ok or flagged",
        "well A4: value must be present exactly when flag is ok or flagged",
    ]


def test_bad_well_names_flags_and_duplicates_are_reported_per_row():
    df = reads([("A1", 450, 0.5, "ok"), ("A1", 450, 0.6, "ok"), ("B2", 450, 0.5, "OVRFLW")])
    bad_well = pd.DataFrame([{"well": "Q1", "row": "Q", "column": 1, "wavelength_nm": 450, "value": 0.5, "flag": "ok"}])
    df = pd.concat([df, bad_well], ignore_index=True)
    problems = problems_of(df, CanonicalReads)
    assert "well A1: is read more than once at one wavelength; each well needs one read per wavelength" in problems
    assert "well B2: flag must be one of ok, overflow, missing, invalid, flagged (got 'OVRFLW')" in problems
    assert "row 4: 'Q1' is not a well name like A1 or P24" in problems
    assert "row 4: row must be a letter A-P (got 'Q')" in problems


def test_well_must_match_row_and_column():
    df = reads([("A1", 450, 0.5, "ok")])
    df.loc[0, "column"] = 2
    assert problems_of(df, CanonicalReads) == ["well A1: well does not match row and column"]


def test_reads_schema_is_strict_about_columns():
    df = reads([("A1", 450, 0.5, "ok")]).assign(plate="P1").drop(columns=["flag"])
    problems = problems_of(df, CanonicalReads)
    assert "column 'plate': not expected here" in problems
    assert "column 'flag': missing" in problems


# --- PlateWells ---------------------------------------------------------------------------------------


def test_valid_plate_wells_pass_and_coerce():
    df = plate_wells()
    df["od"] = df["od"].map(lambda v: "" if pd.isna(v) else str(v)).replace("", np.nan)  # numbers stored as text
    df["dilution"] = df["dilution"].astype(object)
    df.loc[df["well"] == "A1", "dilution"] = None  # missing dilution means 1
    out = validate(df, PlateWells, "plate 3")
    assert out["od"].dtype == float and out["od"].iloc[0] == pytest.approx(2.4)
    assert out.loc[0, "dilution"] == 1.0 and out["masked"].dtype == bool
    evaluate_plate(out)  # the validated frame is what evaluate_plate takes


def test_plate_wells_problems_name_the_wells():
    df = plate_wells()
    df.loc[df["well"] == "A2", "well"] = "A1"
    df.loc[df["well"] == "B1", "nominal"] = np.nan
    df.loc[df["well"] == "B3", "sample_id"] = None
    df.loc[df["well"] == "C1", "dilution"] = 0.0
    df.loc[df["well"] == "D1", "role"] = "sampel"
    df.loc[df["well"] == "E1", "nominal"] = -5.0
    problems = problems_of(df, PlateWells)
    assert problems == [
        "well A1: appears more than once",
        "well B1: standard, blank and control wells need a nominal value (pg/mL)",
        "well C1: dilution must be a number > 0 (got 0.0)",
        "well D1: role must be one of standard, blank, control, bridge, sample, empty (got 'sampel')",
        "well E1: nominal must be >= 0 pg/mL (got -5.0)",
        "well B3: sample wells need a sample_id",
    ]


def test_unconvertible_values_are_reported():
    df = plate_wells()
    df["od"] = df["od"].astype(object)
    df.loc[df["well"] == "A1", "od"] = "OVRFLW"
    assert problems_of(df, PlateWells) == ["well A1: od 'OVRFLW' is not a number"]


def test_schema_problems_is_a_one_line_value_error_showing_five():
    df = plate_wells()
    df["dilution"] = -1.0
    with pytest.raises(ValueError) as info:
        validate(df, PlateWells, "plates/run7.xlsx")
    error = info.value
    assert isinstance(error, SchemaProblems)
    assert len(error.problems) == len(df)
    text = str(error)
    assert "\n" not in text
    assert text.startswith(f"plates/run7.xlsx: {len(df)} problem(s): well A1: dilution must be a number > 0 (got -1.0); ")
    assert text.count("; ") == 4 and text.endswith(f"; {error.problems[4]}")


def test_validate_keeps_the_callers_index():
    df = plate_wells()
    df.index = range(100, 100 + len(df))
    assert list(validate(df, PlateWells, "x").index) == list(df.index)
    df.loc[100, "role"] = "?"
    assert problems_of(df, PlateWells)[0].startswith("well A1: role must be")


# --- the fast conformance check agrees with the schema ---------------------------------------------------------

MUTATIONS = (
    "none",
    "bad_name",
    "off_plate",
    "wrong_row",
    "wrong_column",
    "unknown_flag",
    "ok_without_value",
    "value_on_flagged",
    "infinite",
    "duplicate",
    "text_column",
)


def _mutated(draw_plate: tuple, mutation: str, k: int) -> pd.DataFrame:
    n_wells, wells, wavelengths, flags = draw_plate
    records = []
    for i, well in enumerate(wells):
        for w in wavelengths:
            flag = flags[(i + (w or 0)) % len(flags)]
            records.append((well, w, 0.1 + i / 100 if flag in VALUED_FLAGS else None, flag, None if flag == "ok" else flag.upper()))
    df = reads(records)
    k %= len(df)
    if mutation == "bad_name":
        df.loc[k, ["well", "row", "column"]] = ["Q0", "Q", 0]
    elif mutation == "off_plate":
        df.loc[k, ["well", "row", "column"]] = ["I13", "I", 13] if n_wells == 96 else ["Q25", "Q", 25]
    elif mutation == "wrong_row":
        df.loc[k, "row"] = "B" if df.loc[k, "row"] != "B" else "C"
    elif mutation == "wrong_column":
        df.loc[k, "column"] = int(df.loc[k, "column"]) % 12 + 1 if df.loc[k, "column"] != 12 else 1
    elif mutation == "unknown_flag":
        df.loc[k, ["flag", "value"]] = ["saturated", float("nan")]
    elif mutation == "ok_without_value":
        df.loc[k, ["flag", "value"]] = ["ok", float("nan")]
    elif mutation == "value_on_flagged":
        df.loc[k, ["flag", "value"]] = ["overflow", 3.9]
    elif mutation == "infinite":
        df.loc[k, ["flag", "value"]] = ["ok", float("inf")]
    elif mutation == "duplicate":
        df = pd.concat([df, df.iloc[[k]]], ignore_index=True)
    elif mutation == "text_column":
        df["column"] = df["column"].astype(str)  # needs coercing: the fast path declines, the schema decides
    return df


@st.composite
def plates(draw):
    n_wells = draw(st.sampled_from([96, 384]))
    rows, cols = plate_shape(n_wells)
    all_wells = [f"{r}{c}" for r in "ABCDEFGHIJKLMNOP"[:rows] for c in range(1, cols + 1)]
    wells = draw(st.lists(st.sampled_from(all_wells), min_size=1, max_size=24, unique=True))
    wavelengths = draw(st.sampled_from([[450], [450, 630], [None], [485, 520, 630]]))
    flags = draw(st.lists(st.sampled_from(READ_FLAGS), min_size=1, max_size=4))
    return n_wells, wells, wavelengths, flags


@settings(max_examples=300, deadline=None)
@given(plates(), st.sampled_from(MUTATIONS), st.integers(min_value=0, max_value=10_000))
def test_fast_conformance_agrees_with_the_schema(plate, mutation, k):
    """reads_conform (plain Python, used on every plate read) says yes only when the Pandera schema passes the
    plate, and it says no to every broken plate; a frame that needs coercing is left to the schema."""
    df = _mutated(plate, mutation, k)
    n_wells = plate[0]
    try:
        validate(df, reads_schema(n_wells), "x")
        passes = True
    except SchemaProblems:
        passes = False
    fast = reads_conform(df, n_wells)
    assert not fast or passes, f"fast path accepted a plate the schema refuses ({mutation})"
    if mutation != "text_column":
        assert fast == passes, f"fast path and schema disagree on {mutation}"
    if mutation == "none":
        assert fast
