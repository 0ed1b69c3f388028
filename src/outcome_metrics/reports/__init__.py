"""Decision-layer reports: each a vertical slice (its YAML block, validation, models and their docs)."""
