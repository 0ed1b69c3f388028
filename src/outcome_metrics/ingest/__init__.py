"""Getting events in: every path goes through the contract."""

from outcome_metrics.ingest.files import IngestResult, ingest

__all__ = ["IngestResult", "ingest"]
