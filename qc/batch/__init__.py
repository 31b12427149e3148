"""Batch effects: estimate plate, operator, day and kit-lot shifts, correct them, prove the biology survives.

The package: `methods` (bridge, lot-shift, ComBat, mixed model; `correct` dispatches), `check` (the design check
before a sample-based method, and the diagnostics every result carries), `lot` (the kit-lot shift fitted from the
standards), `models` (the linear algebra: design matrices, REML, single-analyte ComBat). See qc.batch.methods.
"""

from qc.batch.check import PROTECTED, ConfoundedDesign, check_design, diagnose, pool_cv
from qc.batch.lot import LotShifts, lot_shifts_from_standards
from qc.batch.methods import METHODS, BatchResult, bridge_correct, combat_correct, correct, lot_correct, mixed_correct

__all__ = [
    "METHODS",
    "PROTECTED",
    "BatchResult",
    "ConfoundedDesign",
    "LotShifts",
    "bridge_correct",
    "check_design",
    "combat_correct",
    "correct",
    "diagnose",
    "lot_correct",
    "lot_shifts_from_standards",
    "mixed_correct",
    "pool_cv",
]
