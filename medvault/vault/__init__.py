"""Use cases on a vault: create, open, add, list, extract, verify, rm, compact, repair, passwd."""
