"""The assay's vocabulary, written once: every list of allowed words and every plate shape the system knows.

Readers, Pandera schemas, acceptance, the tables' CHECK constraints (migration 0006) and the exports all take
their words from here, so a word added or renamed in one place is added or renamed everywhere; a test
(tests/test_vocab.py) holds the models, the migrations and this module together.

Well roles (what a well holds, from the template or plate map):
    standard  a calibrator of known concentration (levels S1..S8; S0 is the zero standard)
    blank     no analyte; its OD is the background (or the zero standard, by the template's `blank` mode)
    control   a kit control of known nominal concentration (levels such as low, mid, high)
    bridge    a pooled sample run on every plate (BP1 corrects batches, QC2 checks the correction)
    sample    a study sample (sample_id and dilution from the plate map)
    empty     nothing in it; read but never used
Result roles: the roles whose replicate groups become results (controls, bridge pools, samples).

Read flags (one per well and wavelength, set by the reader, never turned into numbers):
    ok        a number was read
    overflow  the reader saturated ("OVRFLW", "Over", "*"): above the detector's range
    missing   no value where one was expected (blank cell, "----", a well the reader did not read)
    invalid   something that is not a number (an error word such as "Path?" or "?????", a masked cell)
    flagged   a number the reader marked ("*0.356*", "1.2 (Range?)"): the number is kept as read
Any cell that is not a plain number keeps the file's text as the well's marker. A well whose read is not ok
(flagged included) gives no OD: it feeds no curve and no mean, and its flag and marker stay visible.

Censoring of a result against the plate's quantification range (in-well concentration):
    none, below_lloq, above_uloq

Sample types (the manifest's `sample_type`; serum and plasma BDNF are different quantities); sexes F, M;
site hemispheres north, south (the season of a collection date depends on it).
Plate review: statuses uploaded -> evaluated -> approved | rejected; verdicts pass | fail.
Westgard: a violation's severity is warning or reject; a guide set is the first n judged plates of a lot
(first_n) or values a PI entered (entered).
Batch-correction methods: bridge, lot-shift, combat, mixed (qc.batch).
Stored raw files are reader exports, templates, plate maps or manifests; accounts are technicians, PIs,
statisticians or admins.
"""

from __future__ import annotations

from functools import cache

ROLES = ("standard", "blank", "control", "bridge", "sample", "empty")
RESULT_ROLES = ("control", "bridge", "sample")
READ_FLAGS = ("ok", "overflow", "missing", "invalid", "flagged")
VALUED_FLAGS = ("ok", "flagged")  # the flags whose read carries a number
CENSORING = ("none", "below_lloq", "above_uloq")
SAMPLE_TYPES = ("serum", "plasma_edta", "plasma_citrate", "plasma_heparin", "platelet_poor_plasma")
PLATE_STATUSES = ("uploaded", "evaluated", "approved", "rejected")
VERDICTS = ("pass", "fail")
CORRECTION_METHODS = ("bridge", "lot-shift", "combat", "mixed")
SEXES = ("F", "M")
HEMISPHERES = ("north", "south")
SEASONS = ("winter", "spring", "summer", "autumn")
WESTGARD_SEVERITIES = ("warning", "reject")
GUIDE_SET_SOURCES = ("first_n", "entered")
RAW_FILE_KINDS = ("reader_export", "template", "plate_map", "manifest")
USER_ROLES = ("technician", "pi", "statistician", "admin")

ROW_LETTERS = "ABCDEFGHIJKLMNOP"
PLATE_SHAPES: dict[int, tuple[int, int]] = {96: (8, 12), 384: (16, 24)}  # wells -> (rows, columns)
WELL_PATTERN = r"^[A-P]([1-9]|1[0-9]|2[0-4])$"  # any well of the largest plate; no zero padding


def plate_shape(n_wells: int) -> tuple[int, int]:
    """(rows, columns) of a 96- or 384-well plate; ValueError for any other size."""
    try:
        return PLATE_SHAPES[n_wells]
    except KeyError:
        raise ValueError(f"unsupported plate size {n_wells}") from None


@cache
def wells_of(n_wells: int) -> frozenset[str]:
    """Every well name of a 96- or 384-well plate ('A1' .. 'H12' or 'P24')."""
    rows, cols = plate_shape(n_wells)
    return frozenset(f"{r}{c}" for r in ROW_LETTERS[:rows] for c in range(1, cols + 1))


def well_name(row_index: int, column_index: int) -> str:
    """0-based row and column indices to a well name ('A1')."""
    return f"{ROW_LETTERS[row_index]}{column_index + 1}"
