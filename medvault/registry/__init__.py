"""The custody registry: vaults, key packages and hash-chained events (SQLAlchemy Core)."""
