"""qc: pure computation on pandas/numpy (curves, acceptance, schemas). No database, files or Streamlit."""
