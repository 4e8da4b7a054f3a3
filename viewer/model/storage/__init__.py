"""How Cinemap touches files: access mode, leases, locks, caches."""
