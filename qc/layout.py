"""Layout arithmetic: from a plate's layout and its canonical reads to the wells `qc.acceptance` evaluates.

Pure pandas: the layout (well, role, level, nominal, dilution, sample_id from a template and plate map) is
joined with the raw values per wavelength; the corrected OD is measure minus reference (when a reference
wavelength is read), and a well whose used reads are not all `ok` gets no OD and read flags that say why
('overflow_450', 'missing_630', or 'not_read' when the well was not read at all). Raw values and flags are kept
per wavelength beside the OD, so nothing the reader said is lost.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

# Wavelengths readers use as the reference read of a 450 nm ELISA; with none named, one of these present is used.
REFERENCE_CANDIDATES = (540, 570, 600, 620, 630, 650, 690)
UNLABELLED = "read"  # the key of a read that carries no wavelength


def read_key(wavelength: int | None) -> str:
    """The key of a wavelength in a well's raw values and flags: '450', or 'read' for an unlabelled read."""
    return UNLABELLED if wavelength is None else str(wavelength)


def read_flags(raw_flags: Mapping[str, str] | None, measure: int | None, reference: int | None) -> list[str]:
    """Flags from the reader for the wavelengths used: 'overflow_450', 'missing_630', or ['not_read']."""
    if not raw_flags:
        return ["not_read"]
    used = [read_key(measure)] + ([read_key(reference)] if reference is not None else [])
    return [f"{raw_flags.get(k, 'missing')}_{k}" for k in used if raw_flags.get(k) != "ok"]


def apply_lot_nominals(
    layout: pd.DataFrame, top_standard: float | None = None, control_nominals: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """Scale the standards so the top one is the kit lot's `top_standard` (pg/mL) and give controls the lot's
    nominal values per level; the layout is returned unchanged when the lot says neither."""
    if not top_standard and not control_nominals:
        return layout
    layout = layout.copy()
    standards = layout["role"].eq("standard")
    if top_standard and standards.any():
        layout.loc[standards, "nominal"] *= top_standard / layout.loc[standards, "nominal"].max()
    for level, nominal in (control_nominals or {}).items():
        layout.loc[layout["role"].eq("control") & layout["level"].eq(level), "nominal"] = float(nominal)
    return layout


def corrected_od(layout: pd.DataFrame, reads: pd.DataFrame, measure: int | None, reference: int | None) -> pd.DataFrame:
    """The layout with raw_values, raw_flags and raw_markers (dicts per wavelength key), read_flags, od (measure -
    reference, NaN when a used read is not ok) and masked (False) added; one row per layout well."""
    keys = [read_key(None if pd.isna(w) else int(w)) for w in reads["wavelength_nm"]]
    reads = reads.assign(key=keys)
    values = reads.pivot(index="well", columns="key", values="value").reindex(layout["well"])
    flags = reads.pivot(index="well", columns="key", values="flag").reindex(layout["well"])
    markers = reads.pivot(index="well", columns="key", values="marker").reindex(layout["well"])
    used = [read_key(measure)] + ([read_key(reference)] if reference is not None else [])
    od = values[used[0]] - (values[used[1]] if len(used) > 1 else 0.0)
    raw_values, raw_flags, raw_markers = [], [], []
    for vals, flgs, mks in zip(values.to_dict("records"), flags.to_dict("records"), markers.to_dict("records"), strict=True):
        read = {k: str(f) for k, f in flgs.items() if pd.notna(f)}
        raw_flags.append(read)
        raw_values.append({k: (None if pd.isna(vals[k]) else float(vals[k])) for k in read})
        raw_markers.append({k: str(m) for k, m in mks.items() if k in read and pd.notna(m)})
    problems = [read_flags(f, measure, reference) for f in raw_flags]
    wells = layout.copy()
    wells["raw_values"] = raw_values
    wells["raw_flags"] = raw_flags
    wells["raw_markers"] = raw_markers  # the file's text of each read that was not a plain number
    wells["od"] = np.where([bool(p) for p in problems], np.nan, od.to_numpy(dtype=float))
    wells["read_flags"] = problems
    wells["masked"] = False
    return wells
