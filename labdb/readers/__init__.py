"""Plate-reader export readers: one module per vendor family, one canonical form (canonical.py)."""
