"""Kit lots: created on first use with the vendor and catalog number of the template's [kit], and named before ingest
when new (a typo would otherwise silently start a lot of its own, with its own guide sets and batch shift)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, select

from labdb.core.models import KitLot


def new_kit_lot_note(session: Session, lot: str | None) -> str | None:
    """A warning when `lot` is not a known kit lot yet, with the closest known lot; None when it is known or not given."""
    if not lot:
        return None
    known = list(session.exec(select(KitLot.lot).order_by(KitLot.lot)).all())
    if lot in known:
        return None
    close = difflib.get_close_matches(lot, known, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]}?" if close else (f" Known lots: {', '.join(known)}." if known else "")
    return f"kit lot {lot} is new: it will be created, with its own Westgard guide sets.{hint}"


def get_or_create(session: Session, lot: str, kit: Mapping[str, Any] | None = None) -> KitLot:
    """The kit lot row, created on first use with `kit`'s vendor and catalog number (a template's [kit] table)."""
    row = session.exec(select(KitLot).where(KitLot.lot == lot)).first()
    if row is None:
        kit = kit or {}
        row = KitLot(lot=lot, vendor=kit.get("vendor"), catalog=kit.get("catalog"))
        session.add(row)
        session.flush()
    return row
