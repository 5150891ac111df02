"""medvault: authenticated-encryption vaults for patient data on removable drives."""

__version__ = "0.1.0"
FORMAT_VERSION = 3  # the vault header version written (format/vault_header.py)
