"""Infrastructure: settings, database engine, errors, tables, migrations, audit trail, raw-file store, upload limits."""
