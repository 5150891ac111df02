"""On-drive encodings: byte layouts and strict, bounded parsers. No key material here."""
