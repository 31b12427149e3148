"""The canonical plate read every reader returns, whatever the vendor."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

READ_COLUMNS = ["well", "row", "column", "wavelength_nm", "value", "flag"]


@dataclass(frozen=True)
class PlateRead:
    """One physical plate from a file.

    `reads` is tidy: one row per well and wavelength with columns READ_COLUMNS:
    well ('A1', no zero padding), row ('A'), column (int, 1-based), wavelength_nm (Int64,
    <NA> when the file does not say), value (float, NaN whenever flag != 'ok'), flag (one of qc.vocab.READ_FLAGS).
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


def make_reads(records: list[tuple[str, int | None, float | None, str]]) -> pd.DataFrame:
    """Build a canonical reads frame from (well, wavelength_nm, value, flag) tuples."""
    df = pd.DataFrame(records, columns=["well", "wavelength_nm", "value", "flag"])
    df["row"] = df["well"].str[0]
    df["column"] = df["well"].str[1:].astype(int)
    df["wavelength_nm"] = df["wavelength_nm"].astype("Int64")
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(float)
    df.loc[df["flag"] != "ok", "value"] = float("nan")
    return df[READ_COLUMNS].reset_index(drop=True)
