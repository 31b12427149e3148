"""labdb: the BDNF ELISA lab system (models, database, readers, ingest, exports, CLI)."""

__version__ = "0.1.0"
