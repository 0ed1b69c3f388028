"""Decision-layer reports over the metric catalog, one vertical slice per module (spec, validation, SQL, properties)."""
