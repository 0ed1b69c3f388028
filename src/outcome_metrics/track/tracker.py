"""`Tracker`: checks each event at the call, queues it, and hands batches to a sink from one
background thread, so the caller never waits for (or breaks with) the sink.

Delivery: at least once. A batch whose write fails is retried with capped exponential backoff and
jitter; events never admitted (queue full, tracker closed, invalid with on_invalid="drop") or given
up on (retries exhausted, a permanent sink error, the exit deadline) are counted in `dropped` and
`drops`, with one logged warning per reason. A retried batch may be written twice; its events
keep their ids, and staging keeps one copy of each.
"""

from __future__ import annotations

import atexit
import collections
import logging
import os
import random
import threading
import time
import uuid
from typing import Any, Literal

from outcome_metrics.contract import COLUMN_NAMES, Event, EventType
from outcome_metrics.track.events import InvalidEvent, build_event, properties_json
from outcome_metrics.track.sinks import PermanentSinkError, RetryableSinkError, Sink

log = logging.getLogger("outcome_metrics.track")

#: Columns a caller may set: every contract column but the three the tracker sets, and received_at
#: (the warehouse's).
_SETTABLE = frozenset(COLUMN_NAMES) - {"event_id", "event_type", "occurred_at", "received_at"}
_EVENT_TYPES = frozenset(EventType) | frozenset(t.value for t in EventType)

#: Why events were not delivered: the keys of `Tracker.drops`.
DROP_REASONS = ("queue_full", "sink_error", "closed", "exit_deadline", "invalid")


class _Flush:
    """A marker in the queue: set once every event queued before it was handed to the sink (or dropped)."""

    __slots__ = ("done", "stop")

    def __init__(self, stop: bool = False) -> None:
        self.done = threading.Event()
        self.stop = stop


class Tracker:
    """Validates, queues and delivers contract events to `sink`.

    Defaults follow posthog-python and segment's SDK: a queue of 10,000 events (full: new events
    are dropped and counted), batches of 100 or whatever arrived within `flush_interval` seconds,
    5 retries with backoff 0.5 s doubling to at most 30 s (plus jitter), and at interpreter exit
    a flush of at most `exit_timeout` seconds.
    """

    def __init__(
        self,
        sink: Sink,
        *,
        max_queue_size: int = 10_000,
        batch_size: int = 100,
        flush_interval: float = 1.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        exit_timeout: float = 2.0,
        on_invalid: Literal["raise", "drop"] = "raise",
    ) -> None:
        if on_invalid not in ("raise", "drop"):
            raise ValueError(f"on_invalid must be 'raise' or 'drop', not {on_invalid!r}")
        if max_queue_size < 1 or batch_size < 1:
            raise ValueError("max_queue_size and batch_size must be at least 1")
        self.sink = sink
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.exit_timeout = exit_timeout
        self._raise_invalid = on_invalid == "raise"
        # The queue: a deque callers append to (atomic, no lock) and the worker pops from; callers
        # wake the worker once a batch is waiting, not for every event, and it wakes itself every
        # flush_interval. Concurrent callers can overshoot max_queue_size by one event each.
        self.max_queue_size = max_queue_size
        self._queue: collections.deque[Event | _Flush] = collections.deque()
        self._wake = threading.Event()
        self._drain = False  # set by flush and close: ship everything, partial batches too
        self._lock = threading.Lock()  # guards _drops and _warned (callers drop from many threads)
        self._drops = dict.fromkeys(DROP_REASONS, 0)
        self._warned: set[str] = set()
        self._delivered = 0  # written by the worker only
        self._closed = False
        self._closed_why = "the tracker is closed"
        self._closing = threading.Event()  # cuts backoff sleeps short when closing
        self._deadline: float | None = None  # monotonic time the worker gives up at, when closing
        self._worker = threading.Thread(target=self._run, name="outcome-metrics-tracker", daemon=True)
        self._worker.start()
        _live.add(self)

    # ---- the calls (any thread) -------------------------------------------------------------

    def request(
        self,
        *,
        user_id: str,
        feature: str,
        task_id: str | None = None,
        session_id: str | None = None,
        persona: str | None = None,
        workflow: str | None = None,
        model: str | None = None,
        prompt_version: str | None = None,
        experiment: str | None = None,
        variant: str | None = None,
        interaction_id: str | None = None,
        properties: dict[str, Any] | None = None,
    ) -> Interaction:
        """The user invoked the AI feature: an `ai_request` starting a new interaction (id: a uuid4
        unless given). Its segments (persona, model, experiment, ...) go on every event of it."""
        interaction = self.interaction(
            interaction_id or _new_id(), user_id=user_id, feature=feature, task_id=task_id,
            session_id=session_id, persona=persona, workflow=workflow, model=model,
            prompt_version=prompt_version, experiment=experiment, variant=variant,
        )  # fmt: skip
        interaction._emit(EventType.AI_REQUEST, properties)
        return interaction

    def interaction(self, interaction_id: str, *, user_id: str, feature: str, **context: str | None) -> Interaction:
        """A handle on an interaction that started elsewhere (another process or request), to log
        what happened to it later; emits nothing. `context`: task_id, session_id, persona, workflow,
        model, prompt_version, experiment, variant."""
        unknown = set(context) - set(Interaction.CONTEXT)
        if unknown:
            raise TypeError(f"interaction() got unexpected keyword argument(s) {', '.join(sorted(unknown))}")
        return Interaction(self, {"user_id": user_id, "feature": feature, "interaction_id": interaction_id, **context})

    def task_completed(self, *, task_id: str, user_id: str, feature: str, session_id: str | None = None,
                       persona: str | None = None, properties: dict[str, Any] | None = None) -> str | None:  # fmt: skip
        """The user reached the task's completion state (the task's last interaction gets the credit)."""
        return self.emit(EventType.TASK_COMPLETED, task_id=task_id, user_id=user_id, feature=feature,
                         session_id=session_id, persona=persona, properties=properties)  # fmt: skip

    def task_abandoned(self, *, task_id: str, user_id: str, feature: str, reason: str | None = None,
                       session_id: str | None = None, persona: str | None = None,
                       properties: dict[str, Any] | None = None) -> str | None:  # fmt: skip
        """The user gave up on the task."""
        return self.emit(EventType.TASK_ABANDONED, task_id=task_id, user_id=user_id, feature=feature,
                         reason=reason, session_id=session_id, persona=persona, properties=properties)  # fmt: skip

    def app_active(self, *, user_id: str, feature: str, persona: str | None = None, session_id: str | None = None,
                   workflow: str | None = None, properties: dict[str, Any] | None = None) -> str | None:  # fmt: skip
        """The user was active in the product: the population AI adoption is measured against."""
        return self.emit(EventType.APP_ACTIVE, user_id=user_id, feature=feature, persona=persona,
                         session_id=session_id, workflow=workflow, properties=properties)  # fmt: skip

    def survey(self, *, user_id: str, feature: str, criterion: str, score: float, persona: str | None = None,
               properties: dict[str, Any] | None = None) -> str | None:  # fmt: skip
        """A trust survey answer: `criterion` is the question, `score` the perceived accuracy in 0..1."""
        return self.emit(EventType.SURVEY, user_id=user_id, feature=feature, criterion=criterion, score=score,
                         persona=persona, properties=properties)  # fmt: skip

    def emit(self, event_type: EventType | str, **fields: Any) -> str | None:
        """Any contract event, by column name (`properties` may be a dict). Returns its event_id, or
        None when it was not admitted (queue full, tracker closed, or invalid with on_invalid="drop").
        Raises InvalidEvent when it breaks the contract (unless on_invalid="drop")."""
        unknown = fields.keys() - _SETTABLE
        if unknown:
            raise TypeError(f"emit() got column(s) it does not take: {', '.join(sorted(unknown))} "
                            f"(it sets event_id, event_type and occurred_at itself)")  # fmt: skip
        if event_type not in _EVENT_TYPES:
            rule = "not one of the contract's event types"
            self._refuse(InvalidEvent(str(event_type), "event_type", event_type, rule))
            return None
        return self._record(EventType(event_type), fields)

    def _record(self, event_type: EventType, fields: dict[str, Any]) -> str | None:
        """Check and queue one event (fields by contract column name, none of them unknown)."""
        try:
            if fields.get("properties") is not None:
                fields["properties"] = properties_json(event_type, fields["properties"])
            event = build_event(event_type, fields)
        except InvalidEvent as error:
            self._refuse(error)
            return None
        queued = self._queue
        if len(queued) >= self.max_queue_size:
            self._drop("queue_full", 1, f"the queue is full ({self.max_queue_size:,} events)")
            return None
        if self._closed:
            self._drop("closed", 1, self._closed_why)
            return None
        queued.append(event)
        if len(queued) >= self.batch_size and not self._wake.is_set():
            self._wake.set()
        return event.event_id

    def _refuse(self, error: InvalidEvent) -> None:
        if self._raise_invalid:
            raise error
        self._drop("invalid", 1, str(error))

    # ---- state ------------------------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Events not delivered and never to be: the sum of `drops`."""
        return sum(self._drops.values())

    @property
    def drops(self) -> dict[str, int]:
        """Dropped events by reason: queue_full, sink_error, closed, exit_deadline, invalid."""
        with self._lock:
            return dict(self._drops)

    @property
    def delivered(self) -> int:
        """Events the sink accepted (a retried batch counts once)."""
        return self._delivered

    @property
    def pending(self) -> int:
        """Events queued and not yet handed to the sink (approximate)."""
        return sum(not isinstance(item, _Flush) for item in list(self._queue))

    # ---- flushing and closing ---------------------------------------------------------------

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Wait until every event queued before this call was delivered or dropped, for at most
        `timeout` seconds (None: no limit). True when it was."""
        if not self._worker.is_alive():
            return not self._queue
        marker = _Flush()
        self._queue.append(marker)  # markers go in whatever the queue's length
        self._drain = True
        self._wake.set()
        return marker.done.wait(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Stop admitting events, deliver what is queued within `timeout` seconds (default:
        `exit_timeout`), then close the sink. True when everything queued was delivered or dropped
        in time; otherwise the rest is lost with the process and a warning says how many."""
        timeout = self.exit_timeout if timeout is None else timeout
        with self._lock:
            if self._closed:
                return not self._worker.is_alive()
            self._closed = True
        _live.discard(self)
        start = time.monotonic()
        self._deadline = start + timeout
        self._closing.set()
        self._queue.append(_Flush(stop=True))
        self._drain = True
        self._wake.set()
        self._worker.join(max(0.0, self._deadline - time.monotonic()))
        if not self._worker.is_alive():
            # admitted by a call that raced with close, behind the stop marker
            late = sum(not isinstance(item, _Flush) for item in list(self._queue))
            if late:
                self._drop("closed", late, "admitted while the tracker closed")
        else:
            log.warning("outcome_metrics.track: %s events were not delivered within %.1f s of closing; "
                        "they are lost if the process exits", self.pending, timeout)  # fmt: skip
            return False
        return True

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<Tracker sink={self.sink!r} delivered={self.delivered} pending={self.pending} "
                f"dropped={self.dropped}{' closed' if self._closed else ''}>")  # fmt: skip

    # ---- the worker (one background thread) -------------------------------------------------

    def _drop(self, reason: str, count: int, why: str) -> None:
        with self._lock:
            self._drops[reason] += count
            first = reason not in self._warned
            self._warned.add(reason)
        if first:
            log.warning("outcome_metrics.track: dropping events (%s): %s; Tracker.dropped counts them, "
                        "this warning is not repeated", reason, why)  # fmt: skip
        else:
            log.debug("outcome_metrics.track: dropped %d event(s) (%s): %s", count, reason, why)

    def _run(self) -> None:
        queued = self._queue
        while True:
            # woken by a full batch (ship full batches), or by flush/close or flush_interval (ship all)
            timed_out = not self._wake.wait(self.flush_interval)
            self._wake.clear()
            drain, self._drain = self._drain or timed_out, False
            while queued and (drain or len(queued) >= self.batch_size):
                batch: list[Event] = []
                marker = None
                while queued and len(batch) < self.batch_size:
                    item = queued.popleft()
                    if isinstance(item, _Flush):
                        marker = item
                        break
                    batch.append(item)
                try:
                    if batch:
                        self._deliver(batch)
                except Exception:  # the worker must outlive any bug in a sink or here
                    log.exception("outcome_metrics.track: unexpected error delivering %d events", len(batch))
                    self._drop("sink_error", len(batch), "unexpected error")
                if marker is not None:
                    if marker.stop:
                        self._close_sink()
                        marker.done.set()
                        return
                    marker.done.set()

    def _deliver(self, batch: list[Event]) -> None:
        attempt = 0
        while True:
            try:
                self.sink.write(batch)
            except PermanentSinkError as error:
                self._drop("sink_error", len(batch), f"{type(self.sink).__name__} refused a batch: {error}")
                return
            except Exception as error:  # noqa: BLE001 -- any sink failure is retried, then counted
                retry_after = error.retry_after if isinstance(error, RetryableSinkError) else None
                delay = self._backoff(attempt, retry_after)
                if attempt >= self.max_retries:
                    self._drop("sink_error", len(batch),
                               f"{type(self.sink).__name__} failed {attempt + 1} times, last: {error!r}")  # fmt: skip
                    return
                if self._deadline is not None and time.monotonic() + delay > self._deadline:
                    self._drop("exit_deadline", len(batch), f"closing, and the sink still fails: {error!r}")
                    return
                log.debug("outcome_metrics.track: %s failed (%r); retry %d in %.2f s",
                          type(self.sink).__name__, error, attempt + 1, delay)  # fmt: skip
                if self._deadline is None:
                    self._closing.wait(delay)  # close() cuts the wait short, then the deadline rules
                else:
                    time.sleep(delay)
                attempt += 1
            else:
                self._delivered += len(batch)
                return

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """min(backoff * 2**attempt, max_backoff) with "equal jitter" (half of it random), at least
        the server's Retry-After, never more than max_backoff."""
        delay = min(self.backoff * 2**attempt, self.max_backoff)
        delay = delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 -- jitter, not a secret
        if retry_after is not None:
            delay = max(delay, retry_after)
        return min(delay, self.max_backoff)

    def _close_sink(self) -> None:
        close = getattr(self.sink, "close", None)
        try:
            if close is not None:
                close()
        except Exception:  # closing must not raise into interpreter exit
            log.exception("outcome_metrics.track: closing %s failed", type(self.sink).__name__)


class Interaction:
    """One AI request/response round. Every method emits one contract event carrying the
    interaction's id, user, feature, task and segments, and returns its event_id (None when it was
    not admitted); `regenerate` returns the new interaction."""

    CONTEXT = ("task_id", "session_id", "persona", "workflow", "model", "prompt_version", "experiment", "variant")
    __slots__ = ("_context", "_tracker")

    def __init__(self, tracker: Tracker, context: dict[str, Any]) -> None:
        self._tracker = tracker
        self._context = context

    @property
    def interaction_id(self) -> str:
        return self._context["interaction_id"]

    @property
    def task_id(self) -> str | None:
        return self._context.get("task_id")

    def _emit(self, event_type: EventType, properties: dict[str, Any] | None, **fields: Any) -> str | None:
        return self._tracker._record(event_type, {**self._context, **fields, "properties": properties})

    def response(self, *, latency_ms: float, input_tokens: int, output_tokens: int, cost_usd: float,
                 confidence: float | None = None, model: str | None = None,
                 properties: dict[str, Any] | None = None) -> str | None:  # fmt: skip
        """The model returned output (`ai_response`); `model` overrides the request's."""
        return self._emit(EventType.AI_RESPONSE, properties, model=model or self._context.get("model"),
                          latency_ms=latency_ms,
                          input_tokens=input_tokens, output_tokens=output_tokens, cost_usd=cost_usd,
                          confidence=confidence)  # fmt: skip

    def shadow_response(self, *, model: str, latency_ms: float, input_tokens: int, output_tokens: int,
                        cost_usd: float, confidence: float | None = None,
                        properties: dict[str, Any] | None = None) -> str | None:  # fmt: skip
        """A candidate model's output in shadow mode, never shown (`ai_response`, is_shadow): it never
        counts toward the interaction's outcome, latency or cost, only toward shadow columns."""
        return self._emit(EventType.AI_RESPONSE, properties, model=model, is_shadow=True,
                          latency_ms=latency_ms, input_tokens=input_tokens, output_tokens=output_tokens,
                          cost_usd=cost_usd, confidence=confidence)  # fmt: skip

    def error(self, *, cost_usd: float, reason: str | None = None,
              properties: dict[str, Any] | None = None) -> str | None:  # fmt: skip
        """The model call failed or timed out (`ai_error`; cost_usd is required, 0 when none)."""
        return self._emit(EventType.AI_ERROR, properties, cost_usd=cost_usd, reason=reason)

    def accept(self, *, properties: dict[str, Any] | None = None) -> str | None:
        """The user used the output as it was."""
        return self._emit(EventType.ACCEPT, properties)

    def edit(self, *, edit_ratio: float, properties: dict[str, Any] | None = None) -> str | None:
        """The user edited the output before using it; `edit_ratio`: the share changed, 0..1."""
        return self._emit(EventType.EDIT, properties, edit_ratio=edit_ratio)

    def reject(self, *, reason: str | None = None, properties: dict[str, Any] | None = None) -> str | None:
        """The user dismissed the output."""
        return self._emit(EventType.REJECT, properties, reason=reason)

    def regenerate(self, *, properties: dict[str, Any] | None = None) -> Interaction:
        """The user asked for another output: a `regenerate` on this interaction, and an `ai_request`
        starting the next interaction of the same task (this one's task_id, else its id), returned."""
        self._emit(EventType.REGENERATE, properties)
        context = {**self._context, "interaction_id": _new_id(), "task_id": self.task_id or self.interaction_id}
        following = Interaction(self._tracker, context)
        following._emit(EventType.AI_REQUEST, None)
        return following

    def copy(self, *, properties: dict[str, Any] | None = None) -> str | None:
        """The user copied the output."""
        return self._emit(EventType.COPY, properties)

    def override(self, *, reason: str | None = None, properties: dict[str, Any] | None = None) -> str | None:
        """The user changed the AI's recommendation or decision."""
        return self._emit(EventType.OVERRIDE, properties, reason=reason)

    def fallback(self, *, reason: str | None = None, properties: dict[str, Any] | None = None) -> str | None:
        """The flow fell back to a non-AI path (rules, manual, human handoff)."""
        return self._emit(EventType.FALLBACK, properties, reason=reason)

    def escalation(self, *, reason: str | None = None, properties: dict[str, Any] | None = None) -> str | None:
        """The user went to a human (support agent) instead."""
        return self._emit(EventType.ESCALATION, properties, reason=reason)

    def external_search(self, *, properties: dict[str, Any] | None = None) -> str | None:
        """The user searched elsewhere right after the output (an implicit negative)."""
        return self._emit(EventType.EXTERNAL_SEARCH, properties)

    def feedback(self, score: int, /, *, properties: dict[str, Any] | None = None) -> str | None:
        """An explicit rating: +1 or -1."""
        return self._emit(EventType.FEEDBACK, properties, score=score)

    def judge(self, *, criterion: str, score: float, evaluator: str, shadow: bool = False,
              properties: dict[str, Any] | None = None) -> str | None:  # fmt: skip
        """An evaluation of the output (`judge_score`): `score` in 0..1 on `criterion` (criterion
        `task_completion` feeds judge_task_completion) by `evaluator` (a judge model, or "human").
        shadow=True scores the shadow output instead."""
        return self._emit(EventType.JUDGE_SCORE, properties, criterion=criterion, score=score,
                          evaluator=evaluator, **({"is_shadow": True} if shadow else {}))  # fmt: skip

    def task_completed(self, *, properties: dict[str, Any] | None = None) -> str | None:
        """The interaction's task (its task_id, else the interaction itself) reached completion."""
        return self._tracker._record(EventType.TASK_COMPLETED, {**self._task_fields(), "properties": properties})

    def task_abandoned(self, *, reason: str | None = None, properties: dict[str, Any] | None = None) -> str | None:
        """The user gave up on the interaction's task."""
        return self._tracker._record(EventType.TASK_ABANDONED,
                                     {**self._task_fields(), "reason": reason, "properties": properties})  # fmt: skip

    def _task_fields(self) -> dict[str, Any]:
        # a task event names its task by task_id, or by interaction_id when there is none
        fields = {k: v for k, v in self._context.items() if k != "interaction_id"}
        if not self.task_id:
            fields["interaction_id"] = self.interaction_id
        return fields

    def __repr__(self) -> str:
        return f"<Interaction {self.interaction_id} task={self.task_id}>"


def _new_id() -> str:
    return str(uuid.uuid4())


#: Trackers not closed yet: closed at interpreter exit. (Each one's worker thread holds it anyway.)
_live: set[Tracker] = set()


@atexit.register
def _close_at_exit() -> None:
    for tracker in list(_live):
        tracker.close()


def _after_fork_in_child() -> None:
    """A forked child has the parent's trackers without their worker threads, and shares their
    sinks' files and connections: its trackers are closed (the parent delivers what was queued)."""
    for tracker in list(_live):
        tracker._closed = True
        tracker._closed_why = "the tracker was created before this process forked; create one after forking"
        tracker._queue = collections.deque()
    _live.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)
