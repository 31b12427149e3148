"""The canonical plate read every reader returns, whatever the vendor."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

FLAGS = ("ok", "overflow", "missing", "invalid")
READ_COLUMNS = ["well", "row", "column", "wavelength_nm", "value", "flag"]


@dataclass(frozen=True)
class PlateRead:
    """One physical plate from a file.

    `reads` is tidy: one row per well and wavelength with columns READ_COLUMNS:
    well ('A1', no zero padding), row ('A'), column (int, 1-based), wavelength_nm (Int64,
    <NA> when the file does not say), value (float, NaN whenever flag != 'ok'), flag (one of FLAGS).
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


def plate_shape(n_wells: int) -> tuple[int, int]:
    """(rows, columns) of a 96- or 384-well plate."""
    if n_wells == 96:
        return 8, 12
    if n_wells == 384:
        return 16, 24
    raise ValueError(f"unsupported plate size {n_wells}")


def well_name(row_index: int, column_index: int) -> str:
    """0-based indices to 'A1'."""
    return f"{string.ascii_uppercase[row_index]}{column_index + 1}"


def make_reads(records: list[tuple[str, int | None, float | None, str]]) -> pd.DataFrame:
    """Build a canonical reads frame from (well, wavelength_nm, value, flag) tuples."""
    df = pd.DataFrame(records, columns=["well", "wavelength_nm", "value", "flag"])
    df["row"] = df["well"].str[0]
    df["column"] = df["well"].str[1:].astype(int)
    df["wavelength_nm"] = df["wavelength_nm"].astype("Int64")
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(float)
    df.loc[df["flag"] != "ok", "value"] = float("nan")
    return df[READ_COLUMNS].reset_index(drop=True)
