"""Read-only views over the custody registry: the lost-drive evidence pack, audit reports."""
