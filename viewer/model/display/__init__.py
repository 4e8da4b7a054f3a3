"""Display metadata and transforms (pure numpy)."""
