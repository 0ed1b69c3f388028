"""The reference test's hand-made edge cases: contract-valid events the simulator never produces.

tests/integration/test_reference.py loads them beside a simulation and checks the reference SQL
on them alone against values worked out by hand (in the comments below); test_incremental.py
loads them in its batches.
"""

from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa

from outcome_metrics import contract

# Contract-valid events the simulator never produces, each isolated in its own persona so its
# per-persona row is small and sensitive. All on D (2026-01-10) unless said otherwise.
D, D1, D2 = "2026-01-10", "2026-01-11", "2026-01-12"


def _ev(event_id, event_type, at, user, interaction=None, *, received=..., **extra) -> dict:
    occurred = datetime.fromisoformat(at)
    return {
        "event_id": event_id, "event_type": event_type, "occurred_at": occurred,
        "received_at": occurred if received is ... else (received and datetime.fromisoformat(received)),
        "user_id": user, "feature": "summarize", "interaction_id": interaction, **extra,
    }  # fmt: skip


def _request(event_id, at, user, interaction, persona=None, **extra) -> dict:
    return _ev(event_id, "ai_request", at, user, interaction, persona=persona, **extra)


def _response(event_id, at, user, interaction, latency=100.0, cost=0.01, tokens=(10, 5), **extra) -> dict:
    return _ev(event_id, "ai_response", at, user, interaction, latency_ms=latency, cost_usd=cost,
               input_tokens=tokens[0], output_tokens=tokens[1], model="ref-model", **extra)  # fmt: skip


EDGE_EVENTS = [
    # ref_dedup: duplicates whose copies differ. The copy received first wins (a reject, not the
    # accepts); a copy with no received_at loses even though it occurred first; on equal
    # received_at the earlier occurred_at wins (edit_ratio 0.2, not 0.9).
    _request("rd-req", f"{D} 10:00:00", "ref_u_dedup", "rd1", "ref_dedup"),
    _response("rd-resp", f"{D} 10:00:01", "ref_u_dedup", "rd1"),
    _ev("rd-out", "accept", f"{D} 10:01:00", "ref_u_dedup", "rd1", received=f"{D} 10:05:00"),
    _ev("rd-out", "reject", f"{D} 10:01:30", "ref_u_dedup", "rd1", received=f"{D} 10:02:00"),
    _ev("rd-out", "accept", f"{D} 10:00:30", "ref_u_dedup", "rd1", received=None),
    _ev("rd-edit", "edit", f"{D} 10:02:00", "ref_u_dedup", "rd1", received=f"{D} 10:03:00", edit_ratio=0.9),
    _ev("rd-edit", "edit", f"{D} 10:01:50", "ref_u_dedup", "rd1", received=f"{D} 10:03:00", edit_ratio=0.2),
    # ... and with no received_at on either copy, the earlier occurred_at wins (a copy, not an override)
    _ev("rd-x", "override", f"{D} 10:04:00", "ref_u_dedup", "rd1", received=None),
    _ev("rd-x", "copy", f"{D} 10:03:00", "ref_u_dedup", "rd1", received=None),
    # ref_b: the request carries no persona; the earliest event carrying one is a shadow response
    # (ignored), so the persona comes from the own response. Two own responses: latency from the
    # first, tokens summed (15 + 30); shadow cost apart from own cost.
    _request("rp-req", f"{D} 11:00:00", "ref_u_b", "rp1"),
    _response("rp-shadow", f"{D} 11:00:01", "ref_u_b", "rp1", latency=5.0, cost=0.5, persona="ref_shadow_persona",
              is_shadow=True),
    _response("rp-resp1", f"{D} 11:00:02", "ref_u_b", "rp1", latency=100.0, cost=0.01, persona="ref_b"),
    _response("rp-resp2", f"{D} 11:00:05", "ref_u_b", "rp1", latency=999.0, cost=0.02, tokens=(20, 10)),
    _ev("rp-accept", "accept", f"{D} 11:01:00", "ref_u_b", "rp1"),
    # no persona anywhere: reported as (unknown). A response and an ai_error: not errored, both
    # costs count; copy + external_search only: a silent failure.
    _request("ru-req", f"{D} 11:30:00", "ref_u_unknown", "ru1"),
    _ev("ru-err", "ai_error", f"{D} 11:30:02", "ref_u_unknown", "ru1", cost_usd=0.003),
    _response("ru-resp", f"{D} 11:30:04", "ref_u_unknown", "ru1"),
    _ev("ru-copy", "copy", f"{D} 11:31:00", "ref_u_unknown", "ru1"),
    _ev("ru-search", "external_search", f"{D} 11:32:00", "ref_u_unknown", "ru1"),
    # ref_fb: two feedbacks at the same instant: the greater event_id (-1) is the latest; a later
    # shadow +1 does not count. Accepted yet rated down: successful and explicit negative.
    _request("rf-req", f"{D} 12:00:00", "ref_u_fb", "rf1", "ref_fb"),
    _response("rf-resp", f"{D} 12:00:01", "ref_u_fb", "rf1"),
    _ev("rf-accept", "accept", f"{D} 12:01:00", "ref_u_fb", "rf1"),
    _ev("rf-fb-a", "feedback", f"{D} 12:05:00", "ref_u_fb", "rf1", score=1.0),
    _ev("rf-fb-b", "feedback", f"{D} 12:05:00", "ref_u_fb", "rf1", score=-1.0),
    _ev("rf-fb-shadow", "feedback", f"{D} 12:10:00", "ref_u_fb", "rf1", score=1.0, is_shadow=True),
    # ref_judge: own task_completion scores 0.2 and 0.6 (mean 0.4, a judged failure); the shadow
    # 1.0 does not count. Accepted and not flagged: a judged silent failure.
    # weighted = 0.5 * 0.4 + 0.3 * 0.9 + 0.2 * 1.0 = 0.67
    _request("rj-req", f"{D} 12:30:00", "ref_u_judge", "rj1", "ref_judge"),
    _response("rj-resp", f"{D} 12:30:01", "ref_u_judge", "rj1"),
    _ev("rj-accept", "accept", f"{D} 12:31:00", "ref_u_judge", "rj1"),
    _ev("rj-j1", "judge_score", f"{D} 13:00:00", "ref_u_judge", "rj1", criterion="task_completion", score=0.2,
        evaluator="judge"),
    _ev("rj-j2", "judge_score", f"{D} 13:00:00", "ref_u_judge", "rj1", criterion="task_completion", score=0.6,
        evaluator="human"),
    _ev("rj-j3", "judge_score", f"{D} 13:00:00", "ref_u_judge", "rj1", criterion="relevance", score=0.9,
        evaluator="judge"),
    _ev("rj-j4", "judge_score", f"{D} 13:00:00", "ref_u_judge", "rj1", criterion="safety", score=1.0,
        evaluator="judge"),
    _ev("rj-j5", "judge_score", f"{D} 13:00:00", "ref_u_judge", "rj1", criterion="task_completion", score=1.0,
        evaluator="judge", is_shadow=True),
    # ref_task: two interactions of a task start at the same instant: the greater interaction_id
    # (rt-b) is the last one and alone inherits the completion; rt-a is a silent failure.
    _request("rta-req", f"{D} 13:00:00", "ref_u_task", "rt-a", "ref_task", task_id="ref-t1"),
    _request("rtb-req", f"{D} 13:00:00", "ref_u_task", "rt-b", "ref_task", task_id="ref-t1"),
    _response("rta-resp", f"{D} 13:00:01", "ref_u_task", "rt-a", task_id="ref-t1"),
    _response("rtb-resp", f"{D} 13:00:02", "ref_u_task", "rt-b", task_id="ref-t1"),
    _ev("rt-done", "task_completed", f"{D} 13:10:00", "ref_u_task", task_id="ref-t1"),
    # ref_midnight: a task across midnight belongs to the day of its first interaction; a
    # feedback two days later counts toward its interaction's day. 360 s to completion.
    _request("rm1-req", f"{D} 23:59:00", "ref_u_mid", "rm-1", "ref_midnight", task_id="ref-t2"),
    _response("rm1-resp", f"{D} 23:59:02", "ref_u_mid", "rm-1", task_id="ref-t2"),
    _ev("rm1-regen", "regenerate", f"{D} 23:59:30", "ref_u_mid", "rm-1", task_id="ref-t2"),
    _request("rm2-req", f"{D1} 00:00:10", "ref_u_mid", "rm-2", "ref_midnight", task_id="ref-t2"),
    _response("rm2-resp", f"{D1} 00:00:12", "ref_u_mid", "rm-2", task_id="ref-t2"),
    _ev("rm2-accept", "accept", f"{D1} 00:01:00", "ref_u_mid", "rm-2", task_id="ref-t2"),
    _ev("rm-done", "task_completed", f"{D1} 00:05:00", "ref_u_mid", task_id="ref-t2"),
    _ev("rm1-fb", "feedback", f"{D2} 09:00:00", "ref_u_mid", "rm-1", score=-1.0, received=f"{D2} 15:00:00"),
    # ref_itask: no task_id: the task_completed event names the interaction.
    _request("rc-req", f"{D} 14:00:00", "ref_u_itask", "rc1", "ref_itask"),
    _response("rc-resp", f"{D} 14:00:01", "ref_u_itask", "rc1"),
    _ev("rc-done", "task_completed", f"{D} 14:03:00", "ref_u_itask", "rc1"),
    # ref_req_wins: an own event before the request carries another persona; the request wins.
    _ev("rw-copy", "copy", f"{D} 14:30:00", "ref_u_wins", "rw1", persona="ref_other"),
    _request("rw-req", f"{D} 14:30:05", "ref_u_wins", "rw1", "ref_req_wins"),
    _response("rw-resp", f"{D} 14:30:06", "ref_u_wins", "rw1"),
    # ref_noreq: a completed task with no ai_request counts for completion but not for time to
    # completion; in task ref-t3 the first ai_request is the second interaction's: 120 s.
    _response("rn1-resp", f"{D} 20:00:00", "ref_u_noreq", "rn1", persona="ref_noreq"),
    _ev("rn1-done", "task_completed", f"{D} 20:02:00", "ref_u_noreq", "rn1"),
    _response("rn2a-resp", f"{D} 20:10:00", "ref_u_noreq", "rn2a", persona="ref_noreq", task_id="ref-t3"),
    _ev("rn2a-regen", "regenerate", f"{D} 20:10:30", "ref_u_noreq", "rn2a", task_id="ref-t3"),
    _request("rn2b-req", f"{D} 20:11:00", "ref_u_noreq", "rn2b", "ref_noreq", task_id="ref-t3"),
    _response("rn2b-resp", f"{D} 20:11:01", "ref_u_noreq", "rn2b", task_id="ref-t3"),
    _ev("rn2-done", "task_completed", f"{D} 20:13:00", "ref_u_noreq", task_id="ref-t3"),
    # ref_adopt: one user with an ai_request and no app_active (still active), one app_active only.
    _request("ra-req", f"{D} 15:00:00", "ref_u_req_only", "ra1", "ref_adopt"),
    _ev("ra-active", "app_active", f"{D} 08:00:00", "ref_u_active_only", persona="ref_adopt"),
    # ref_shadow_accept: only a shadow output was accepted: not accepted, a silent failure.
    _request("rs-req", f"{D} 15:30:00", "ref_u_sa", "rs1", "ref_shadow_accept"),
    _response("rs-resp", f"{D} 15:30:01", "ref_u_sa", "rs1"),
    _response("rs-shadow", f"{D} 15:30:02", "ref_u_sa", "rs1", cost=0.2, is_shadow=True),
    _ev("rs-accept", "accept", f"{D} 15:31:00", "ref_u_sa", "rs1", is_shadow=True),
    # ref_edit: per-interaction mean edit_ratio first: mean(mean(0.2, 0.6), 1.0) = 0.7, not 0.6.
    _request("re1-req", f"{D} 16:00:00", "ref_u_edit", "re1", "ref_edit"),
    _response("re1-resp", f"{D} 16:00:01", "ref_u_edit", "re1"),
    _ev("re1-e1", "edit", f"{D} 16:01:00", "ref_u_edit", "re1", edit_ratio=0.2),
    _ev("re1-e2", "edit", f"{D} 16:02:00", "ref_u_edit", "re1", edit_ratio=0.6),
    _request("re2-req", f"{D} 16:10:00", "ref_u_edit", "re2", "ref_edit"),
    _response("re2-resp", f"{D} 16:10:01", "ref_u_edit", "re2"),
    _ev("re2-e1", "edit", f"{D} 16:11:00", "ref_u_edit", "re2", edit_ratio=1.0),
    # ref_err: an error, a fallback and a completion through the non-AI path: errored, so not
    # successful, yet its cost counts and its task completed.
    _request("rx-req", f"{D} 17:00:00", "ref_u_err", "rx1", "ref_err"),
    _ev("rx-err", "ai_error", f"{D} 17:00:05", "ref_u_err", "rx1", cost_usd=0.004, reason="timeout"),
    _ev("rx-fallback", "fallback", f"{D} 17:00:06", "ref_u_err", "rx1", reason="manual"),
    _ev("rx-done", "task_completed", f"{D} 17:10:00", "ref_u_err", "rx1"),
    # ref_trust: one user answers two surveys (0.8, 0.6) and has two interactions, one successful;
    # a second only answers (0.9), a third only interacts: neither counts. Gap 0.7 - 0.5 = 0.2.
    _ev("rtr1-s1", "survey", f"{D} 09:00:00", "ref_u_trust1", persona="ref_trust", criterion="accuracy", score=0.8),
    _ev("rtr1-s2", "survey", f"{D} 18:00:00", "ref_u_trust1", persona="ref_trust", criterion="accuracy", score=0.6),
    _request("rtr1a-req", f"{D} 10:00:00", "ref_u_trust1", "rtr1a", "ref_trust"),
    _response("rtr1a-resp", f"{D} 10:00:01", "ref_u_trust1", "rtr1a"),
    _ev("rtr1a-accept", "accept", f"{D} 10:01:00", "ref_u_trust1", "rtr1a"),
    _request("rtr1b-req", f"{D} 11:00:00", "ref_u_trust1", "rtr1b", "ref_trust"),
    _response("rtr1b-resp", f"{D} 11:00:01", "ref_u_trust1", "rtr1b"),
    _ev("rtr2-s1", "survey", f"{D} 09:00:00", "ref_u_trust2", persona="ref_trust", criterion="accuracy", score=0.9),
    _request("rtr3-req", f"{D} 10:00:00", "ref_u_trust3", "rtr3", "ref_trust"),
    _response("rtr3-resp", f"{D} 10:00:01", "ref_u_trust3", "rtr3"),
    _ev("rtr3-accept", "accept", f"{D} 10:01:00", "ref_u_trust3", "rtr3"),
    # ref_ece: confidence 1.0 falls in bin 9 with 0.95; a shadow response's confidence and a
    # response without one do not count. Bin 9: 2 responses, mean 0.975, 1 success; bin 3: 0.35,
    # 1 success. ECE = 2/3 * 0.475 + 1/3 * 0.65 = 0.5333...
    _request("rc1-req", f"{D} 19:00:00", "ref_u_ece", "rce1", "ref_ece"),
    _response("rc1-resp", f"{D} 19:00:01", "ref_u_ece", "rce1", confidence=0.95),
    _ev("rc1-accept", "accept", f"{D} 19:01:00", "ref_u_ece", "rce1"),
    _request("rc2-req", f"{D} 19:10:00", "ref_u_ece", "rce2", "ref_ece"),
    _response("rc2-shadow", f"{D} 19:10:01", "ref_u_ece", "rce2", confidence=0.1, is_shadow=True),
    _response("rc2-resp", f"{D} 19:10:02", "ref_u_ece", "rce2", confidence=1.0),
    _request("rc3-req", f"{D} 19:20:00", "ref_u_ece", "rce3", "ref_ece"),
    _response("rc3-resp", f"{D} 19:20:01", "ref_u_ece", "rce3", confidence=0.35),
    _ev("rc3-accept", "accept", f"{D} 19:21:00", "ref_u_ece", "rce3"),
    _request("rc4-req", f"{D} 19:30:00", "ref_u_ece", "rce4", "ref_ece"),
    _response("rc4-resp", f"{D} 19:30:01", "ref_u_ece", "rce4"),
    # ref_err_shadow: an ai_error and only a shadow response: errored and not responded.
    _request("rxs-req", f"{D} 17:30:00", "ref_u_err_shadow", "rxs1", "ref_err_shadow"),
    _ev("rxs-err", "ai_error", f"{D} 17:30:05", "ref_u_err_shadow", "rxs1", cost_usd=0.004, reason="timeout"),
    _response("rxs-shadow", f"{D} 17:30:06", "ref_u_err_shadow", "rxs1", cost=0.3, is_shadow=True),
    # ref_ret: four users first use AI on 2026-01-02 and come back 28, 35, 27 and 36 days later:
    # retention 2/4 (28..35 inclusive).
    *[
        event
        for n, back in enumerate((28, 35, 27, 36))
        for event in (
            _request(f"rr{n}-first", f"2026-01-02 09:00:0{n}", f"ref_u_ret{n}", f"rr{n}-1", "ref_ret"),
            _request(f"rr{n}-back", f"{date.fromordinal(date(2026, 1, 2).toordinal() + back)} 09:00:00",
                     f"ref_u_ret{n}", f"rr{n}-2", "ref_ret"),
        )
    ],
]  # fmt: skip

# Edge events on a day before the simulation starts, so no other row is touched. A known
# discrepancy, when there is one, is listed in test_reference.py's KNOWN_DISCREPANCIES and skipped
# by the comparison.
KNOWN_DAY = "2025-12-31"
KNOWN_EVENTS = [
    # The first own response states no confidence, a second (a retry) states 0.9; accepted.
    # No calibration data (NULL): the first own response's confidence counts, even when NULL.
    _request("rk-req", f"{KNOWN_DAY} 12:00:00", "ref_u_known", "rk1", "ref_known"),
    _response("rk-resp1", f"{KNOWN_DAY} 12:00:01", "ref_u_known", "rk1"),
    _response("rk-resp2", f"{KNOWN_DAY} 12:00:02", "ref_u_known", "rk1", confidence=0.9),
    _ev("rk-accept", "accept", f"{KNOWN_DAY} 12:01:00", "ref_u_known", "rk1"),
]  # fmt: skip


def edge_table(events: list[dict] = EDGE_EVENTS + KNOWN_EVENTS) -> pa.Table:
    for event in events:  # hand-made, so prove them contract-valid
        contract.Event.model_validate({k: v for k, v in event.items() if v is not None})
    schema = contract.arrow_schema()
    return pa.Table.from_pylist([{name: e.get(name) for name in schema.names} for e in events], schema=schema)
