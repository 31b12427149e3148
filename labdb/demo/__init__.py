"""Demo data: the study simulator (simulate) and the demo run that ingests it as a technician would (run)."""
