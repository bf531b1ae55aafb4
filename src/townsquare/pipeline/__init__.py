"""The ingest pipeline: bounded queue → micro-batch writer → PostgreSQL (or the outage spool)."""
