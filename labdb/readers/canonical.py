"""The canonical plate read every reader returns, whatever the vendor."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from qc.vocab import VALUED_FLAGS

READ_COLUMNS = ["well", "row", "column", "wavelength_nm", "value", "flag", "marker"]


@dataclass(frozen=True)
class PlateRead:
    """One physical plate from a file.

    `reads` is tidy: one row per well and wavelength with columns READ_COLUMNS:
    well ('A1', no zero padding), row ('A'), column (int, 1-based), wavelength_nm (Int64,
    <NA> when the file does not say), value (float, NaN unless the flag is ok or flagged), flag (one of
    qc.vocab.READ_FLAGS), marker (the file's text of a cell that is not a plain number, else NA).
    """

    name: str
    format: str
    reads: pd.DataFrame
    n_wells: int = 96
    instrument: str | None = None
    serial: str | None = None
    read_time: datetime | None = None
    software_version: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def wavelengths(self) -> list[int | None]:
        """Wavelengths present, in file order (None for an unlabelled read)."""
        seen: list[int | None] = []
        for w in self.reads["wavelength_nm"].tolist():
            w = None if pd.isna(w) else int(w)
            if w not in seen:
                seen.append(w)
        return seen


def make_reads(records: list[tuple]) -> pd.DataFrame:
    """Build a canonical reads frame from (well, wavelength_nm, value, flag[, marker]) tuples; the value is dropped
    unless the flag carries one (ok, flagged), the marker is the file's text for a cell that is not a plain number.

    Built column by column from plain lists: every plate read passes through here, and a DataFrame of tuples with
    string operations after it cost most of the time of reading a file."""
    wells, wavelengths, values, flags, markers = [], [], [], [], []
    for r in records:
        well, flag = r[0], r[3]
        marker = r[4] if len(r) > 4 else None
        wells.append(well)
        wavelengths.append(r[1])
        values.append(_number(r[2]) if flag in VALUED_FLAGS else math.nan)
        flags.append(flag)
        markers.append(marker if isinstance(marker, str) and marker else None)
    return pd.DataFrame(
        {
            "well": pd.Series(wells, dtype="str"),
            "row": pd.Series([w[0] for w in wells], dtype="str"),
            "column": pd.Series([int(w[1:]) for w in wells], dtype="int64"),
            "wavelength_nm": pd.Series(pd.array(wavelengths, dtype="Int64")),
            "value": pd.Series(values, dtype="float64"),
            "flag": pd.Series(flags, dtype="str"),
            "marker": pd.Series(markers, dtype="str"),
        },
        columns=READ_COLUMNS,
    )


def _number(value: object) -> float:
    """A float, NaN for None or anything that is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
