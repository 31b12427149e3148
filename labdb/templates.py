"""Plate templates (wellmap TOML) and plate maps (CSV of well -> sample_id), applied to a plate read."""

from __future__ import annotations

import csv
import difflib
import tempfile
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import pandas as pd
import wellmap

from labdb.core.errors import InputError
from labdb.core.limits import check_size
from labdb.core.rawfiles import read_upload, sha256_of
from labdb.readers.base import cell_text, decode_text, find_grid_header
from labdb.readers.workbook import is_workbook, load_sheets
from qc.acceptance import QcPolicy
from qc.vocab import ROLES, ROW_LETTERS, plate_shape

TEMPLATE_KEYS = {"name", "description", "plate_size", "measure_nm", "reference_nm", "model", "weighting"}
LAYOUT_COLUMNS = ["well", "row", "col", "role", "level", "nominal", "dilution", "sample_id"]


@dataclass(frozen=True)
class Template:
    """A parsed plate template: the well layout plus assay settings and the QC policy."""

    name: str
    filename: str
    content: bytes
    plate_size: int
    measure_nm: int
    reference_nm: int | None
    policy: QcPolicy
    layout: pd.DataFrame
    kit: dict = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return sha256_of(self.content)


def load_template(path: Path) -> Template:
    """Read and check a wellmap template file; every problem names the template file and the wells."""
    path = Path(path)
    return parse_template(path.name, read_upload(path, "template file"), path)


def parse_template(name: str, content: bytes, path: Path | None = None) -> Template:
    """Check a wellmap template given as bytes (an upload); `name` is its file name, used in every message. `path`:
    where the bytes were read from, so wellmap resolves a template's `include`s next to it."""
    src = PurePath(name.replace("\\", "/")).name
    check_size(len(content), src)
    try:
        raw = tomllib.loads(content.decode("utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{src}: not a valid TOML file ({exc}).") from None
    settings = raw.get("template", {})
    unknown = set(settings) - TEMPLATE_KEYS
    if unknown:
        key = sorted(unknown)[0]
        hint = difflib.get_close_matches(key, TEMPLATE_KEYS, n=1)
        raise InputError(f"{src}: unknown key '{key}' in [template]" + (f"; did you mean '{hint[0]}'?" if hint else "."))
    plate_size = settings.get("plate_size", 96)
    if plate_size not in (96, 384):
        raise InputError(f"{src}: plate_size {plate_size!r} in [template]; use 96 or 384.")
    for key in ("measure_nm", "reference_nm"):
        value = settings.get(key)
        if value is not None and value != "auto" and not (isinstance(value, int) and 200 <= value <= 1000):
            also = ' or "auto"' if key == "reference_nm" else ""
            raise InputError(f"{src}: {key} {value!r} in [template] is not a wavelength in nm (200-1000){also}.")
    qc = dict(raw.get("qc", {}))
    for key in ("model", "weighting"):
        if key in settings:
            qc.setdefault(key, settings[key])
    try:
        policy = QcPolicy.from_dict(qc)
    except ValueError as exc:
        raise InputError(f"{src}: [qc] {exc}") from None
    try:
        df = wellmap.load(path) if path is not None else _wellmap_layout(content)
    except Exception as exc:  # wellmap raises its own LayoutError and a few others
        raise InputError(f"{src}: the well layout is not valid wellmap: {_first_line(exc)}") from None
    layout = _layout_frame(df, src, plate_size)
    reference = settings.get("reference_nm")
    return Template(
        name=str(settings.get("name", PurePath(src).stem)),
        filename=src,
        content=content,
        plate_size=plate_size,
        measure_nm=int(settings.get("measure_nm", 450)),
        reference_nm=None if reference in (None, "auto") else int(reference),
        policy=policy,
        layout=layout,
        kit=dict(raw.get("kit", {})),
    )


def _wellmap_layout(content: bytes) -> pd.DataFrame:
    """wellmap's table of the layout. wellmap reads only from a path, so the bytes are handed to it through a private
    temporary file (a template that `include`s other files must be loaded from disk, with `load_template`)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "template.toml"
        path.write_bytes(content)
        return wellmap.load(path)


def _first_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:300]


def _layout_frame(df: pd.DataFrame, src: str, plate_size: int) -> pd.DataFrame:
    """wellmap output -> LAYOUT_COLUMNS, checked against the plate size and the role vocabulary."""
    n_rows, n_cols = plate_shape(plate_size)
    out = pd.DataFrame(
        {
            "well": [f"{r}{c}" for r, c in zip(df["row"], df["col"], strict=True)],
            "row": df["row"].astype(str),
            "col": df["col"].astype(int),
        }
    )
    bad = out[(out["row"].map(lambda r: ord(r) - 65) >= n_rows) | (out["col"] > n_cols)]
    if len(bad):
        raise InputError(
            f"{src}: well(s) {_wells(bad['well'])} do not exist on a {plate_size}-well plate "
            f"(rows A-{chr(64 + n_rows)}, columns 1-{n_cols})."
        )
    for column in ("role", "level", "sample_id"):
        out[column] = df[column].astype("string") if column in df else pd.Series(pd.NA, index=df.index, dtype="string")
    for column in ("nominal", "dilution"):
        out[column] = pd.to_numeric(df[column], errors="coerce") if column in df else float("nan")
    out["role"] = out["role"].fillna("empty")
    out["dilution"] = out["dilution"].fillna(1.0)
    unknown = out[~out["role"].isin(ROLES)]
    if len(unknown):
        role = str(unknown["role"].iloc[0])
        hint = difflib.get_close_matches(role, ROLES, n=1)
        raise InputError(
            f"{src}: well(s) {_wells(unknown['well'])} have role '{role}'; expected one of {', '.join(ROLES)}"
            + (f" (did you mean '{hint[0]}'?)." if hint else ".")
        )
    needs_nominal = out["role"].isin(["standard", "blank", "control"]) & out["nominal"].isna()
    if needs_nominal.any():
        raise InputError(f"{src}: standard/blank/control well(s) {_wells(out.loc[needs_nominal, 'well'])} have no 'nominal' value (pg/mL).")
    bad_dilution = ~(out["dilution"] > 0)
    if bad_dilution.any():
        raise InputError(f"{src}: well(s) {_wells(out.loc[bad_dilution, 'well'])} have a dilution that is not a positive number.")
    return out[LAYOUT_COLUMNS].sort_values(["row", "col"]).reset_index(drop=True)


def _wells(wells: pd.Series, limit: int = 8) -> str:
    names = list(dict.fromkeys(str(w) for w in wells))
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@dataclass(frozen=True)
class PlateMap:
    """Sample IDs (and dilutions) per well, optionally for several plates (`plate` column)."""

    filename: str
    content: bytes
    rows: pd.DataFrame  # columns: plate (string or <NA>), well, sample_id (string or <NA> = empty), dilution (float or NaN)

    @property
    def sha256(self) -> str:
        return sha256_of(self.content)

    def for_plate(self, *names: str) -> pd.DataFrame:
        """The rows for the plate known by any of `names` (rows without a plate apply to every plate)."""
        plate = self.rows["plate"]
        keep = plate.isna() | plate.isin([n for n in names if n])
        return self.rows[keep]


def load_plate_map(path: Path) -> PlateMap:
    """Read a plate map file (see `parse_plate_map`)."""
    path = Path(path)
    return parse_plate_map(path.name, read_upload(path, "plate map"))


def parse_plate_map(name: str, content: bytes) -> PlateMap:
    """A plate map given as bytes: a CSV with columns well, sample_id[, dilution][, plate], or an 8x12 / 16x24 grid
    of sample IDs (CSV or xlsx; in a workbook with several grids, each sheet's name is the plate it maps)."""
    src = PurePath(name.replace("\\", "/")).name
    check_size(len(content), src)
    if is_workbook(content):
        tables = list(load_sheets(content, src).items())
    else:
        text = decode_text(content)
        delimiter = _delimiter(text)
        table = [[c.strip() for c in row] for row in csv.reader(text.split("\n"), delimiter=delimiter)]
        header = [c.lower() for c in next((r for r in table if any(r)), [])]
        if "well" in header or "sample_id" in header:
            return PlateMap(filename=src, content=content, rows=_long_map(table, header, src))
        tables = [("", table)]
    grids = [(name, rows) for name, rows in ((n, _grid_map(t, src, n)) for n, t in tables) if rows is not None]
    if not grids:
        raise InputError(
            f"{src}: not a plate map: expected a CSV with columns well,sample_id[,dilution][,plate] "
            "or a grid of sample IDs with a header row 1-12 (or 1-24) and rows A-H (A-P)."
        )
    several = len(grids) > 1
    frames = [rows.assign(plate=pd.array([name if several else pd.NA] * len(rows), dtype="string")) for name, rows in grids]
    return PlateMap(filename=src, content=content, rows=pd.concat(frames, ignore_index=True)[["plate", "well", "sample_id", "dilution"]])


def _delimiter(text: str) -> str:
    first = next((line for line in text.split("\n") if line.strip()), "")
    return max(("\t", ";", ","), key=first.count) if any(d in first for d in "\t;,") else ","


def _long_map(table: list[list[str]], header: list[str], src: str) -> pd.DataFrame:
    """The long form: one row per well."""
    missing = [c for c in ("well", "sample_id") if c not in header]
    if missing:
        raise InputError(
            f"{src}: plate map needs the columns well and sample_id; missing {', '.join(missing)} (found: {', '.join(header)})."
        )
    start = next(i for i, r in enumerate(table) if any(r)) + 1
    body = [(i + 1, r + [""] * (len(header) - len(r))) for i, r in enumerate(table) if i >= start and any(r)]
    col = {name: header.index(name) for name in header}
    rows = pd.DataFrame({"line": [n for n, _ in body]})
    rows["well"] = [r[col["well"]].upper() for _, r in body]
    rows["well"] = rows["well"].str.replace(r"^([A-P])0+(\d)", r"\1\2", regex=True)
    rows["sample_id"] = pd.array([r[col["sample_id"]] or pd.NA for _, r in body], dtype="string")
    rows["plate"] = pd.array([(r[col["plate"]] or pd.NA) if "plate" in col else pd.NA for _, r in body], dtype="string")
    dilution = [r[col["dilution"]] if "dilution" in col else "" for _, r in body]
    values = pd.to_numeric(pd.Series(dilution).replace("", pd.NA), errors="coerce")
    bad = (pd.Series(dilution) != "") & ~(values > 0)
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise InputError(f"{src}: line {rows['line'].iloc[i]}: dilution '{dilution[i]}' is not a positive number.")
    rows["dilution"] = values.astype(float).to_numpy()
    bad_well = ~rows["well"].str.fullmatch(r"[A-P](?:[1-9]|1\d|2[0-4])")
    if bad_well.any():
        i = int(bad_well.to_numpy().nonzero()[0][0])
        raise InputError(f"{src}: line {rows['line'].iloc[i]}: '{body[i][1][col['well']]}' is not a well name like A1 or H12.")
    dup = rows.duplicated(["plate", "well"], keep=False)
    if dup.any():
        raise InputError(f"{src}: well(s) {_wells(rows.loc[dup, 'well'])} appear more than once for the same plate.")
    return rows[["plate", "well", "sample_id", "dilution"]]


def _grid_map(table: list[list[object]], src: str, sheet: str) -> pd.DataFrame | None:
    """The grid form: sample IDs in an 8x12 or 16x24 grid under a header row of column numbers (None: no grid)."""
    where = f"sheet '{sheet}' " if sheet else ""
    for i, row in enumerate(table):
        found = find_grid_header(row)
        if not found:
            continue
        j, n_cols = found
        if n_cols not in (12, 24):
            raise InputError(f"{src}: {where}line {i + 1}: the grid has columns 1-{n_cols}; a plate map grid has 1-12 or 1-24.")
        n_rows = 8 if n_cols == 12 else 16
        wells, ids = [], []
        for r in range(n_rows):
            line = table[i + 1 + r] if i + 1 + r < len(table) else []
            letter = cell_text(line[j]).upper() if len(line) > j else ""
            if letter != ROW_LETTERS[r]:
                raise InputError(
                    f"{src}: {where}line {i + 2 + r}: expected row '{ROW_LETTERS[r]}' of a {n_rows * n_cols}-well grid, found '{letter}'."
                )
            for c in range(n_cols):
                value = cell_text(line[j + 1 + c]) if len(line) > j + 1 + c else ""
                wells.append(f"{ROW_LETTERS[r]}{c + 1}")
                ids.append(value or pd.NA)
        return pd.DataFrame({"well": wells, "sample_id": pd.array(ids, dtype="string"), "dilution": float("nan")})
    return None


def apply_plate_map(template: Template, plate_map: PlateMap | None, plate_names: tuple[str, ...], src: str) -> pd.DataFrame:
    """The template layout with sample IDs and dilutions from the map; rejects wells that do not fit."""
    layout = template.layout.copy()
    if plate_map is not None:
        rows = plate_map.for_plate(*plate_names)
        if rows.empty:
            raise InputError(f"{src}: plate map {plate_map.filename} has no rows for plate {' / '.join(n for n in plate_names if n)}.")
        unknown = rows[~rows["well"].isin(layout["well"])]
        if len(unknown):
            raise InputError(
                f"{src}: plate map {plate_map.filename} names well(s) {_wells(unknown['well'])} that are not on this {template.plate_size}-well plate."
            )
        by_well = rows.set_index("well")
        in_map = layout["well"].isin(by_well.index)
        roles = layout.loc[in_map, ["well", "role"]]
        wrong = roles[~roles["role"].isin(["sample", "bridge"]) & by_well.loc[roles["well"], "sample_id"].notna().to_numpy()]
        if len(wrong):
            raise InputError(
                f"{src}: plate map {plate_map.filename} gives sample IDs for well(s) {_wells(wrong['well'])}, "
                f"which template {template.filename} uses for {', '.join(sorted(set(wrong['role'])))}."
            )
        ids = by_well["sample_id"].reindex(layout["well"]).to_numpy()
        dil = by_well["dilution"].reindex(layout["well"]).to_numpy()
        sample_rows = layout["role"].eq("sample") & in_map
        layout.loc[sample_rows, "sample_id"] = ids[sample_rows.to_numpy()]
        emptied = sample_rows & layout["sample_id"].isna()
        layout.loc[emptied, "role"] = "empty"
        has_dil = in_map & pd.notna(dil)
        layout.loc[has_dil, "dilution"] = dil[has_dil.to_numpy()]
    no_id = layout["role"].eq("sample") & layout["sample_id"].isna()
    if no_id.any():
        raise InputError(
            f"{src}: sample well(s) {_wells(layout.loc[no_id, 'well'])} have no sample_id; "
            f"give them in the template or in a plate map (--plate-map MAP.csv)."
        )
    return layout
