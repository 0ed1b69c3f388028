"""Decision-layer reports: one vertical-slice module per report (its spec, validation, SQL and properties)."""
