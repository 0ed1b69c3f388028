"""Decision-layer reports: each a vertical slice (spec, validation, rendering of its models and properties)."""
