"""Where a Tracker's batches go. A sink is any object with `write(events)` (a list of
`contract.Event`; raise to have the batch retried, `PermanentSinkError` to have it dropped) and
optionally `close()`. The tracker calls both from its one background thread only.

- `JsonlSink`: JSON Lines files in a directory, rotated by size; what `outcomes ingest` reads.
- `ParquetSink`: Parquet files in a directory (pyarrow, imported when first written).
- `DuckDBSink`: the DuckDB raw event table, created as `outcomes ingest` creates it (duckdb, pyarrow).
- `HttpSink`: POSTs JSON batches to a collector (stdlib urllib).
- `MemorySink`: keeps events in a list (tests, notebooks).

The file sinks write to `<name>.partial` and rename it to `<name>.jsonl` / `.parquet` when they
rotate or close, so `outcomes ingest DIR/*.jsonl` only ever reads finished files.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.client
import importlib.util
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from outcome_metrics.contract import COLUMN_NAMES, CONTRACT_VERSION, Event
from outcome_metrics.track.events import to_json, utc_now


class SinkError(Exception):
    """A sink could not write a batch."""


class RetryableSinkError(SinkError):
    """Worth retrying (a timeout, 429, 5xx); `retry_after`: the seconds the server asked to wait."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSinkError(SinkError):
    """Retrying would fail the same way (400, 413, ...): the batch is dropped and counted."""


class Sink:
    """Base class for sinks (optional: any object with write() will do)."""

    def write(self, events: Sequence[Event]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Finish: called once, after the last write."""


class MemorySink(Sink):
    """Keeps every event written in `events` (thread-safe to read)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self.closed = False

    def write(self, events: Sequence[Event]) -> None:
        with self._lock:
            self._events.extend(events)

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def close(self) -> None:
        self.closed = True


class _RotatingFiles(Sink):
    """Files `<prefix>-<UTC time>-<pid>-<random>-<n>.<suffix>` in `directory`, named `.partial` while open."""

    suffix = ""

    def __init__(self, directory: str | os.PathLike[str], prefix: str, max_events: int) -> None:
        self.directory = Path(directory)
        self.prefix = prefix
        self.max_events = max_events
        self.files: list[Path] = []  # finished files, oldest first
        self._token = uuid.uuid4().hex[:8]
        self._count = 0
        self._path: Path | None = None
        self._events = 0

    def _new_path(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._count += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        name = f"{self.prefix}-{stamp}-{os.getpid()}-{self._token}-{self._count:04d}{self.suffix}.partial"
        self._path = self.directory / name
        self._events = 0
        return self._path

    def _finish(self) -> None:
        if self._path is not None:
            final = self._path.with_suffix("")  # drop .partial
            os.replace(self._path, final)
            self.files.append(final)
            self._path = None

    @property
    def current(self) -> Path | None:
        """The file being written (`.partial`), if any."""
        return self._path

    def _close_file(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._close_file()


class JsonlSink(_RotatingFiles):
    """JSON Lines files, one event per line with every contract column, timestamps in UTC with a `Z`.

    A file is finished (renamed from `.partial`) when the next batch would take it past `max_bytes`
    or `max_events`, and at close. The default of 20,000 lines keeps every file within the rows
    DuckDB samples to infer JSON column types (20,480), so a column null in a file's first lines and
    set further down keeps its values on `outcomes ingest`. Each batch is one append; a failed one is
    truncated away, so a file never holds half a line.
    """

    suffix = ".jsonl"

    def __init__(self, directory: str | os.PathLike[str], *, prefix: str = "events", max_bytes: int = 16 * 2**20,
                 max_events: int = 20_000, fsync: bool = False) -> None:  # fmt: skip
        super().__init__(directory, prefix, max_events)
        self.max_bytes = max_bytes
        self.fsync = fsync
        self._fd: int | None = None
        self._bytes = 0

    def write(self, events: Sequence[Event]) -> None:
        data = ("\n".join(to_json(event) for event in events) + "\n").encode()
        if self._fd is not None and self._events and (
            self._bytes + len(data) > self.max_bytes or self._events + len(events) > self.max_events
        ):
            self._close_file()
        if self._fd is None:
            self._fd = os.open(self._new_path(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._bytes = 0
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
            if self.fsync:
                os.fsync(self._fd)
        except BaseException:
            os.ftruncate(self._fd, self._bytes)  # all of the batch or none of it
            raise
        self._bytes += len(data)
        self._events += len(events)

    def _close_file(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._finish()

    def __repr__(self) -> str:
        return f"JsonlSink({str(self.directory)!r})"


class ParquetSink(_RotatingFiles):
    """Parquet files with the contract's Arrow schema, one row group per batch (raise the tracker's
    batch_size for bigger ones). A Parquet file is only readable once finished, at `max_events`
    rows or at close: the open file's rows are lost if the process dies first (JSONL keeps them)."""

    suffix = ".parquet"

    def __init__(self, directory: str | os.PathLike[str], *, prefix: str = "events", max_events: int = 1_000_000,
                 compression: str = "zstd") -> None:  # fmt: skip
        _require("ParquetSink", "pyarrow", extra="parquet")
        super().__init__(directory, prefix, max_events)
        self.compression = compression
        self._writer: Any = None

    def write(self, events: Sequence[Event]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        from outcome_metrics.contract import arrow_schema

        table = pa.Table.from_pylist([event.__dict__ for event in events], schema=arrow_schema())
        if self._writer is not None and self._events and self._events + len(events) > self.max_events:
            self._close_file()
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._new_path(), table.schema, compression=self.compression)
        try:
            self._writer.write_table(table)
        except BaseException:
            # the writer may be broken: finish what it has (the batch is retried in a new file)
            self._close_file()
            raise
        self._events += len(events)

    def _close_file(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            finally:
                self._finish()

    def __repr__(self) -> str:
        return f"ParquetSink({str(self.directory)!r})"


class DuckDBSink(Sink):
    """Appends each batch to the raw event table of a DuckDB database in one transaction (a failed
    batch leaves nothing, so a retry never duplicates), creating the table as `outcomes ingest`
    does. Sets received_at (when it arrived in the warehouse) to the time of the write.

    DuckDB lets one process write a database file at a time. keep_open=True (the default) holds
    the connection, so `outcomes build` on the same file waits for the app to stop;
    keep_open=False connects for each batch (slower: about 0.15 s a batch, most of it the
    checkpoint at close), so builds can run in between (a batch that meets a build's lock is retried).
    """

    def __init__(self, path: str | os.PathLike[str], *, keep_open: bool = True) -> None:
        _require("DuckDBSink", "duckdb", "pyarrow", extra="duckdb")
        self.path = Path(path)
        self.keep_open = keep_open
        self._con: Any = None

    def _connect(self) -> Any:
        if self._con is None:
            from outcome_metrics.engines.duckdb import connect, create_raw_table

            self._con = connect(self.path)
            create_raw_table(self._con)
        return self._con

    def write(self, events: Sequence[Event]) -> None:
        import pyarrow as pa

        from outcome_metrics.contract import RAW_TABLE, arrow_schema

        received_at = utc_now()
        rows = [{**event.__dict__, "received_at": event.received_at or received_at} for event in events]
        table = pa.Table.from_pylist(rows, schema=arrow_schema())
        columns = ", ".join(COLUMN_NAMES)
        con = self._connect()
        try:
            con.register("_outcomes_track_batch", table)
            con.execute("begin transaction")
            con.execute(f"insert into {RAW_TABLE} ({columns}) select {columns} from _outcomes_track_batch")
            con.execute("commit")
        except BaseException:
            self._disconnect()  # the connection may be mid-transaction: start afresh
            raise
        con.unregister("_outcomes_track_batch")
        if not self.keep_open:
            self._disconnect()

    def _disconnect(self) -> None:
        if self._con is not None:
            con, self._con = self._con, None
            con.close()

    def close(self) -> None:
        self._disconnect()

    def __repr__(self) -> str:
        return f"DuckDBSink({str(self.path)!r})"


class HttpSink(Sink):
    """POSTs each batch as `{"contract_version": 1, "events": [...]}` (the JsonlSink's objects) to
    `url`. Retries 408, 429, 5xx and network errors, honouring Retry-After; drops a batch on any
    other status (400, 413, ...: resending would fail the same way). `timeout`: seconds per request."""

    RETRY_STATUSES = frozenset({408, 429})

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"HttpSink url must be http:// or https://, not {url!r}")
        self.url = url
        self.headers = {"Content-Type": "application/json", "User-Agent": "outcome-metrics-track", **(headers or {})}
        self.timeout = timeout

    def write(self, events: Sequence[Event]) -> None:
        body = (
            f'{{"contract_version":{CONTRACT_VERSION},"events":[' + ",".join(to_json(event) for event in events) + "]}"
        ).encode()
        request = urllib.request.Request(self.url, data=body, headers=self.headers, method="POST")  # noqa: S310 -- scheme checked in __init__
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                response.read()
        except urllib.error.HTTPError as error:
            detail = f"HTTP {error.code} from {self.url}"
            if error.code in self.RETRY_STATUSES or error.code >= 500:
                raise RetryableSinkError(detail, retry_after=retry_after(error.headers.get("Retry-After"))) from None
            with contextlib.suppress(OSError):  # the body is only for the message
                detail += ": " + error.read(200).decode(errors="replace")
            raise PermanentSinkError(detail) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            raise RetryableSinkError(f"{self.url}: {error}") from None

    def __repr__(self) -> str:
        return f"HttpSink({self.url!r})"


def _require(sink: str, *modules: str, extra: str) -> None:
    """Fail at construction, not at the first write in the background, when a module is missing
    (found without importing it: the import stays lazy)."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ImportError(f"{sink} needs {' and '.join(missing)}: pip install 'outcome-metrics-sdk[{extra}]' "
                          f"(or outcome-metrics, which has them)")  # fmt: skip


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
