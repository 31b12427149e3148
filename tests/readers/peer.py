"""Compare what our readers make of a file with a peer's reading of every well (allotropy, FILE.allotropy.json).

The peer file lists one entry per endpoint read: plate name, kind, wavelength, `values` (well -> number, or null
where the file flags the well) and `errors` (well -> the file's text for a flagged well). A read matches ours by
plate (in file order) and wavelength; every well must agree: the same number for a value (to 1e-9 relative), and
for a null a well we flag (any flag but ok), with the file's text as our marker where the peer quotes one.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from labdb.readers.canonical import PlateRead

TABLE_ROW = re.compile(r"^\| (?P<file>[^|]+?) \| (?P<scope>endpoint|unsupported) \| (?P<reader>[^|]+?) \|")


def listed_files(folder: Path) -> dict[str, tuple[str, str]]:
    """SOURCES.md's table: file -> (scope, the labdb reader expected, '-' for none)."""
    out = {}
    for line in (folder / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        m = TABLE_ROW.match(line)
        if m:
            out[m["file"]] = (m["scope"], m["reader"])
    return out


def peer_reads(path: Path) -> list[dict]:
    return json.loads(Path(f"{path}.allotropy.json").read_text(encoding="utf-8"))["reads"]


def differences(plates: list[PlateRead], reads: list[dict], wavelengths: dict | None = None) -> list[str]:
    """Every disagreement between our plates and the peer's reads, as short lines (empty: all wells agree).
    `wavelengths` maps a peer wavelength to ours where the two rightly differ (the export wins: SOURCES.md), on the
    plates that have our wavelength."""
    names = list(dict.fromkeys(r["plate"] for r in reads))
    problems = []
    if len(names) != len(plates):
        return [f"{len(plates)} plate(s) read, the peer has {len(names)}: {names}"]
    for plate, name in zip(plates, names, strict=True):
        ours = {None if w is None else int(w) for w in plate.wavelengths}
        for read in (r for r in reads if r["plate"] == name):
            wavelength = None if read["wavelength"] is None else int(round(float(read["wavelength"])))
            mapped = (wavelengths or {}).get(wavelength, wavelength)
            wavelength = mapped if mapped in ours else wavelength
            if wavelength not in ours:
                problems.append(f"plate {plate.name}: no read at {wavelength} nm (ours: {sorted(ours, key=str)})")
                continue
            rows = plate.reads[plate.reads["wavelength_nm"].isna() if wavelength is None else plate.reads["wavelength_nm"].eq(wavelength)]
            got = {w: (v, f, m) for w, v, f, m in zip(rows["well"], rows["value"], rows["flag"], rows["marker"], strict=True)}
            errors = dict(read.get("errors") or {})
            for well, value in read["values"].items():
                if well not in got:
                    problems.append(f"plate {plate.name} {wavelength} nm {well}: not read (peer {value!r})")
                    continue
                v, flag, marker = got[well]
                if value is None:
                    if flag == "ok":
                        problems.append(f"plate {plate.name} {wavelength} nm {well}: ok {v!r}, the peer flags it")
                    elif well in errors and isinstance(marker, str) and marker != errors[well]:
                        problems.append(f"plate {plate.name} {wavelength} nm {well}: marker {marker!r}, file says {errors[well]!r}")
                elif flag != "ok" or not math.isclose(float(v), float(value), rel_tol=1e-9, abs_tol=1e-12):
                    problems.append(f"plate {plate.name} {wavelength} nm {well}: {v!r} ({flag}), peer {value!r}")
    return problems
