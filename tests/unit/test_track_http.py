"""HttpSink against a real HTTP server on 127.0.0.1 (http.server in a thread): the batches it
receives, and which failures are retried (5xx, 429 with Retry-After, a dropped connection, a
timeout) and which are not (400, 413)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from outcome_metrics.track import HttpSink, Tracker
from outcome_metrics.track.sinks import retry_after


class Collector(ThreadingHTTPServer):
    """Answers POSTs with the next status of `script` (then 200), keeping every body it got.
    A status of 0 closes the connection without answering; ("sleep", s) answers 200 after s seconds."""

    daemon_threads = True

    def __init__(self, script=()):
        super().__init__(("127.0.0.1", 0), Handler)
        self.script = list(script)
        self.requests: list[tuple[float, str, dict]] = []  # (time, path, body)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1/events"

    def batches(self) -> list[list[dict]]:
        with self.lock:
            return [body["events"] for _, _, body in self.requests]


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        server: Collector = self.server  # type: ignore[assignment]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with server.lock:
            server.requests.append((time.monotonic(), self.path, body))
            step = server.script.pop(0) if server.script else 200
        if isinstance(step, tuple) and step[0] == "sleep":
            time.sleep(step[1])
            step = 200
        if step == 0:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        status, headers = (step, {}) if isinstance(step, int) else step
        payload = b'{"ok": true}' if status == 200 else b'{"error": "no"}'
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError):  # a client that timed out hung up
            self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def collector(request):
    server = Collector(getattr(request, "param", ()))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def track(tracker: Tracker, n: int) -> list[str]:
    return [tracker.app_active(user_id=f"u{k}", feature="f") for k in range(n)]


def test_batches_arrive_as_json_with_every_event_once(collector):
    tracker = Tracker(HttpSink(collector.url, headers={"Authorization": "Bearer t"}), batch_size=100,
                      flush_interval=600)
    ids = [*track(tracker, 250)]
    assert tracker.close(10) and tracker.dropped == 0
    batches = collector.batches()
    assert [len(b) for b in batches] == [100, 100, 50]
    assert [e["event_id"] for b in batches for e in b] == ids
    _, path, body = collector.requests[0]
    assert path == "/v1/events" and body["contract_version"] == 1
    first = batches[0][0]
    assert first["event_type"] == "app_active" and first["occurred_at"].endswith("Z")


@pytest.mark.parametrize("collector", [[500, 503]], indirect=True)
def test_a_500_then_200_is_retried_with_the_same_event_ids(collector):
    tracker = Tracker(HttpSink(collector.url), batch_size=10, backoff=0.01, flush_interval=600)
    ids = track(tracker, 10)
    assert tracker.flush(10)
    batches = collector.batches()
    assert len(batches) == 3  # 500, 503, 200
    assert all([e["event_id"] for e in b] == ids for b in batches)
    assert tracker.delivered == 10 and tracker.dropped == 0
    tracker.close()


@pytest.mark.parametrize("collector", [[(429, {"Retry-After": "1"})]], indirect=True)
def test_a_429_is_retried_after_the_servers_retry_after(collector):
    tracker = Tracker(HttpSink(collector.url), batch_size=5, backoff=0.001, flush_interval=600)
    track(tracker, 5)
    assert tracker.flush(10)
    (first, _, _), (second, _, _) = collector.requests
    assert second - first >= 0.95  # the backoff alone would be a millisecond
    assert tracker.delivered == 5
    tracker.close()


@pytest.mark.parametrize("collector", [[400], [413]], indirect=True)
def test_a_400_or_413_is_dropped_not_retried(collector):
    tracker = Tracker(HttpSink(collector.url), batch_size=5, backoff=0.001, flush_interval=600)
    track(tracker, 10)
    assert tracker.flush(10)
    assert [len(b) for b in collector.batches()] == [5, 5]  # the refused batch was not sent again
    assert tracker.drops["sink_error"] == 5 and tracker.delivered == 5
    tracker.close()


@pytest.mark.parametrize("collector", [[0]], indirect=True)
def test_a_dropped_connection_is_retried(collector):
    tracker = Tracker(HttpSink(collector.url), batch_size=5, backoff=0.001, flush_interval=600)
    track(tracker, 5)
    assert tracker.flush(10)
    assert len(collector.batches()) == 2 and tracker.delivered == 5 and tracker.dropped == 0
    tracker.close()


@pytest.mark.parametrize("collector", [[("sleep", 1.0)]], indirect=True)
def test_a_timeout_is_retried_and_the_collector_may_see_a_batch_twice(collector):
    tracker = Tracker(HttpSink(collector.url, timeout=0.2), batch_size=5, backoff=0.001, flush_interval=600)
    ids = track(tracker, 5)
    assert tracker.flush(10)
    batches = collector.batches()
    assert len(batches) == 2 and all([e["event_id"] for e in b] == ids for b in batches)  # at least once
    assert tracker.delivered == 5
    tracker.close()


def test_a_collector_that_is_down_costs_retries_then_drops():
    server = Collector()
    url = server.url
    server.server_close()  # nothing listens there any more
    tracker = Tracker(HttpSink(url, timeout=1), batch_size=5, max_retries=2, backoff=0.001, flush_interval=600)
    track(tracker, 5)
    assert tracker.flush(10)
    assert tracker.drops["sink_error"] == 5
    tracker.close()


def test_retry_after_reads_seconds_and_http_dates():
    import email.utils

    assert retry_after("3") == 3.0
    assert retry_after(None) is None and retry_after("soon") is None
    in_ten = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 <= retry_after(in_ten) <= 10


def test_only_http_urls_are_accepted():
    with pytest.raises(ValueError, match="http:// or https://"):
        HttpSink("file:///etc/passwd")
