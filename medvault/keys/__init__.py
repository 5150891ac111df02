"""Key slots, vault-header authentication, escrow key packages and admin shares."""
