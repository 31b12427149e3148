"""The audit trail: one append-only row per change, with who, when, what, and the values before and after."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from labdb.core.models import AuditEvent


def record(
    session: Session,
    actor: str,
    action: str,
    entity: str,
    entity_id: Any = None,
    before: dict | None = None,
    after: dict | None = None,
    detail: str | None = None,
) -> AuditEvent:
    """Add an audit event to the caller's transaction (it lands only if the change does)."""
    event = AuditEvent(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        before=_jsonable(before),
        after=_jsonable(after),
        detail=detail,
    )
    session.add(event)
    return event


def _jsonable(values: dict | None) -> dict | None:
    if values is None:
        return None
    out: dict[str, Any] = {}
    for key, value in values.items():
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        elif isinstance(value, float) and value != value:
            value = None
        out[key] = value
    return out
