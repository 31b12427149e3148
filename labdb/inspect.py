"""What a reader makes of a file, without touching the database (`labdb inspect`; printed by labdb.cli.files)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from labdb.core.rawfiles import read_upload
from labdb.readers.canonical import PlateRead
from labdb.readers.registry import read_plates


def inspect_file(path: Path, reader_format: str | None = None) -> tuple[str, list[PlateRead]]:
    """The detected (or forced) format and every plate read from the file."""
    path = Path(path)
    plates = read_plates(read_upload(path, "reader file"), path.name, reader_format)
    return plates[0].format, plates


def describe(fmt: str, plates: list[PlateRead]) -> dict:
    """The JSON form: {"format", "plates": [{"name", "reads": [{"wavelength_nm", "values", "flags", "markers"}], metadata}]}:
    values hold every number read (a flagged well's too), flags every well that is not ok, markers the file's text
    of every cell that was not a plain number."""
    out = []
    for plate in plates:
        reads = []
        for wavelength in plate.wavelengths:
            rows = plate.reads[reads_at(plate.reads, wavelength)]
            values = {w: (None if _nan(v) else float(v)) for w, v in zip(rows["well"], rows["value"], strict=True)}
            flags = {w: f for w, f in zip(rows["well"], rows["flag"], strict=True) if f != "ok"}
            markers = {w: m for w, m in zip(rows["well"], rows["marker"], strict=True) if isinstance(m, str)}
            reads.append({"wavelength_nm": wavelength, "values": values, "flags": flags, "markers": markers})
        out.append(
            {
                "name": plate.name,
                "reads": reads,
                "n_wells": plate.n_wells,
                "instrument": plate.instrument,
                "serial": plate.serial,
                "software_version": plate.software_version,
                "read_time": plate.read_time.isoformat() if plate.read_time else None,
            }
        )
    return {"format": fmt, "plates": out}


def reads_at(reads: pd.DataFrame, wavelength: int | None) -> pd.Series:
    """Which rows of a plate's reads are at `wavelength` (None: the unlabelled read)."""
    return reads["wavelength_nm"].isna() if wavelength is None else reads["wavelength_nm"].eq(wavelength).fillna(False)


def _nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))
