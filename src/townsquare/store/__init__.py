"""Storage: PostgreSQL schema, migrations, engine, embedded server, transactional NOTIFY."""
