"""Alembic migrations of the custody registry (run by medvault.registry.migrate)."""
