# long module: one vendor-neutral format (three detection types, error documents, schema versions) read and written.
"""Allotrope Simple Model (ASM) plate-reader JSON: endpoint absorbance, fluorescence, luminescence; and a writer.

Checked against allotropy's expected outputs (Benchling-Open-Source/allotropy, tests/parsers/<vendor>/testdata/):
BENCHLING/2023/09 (bmg_mars/16-03-03 16-54-03 472 ABS 384 QC.json, agilent_gen5/multi_read_modes/jira_cust_8062_bug.json),
REC/2024/06 (agilent_gen5/absorbance/240411_172731_BNCH2345883_abs450_96well_non_numeric_values.json and
absorbance_error_document_example.json, moldev_softmax_pro/MD_SMP_absorbance_endpoint_example01.json), REC/2026/03
(agilent_gen5/absorbance/endpoint_wavelength_measurement_labels.json); REC/2025/03 from allotropy's schema mapper.
All share: plate reader aggregate document > device system document, data system document, plate reader document[] >
measurement aggregate document (measurement time, plate well count) > measurement document[] > sample document
(location identifier, well plate identifier), device control aggregate document > device control document[] (detection
type, detector wavelength setting), absorbance | fluorescence | luminescence {value, unit}, error aggregate document.
allotropy writes one plate reader document per well, write_json one per plate. Refused with a message: kinetic and
spectrum data cubes, and allotropy's pre-manifest drafts and ultraviolet-absorbance/BENCHLING/2023/09 cubes.

Units: allotropy labels absorbance "mAU" but writes the OD the reader showed (Gen5 '2.100' -> {"value": 2.1, "unit":
"mAU"}), and so does write_json (the schemas fix the unit to "mAU"). "mAU" is therefore read as OD, unless the converter
is neither allotropy nor labdb and a value exceeds 10 (no plate reader reads 10 OD): then the values are true
milli-absorbance, divided by 1000. "(unitless)" is OD. extra["absorbance unit"] records which reading was taken.
read_time is the wall-clock time as written (allotropy stamps the reader's local time '+00:00'); the offset goes to
extra["measurement time offset"]. Error documents: saturation text -> overflow, 'MISSED' -> missing, other -> invalid.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

import pandas as pd

from labdb import __version__
from labdb.core.errors import InputError
from labdb.readers.base import decode_text, parse_cell, parse_datetime, read_cell
from labdb.readers.canonical import PlateRead, make_reads
from qc.vocab import ROW_LETTERS, plate_shape

FORMAT = "asm_json"
DISPLAY_NAME = "Allotrope Simple Model (ASM) JSON"
EXTENSIONS: tuple[str, ...] = (".json",)
MANIFEST = "http://purl.allotrope.org/manifests/plate-reader/REC/2026/03/plate-reader.manifest"

UNITS = {"absorbance": "mAU", "fluorescence": "RFU", "luminescence": "RLU"}
_OD_UNITS = {"(unitless)", "unitless", "au", "od", ""}
_OD_CONVERTERS = ("allotropy", "labdb")
_MAX_OD = 10.0
_WELL = re.compile(r"([A-Za-z])0*(\d{1,3})")
_SATURATED = ("saturat", "overflow", "ovrflw", "over range", "overrange", "above range", "too high")
_ERROR_TEXT = {"overflow": "Overflow (saturated)", "missing": "Missing (not read)", "invalid": "Invalid value"}
# Keys mapped to PlateRead fields (or per well): not copied into extra.
_MAPPED = {
    "measurement identifier",
    "measurement time",
    "plate well count",
    "detector wavelength setting",
    "detection type",
    "model number",
    "equipment serial number",
    "software version",
    *UNITS,
}

Meta = dict[str, list[str]]


def sniff(data: bytes, filename: str) -> bool:
    """A JSON object whose first KB names an ASM manifest or a plate reader."""
    head = decode_text(data[:1024]).lstrip("\ufeff \t\n")
    return head.startswith("{") and ("$asm.manifest" in head or "plate reader" in head)


def read(data: bytes, filename: str) -> list[PlateRead]:
    """One PlateRead per well plate identifier and detection type (per measurement time for plates without an id)."""
    doc, root = _load(data, filename)
    aggregate = doc.get("plate reader aggregate document", doc)
    device, system = _dict(aggregate.get("device system document")), _dict(aggregate.get("data system document"))
    instrument = _known(device.get("model number")) or _known(device.get("device identifier"))
    file_meta: Meta = {"ASM manifest": [str(doc["$asm.manifest"])]} if "$asm.manifest" in doc else {}
    _collect(file_meta, {k: v for k, v in device.items() if not (k == "device identifier" and v == instrument)})
    _collect(file_meta, system)
    groups = _groups(aggregate.get("plate reader document"), root, filename)
    converter = str(system.get("ASM converter name", "")).lower()
    milli = not converter.startswith(_OD_CONVERTERS) and any(
        u == "mAU" and f == "ok" and abs(v) > _MAX_OD
        for (_, _, k), g in groups.items()
        if k == "absorbance"
        for _, _, v, f, _, u, _ in g["records"]
    )
    kinds: dict[str | None, set[str]] = {}
    for plate_id, _, kind in groups:
        kinds.setdefault(plate_id, set()).add(kind)
    plates, untitled = [], 0
    for (plate_id, _, kind), g in groups.items():
        untitled += plate_id is None
        name = plate_id or f"Plate {untitled}"
        if kind != "absorbance" and len(kinds[plate_id]) > 1:  # a plate read in two modes: one PlateRead per mode
            name += f" ({kind})"
        plates.append(_plate(name, kind, g, milli, file_meta, instrument, device, system, filename))
    return plates


def _groups(documents: object, root: str, filename: str) -> dict[tuple, dict]:
    """Measurements by (well plate identifier, measurement time when there is none, kind), checked for repeats."""
    if not isinstance(documents, list) or not documents:
        raise InputError(
            f"{filename}: {root}['plate reader document'] is missing or empty; a plate-reader ASM "
            "document lists its measurements there. Export the ASM file again."
        )
    groups: dict[tuple, dict] = {}
    for i, prd in enumerate(documents):
        path = f"{root}['plate reader document'][{i}]"
        prd = _object(prd, path, filename)
        path += "['measurement aggregate document']"
        mad = _object(prd.get("measurement aggregate document"), path, filename)
        measurements = mad.get("measurement document")
        if not isinstance(measurements, list) or not measurements:
            raise InputError(
                f"{filename}: {path}['measurement document'] is missing or empty; each measurement "
                "aggregate document needs a list of measurement documents."
            )
        level = _collect(_collect({}, prd), mad)
        custom = {k: _flat(v) for k, v in _dict(prd.get("custom information document")).items() if _flat(v) is not None}
        time = mad.get("measurement time")
        for j, md in enumerate(measurements):
            where = f"{path}['measurement document'][{j}]"
            kind, well, wavelength, value, unit, flag, marker, meta = _measurement(_object(md, where, filename), where, filename)
            sample = _dict(md.get("sample document"))
            plate_id = _known(sample.get("well plate identifier", sample.get("plate barcode")), na=False)
            g = groups.setdefault(
                (plate_id, None if plate_id else str(time), kind),
                {"records": [], "paths": {}, "meta": {}, "custom": {}, "time": time, "counts": []},
            )
            if (well, wavelength) in g["paths"]:
                at = f"at {wavelength} nm" if wavelength is not None else "without a wavelength"
                on = f"plate '{plate_id}': " if plate_id else ""
                raise InputError(
                    f"{filename}: {on}well '{well}' is read twice {at} (at {g['paths'][well, wavelength]} "
                    f"and at {where}); each well needs one read per wavelength."
                )
            g["paths"][well, wavelength] = where
            g["records"].append((well, wavelength, value, flag, marker, unit, where))
            for k, vs in [*level.items(), *meta.items()]:
                _add(g["meta"], k, *vs)
            g["custom"].update(custom)
            g["counts"].append(_dict(mad.get("plate well count")).get("value"))
    return groups


def _load(data: bytes, filename: str) -> tuple[dict, str]:
    """The document, and the JSON path of its plate reader aggregate; InputError when it is not plate-reader ASM."""
    text = decode_text(data)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        end = "; the file ends early (truncated?)" if e.pos >= len(text.rstrip()) else ""
        raise InputError(
            f"{filename}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}{end}); an ASM "
            "file is one JSON object: export it again."
        ) from None
    manifest = str(doc.get("$asm.manifest", "")) if isinstance(doc, dict) else ""
    technique = manifest.split("/manifests/", 1)[1].split("/")[0] if "/manifests/" in manifest else ""
    if technique and technique != "plate-reader":
        raise InputError(
            f"{filename}: an ASM document for '{technique}' ({manifest}), not a plate reader; labdb "
            "reads plate-reader ASM (a manifest '.../manifests/plate-reader/...')."
        )
    if isinstance(doc, dict) and isinstance(doc.get("plate reader aggregate document"), dict):
        return doc, "$['plate reader aggregate document']"
    if isinstance(doc, dict) and "plate reader document" in doc:
        return doc, "$"
    found = (
        f"an object with keys {', '.join(map(repr, list(doc)[:4]))}"
        if isinstance(doc, dict) and doc
        else (f"a JSON {type(doc).__name__}" if not isinstance(doc, dict) else "an empty object")
    )
    raise InputError(
        f"{filename}: JSON, but not a plate-reader ASM document: expected an object with '$asm.manifest' "
        f"and 'plate reader aggregate document', found {found}."
    )


def _measurement(md: dict, where: str, filename: str) -> tuple:
    """(kind, well, wavelength, value, unit, flag, meta) of one measurement document."""
    cube = next((k for k in md if k.endswith("data cube")), None)
    kind = next((k for k in UNITS if k in md), None)
    if kind is None and cube:
        raise InputError(
            f"{filename}: {where} holds '{cube}' (a kinetic or spectrum read); only endpoint reads (one "
            "value per well and wavelength) are supported."
        )
    controls = _dict(md.get("device control aggregate document")).get("device control document")
    controls = [c for c in controls if isinstance(c, dict)] if isinstance(controls, list) else []
    errors = _dict(md.get("error aggregate document")).get("error document")
    texts = [str(e.get("error", "")) for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
    detection = str(next((c["detection type"] for c in controls if c.get("detection type")), "")).lower()
    if kind is None and not (detection in UNITS and texts):
        raise InputError(f"{filename}: {where} has no 'absorbance', 'fluorescence' or 'luminescence' value.")
    kind = kind or detection
    sample = _dict(md.get("sample document"))
    location = sample.get("location identifier", sample.get("well location identifier"))
    m = _WELL.fullmatch(location.strip()) if isinstance(location, str) else None
    if m is None:
        raise InputError(
            f"{filename}: {where}['sample document']['location identifier'] is {location!r}; expected a well name like 'A1' or 'A01'."
        )
    settings = [_dict(c.get("detector wavelength setting")).get("value") for c in controls]
    wavelength = next((w for w in settings if isinstance(w, (int, float)) and not isinstance(w, bool)), None)
    if wavelength is not None and not 100 <= wavelength < 10_000:  # also refuses NaN
        raise InputError(
            f"{filename}: {where}: 'detector wavelength setting' is {wavelength!r}; expected a wavelength "
            "in nm (plate readers read about 200-1000 nm)."
        )
    quantity = md.get(kind) if isinstance(md.get(kind), dict) else {"value": md.get(kind)}  # tolerate a bare number
    if texts:  # the error text is the well's marker; a marked number (*0.356*) keeps its number, flagged
        marked, flag, marker = read_cell(texts[0])
        value, flag = (marked, flag) if flag == "flagged" else (None, _error_flag(texts[0]))
        marker = None if texts[0] in _ERROR_TEXT.values() else marker  # labdb's own words for a flag without text
    else:
        (value, flag), marker = parse_cell(quantity.get("value")), None
    meta: Meta = {}
    for source in (md, *controls):
        _collect(meta, source)
    _add(meta, "detection type", kind)
    wavelength = None if wavelength is None else round(wavelength)
    return kind, f"{m[1].upper()}{int(m[2])}", wavelength, value, str(quantity.get("unit") or "").strip(), flag, marker, meta


def _error_flag(text: str) -> str:
    """Flag of an ASM error text: saturation -> overflow, Gen5's 'MISSED' or 'missing' -> missing, else invalid."""
    low = text.strip().lower()
    if any(s in low for s in _SATURATED) or parse_cell(text)[1] == "overflow":
        return "overflow"
    return "missing" if low and (parse_cell(text)[1] == "missing" or "missing" in low) else "invalid"


def _plate(
    name: str, kind: str, g: dict, milli: bool, file_meta: Meta, instrument: str | None, device: dict, system: dict, filename: str
) -> PlateRead:
    """The canonical plate of one group of measurements."""
    records, meta = [], {k: list(v) for k, v in file_meta.items()}
    for well, wavelength, value, flag, marker, unit, where in g["records"]:
        if kind == "absorbance" and unit.lower() not in _OD_UNITS and unit != "mAU":
            raise InputError(f"{filename}: {where}['absorbance'] has unit {unit!r}; expected 'mAU' or '(unitless)'.")
        factor = 0.001 if kind == "absorbance" and unit == "mAU" and milli else 1.0
        records.append((well, wavelength, None if value is None else value * factor, flag, marker))
        label = {"mAU": "mAU (divided by 1000 to OD)" if milli else "mAU (read as OD)"}.get(unit, unit or "none")
        _add(meta, f"{kind} unit", label if kind == "absorbance" else unit)
    for k, vs in g["meta"].items():
        _add(meta, k, *vs)
    # Values that differ from well to well (a per-well temperature, say) are summarised, not joined.
    extra = {k: "; ".join(v) if len(v) <= 10 else f"{len(v)} values: {'; '.join(v[:3])}; ..." for k, v in meta.items()}
    time = g["time"]
    parsed = _iso(time) if isinstance(time, str) else None
    if parsed is not None and parsed.tzinfo is not None:
        extra["measurement time offset"] = f"{parsed:%z}"[:3] + ":" + f"{parsed:%z}"[3:5]
    elif parsed is None and time is not None:
        extra["measurement time"] = str(time)
    extra.update(g["custom"])
    return PlateRead(
        name=name,
        format=FORMAT,
        reads=make_reads(records),
        n_wells=_plate_size(name, g, filename),
        instrument=instrument,
        serial=_known(device.get("equipment serial number")),
        read_time=parsed.replace(tzinfo=None) if parsed else None,
        software_version=_known(system.get("software version")),
        extra=extra,
    )


def _plate_size(name: str, g: dict, filename: str) -> int:
    """96 or 384: the 'plate well count' when it is one of those, else the smallest plate holding every well."""
    declared = next((int(c) for c in g["counts"] if isinstance(c, (int, float)) and c in (96, 384)), None)
    for n_wells in [declared] if declared else [96, 384]:
        nrows, ncols = plate_shape(n_wells)
        outside = [
            (w, f"{p}['sample document']['location identifier']")
            for (w, _), p in g["paths"].items()
            if w[0] not in ROW_LETTERS[:nrows] or not 1 <= int(w[1:]) <= ncols
        ]
        if not outside:
            return n_wells
    well, where = outside[0]
    said = f"; its 'plate well count' is {declared}" if declared else "; labdb reads 96- and 384-well plates"
    raise InputError(
        f"{filename}: plate '{name}': well '{well}' at {where} does not exist on a {n_wells}-well plate "
        f"(rows A-{ROW_LETTERS[nrows - 1]}, columns 1-{ncols}){said}."
    )


# --- small helpers ------------------------------------------------------------------------------


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _object(value: object, where: str, filename: str) -> dict:
    """value when it is a JSON object, else an InputError naming its path."""
    if not isinstance(value, dict):
        raise InputError(f"{filename}: {where} is {type(value).__name__ if value is not None else 'missing'}; expected a JSON object.")
    return value


def _known(value: object, na: bool = True) -> str | None:
    """A metadata string, None when absent, empty or (with na) 'N/A'."""
    text = _flat(value)
    return None if not text or (na and text.upper() in ("N/A", "NA")) else text


def _flat(value: object) -> str | None:
    """A scalar or a {value, unit} quantity as text ('26.3 degC', '8' for unit '#'); None for other structures."""
    if isinstance(value, dict) and "value" in value and set(value) <= {"value", "unit"}:
        number = value["value"]
        text = f"{number:g}" if isinstance(number, float) else str(number)
        return text if value.get("unit") in (None, "#", "") else f"{text} {value['unit']}"
    return value if isinstance(value, str) else None if isinstance(value, (dict, list)) or value is None else json.dumps(value)


def _add(meta: Meta, key: str, *values: str) -> None:
    for v in values:
        if v not in meta.setdefault(key, []):
            meta[key].append(v)


def _collect(meta: Meta, document: dict) -> Meta:
    """A document's scalars and quantities (and its custom information document) into meta, except mapped keys."""
    items = [*document.items(), *_dict(document.get("custom information document")).items()]
    for key, value in items:
        text = _flat(value)
        if key not in _MAPPED and text is not None:
            _add(meta, key, text)
    return meta


def _iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return parse_datetime(text)


# --- writer -------------------------------------------------------------------------------------


def write_json(plates: list[PlateRead], *, software_version: str = __version__) -> bytes:
    """Plate-reader ASM (REC/2026/03 layout) of canonical plates; read() returns the same reads and metadata.

    One document describes one instrument, so every plate needs the same instrument, serial and software
    version, and a distinct non-empty name (its well plate identifier). Flagged wells get an error document.
    PlateRead.extra goes into each plate's 'custom information document'; extra['detection type'] (absorbance,
    fluorescence, luminescence) picks the value key. Absorbance is written as OD under 'mAU', as allotropy does.
    """
    if not plates:
        raise ValueError("write_json needs at least one plate")
    first = plates[0]
    for p in plates:
        if (p.instrument, p.serial, p.software_version) != (first.instrument, first.serial, first.software_version):
            raise ValueError(f"plate {p.name!r}: one ASM document holds one instrument, serial and software version")
    names = [p.name for p in plates]
    if not all(names) or len(set(names)) != len(names):
        raise ValueError(f"plates need distinct non-empty names (well plate identifiers), got {names}")
    system = {"ASM converter name": "labdb", "ASM converter version": software_version}
    if first.software_version:
        system["software version"] = first.software_version
    device = {"device identifier": first.instrument or "N/A", "model number": first.instrument or "N/A"}
    if first.serial:
        device["equipment serial number"] = first.serial
    doc = {
        "$asm.manifest": MANIFEST,
        "plate reader aggregate document": {
            "plate reader document": [_plate_document(p, k) for k, p in enumerate(plates)],
            "device system document": device,
            "data system document": system,
        },
    }
    return json.dumps(doc, indent=2, allow_nan=False).encode("utf-8")


def _plate_document(plate: PlateRead, k: int) -> dict:
    """One plate reader document holding every read of a plate."""
    kind = plate.extra.get("detection type", "absorbance")
    kind = kind if kind in UNITS else "absorbance"
    measurements = []
    for n, r in enumerate(plate.reads.itertuples(index=False)):
        control = {"device type": "plate reader", "detection type": kind.capitalize()}
        if not pd.isna(r.wavelength_nm):
            control["detector wavelength setting"] = {"value": float(r.wavelength_nm), "unit": "nm"}
        md = {
            "measurement identifier": f"LABDB_{k}_{n}",
            "device control aggregate document": {"device control document": [control]},
            "sample document": {
                "sample identifier": f"{plate.name} {r.well}",
                "location identifier": r.well,
                "well plate identifier": plate.name,
            },
            kind: {"value": float(r.value) if r.flag == "ok" else -0.0, "unit": UNITS[kind]},
        }  # -0.0 as allotropy
        if r.flag != "ok":  # the file's own text where there was one; a flagged number travels in it (*0.356*)
            text = r.marker if isinstance(r.marker, str) else f"*{r.value!r}*" if r.flag == "flagged" else _ERROR_TEXT[r.flag]
            md["error aggregate document"] = {"error document": [{"error": text, "error feature": kind}]}
        measurements.append(md)
    aggregate = {
        "measurement document": measurements,
        "plate well count": {"value": plate.n_wells, "unit": "#"},
        "container type": "well plate",
    }
    if plate.read_time is not None:  # ASM times carry an offset: the one read from ASM, else +00:00 as allotropy
        offset = plate.extra.get("measurement time offset", "")
        offset = "" if plate.read_time.tzinfo else offset if re.fullmatch(r"[+-]\d\d:\d\d", offset) else "+00:00"
        aggregate["measurement time"] = plate.read_time.isoformat() + offset
    document = {"measurement aggregate document": aggregate}
    if plate.extra:
        document["custom information document"] = dict(plate.extra)
    return document
