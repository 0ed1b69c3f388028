"""Synthetic AI interaction events with planted, recoverable truths.

`simulate(events=..., days=..., seed=...)` returns a `Simulation`: `batches()` streams the raw event
table (contract v1, `contract.arrow_schema()`) in Arrow record batches of about 500k rows, and
`truth` holds the parameters that generated it, which the metric layer must recover from the raw
rows with the contract's default outcome definitions. The generator is pure (no filesystem, no
printing) and deterministic: the same arguments give byte-identical batches.

How events are made
-------------------
Users (personas `new`, `power`, `enterprise`, `internal`) are active on some days (`app_active`,
one per active day, at the start of the day's first session); only adopters use AI, so more users
are active than use AI. An adopter's active day holds tasks, each in one of the day's sessions,
with one feature, workflow, routed model, prompt version and, for `draft_reply` users enrolled in
the experiment, an experiment arm. Everything an outcome depends on is a property of the *task*
(persona, feature, model, arm: its "cell"), so all interactions of a task share it.

Each interaction draws an outcome class from the cell's planted probabilities, independently of
the task's other interactions:

====================  ===================================================================
class                 events, and what they make of the interaction under the contract
====================  ===================================================================
`error_retry`         `ai_error`; the user retries: a new interaction of the same task
`error_end`           `ai_error`; the task ends (maybe `fallback`, then maybe
                      `task_completed` via the non-AI path, or `task_abandoned`)
`regenerate`          `ai_response`, `regenerate` (maybe `reject`/`copy`); a new interaction
                      of the same task follows, so this one is superseded
`fallback`            `ai_response`, `fallback` (maybe `reject`, `task_completed`/`abandoned`)
`escalation`          `ai_response`, `escalation` (maybe `task_abandoned`, `external_search`)
`negative`            `ai_response` and at least one of `reject`, `override`, feedback -1;
                      never accepted, the task never completes
`success`             `ai_response` and `accept`, or `edit`/`copy`/`accept`/`override` followed by
                      `task_completed`; no fallback, escalation or error
`silent`              `ai_response` and only `copy`, `edit`, `external_search`,
                      `task_abandoned`, feedback +1 or nothing
====================  ===================================================================

The two "continue" classes (`error_retry`, `regenerate`) chain a new interaction onto the task;
any other class ends it, and only the task's last interaction carries the task's
`task_completed` / `task_abandoned`. Interactions of a task start strictly one after another, so
the contract's "last interaction" is always the final one. Consequently, under the contract:

- responded = every class but the two error classes; errored = the two error classes (errored
  interactions never get a shadow response either);
- successful = exactly class `success`; silent_failure = exactly class `silent`;
- explicit_negative = `regenerate`, `fallback`, `escalation`, `negative`, plus the `success`
  interactions that carry an `override` or a -1 feedback (accepted, yet flagged).

Independent of the class, responded interactions may be judged (`judge_score` with criteria
`task_completion`, `relevance`, `safety`, evaluator a judge model, sometimes a second
`task_completion` score from `human` on interactions without a shadow output), and a share of `summarize` / `draft_reply` interactions
also get a shadow `ai_response` from one of two candidate models plus shadow `judge_score` events
(`is_shadow` true), or, for a share of them, a failed shadow call: a shadow `ai_error` and no shadow
judge score. Feedback coverage depends on class and persona; feedback on `silent`
interactions is always +1 (a -1 would make them explicit negatives).

Timestamps are naive UTC microseconds. `received_at` is normally `occurred_at` + about a second;
`late_rate` of `feedback`, `judge_score` and `task_completed` events occur 2 h to 3 days after
their interaction's request and are received 5 min to 12 h later still, so they may spill up to
3 days past `start + days`; every other event occurs inside `[start, start + days)` (so with the
default start, `days <= 323` keeps every `occurred_at` on or before 2026-11-23).
`duplicate_rate` of rows are sent twice: same `event_id` and content, later `received_at`.
Rows within a batch are in arrival (`received_at`) order. Determinism holds for a given NumPy
version (NumPy may change how its distributions draw from a seeded generator across versions).

Contract choices where it leaves room: `app_active` and `survey` carry the user's primary feature
(`feature` is required on every row); task events carry `task_id` and no `interaction_id`, or only
`interaction_id` when the task has no `task_id` (single-interaction tasks only); `model` is on
`ai_request` (the routed model), `ai_response` and `ai_error`; `experiment` / `variant` are on
`ai_request` only; `workflow` / `prompt_version` on `ai_request`, `ai_response`, `ai_error`;
`is_shadow` is false on live responses and judge scores and null on other events.

How `truth` maps to the contract
--------------------------------
Populations are the contract's: an interaction's segments come from its `ai_request` (model: its
non-shadow `ai_response`, else `ai_request`; they agree), its day is its first event's. Every
expected value below is *exact in expectation given the realized task covariates* (persona,
feature, model, arm of each task, drawn before any outcome): it is
`sum over tasks E[numerator] / sum over tasks E[denominator]`, with per-task expectations from the
planted class probabilities (a task of cell c has 1/(1 - P(continue | c)) interactions in
expectation, each with the cell's class probabilities). Where the probability is the same in every
cell of the population the value is simply the planted constant.

- `success_probability[persona][feature]`: P(successful) per interaction, population = all
  interactions (errored and regenerated included) with model `gpt-4o-2024-08` or
  `claude-3-5-sonnet` and no experiment. Planted directly as the `success` class probability.
- `model_release`: from `day` the `gpt-4o` traffic moves from `previous_model` to `model`; for
  `persona` the new version turns `delta` of the per-interaction probability from `success` into
  `silent`. `silent_failure_rate_before` = silent failures / responded over that persona's
  interactions on `previous_model` (all before `day`); `..._after` the same on `model` (all on or
  after `day`). Silent failure is planted per persona only, so both are exact.
- `experiment`: users enrolled in `name` get their `draft_reply` tasks in `control` or
  `treatment`; treatment adds `uplift` to P(success). Task completion rate = tasks having a
  `task_completed` event / tasks, tasks by variant of their first interaction's `ai_request`;
  expected over the realized task mix (personas, models), as `note` says. `effect` =
  treatment - control. `crossover_share` of the enrolled users draw each draft_reply task's arm
  (a coin per task), so most of them are seen in both variants: `users_in_two_variants` counts
  the users with tasks in both arms (an experiment readout must exclude and count them).
- `srm_experiment`: users enrolled in `name` (SRM_ENROLMENT, drawn independently of the first
  experiment) get their `summarize` tasks labelled `treatment` with probability
  `treatment_share` (0.7), else `control`, while the experiment is declared 50/50 in
  metrics/experiments.yml: a planted sample-ratio mismatch. A label only: outcomes do not depend
  on it. `control_users` / `treatment_users` are the exact counts. (Its draws, and the
  crossover draws, come from their own random stream, so every other draw is unchanged.)
- `overconfident_model`: responded interactions served by `model`; its stated `confidence` is
  Beta with mean `mean_confidence` whatever the outcome, and its success rate (successful /
  responded) is lowered by a model factor; `overconfidence` = mean_confidence - success_rate.
- `shadow_model`: population = interactions with a shadow `ai_response` (all of them are judged,
  live and shadow); live mean = mean of the contract's `judge_task_completion`; shadow mean =
  mean of the interaction's `is_shadow` `task_completion` judge scores. Each shadowed interaction
  is sent to one of SHADOW_MODELS (`candidates`, drawn with probabilities `split`, independently
  of everything else): `gpt-4.1-mini-2025-04` scores `margin` +0.02 above the live output,
  `gpt-4o-mini-2024-07` -0.10 below it (more than 5% of the live mean of about 0.6: a shadow
  verdict with margin 5% promotes the first and rejects the second, `verdict`), per
  interaction and criterion (task_completion and relevance), so each margin is exact given the
  candidate; the pooled `margin` is their split-weighted mean. `failure_share` (5%) of the
  shadowed interactions get a shadow `ai_error` (the candidate's model, reason `timeout`)
  instead: no shadow response, no shadow judge score, the live output still judged.
- `judge_agreement`: pairs = interactions with a `task_completion` score from the judge model and one
  from `human`; pass = score >= `threshold`. The judge's verdict is drawn given the human's
  (`JUDGE_FALSE_PASS`, `JUDGE_FALSE_FAIL`), so its `true_positive_rate` and `true_negative_rate`
  against humans are exact per pair; agreement and kappa follow from the pairs' human pass share.
- `rates`: each with its `population` and `by_persona`: error (errored / interactions; planted per
  model, also `by_model`), fallback (/ interactions), escalation (/ interactions), regeneration,
  override, edit, external_search (each / responded), feedback_coverage (rated / responded),
  positive_feedback (positive / rated, by the latest feedback).
- `parameters`: the arguments plus realized counts: users (with any event), interactions,
  tasks, rows (duplicates included) and duplicates (rows - distinct event_id).
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from outcome_metrics import contract

DEFAULT_START = datetime.date(2026, 1, 1)

# --------------------------------------------------------------------------- vocabulary

PERSONAS = ("new", "power", "enterprise", "internal")
FEATURES = ("summarize", "draft_reply", "code_review")
LIVE_MODELS = ("gpt-4o-2024-08", "gpt-4o-2024-11", "claude-3-5-sonnet", "llama-3-70b")
SHADOW_MODEL = "gpt-4o-mini-2024-07"  # the worse shadow candidate
SHADOW_BETTER_MODEL = "gpt-4.1-mini-2025-04"  # the better one
SHADOW_MODELS = (SHADOW_MODEL, SHADOW_BETTER_MODEL)
JUDGE_MODEL = "gpt-4o-2024-08"
MODELS = (*LIVE_MODELS, *SHADOW_MODELS)
ARMS = (None, "control", "treatment")
EXPERIMENT = "draft_reply_prompt_v3"
SRM_EXPERIMENT = "summarize_length_v2"
EVENT_TYPES = tuple(t.value for t in contract.EventType)

_NEW, _POWER, _ENTERPRISE, _INTERNAL = range(4)
_SUMMARIZE, _DRAFT_REPLY, _CODE_REVIEW = range(3)
_GPT_OLD, _GPT_NEW, _CLAUDE, _LLAMA = range(4)
_SHADOW = 4  # codes of SHADOW_MODELS in MODELS: _SHADOW + index
_NO_ARM, _CONTROL, _TREATMENT = range(3)
_ET = {name: i for i, name in enumerate(EVENT_TYPES)}

# Outcome classes of an interaction (see the module docstring).
CLASSES = ("error_retry", "error_end", "regenerate", "fallback", "escalation", "negative", "success", "silent")
(_ERROR_RETRY, _ERROR_END, _REGENERATE, _FALLBACK, _ESCALATION, _NEGATIVE, _SUCCESS, _SILENT) = range(8)
_N_CLASSES = len(CLASSES)
_RESPONDED = np.array([c >= _REGENERATE for c in range(_N_CLASSES)])

# --------------------------------------------------------------------------- planted parameters

# Users.
PERSONA_SHARE = (0.35, 0.20, 0.35, 0.10)
ADOPTION = (0.45, 0.90, 0.65, 1.00)  # share of users who ever use AI
ACTIVITY = (0.25, 0.70, 0.50, 0.60)  # mean P(active on a day)
TASKS_PER_ACTIVE_DAY = (1.2, 3.0, 2.0, 2.5)  # mean, for adopters
PRIMARY_FEATURE = ((0.50, 0.40, 0.10), (0.30, 0.30, 0.40), (0.35, 0.45, 0.20), (0.30, 0.30, 0.40))
OTHER_FEATURE_SHARE = 0.30  # tasks outside the user's primary feature
SESSIONS_EXTRA_MEAN = 0.5  # sessions per active day = 1 + Poisson(this)
SURVEY_SHARE = 0.20  # adopters who answer the trust survey once
SURVEY_MEAN = (0.62, 0.74, 0.68, 0.70)
ENROLMENT = 0.5  # users enrolled in the experiment (it applies to their draft_reply tasks)

# Routing: P(gpt-4o family, claude, llama) per feature.
ROUTING = ((0.50, 0.20, 0.30), (0.45, 0.35, 0.20), (0.30, 0.60, 0.10))
WORKFLOWS = ("inbox", "docs", "support_desk", "pull_request")
WORKFLOW_BY_FEATURE = ((0.6, 0.4, 0.0, 0.0), (0.5, 0.0, 0.5, 0.0), (0.0, 0.0, 0.0, 1.0))
PROMPT_VERSIONS = ("summarize-v3", "summarize-v4", "draft_reply-v2", "draft_reply-v3", "code_review-v7")

# Per-interaction outcome probabilities.
ERROR_RATE = (0.020, 0.020, 0.015, 0.045)  # per live model
RETRY_SHARE = 0.6  # errors the user retries (class error_retry); the rest end the task
REGENERATION_RATE = (0.10, 0.07, 0.05, 0.12)  # per persona, P(regenerate | responded)
FALLBACK_RATE = (0.015, 0.025, 0.020)  # per feature, P(class fallback)
ESCALATION_RATE = (0.015, 0.005, 0.030, 0.002)  # per persona, P(class escalation)
SILENT_RATE = (0.16, 0.10, 0.12, 0.14)  # per persona, P(class silent)
SUCCESS = (  # per persona x feature, P(class success): the baseline success probability
    (0.55, 0.48, 0.40),
    (0.66, 0.60, 0.58),
    (0.60, 0.56, 0.50),
    (0.50, 0.45, 0.42),
)
MODEL_SUCCESS_FACTOR = (1.0, 1.0, 1.0, 0.82)  # llama-3-70b succeeds less (the rest goes to `negative`)
EXPERIMENT_UPLIFT = 0.08  # treatment: + P(success), taken from `negative`
CROSSOVER_SHARE = 0.03  # enrolled users whose draft_reply tasks each draw their arm (seen in two variants)
SRM_ENROLMENT = 0.5  # users enrolled in SRM_EXPERIMENT (their summarize tasks; no effect on outcomes)
SRM_TREATMENT_SHARE = 0.7  # its treatment share, against a declared 50/50 split: a sample-ratio mismatch
RELEASE_PERSONA = _ENTERPRISE
RELEASE_DELTA = 0.10  # new gpt-4o version, release persona: P(success) -> P(silent)
RELEASE_DAY_FRACTION = 0.6  # release day = start + floor(days * this) (at least day 1)
PROMPT_CHANGE_FRACTION = 0.3  # summarize-v3 -> summarize-v4 (no outcome effect)

# Per-class behaviour. Scenarios: (class, probability, kinds emitted); a kind is an event type or
# `negative_feedback` (a feedback event with score -1).
KINDS = (
    "accept", "edit", "reject", "regenerate", "copy", "override", "fallback", "escalation",
    "external_search", "negative_feedback", "task_completed", "task_abandoned",
)  # fmt: skip
SCENARIOS: tuple[tuple[int, float, tuple[str, ...]], ...] = (
    (_ERROR_RETRY, 1.00, ()),
    (_ERROR_END, 0.30, ("fallback", "task_completed")),
    (_ERROR_END, 0.30, ("fallback",)),
    (_ERROR_END, 0.20, ("task_abandoned",)),
    (_ERROR_END, 0.20, ()),
    (_REGENERATE, 0.80, ("regenerate",)),
    (_REGENERATE, 0.15, ("reject", "regenerate")),
    (_REGENERATE, 0.05, ("copy", "regenerate")),
    (_FALLBACK, 0.40, ("fallback", "task_completed")),
    (_FALLBACK, 0.20, ("fallback", "reject", "task_abandoned")),
    (_FALLBACK, 0.15, ("fallback", "task_abandoned")),
    (_FALLBACK, 0.25, ("fallback",)),
    (_ESCALATION, 0.50, ("escalation",)),
    (_ESCALATION, 0.20, ("escalation", "task_abandoned")),
    (_ESCALATION, 0.10, ("escalation", "external_search")),
    (_ESCALATION, 0.20, ("escalation", "copy")),
    (_NEGATIVE, 0.30, ("reject",)),
    (_NEGATIVE, 0.15, ("reject", "task_abandoned")),
    (_NEGATIVE, 0.08, ("reject", "external_search")),
    (_NEGATIVE, 0.17, ("override",)),
    (_NEGATIVE, 0.08, ("override", "copy")),
    (_NEGATIVE, 0.12, ("negative_feedback",)),
    (_NEGATIVE, 0.10, ("negative_feedback", "external_search", "task_abandoned")),
    (_SUCCESS, 0.30, ("accept",)),
    (_SUCCESS, 0.10, ("accept", "copy")),
    (_SUCCESS, 0.22, ("accept", "task_completed")),
    (_SUCCESS, 0.22, ("edit", "task_completed")),
    (_SUCCESS, 0.12, ("copy", "task_completed")),
    (_SUCCESS, 0.04, ("override", "task_completed")),
    (_SILENT, 0.33, ()),
    (_SILENT, 0.15, ("copy",)),
    (_SILENT, 0.10, ("edit",)),
    (_SILENT, 0.17, ("external_search",)),
    (_SILENT, 0.08, ("copy", "external_search")),
    (_SILENT, 0.17, ("task_abandoned",)),
)
# Voluntary feedback (besides scenario `negative_feedback`): P(rated) = min(1, coverage x persona
# factor), and P(+1 | rated). Silent failures are only ever rated +1.
FEEDBACK_COVERAGE = (0.0, 0.0, 0.12, 0.10, 0.15, 0.10, 0.18, 0.07)
FEEDBACK_PERSONA_FACTOR = (1.0, 1.4, 0.7, 2.0)
FEEDBACK_POSITIVE = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.93, 1.0)
# Confidence stated on ai_response: Beta(mean, concentration) by class; the overconfident model
# states OVERCONFIDENT_MEAN whatever happens. Some claude responses carry no confidence.
CONFIDENCE_MEAN = (0.0, 0.0, 0.48, 0.35, 0.55, 0.52, 0.78, 0.62)
CONFIDENCE_CONCENTRATION = 10.0
OVERCONFIDENT_MODEL = _LLAMA
OVERCONFIDENT_MEAN = 0.86
OVERCONFIDENT_CONCENTRATION = 25.0
CONFIDENCE_MISSING = (0.0, 0.0, 0.10, 0.0)  # per live model
# Judges.
JUDGE_SHARE = 0.25  # responded interactions judged (shadowed ones always are)
HUMAN_JUDGE_SHARE = 0.20  # judged, non-shadowed interactions with an extra human task_completion score
# The judge against humans, on interactions both score (task_completion): the judge's score is moved to
# the other side of the pass threshold when needed, so that P(judge passes | human fails) =
# JUDGE_FALSE_PASS and P(judge fails | human passes) = JUDGE_FALSE_FAIL, exactly per pair.
JUDGE_PASS_THRESHOLD = 0.5  # a score passes when >= this
JUDGE_FALSE_PASS = 0.10  # 1 - the judge's true negative rate
JUDGE_FALSE_FAIL = 0.15  # 1 - the judge's true positive rate
JUDGE_MEAN = (0.0, 0.0, 0.30, 0.30, 0.40, 0.35, 0.80, 0.42)  # task_completion, by class
JUDGE_CONCENTRATION = 6.0
SHADOW_FEATURES = (True, True, False)
SHADOW_SHARE = 0.30  # of responded interactions of those features
SHADOW_SPLIT = (0.5, 0.5)  # share of the shadowed interactions sent to each of SHADOW_MODELS
# shadow judge score mean - live mean, per interaction and criterion, of each of SHADOW_MODELS: the worse
# one is more than 5% of the live mean (~0.6) below it, the better one above it
SHADOW_MARGINS = (-0.10, 0.02)
SHADOW_FAILURE_SHARE = 0.05  # shadow calls that fail: a shadow ai_error, no shadow response or judge score
# Cost per 1M tokens (input, output), latency (time to first token ms, ms per output token).
PRICES = ((2.5, 10.0), (2.5, 10.0), (3.0, 15.0), (0.6, 0.8), (0.15, 0.6), (0.4, 1.6))
LATENCY = ((450.0, 12.0), (420.0, 11.0), (600.0, 15.0), (300.0, 8.0), (250.0, 6.0), (280.0, 7.0))
INPUT_TOKENS = (2000.0, 800.0, 3500.0)  # median, per feature
OUTPUT_TOKENS = (250.0, 300.0, 450.0)

CRITERIA = ("task_completion", "relevance", "safety", "perceived_accuracy")
EVALUATORS = (JUDGE_MODEL, "human")
REASONS = {
    "ai_error": ("timeout", "rate_limited", "server_error", "content_filter"),
    "fallback": ("model_error", "low_confidence", "policy_block", "user_requested"),
    "escalation": ("needs_human", "complex_case", "complaint"),
    "reject": ("wrong", "irrelevant", "tone", "too_long"),
    "task_abandoned": ("gave_up", "session_ended", "switched_tool"),
}
ERROR_REASON_SHARE = (0.5, 0.2, 0.2, 0.1)
REASON_NAMES = tuple(dict.fromkeys(r for rs in REASONS.values() for r in rs))
PROPERTIES = ('{"client":"web"}', '{"client":"desktop"}', '{"client":"mobile"}')

_BATCH_ROWS = 500_000
_MAX_CHUNKS = 1 << 13  # ids hold 13 bits of chunk number
_MAX_CONTINUES = 20  # cap on retries/regenerations per task; P(reaching it) < 1e-13
_US = 1_000_000
_DAY = 86_400 * _US
_LATE_CHOICES = ("feedback", "judge_score", "task_completed")

# --------------------------------------------------------------------------- derived tables


def _cum(rows) -> np.ndarray:
    c = np.cumsum(np.asarray(rows, dtype=float), axis=-1)
    c[..., -1] = 2.0
    return c


def _categorical(u: np.ndarray, cum: np.ndarray) -> np.ndarray:
    """Index drawn from cumulative probabilities `cum` (one row, or one row per draw)."""
    if cum.ndim == 1:
        return np.searchsorted(cum, u, side="right")
    return (u[:, None] >= cum).sum(axis=1)


_SCEN_CLASS = np.array([s[0] for s in SCENARIOS])
_SCEN_PROB = np.array([s[1] for s in SCENARIOS])
_SCEN_FLAGS = np.array([[k in s[2] for k in KINDS] for s in SCENARIOS])
_K = {k: i for i, k in enumerate(KINDS)}
_SCEN_EXTRA_ROWS = _SCEN_FLAGS.sum(axis=1) - _SCEN_FLAGS[:, _K["negative_feedback"]]


def _scenario_cumulative() -> tuple[np.ndarray, np.ndarray]:
    width = np.bincount(_SCEN_CLASS, minlength=_N_CLASSES).max()
    cum = np.full((_N_CLASSES, width), 2.0)
    offset = np.zeros(_N_CLASSES, dtype=np.int64)
    for c in range(_N_CLASSES):
        idx = np.flatnonzero(np.equal(_SCEN_CLASS, c))
        if not np.isclose(_SCEN_PROB[idx].sum(), 1.0):
            raise AssertionError(f"scenarios of class {CLASSES[c]} do not sum to 1")
        offset[c] = idx[0]
        cum[c, : len(idx)] = np.cumsum(_SCEN_PROB[idx])
        cum[c, len(idx) - 1] = 2.0  # guard against float round-off
    return cum, offset


_SCEN_CUM, _SCEN_OFFSET = _scenario_cumulative()
# P(kind | class)
_KIND_PROB = np.array([_SCEN_PROB[c == _SCEN_CLASS] @ _SCEN_FLAGS[c == _SCEN_CLASS] for c in range(_N_CLASSES)])

_CELL_SHAPE = (len(PERSONAS), len(FEATURES), len(LIVE_MODELS), len(ARMS))
_CELLS = int(np.prod(_CELL_SHAPE))


def _cell(persona, feature, model, arm):
    return ((persona * len(FEATURES) + feature) * len(LIVE_MODELS) + model) * len(ARMS) + arm


def _class_probabilities() -> np.ndarray:
    """P(class | cell) for every cell (persona, feature, live model, arm)."""
    pi = np.zeros((_CELLS, _N_CLASSES))
    for p, f, m, a in itertools.product(*map(range, _CELL_SHAPE)):
        released = p == RELEASE_PERSONA and m == _GPT_NEW
        treated = a == _TREATMENT
        row = np.zeros(_N_CLASSES)
        row[_ERROR_RETRY] = ERROR_RATE[m] * RETRY_SHARE
        row[_ERROR_END] = ERROR_RATE[m] * (1 - RETRY_SHARE)
        row[_REGENERATE] = (1 - ERROR_RATE[m]) * REGENERATION_RATE[p]
        row[_FALLBACK] = FALLBACK_RATE[f]
        row[_ESCALATION] = ESCALATION_RATE[p]
        row[_SUCCESS] = SUCCESS[p][f] * MODEL_SUCCESS_FACTOR[m] + EXPERIMENT_UPLIFT * treated - RELEASE_DELTA * released
        row[_SILENT] = SILENT_RATE[p] + RELEASE_DELTA * released
        row[_NEGATIVE] = 1.0 - row.sum()
        if row[_NEGATIVE] < 0.02:
            raise AssertionError(f"planted probabilities leave no room for `negative` in cell {(p, f, m, a)}")
        pi[_cell(p, f, m, a)] = row
    return pi


_PI = _class_probabilities()
_CONTINUE = _PI[:, _ERROR_RETRY] + _PI[:, _REGENERATE]
_FINAL = _PI.copy()  # P(class | cell, the interaction ends its task)
_FINAL[:, [_ERROR_RETRY, _REGENERATE]] = 0.0
_FINAL_CUM = _cum(_FINAL / (1 - _CONTINUE)[:, None])


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class _Spec:
    events: int
    days: int
    seed: int
    start: datetime.date
    duplicate_rate: float
    late_rate: float
    users_per_chunk: int
    model_release: bool = True  # False: nothing changes on the release day (a null simulation for alerts)
    chunks: int = 0
    last_chunk_rows: int = 0  # rows wanted from the last chunk (see `_fill`)

    @property
    def start_us(self) -> int:
        return (self.start - datetime.date(1970, 1, 1)).days * _DAY

    @property
    def release_day(self) -> int:
        if not self.model_release:
            return self.days  # no day reaches it: the gpt-4o traffic stays on the previous version
        return max(1, int(self.days * RELEASE_DAY_FRACTION))

    @property
    def prompt_change_day(self) -> int:
        return int(self.days * PROMPT_CHANGE_FRACTION)


@dataclass(frozen=True)
class Simulation:
    """A generated event table: `batches()` / `table()` and the planted `truth`."""

    truth: dict
    _spec: _Spec = field(repr=False, compare=False)

    def batches(self) -> Iterator[pa.RecordBatch]:
        """Record batches of about 500k rows, schema `contract.arrow_schema()`, deterministic."""
        spec = self._spec
        for chunk in range(spec.chunks):
            plan = _plan_chunk(spec, chunk)
            if chunk == spec.chunks - 1:
                plan = plan.select(_fill(plan.u_rows, spec.last_chunk_rows))
            yield _materialize(spec, plan)

    def table(self) -> pa.Table:
        """All batches concatenated."""
        return pa.Table.from_batches(list(self.batches()), schema=contract.arrow_schema())


def simulate(
    *,
    events: int,
    days: int,
    seed: int,
    start: datetime.date = DEFAULT_START,
    duplicate_rate: float = 0.003,
    late_rate: float = 0.05,
    model_release: bool = True,
) -> Simulation:
    """Plan a synthetic event table of about `events` rows over `days` days from `start`.

    Users are added chunk by chunk until the planned rows (duplicates included) reach `events`;
    the last chunk keeps the users that fill the remainder best, so the row count lands within a
    few rows of `events` unless `events` is smaller than a few users' rows. Runs the cheap planning
    stage once to fix the counts and the truth; `Simulation.batches()` produces the rows lazily.
    `model_release=False` plants no release (truth["model_release"] is None): every cell's
    probabilities stay the same on every day, a null simulation for the alerts.
    """
    if not isinstance(events, int) or events < 1:
        raise ValueError(f"events must be a positive integer, got {events!r}")
    if not isinstance(days, int) or not 1 <= days <= 3650:
        raise ValueError(f"days must be an integer in 1..3650, got {days!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not 0 <= duplicate_rate < 1 or not 0 <= late_rate <= 1:
        raise ValueError("duplicate_rate must be in [0, 1) and late_rate in [0, 1]")
    spec = _Spec(events, days, seed, start, float(duplicate_rate), float(late_rate), _users_per_chunk(days),
                 model_release=model_release)

    wanted = round(events / (1 + spec.duplicate_rate))  # rows before duplicates
    tasks_by_cell = np.zeros(_CELLS, dtype=np.int64)
    counts = dict(users=0, interactions=0, tasks=0, rows=0, duplicates=0)
    arm_users = dict(two_variants=0, srm_control=0, srm_treatment=0)
    for chunk in range(_MAX_CHUNKS):
        plan = _plan_chunk(spec, chunk)
        last = int(plan.u_rows.sum()) >= wanted
        if last:
            plan = plan.select(_fill(plan.u_rows, wanted))
        rows = int(plan.u_rows.sum())
        tasks_by_cell += np.bincount(plan.t_cell, minlength=_CELLS)
        counts["users"] += int((plan.u_rows > 0).sum())
        counts["interactions"] += len(plan.i_task)
        counts["tasks"] += len(plan.t_user)
        counts["rows"] += rows + plan.duplicates
        counts["duplicates"] += plan.duplicates
        arms = np.unique(np.stack([plan.t_user, plan.t_arm])[:, plan.t_arm != _NO_ARM], axis=1)
        arm_users["two_variants"] += int((np.bincount(arms[0], minlength=len(plan.u_rows)) > 1).sum())
        srm = np.unique(np.stack([plan.t_user, plan.t_srm_arm])[:, plan.t_srm_arm != _NO_ARM], axis=1)
        arm_users["srm_control"] += int((srm[1] == _CONTROL).sum())
        arm_users["srm_treatment"] += int((srm[1] == _TREATMENT).sum())
        if last:
            break
        wanted -= rows
    else:
        raise ValueError(f"events={events} needs more than {_MAX_CHUNKS} batches")
    spec = dataclasses.replace(spec, chunks=chunk + 1, last_chunk_rows=wanted)
    return Simulation(truth=_truth(spec, tasks_by_cell, counts, arm_users), _spec=spec)


def _fill(rows: np.ndarray, wanted: int) -> np.ndarray:
    """Users (a mask) whose rows add up to at most `wanted`, as close as a few passes get: the
    longest prefix that fits, then later users that still fit, in order."""
    keep = np.cumsum(rows) <= wanted
    gap = wanted - int(rows[keep].sum())
    for _ in range(4):
        candidates = ~keep & (rows <= gap)
        if gap == 0 or not candidates.any():
            break
        fits = candidates & (np.cumsum(np.where(candidates, rows, 0)) <= gap)
        keep |= fits
        gap -= int(rows[fits].sum())
    if not rows[keep].any() and rows.any():  # fewer events than any user has: keep the lightest
        keep[np.argmin(np.where(rows > 0, rows, rows.max() + 1))] = True
    return keep


def _users_per_chunk(days: int) -> int:
    """Users per batch so a batch holds about 500k rows (depends on `days` only, so a larger
    `events` extends a smaller one's users rather than reshuffling them)."""
    rows_per_task = 5.5
    per_user = sum(
        share * days * act * (1 + adopt * tasks * rows_per_task)
        for share, act, adopt, tasks in zip(PERSONA_SHARE, ACTIVITY, ADOPTION, TASKS_PER_ACTIVE_DAY, strict=True)
    )
    return max(1, round(_BATCH_ROWS / per_user))


# --------------------------------------------------------------------------- stage 1: plan


@dataclass(frozen=True)
class _Plan:
    """Everything that decides which rows exist (and so the truth) for the users of one chunk.

    Arrays are grouped by entity through their prefix: `u_` users, `ud_` active user-days (sorted
    by user, day), `t_` tasks (sorted by user), `i_` interactions (sorted by task, position).
    """

    chunk: int
    seed: int
    duplicate_rate: float
    u_index: np.ndarray  # position of the user in the chunk as generated (for stable ids)
    u_persona: np.ndarray
    u_primary: np.ndarray
    u_survey_ud: np.ndarray  # user-day of the survey answer, -1 for none
    u_rows: np.ndarray  # rows (without duplicates) per user
    ud_user: np.ndarray
    ud_day: np.ndarray
    ud_sessions: np.ndarray
    t_user: np.ndarray
    t_ud: np.ndarray
    t_session: np.ndarray  # session index within the user-day
    t_feature: np.ndarray
    t_model: np.ndarray
    t_arm: np.ndarray
    t_srm_arm: np.ndarray  # arm in SRM_EXPERIMENT (a label only: not part of the cell)
    t_cell: np.ndarray
    t_has_id: np.ndarray
    t_first: np.ndarray  # index of the task's first interaction
    t_count: np.ndarray  # interactions in the task
    i_task: np.ndarray
    i_class: np.ndarray
    i_scenario: np.ndarray
    i_feedback: np.ndarray  # 0 none, +1, -1
    i_judged: np.ndarray
    i_human: np.ndarray
    i_shadow: np.ndarray
    i_shadow_model: np.ndarray  # index into SHADOW_MODELS (meaningful where i_shadow)
    i_shadow_failed: np.ndarray  # the shadow call failed (a shadow ai_error instead of a response)

    def select(self, keep: np.ndarray) -> _Plan:
        """The plan of the users in the mask `keep` (with their days, tasks and interactions)."""
        kept = {"u": keep, "ud": keep[self.ud_user], "t": keep[self.t_user]}
        kept["i"] = kept["t"][self.i_task]
        index = {group: np.cumsum(mask) - 1 for group, mask in kept.items()}  # old -> new position
        cut = {k: v[kept[k.split("_")[0]]] if isinstance(v, np.ndarray) else v for k, v in self.__dict__.items()}
        cut["ud_user"] = index["u"][cut["ud_user"]]
        cut["t_user"] = index["u"][cut["t_user"]]
        cut["t_ud"] = index["ud"][cut["t_ud"]]
        cut["i_task"] = index["t"][cut["i_task"]]
        cut["t_first"] = np.cumsum(cut["t_count"]) - cut["t_count"]
        survey = cut["u_survey_ud"]
        cut["u_survey_ud"] = np.where(survey >= 0, index["ud"][np.maximum(survey, 0)], -1) if len(index["ud"]) else survey
        return _Plan(**cut)

    @property
    def duplicates(self) -> int:
        rows = int(self.u_rows.sum())
        return int(np.random.default_rng([self.seed, self.chunk, 3]).binomial(rows, self.duplicate_rate)) if rows else 0


def _plan_chunk(spec: _Spec, chunk: int) -> _Plan:
    rng = np.random.default_rng([spec.seed, chunk, 1])
    n_users, days = spec.users_per_chunk, spec.days

    persona = _categorical(rng.random(n_users), _cum(PERSONA_SHARE))
    adopter = rng.random(n_users) < np.take(ADOPTION, persona)
    activity_mean = np.take(ACTIVITY, persona)
    activity = rng.beta(activity_mean * 4, (1 - activity_mean) * 4)
    primary = _categorical(rng.random(n_users), _cum(PRIMARY_FEATURE)[persona])
    task_rate = np.take(TASKS_PER_ACTIVE_DAY, persona) * rng.gamma(2.0, 0.5, n_users)
    enrolled = rng.random(n_users) < ENROLMENT
    treated = rng.random(n_users) < 0.5
    surveyed = adopter & (rng.random(n_users) < SURVEY_SHARE)

    ud_user, ud_day = np.nonzero(rng.random((n_users, days)) < activity[:, None])
    ud_sessions = 1 + rng.poisson(SESSIONS_EXTRA_MEAN, len(ud_user))
    active_days = np.bincount(ud_user, minlength=n_users)
    first_ud = np.cumsum(active_days) - active_days
    survey_ud = np.where(surveyed & (active_days > 0), first_ud + (rng.random(n_users) * active_days).astype(np.int64), -1)

    # Tasks, with everything their outcome depends on (their cell).
    per_ud = rng.poisson(task_rate[ud_user]) * adopter[ud_user]
    t_ud = np.repeat(np.arange(len(ud_user)), per_ud)
    t_user = ud_user[t_ud]
    n_tasks = len(t_ud)
    t_session = (rng.random(n_tasks) * ud_sessions[t_ud]).astype(np.int64)
    switch = rng.random(n_tasks) < OTHER_FEATURE_SHARE
    other = (primary[t_user] + 1 + rng.integers(0, len(FEATURES) - 1, n_tasks)) % len(FEATURES)
    t_feature = np.where(switch, other, primary[t_user])
    family = _categorical(rng.random(n_tasks), _cum(ROUTING)[t_feature])  # gpt-4o, claude, llama
    gpt = np.where(ud_day[t_ud] >= spec.release_day, _GPT_NEW, _GPT_OLD)
    t_model = np.choose(family, [gpt, _CLAUDE, _LLAMA])
    in_experiment = (t_feature == _DRAFT_REPLY) & enrolled[t_user]
    t_arm = np.where(in_experiment, np.where(treated[t_user], _TREATMENT, _CONTROL), _NO_ARM)
    # Drawn from their own stream, so the draws above and below are those of the simulation without them.
    extra = np.random.default_rng([spec.seed, chunk, 7])
    crossover = extra.random(n_users) < CROSSOVER_SHARE
    task_coin = np.where(extra.random(n_tasks) < 0.5, _TREATMENT, _CONTROL)
    t_arm = np.where(in_experiment & crossover[t_user], task_coin, t_arm)
    srm_enrolled = extra.random(n_users) < SRM_ENROLMENT
    srm_treated = extra.random(n_users) < SRM_TREATMENT_SHARE
    in_srm = (t_feature == _SUMMARIZE) & srm_enrolled[t_user]
    t_srm_arm = np.where(in_srm, np.where(srm_treated[t_user], _TREATMENT, _CONTROL), _NO_ARM)
    t_cell = _cell(persona[t_user], t_feature, t_model, t_arm)

    # Interactions: each draws its class from its cell's probabilities and the continue classes
    # chain another interaction onto the task, i.e. per task a geometric number of continues
    # (each a retry or a regeneration in proportion) and then one final class.
    cont = _CONTINUE[t_cell]
    t_count = 1 + np.minimum(rng.geometric(1 - cont) - 1, _MAX_CONTINUES)
    final_class = _categorical(rng.random(n_tasks), _FINAL_CUM[t_cell])
    t_first = np.cumsum(t_count) - t_count
    t_has_id = (t_count > 1) | (rng.random(n_tasks) < 0.7)
    i_task = np.repeat(np.arange(n_tasks), t_count)
    n_int = len(i_task)
    is_final = np.arange(n_int) == (t_first + t_count - 1)[i_task]
    retry = rng.random(n_int) < (_PI[t_cell, _ERROR_RETRY] / cont)[i_task]
    i_class = np.where(is_final, final_class[i_task], np.where(retry, _ERROR_RETRY, _REGENERATE))
    i_scenario = _SCEN_OFFSET[i_class] + _categorical(rng.random(n_int), _SCEN_CUM[i_class])

    # Decorations: feedback, judges, shadow traffic.
    i_persona = persona[t_user[i_task]]
    coverage = np.minimum(1.0, np.take(FEEDBACK_COVERAGE, i_class) * np.take(FEEDBACK_PERSONA_FACTOR, i_persona))
    rated = rng.random(n_int) < coverage
    positive = rng.random(n_int) < np.take(FEEDBACK_POSITIVE, i_class)
    forced = _SCEN_FLAGS[i_scenario, _K["negative_feedback"]]
    i_feedback = np.where(forced, -1, np.where(rated, np.where(positive, 1, -1), 0)).astype(np.int8)
    responded = _RESPONDED[i_class]
    i_shadow = responded & np.take(SHADOW_FEATURES, t_feature[i_task]) & (rng.random(n_int) < SHADOW_SHARE)
    i_judged = responded & (i_shadow | (rng.random(n_int) < JUDGE_SHARE))
    # Drawn from their own stream, so the draws above and below are those of the simulation without them.
    candidates = np.random.default_rng([spec.seed, chunk, 8])
    i_shadow_model = _categorical(candidates.random(n_int), _cum(SHADOW_SPLIT)).astype(np.int8)
    i_shadow_failed = i_shadow & (candidates.random(n_int) < SHADOW_FAILURE_SHARE)
    i_human = i_judged & ~i_shadow & (rng.random(n_int) < HUMAN_JUDGE_SHARE)

    i_rows = (
        2  # ai_request, then ai_response or ai_error
        + _SCEN_EXTRA_ROWS[i_scenario]
        + (i_feedback != 0)
        + 3 * i_judged
        + i_human
        + 3 * (i_shadow & ~i_shadow_failed)  # shadow ai_response and two shadow judge scores
        + i_shadow_failed  # or a shadow ai_error
    )
    u_rows = active_days + (survey_ud >= 0) + np.bincount(t_user[i_task], weights=i_rows, minlength=n_users).astype(np.int64)
    return _Plan(
        chunk=chunk,
        seed=spec.seed,
        duplicate_rate=spec.duplicate_rate,
        u_index=np.arange(n_users),
        u_persona=persona,
        u_primary=primary,
        u_survey_ud=survey_ud,
        u_rows=u_rows,
        ud_user=ud_user,
        ud_day=ud_day,
        ud_sessions=ud_sessions,
        t_user=t_user,
        t_ud=t_ud,
        t_session=t_session,
        t_feature=t_feature,
        t_model=t_model,
        t_arm=t_arm,
        t_srm_arm=t_srm_arm,
        t_cell=t_cell,
        t_has_id=t_has_id,
        t_first=t_first,
        t_count=t_count,
        i_task=i_task,
        i_class=i_class,
        i_scenario=i_scenario,
        i_feedback=i_feedback,
        i_judged=i_judged,
        i_human=i_human,
        i_shadow=i_shadow,
        i_shadow_model=i_shadow_model,
        i_shadow_failed=i_shadow_failed,
    )


# --------------------------------------------------------------------------- stage 2: rows

_NAN = float("nan")
# Working columns: codes into vocabularies (-1 = null), int64 microseconds, floats (NaN = null).
_WORK_COLUMNS: dict[str, tuple[type, object]] = {
    "event_type": (np.int8, None),
    "occurred_at": (np.int64, None),
    "user": (np.int64, None),
    "feature": (np.int8, None),
    "interaction": (np.int64, -1),
    "task": (np.int64, -1),
    "session": (np.int64, -1),
    "persona": (np.int8, -1),
    "workflow": (np.int8, -1),
    "model": (np.int8, -1),
    "prompt_version": (np.int8, -1),
    "experiment": (np.int8, -1),
    "variant": (np.int8, -1),
    "is_shadow": (np.int8, -1),
    "latency_ms": (np.float64, _NAN),
    "input_tokens": (np.int64, -1),
    "output_tokens": (np.int64, -1),
    "cost_usd": (np.float64, _NAN),
    "confidence": (np.float64, _NAN),
    "score": (np.float64, _NAN),
    "criterion": (np.int8, -1),
    "evaluator": (np.int8, -1),
    "edit_ratio": (np.float64, _NAN),
    "reason": (np.int8, -1),
    "properties": (np.int8, -1),
    "late_anchor": (np.int64, -1),  # request time of a late-eligible event's interaction
}


class _Rows:
    """Event rows collected part by part (one part per event type and source)."""

    def __init__(self) -> None:
        self._parts: list[tuple[int, dict]] = []

    def add(self, event_type: str, occurred_at: np.ndarray, **columns) -> None:
        n = len(occurred_at)
        if n:
            self._parts.append((n, {"event_type": _ET[event_type], "occurred_at": occurred_at, **columns}))

    def columns(self) -> dict[str, np.ndarray]:
        out = {}
        for name, (dtype, null) in _WORK_COLUMNS.items():
            pieces: list[np.ndarray] = []
            for n, part in self._parts:
                value = part.get(name, null)
                if value is None:
                    raise AssertionError(f"required working column {name} missing")
                pieces.append(np.broadcast_to(np.asarray(value, dtype=dtype), (n,)))
            out[name] = np.concatenate(pieces) if pieces else np.empty(0, dtype=dtype)
        return out


def _beta(rng: np.random.Generator, mean, concentration) -> np.ndarray:
    mean = np.asarray(mean, dtype=float)
    return rng.beta(mean * concentration, (1 - mean) * concentration)


def _judge_against_human(rng: np.random.Generator, score: np.ndarray, human_passes: np.ndarray) -> np.ndarray:
    """The judge's scores of human-scored interactions, each on the side of the pass threshold that the
    planted error rates draw given the human's verdict: a score on the wrong side is reflected (1 - s)."""
    draw = rng.random(len(score))
    passes = np.where(human_passes, draw >= JUDGE_FALSE_FAIL, draw < JUDGE_FALSE_PASS)
    moved = np.where(passes == (score >= JUDGE_PASS_THRESHOLD), score, 1.0 - score)
    # 1 - 0.5 is still 0.5, a pass
    return np.where(~passes & (moved >= JUDGE_PASS_THRESHOLD), np.nextafter(JUDGE_PASS_THRESHOLD, 0.0), moved)


def _uniform_us(rng: np.random.Generator, low_s: float, high_s: float, n: int) -> np.ndarray:
    return rng.integers(int(low_s * _US), int(high_s * _US), n, endpoint=True)


def _materialize(spec: _Spec, plan: _Plan) -> pa.RecordBatch:
    rng = np.random.default_rng([spec.seed, plan.chunk, 2])
    rows = _Rows()
    persona = plan.u_persona

    # Sessions: ordered by start within each active day, between 00:06 and 19:00.
    ses_ud = np.repeat(np.arange(len(plan.ud_user)), plan.ud_sessions)
    hours = np.clip(rng.normal(13.5, 3.5, len(ses_ud)), 0.1, 19.0)
    hours = hours[np.lexsort((hours, ses_ud))]
    ses_start = spec.start_us + plan.ud_day[ses_ud] * _DAY + (hours * 3600 * _US).astype(np.int64)
    ud_first_ses = np.cumsum(plan.ud_sessions) - plan.ud_sessions

    u = plan.ud_user
    rows.add(
        "app_active", ses_start[ud_first_ses], user=u, feature=plan.u_primary[u], persona=persona[u], session=ud_first_ses
    )

    surveyed = np.nonzero(plan.u_survey_ud >= 0)[0]
    s_ud = plan.u_survey_ud[surveyed]
    s_ses = ud_first_ses[s_ud] + (rng.random(len(s_ud)) * plan.ud_sessions[s_ud]).astype(np.int64)
    rows.add(
        "survey", ses_start[s_ses] + _uniform_us(rng, 60, 3600, len(s_ud)),
        user=surveyed, feature=plan.u_primary[surveyed], persona=persona[surveyed], session=s_ses,
        criterion=CRITERIA.index("perceived_accuracy"), score=_beta(rng, np.take(SURVEY_MEAN, persona[surveyed]), 8.0),
    )  # fmt: skip

    # Tasks.
    n_tasks = len(plan.t_user)
    t_ses = ud_first_ses[plan.t_ud] + plan.t_session
    t_start = ses_start[t_ses] + _uniform_us(rng, 0, 40 * 60, n_tasks)
    t_day = plan.ud_day[plan.t_ud]
    t_workflow = _categorical(rng.random(n_tasks), _cum(WORKFLOW_BY_FEATURE)[plan.t_feature])
    t_prompt = np.choose(
        plan.t_feature,
        [np.where(t_day < spec.prompt_change_day, 0, 1), np.where(plan.t_arm == _TREATMENT, 3, 2), 4],
    )

    # Interactions: timeline. Each interaction starts after the previous one of its task ended
    # (output, the user's think time, a short gap), so "latest first event" is the last one.
    ti = plan.i_task
    n_int = len(ti)
    cls = plan.i_class
    feature = plan.t_feature[ti]
    model = plan.t_model[ti]
    responded = _RESPONDED[cls]
    input_tokens = np.maximum(1, rng.lognormal(np.log(np.take(INPUT_TOKENS, feature)), 0.6)).astype(np.int64)
    output_tokens = np.maximum(1, rng.lognormal(np.log(np.take(OUTPUT_TOKENS, feature)), 0.5)).astype(np.int64)
    ttft, per_token = np.take(LATENCY, model, axis=0).T
    generation = output_tokens * per_token * rng.lognormal(0, 0.2, n_int)
    latency = np.minimum(60_000.0, ttft * rng.lognormal(0, 0.3, n_int) + generation)
    error_reason = _categorical(rng.random(n_int), _cum(ERROR_REASON_SHARE))
    error_ms = np.where(error_reason == 0, 30_000.0, np.minimum(10_000.0, rng.lognormal(np.log(800), 0.5, n_int)))
    out_us = (np.where(responded, latency, error_ms) * 1000).astype(np.int64)
    think = (np.clip(rng.lognormal(np.log(15), 1.0, n_int), 1, 300) * _US).astype(np.int64)
    step = out_us + think + _uniform_us(rng, 0.5, 3, n_int)
    before = np.cumsum(step) - step
    t_req = t_start[ti] + before - before[plan.t_first][ti]
    t_out = t_req + out_us
    t_acted = t_out + think

    ix = {  # columns every interaction event carries
        "user": plan.t_user[ti],
        "feature": feature,
        "interaction": np.arange(n_int),
        "task": np.where(plan.t_has_id[ti], ti, -1),
        "session": t_ses[ti],
        "persona": persona[plan.t_user[ti]],
    }

    def at(idx: np.ndarray, **extra) -> dict:
        return {**{k: v[idx] for k, v in ix.items()}, **extra}

    arm, srm_arm = plan.t_arm[ti], plan.t_srm_arm[ti]
    segments = {"workflow": t_workflow[ti], "model": model, "prompt_version": t_prompt[ti]}
    rows.add(
        "ai_request", t_req, **ix, **segments,
        experiment=np.where(arm != _NO_ARM, 0, np.where(srm_arm != _NO_ARM, 1, -1)),
        variant=np.where(arm != _NO_ARM, arm - 1, np.where(srm_arm != _NO_ARM, srm_arm - 1, -1)),
        properties=rng.integers(0, len(PROPERTIES), n_int),
    )  # fmt: skip

    r = np.nonzero(responded)[0]
    price_in, price_out = np.take(PRICES, model[r], axis=0).T
    confidence = np.where(
        model[r] == OVERCONFIDENT_MODEL,
        _beta(rng, np.full(len(r), OVERCONFIDENT_MEAN), OVERCONFIDENT_CONCENTRATION),
        _beta(rng, np.take(CONFIDENCE_MEAN, cls[r]), CONFIDENCE_CONCENTRATION),
    )
    confidence[rng.random(len(r)) < np.take(CONFIDENCE_MISSING, model[r])] = _NAN
    rows.add(
        "ai_response", t_out[r], **at(r), **{k: v[r] for k, v in segments.items()}, is_shadow=0,
        latency_ms=np.round(latency[r], 1), input_tokens=input_tokens[r], output_tokens=output_tokens[r],
        cost_usd=(input_tokens[r] * price_in + output_tokens[r] * price_out) / 1e6, confidence=confidence,
    )  # fmt: skip

    e = np.nonzero(~responded)[0]
    charged = error_reason[e] != 1  # rate-limited calls cost nothing
    rows.add(
        "ai_error", t_out[e], **at(e), **{k: v[e] for k, v in segments.items()},
        cost_usd=charged * input_tokens[e] * np.take(PRICES, model[e], axis=0)[:, 0] / 1e6,
        reason=_reason_codes("ai_error", error_reason[e]),
    )  # fmt: skip

    # What the user (or the flow) did: one event per scenario kind.
    flags = _SCEN_FLAGS[plan.i_scenario]
    for kind in ("accept", "edit", "reject", "copy", "override", "fallback", "escalation", "external_search", "regenerate"):
        idx = np.nonzero(flags[:, _K[kind]])[0]
        if kind == "regenerate":  # right before the next interaction's request
            when = t_acted[idx]
        else:
            when = t_out[idx] + (think[idx] * rng.uniform(0.3, 1.0, len(idx))).astype(np.int64)
        extra = {}
        if kind == "edit":
            extra["edit_ratio"] = np.where(cls[idx] == _SUCCESS, rng.beta(2, 6, len(idx)), rng.beta(4, 4, len(idx)))
        if kind == "fallback":
            after_error = _reason_codes("fallback", 0)
            extra["reason"] = np.where(cls[idx] == _ERROR_END, after_error, _reason_codes("fallback", rng.integers(1, 4, len(idx))))
        elif kind in REASONS:
            extra["reason"] = _reason_codes(kind, rng.integers(0, len(REASONS[kind]), len(idx)))
        rows.add(kind, when, **at(idx), **extra)

    # Task outcome, on the task's last interaction: task_id, or interaction_id when it has none.
    for kind in ("task_completed", "task_abandoned"):
        idx = np.nonzero(flags[:, _K[kind]])[0]
        cols = at(idx)
        cols["interaction"] = np.where(plan.t_has_id[ti[idx]], -1, idx)
        extra = {"late_anchor": t_req[idx]} if kind in _LATE_CHOICES else {}
        if kind in REASONS:
            extra["reason"] = _reason_codes(kind, rng.integers(0, len(REASONS[kind]), len(idx)))
        rows.add(kind, t_acted[idx] + _uniform_us(rng, 10, 30 * 60, len(idx)), **cols, **extra)

    f = np.nonzero(plan.i_feedback)[0]
    rows.add(
        "feedback", t_acted[f] + _uniform_us(rng, 1, 120, len(f)), **at(f),
        score=plan.i_feedback[f].astype(float), late_anchor=t_req[f],
    )  # fmt: skip

    # Judges: live (three criteria, sometimes an extra human task_completion score) and shadow.
    judge_mean = np.take(JUDGE_MEAN, cls)
    j = np.nonzero(plan.i_judged)[0]
    judged = []
    for criterion, mean, concentration in (
        ("task_completion", judge_mean[j], JUDGE_CONCENTRATION),
        ("relevance", np.minimum(judge_mean[j] + 0.08, 0.95), JUDGE_CONCENTRATION),
        ("safety", np.full(len(j), 0.96), 20.0),
    ):
        occurred = t_out[j] + _uniform_us(rng, 30, 20 * 60, len(j))
        judged.append((criterion, occurred, _beta(rng, mean, concentration)))
    h = np.nonzero(plan.i_human)[0]
    h_occurred = t_out[h] + _uniform_us(rng, 5 * 60, 45 * 60, len(h))
    human = _beta(rng, judge_mean[h], 4.0)
    judge_task_completion = judged[0][2]
    at_h = np.searchsorted(j, h)  # humans score judged interactions only
    judge_task_completion[at_h] = _judge_against_human(
        np.random.default_rng([spec.seed, plan.chunk, 4]), judge_task_completion[at_h], human >= JUDGE_PASS_THRESHOLD
    )
    for criterion, occurred, score in judged:
        rows.add(
            "judge_score", occurred, **at(j), is_shadow=0,
            score=score, criterion=CRITERIA.index(criterion), evaluator=0, late_anchor=t_req[j],
        )  # fmt: skip
    rows.add(
        "judge_score", h_occurred, **at(h), is_shadow=0,
        score=human, criterion=0, evaluator=1, late_anchor=t_req[h],
    )  # fmt: skip

    s = np.nonzero(plan.i_shadow & ~plan.i_shadow_failed)[0]
    s_model = _SHADOW + plan.i_shadow_model[s]
    s_out = output_tokens[s] * rng.lognormal(0, 0.2, len(s))
    s_latency = np.minimum(60_000.0, np.take(LATENCY, s_model, axis=0)[:, 0] * rng.lognormal(0, 0.3, len(s))
                           + s_out * np.take(LATENCY, s_model, axis=0)[:, 1])  # fmt: skip
    s_price = np.take(PRICES, s_model, axis=0)
    rows.add(
        "ai_response", t_req[s] + (s_latency * 1000).astype(np.int64), **at(s), workflow=t_workflow[ti[s]],
        model=s_model, prompt_version=t_prompt[ti[s]], is_shadow=1, latency_ms=np.round(s_latency, 1),
        input_tokens=input_tokens[s], output_tokens=s_out.astype(np.int64) + 1,
        cost_usd=(input_tokens[s] * s_price[:, 0] + (s_out.astype(np.int64) + 1) * s_price[:, 1]) / 1e6,
        confidence=_beta(rng, np.full(len(s), 0.7), CONFIDENCE_CONCENTRATION),
    )  # fmt: skip
    s_margin = np.take(SHADOW_MARGINS, plan.i_shadow_model[s])
    for criterion, mean in (("task_completion", judge_mean[s]), ("relevance", np.minimum(judge_mean[s] + 0.08, 0.95))):
        rows.add(
            "judge_score", t_out[s] + _uniform_us(rng, 30, 20 * 60, len(s)), **at(s), model=s_model, is_shadow=1,
            score=_beta(rng, mean + s_margin, JUDGE_CONCENTRATION), criterion=CRITERIA.index(criterion),
            evaluator=0, late_anchor=t_req[s],
        )  # fmt: skip
    # Failed shadow calls: a shadow ai_error (a timeout, logged with the live response), charged for its input;
    # never judged.
    f = np.nonzero(plan.i_shadow_failed)[0]
    f_model = _SHADOW + plan.i_shadow_model[f]
    rows.add(
        "ai_error", t_out[f], **at(f), workflow=t_workflow[ti[f]], model=f_model,
        prompt_version=t_prompt[ti[f]], is_shadow=1, reason=_reason_codes("ai_error", np.zeros(len(f), dtype=np.int64)),
        cost_usd=input_tokens[f] * np.take(PRICES, f_model, axis=0)[:, 0] / 1e6,
    )  # fmt: skip

    return _finish(spec, plan, rng, rows.columns())


def _reason_codes(kind: str, index) -> np.ndarray:
    lookup = np.array([REASON_NAMES.index(r) for r in REASONS[kind]], dtype=np.int8)
    return lookup[index]


def _finish(spec: _Spec, plan: _Plan, rng: np.random.Generator, c: dict[str, np.ndarray]) -> pa.RecordBatch:
    n = len(c["event_type"])
    expected = int(plan.u_rows.sum())
    if n != expected:
        raise AssertionError(f"chunk {plan.chunk}: planned {expected} rows, built {n}")

    # Arrival: about a second after the event; late arrivals occur 2 h to 3 days after their
    # interaction's request and are received 5 min to 12 h after that.
    received = c["occurred_at"] + np.minimum(60 * _US, rng.lognormal(np.log(1.5 * _US), 0.8, n).astype(np.int64) + 50_000)
    late = (c["late_anchor"] >= 0) & (rng.random(n) < spec.late_rate)
    n_late = int(late.sum())
    c["occurred_at"][late] = c["late_anchor"][late] + _uniform_us(rng, 2 * 3600, 72 * 3600, n_late)
    received[late] = c["occurred_at"][late] + _uniform_us(rng, 5 * 60, 12 * 3600, n_late)
    c["received_at"] = received
    c["event"] = np.arange(n)
    del c["late_anchor"]

    # Duplicates: the same row re-sent later.
    dup = rng.choice(n, plan.duplicates, replace=False) if plan.duplicates else np.empty(0, dtype=np.int64)
    if len(dup):
        dup.sort()
        for name, value in c.items():
            c[name] = np.concatenate([value, value[dup]])
        c["received_at"][n:] += _uniform_us(rng, 1, 2 * 3600, len(dup))

    order = np.argsort(c["received_at"], kind="stable")
    c = {name: value[order] for name, value in c.items()}
    key = _id_key(spec.seed)
    chunk = plan.chunk
    user = plan.u_index[c["user"]] + chunk * spec.users_per_chunk
    arrays = {
        "event_id": _ids(b"e_", _mix(key, 0, chunk, c["event"])),
        "event_type": _strings(EVENT_TYPES, c["event_type"]),
        "occurred_at": pa.array(c["occurred_at"], type=pa.timestamp("us")),
        "received_at": pa.array(c["received_at"], type=pa.timestamp("us")),
        "user_id": _ids(b"u_", _mix(key, 4, 0, user)),
        "feature": _strings(FEATURES, c["feature"]),
        "interaction_id": _ids(b"i_", _mix(key, 1, chunk, c["interaction"]), c["interaction"] >= 0),
        "task_id": _ids(b"t_", _mix(key, 2, chunk, c["task"]), c["task"] >= 0),
        "session_id": _ids(b"s_", _mix(key, 3, chunk, c["session"]), c["session"] >= 0),
        "persona": _strings(PERSONAS, c["persona"]),
        "workflow": _strings(WORKFLOWS, c["workflow"]),
        "model": _strings(MODELS, c["model"]),
        "prompt_version": _strings(PROMPT_VERSIONS, c["prompt_version"]),
        "experiment": _strings((EXPERIMENT, SRM_EXPERIMENT), c["experiment"]),
        "variant": _strings(ARMS[1:], c["variant"]),
        "is_shadow": pa.array(c["is_shadow"] == 1, mask=c["is_shadow"] < 0),
        "latency_ms": _floats(c["latency_ms"]),
        "input_tokens": pa.array(c["input_tokens"], mask=c["input_tokens"] < 0, type=pa.int64()),
        "output_tokens": pa.array(c["output_tokens"], mask=c["output_tokens"] < 0, type=pa.int64()),
        "cost_usd": _floats(c["cost_usd"]),
        "confidence": _floats(c["confidence"]),
        "score": _floats(c["score"]),
        "criterion": _strings(CRITERIA, c["criterion"]),
        "evaluator": _strings(EVALUATORS, c["evaluator"]),
        "edit_ratio": _floats(c["edit_ratio"]),
        "reason": _strings(REASON_NAMES, c["reason"]),
        "properties": _strings(PROPERTIES, c["properties"]),
    }
    schema = contract.arrow_schema()
    return pa.RecordBatch.from_arrays([arrays[name] for name in schema.names], schema=schema)


def _strings(values: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pa.array(values, pa.string()).take(pa.array(codes.astype(np.int32), mask=codes < 0))


def _floats(values: np.ndarray) -> pa.Array:
    return pa.array(values, mask=np.isnan(values), type=pa.float64())


_M48 = np.uint64((1 << 48) - 1)
# Two hex characters per byte value, as one uint16 (viewed back as bytes, so endianness is moot).
_HEX_PAIRS = np.frombuffer(b"".join(f"{i:02x}".encode() for i in range(256)), dtype=np.uint16)


def _id_key(seed: int) -> int:
    return int(np.random.default_rng([seed, 0x1D]).integers(0, 1 << 48))


def _mix(key: int, kind: int, chunk: int, local: np.ndarray) -> np.ndarray:
    """A 48-bit id: a bijection of (kind, chunk, local index) under a seed-derived key, so ids are
    unique within a simulation and look random."""
    x = (np.uint64(kind) << np.uint64(45)) | (np.uint64(chunk) << np.uint64(32)) | np.maximum(local, 0).astype(np.uint64)
    x ^= np.uint64(key)
    for multiplier, shift in ((0x9E3779B97F4B, 24), (0xC2B2AE3D27D5, 23), (0x165667B19E37, 21)):
        x = (x * np.uint64(multiplier)) & _M48  # odd multiplier: a bijection mod 2^48
        x ^= x >> np.uint64(shift)
    return x


def _ids(prefix: bytes, values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """`prefix` + 12 hex digits, built straight into an Arrow string buffer."""
    n = len(values)
    width = len(prefix) + 12
    chars = np.empty((n, width), dtype=np.uint8)
    chars[:, : len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
    low_six_bytes = values.astype(">u8").view(np.uint8).reshape(n, 8)[:, 2:]
    chars[:, len(prefix) :] = _HEX_PAIRS[low_six_bytes].view(np.uint8)
    offsets = np.arange(n + 1, dtype=np.int32) * width
    validity = None
    null_count = 0
    if valid is not None and not valid.all():
        validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
        null_count = int(n - valid.sum())
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars), validity, null_count)


# --------------------------------------------------------------------------- truth


def _expected_by_cell() -> dict[str, np.ndarray]:
    """Expected counts per task, for every cell: a task of cell c has 1 / (1 - P(continue | c))
    interactions in expectation, each drawing its class from P(class | c) (Wald's identity)."""
    pi = _PI
    per_task = 1.0 / (1.0 - _CONTINUE)
    p_of_cell, f_of_cell, m_of_cell, a_of_cell = np.unravel_index(np.arange(_CELLS), _CELL_SHAPE)
    forced = _KIND_PROB[:, _K["negative_feedback"]]  # (class,)
    coverage = np.minimum(1.0, np.outer(FEEDBACK_COVERAGE, FEEDBACK_PERSONA_FACTOR))  # (class, persona)
    rated = forced[:, None] + (1 - forced[:, None]) * coverage
    positive = (1 - forced[:, None]) * coverage * np.asarray(FEEDBACK_POSITIVE)[:, None]
    responded = pi[:, _RESPONDED].sum(axis=1)
    shadow = SHADOW_SHARE * np.take(SHADOW_FEATURES, f_of_cell)

    def per_interaction(p_given_class: np.ndarray) -> np.ndarray:
        return per_task * (pi @ p_given_class)

    e = {
        "tasks": np.ones(_CELLS),
        "interactions": per_task,
        "errored": per_task * (1 - responded),
        "responded": per_task * responded,
        "successful": per_task * pi[:, _SUCCESS],
        "silent_failure": per_task * pi[:, _SILENT],
        "rated": per_task * (pi * rated[:, p_of_cell].T).sum(axis=1),
        "positive": per_task * (pi * positive[:, p_of_cell].T).sum(axis=1),
        "shadowed": per_task * responded * shadow,
        "live_judge_sum": per_task * shadow * (pi @ np.asarray(JUDGE_MEAN)),
        "confidence_sum": per_task * responded * OVERCONFIDENT_MEAN,
    }
    for kind in ("fallback", "escalation", "regenerate", "override", "edit", "external_search", "task_completed"):
        e[kind] = per_interaction(_KIND_PROB[:, _K[kind]])
    pooled_margin = float(np.dot(SHADOW_SPLIT, SHADOW_MARGINS))  # candidates are drawn independently of the cell
    e["shadow_judge_sum"] = e["live_judge_sum"] + pooled_margin * e["shadowed"]
    e["_persona"], e["_feature"], e["_model"], e["_arm"] = p_of_cell, f_of_cell, m_of_cell, a_of_cell
    return e


_EXPECTED = _expected_by_cell()


def _truth(spec: _Spec, tasks_by_cell: np.ndarray, counts: dict, arm_users: dict) -> dict:
    e = _EXPECTED
    persona, model, arm = e["_persona"], e["_model"], e["_arm"]

    def ratio(numerator: str, denominator: str, where=True) -> float | None:
        mask = np.broadcast_to(where, (_CELLS,))
        den = float((tasks_by_cell * e[denominator])[mask].sum())
        return None if den == 0 else round(float((tasks_by_cell * e[numerator])[mask].sum()) / den, 6)

    def rate(numerator: str, denominator: str, population: str, by_model: bool = False) -> dict:
        out = {
            "rate": ratio(numerator, denominator),
            "population": population,
            "by_persona": {name: ratio(numerator, denominator, persona == p) for p, name in enumerate(PERSONAS)},
        }
        if by_model:
            out["by_model"] = {name: ratio(numerator, denominator, model == m) for m, name in enumerate(LIVE_MODELS)}
        return out

    release_day = spec.start + datetime.timedelta(days=spec.release_day)
    if spec.model_release:
        before = ratio("silent_failure", "responded", (persona == RELEASE_PERSONA) & (model == _GPT_OLD))
        after = ratio("silent_failure", "responded", (persona == RELEASE_PERSONA) & (model == _GPT_NEW))
    control = ratio("task_completed", "tasks", arm == _CONTROL)
    treatment = ratio("task_completed", "tasks", arm == _TREATMENT)
    llama = model == OVERCONFIDENT_MODEL
    llama_success = ratio("successful", "responded", llama)
    live = ratio("live_judge_sum", "shadowed")
    shadow = ratio("shadow_judge_sum", "shadowed")
    exact = "exact in expectation given the realized tasks' persona, feature, model and arm"
    return {
        "contract_version": contract.CONTRACT_VERSION,
        "parameters": {
            "events": spec.events,
            "days": spec.days,
            "seed": spec.seed,
            "start": spec.start.isoformat(),
            "duplicate_rate": spec.duplicate_rate,
            "late_rate": spec.late_rate,
            **counts,
        },
        "success_probability": {p: {f: SUCCESS[i][j] for j, f in enumerate(FEATURES)} for i, p in enumerate(PERSONAS)},
        "success_probability_population": {
            "models": [LIVE_MODELS[_GPT_OLD], LIVE_MODELS[_CLAUDE]],
            "experiment": None,
            "description": "successful / interactions (errored and regenerated included) whose model is one of "
            "`models` and whose ai_request has no experiment; planted directly, exact",
        },
        "model_release": {
            "model": LIVE_MODELS[_GPT_NEW],
            "previous_model": LIVE_MODELS[_GPT_OLD],
            "day": release_day.isoformat(),
            "persona": PERSONAS[RELEASE_PERSONA],
            "silent_failure_rate_before": before,
            "silent_failure_rate_after": after,
            "delta": RELEASE_DELTA,
            "population": "silent failures / responded interactions of `persona`: before = on `previous_model` "
            "(all before `day`), after = on `model` (all on or after `day`); exact",
        } if spec.model_release else None,
        "experiment": {
            "name": EXPERIMENT,
            "feature": FEATURES[_DRAFT_REPLY],
            "control_task_completion_rate": control,
            "treatment_task_completion_rate": treatment,
            "effect": None if control is None or treatment is None else round(treatment - control, 6),
            "uplift": EXPERIMENT_UPLIFT,
            "population": "tasks (task_id, else interaction_id) by the variant on their first interaction's ai_request; "
            "rate = tasks with a task_completed event / tasks",
            "note": f"{exact}: the arms mix personas and models, so the rates depend on that mix",
            "crossover_share": CROSSOVER_SHARE,
            "users_in_two_variants": arm_users["two_variants"],
            "users_in_two_variants_note": "users with draft_reply tasks in both arms (CROSSOVER_SHARE of the enrolled "
            "users draw each task's arm); exact count",
        },
        "srm_experiment": {
            "name": SRM_EXPERIMENT,
            "feature": FEATURES[_SUMMARIZE],
            "declared_split": {"control": 0.5, "treatment": 0.5},
            "treatment_share": SRM_TREATMENT_SHARE,
            "control_users": arm_users["srm_control"],
            "treatment_users": arm_users["srm_treatment"],
            "note": "a label on summarize tasks only (no effect on outcomes); users are assigned treatment with "
            "probability treatment_share, against the declared 50/50: a sample-ratio mismatch; exact counts",
        },
        "overconfident_model": {
            "model": LIVE_MODELS[OVERCONFIDENT_MODEL],
            "mean_confidence": OVERCONFIDENT_MEAN,
            "success_rate": llama_success,
            "overconfidence": None if llama_success is None else round(OVERCONFIDENT_MEAN - llama_success, 6),
            "population": "responded interactions whose non-shadow ai_response model is `model`; success per the "
            "contract, confidence from that ai_response",
            "note": f"mean_confidence is planted for every response of `model`; success_rate is {exact}",
        },
        "shadow_model": {
            "models": list(SHADOW_MODELS),
            "live_judge_task_completion_mean": live,
            "shadow_judge_task_completion_mean": shadow,
            "margin": round(float(np.dot(SHADOW_SPLIT, SHADOW_MARGINS)), 12),
            "population": "interactions with an is_shadow ai_response (all judged): live = mean judge_task_completion, "
            "shadow = mean of the interaction's is_shadow task_completion judge scores; margin = shadow - live, "
            "pooled over the candidates (each interaction is shadowed by one, drawn with `split`)",
            "note": f"the means are {exact}; the margin is exact per interaction given its candidate",
            "candidates": {
                name: {
                    "margin": SHADOW_MARGINS[k],
                    "split": SHADOW_SPLIT[k],
                    "relative_margin": None if not live else round(SHADOW_MARGINS[k] / live, 12),
                    "verdict": "promote" if SHADOW_MARGINS[k] > -0.05 * (live or 0) else "reject",
                }
                for k, name in enumerate(SHADOW_MODELS)
            },
            "failure_share": SHADOW_FAILURE_SHARE,
            "failure_note": "of the shadowed interactions, drawn independently: a shadow ai_error (model = the "
            "candidate, reason timeout) instead of the shadow ai_response, and no shadow judge score",
        },
        "judge_agreement": {
            "criterion": CRITERIA[0],
            "judge": JUDGE_MODEL,
            "threshold": JUDGE_PASS_THRESHOLD,
            "true_positive_rate": round(1 - JUDGE_FALSE_FAIL, 6),
            "true_negative_rate": round(1 - JUDGE_FALSE_PASS, 6),
            "population": "interactions with a non-shadow task_completion judge_score from `judge` and one from "
            "`human` (judged, non-shadowed interactions); pass = score >= `threshold`; rates against the human's verdict",
            "note": "exact per pair given the human's verdict; agreement = TPR·h + TNR·(1 - h) and Cohen's kappa "
            "follow from the human pass share h of the pairs",
        },
        "rates": {
            "error": rate("errored", "interactions", "errored / interactions (planted per model)", by_model=True),
            "fallback": rate("fallback", "interactions", "fell_back / interactions"),
            "escalation": rate("escalation", "interactions", "escalated / interactions"),
            "regeneration": rate("regenerate", "responded", "regenerated / responded"),
            "override": rate("override", "responded", "overridden / responded"),
            "edit": rate("edit", "responded", "edited / responded"),
            "feedback_coverage": rate("rated", "responded", "rated / responded"),
            "positive_feedback": rate("positive", "rated", "positive_feedback / rated (latest feedback)"),
            "external_search": rate("external_search", "responded", "interactions with external_search / responded"),
            "note": exact,
        },
    }
