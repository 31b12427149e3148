"""`labdb inspect`: what a reader makes of a file, without touching the database."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from labdb.rawfiles import read_upload
from labdb.readers.canonical import PlateRead, plate_shape
from labdb.readers.registry import read_plates


def inspect_file(path: Path, reader_format: str | None = None) -> tuple[str, list[PlateRead]]:
    """The detected (or forced) format and every plate read from the file."""
    path = Path(path)
    plates = read_plates(read_upload(path, "reader file"), path.name, reader_format)
    return plates[0].format, plates


def describe(fmt: str, plates: list[PlateRead]) -> dict:
    """The JSON form: {"format", "plates": [{"name", "reads": [{"wavelength_nm", "values", "flags"}], metadata}]}."""
    out = []
    for plate in plates:
        reads = []
        for wavelength in plate.wavelengths:
            rows = plate.reads[_at(plate.reads, wavelength)]
            values = {w: (None if f != "ok" or _nan(v) else float(v)) for w, v, f in zip(rows["well"], rows["value"], rows["flag"], strict=True)}
            flags = {w: f for w, f in zip(rows["well"], rows["flag"], strict=True) if f != "ok"}
            reads.append({"wavelength_nm": wavelength, "values": values, "flags": flags})
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


def _at(reads: pd.DataFrame, wavelength: int | None) -> pd.Series:
    return reads["wavelength_nm"].isna() if wavelength is None else reads["wavelength_nm"].eq(wavelength).fillna(False)


def _nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def print_plates(console: Console, name: str, fmt: str, plates: list[PlateRead]) -> None:
    """A human summary: metadata per plate and each read as a grid (flags shown by name)."""
    console.print(f"{name}: {fmt}, {len(plates)} plate(s)", markup=False)
    for plate in plates:
        meta = ", ".join(f"{k} {v}" for k, v in (("instrument", plate.instrument), ("serial", plate.serial),
                                                  ("software", plate.software_version), ("read", plate.read_time)) if v)
        console.print(f"\nplate '{plate.name}' ({plate.n_wells} wells){': ' + meta if meta else ''}", markup=False)
        n_rows, n_cols = plate_shape(plate.n_wells)
        for wavelength in plate.wavelengths:
            rows = plate.reads[_at(plate.reads, wavelength)].set_index("well")
            flagged = int((rows["flag"] != "ok").sum())
            title = f"{'unlabelled read' if wavelength is None else f'{wavelength} nm'}: {len(rows)} wells, {flagged} flagged"
            table = Table(*([""] + [str(c) for c in range(1, n_cols + 1)]), title=title, title_justify="left")
            for r in range(n_rows):
                letter = chr(65 + r)
                cells = []
                for c in range(1, n_cols + 1):
                    well = f"{letter}{c}"
                    if well not in rows.index:
                        cells.append("")
                    elif rows.at[well, "flag"] != "ok":
                        cells.append(str(rows.at[well, "flag"]))
                    else:
                        cells.append(f"{rows.at[well, 'value']:.4g}")
                table.add_row(letter, *cells)
            console.print(table)
