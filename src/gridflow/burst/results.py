"""Merging a burst's shard results into one result per step.

A shard result is JSON (it crosses processes: XCom, Prefect results)::

    {"shard": 0, "shards": 2, "stopped": null | "why the shard stopped early",
     "generator": {"loop_lag_ms_max": .., "cpu_busy": .., "warnings": [..]},
     "steps": {"<step id>": {"metrics": BurstMetrics.to_json(),
                              "instances": [record, ...] | null}}}

``instances`` holds :meth:`gridflow.runtime.state.Instance.to_record`
records, only for steps whose per-instance outputs something outside the
burst reads. Thresholds are judged here, on the merged metrics of every
shard, so K shards pass or fail exactly as one burst over the same samples
would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from gridflow.burst.metrics import BurstMetrics
from gridflow.plan.models import Step, Threshold
from gridflow.plan.thresholds import Condition, describe, measured_value
from gridflow.runtime.state import ErrorInfo, Status


@dataclasses.dataclass
class StepBurstResult:
    """One member step of a burst after every shard reported."""

    status: Status
    counts: dict[str, int]
    metrics: dict[str, Any]
    records: list[dict[str, Any]] | None  # per instance, when kept
    failure: ErrorInfo | None


def judge(thresholds: Sequence[Threshold], summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Each threshold with what was measured and whether it held."""
    out = []
    for th in thresholds:
        cond = Condition(th.metric, th.aggregate, th.op, th.value)
        value = measured_value(cond, summary)
        ok = value is not None and cond.holds(value)
        out.append(
            {
                "metric": th.metric,
                "condition": th.text,
                "canonical": describe(cond),
                "measured": value,
                "ok": ok,
                "at": f"{th.loc.file}:{th.loc.line}",
            }
        )
    return out


def threshold_failure(step_id: str, judged: Sequence[dict[str, Any]]) -> ErrorInfo | None:
    failed = [j for j in judged if not j["ok"]]
    if not failed:
        return None
    parts = []
    for j in failed:
        measured = (
            "nothing was measured" if j["measured"] is None else f"measured {j['measured']:g}"
        )
        unit = "ms" if j["metric"] == "latency" and j["measured"] is not None else ""
        parts.append(f'{j["metric"]} "{j["condition"]}" failed: {measured}{unit} ({j["at"]})')
    return ErrorInfo(
        "threshold",
        f"threshold{'s' if len(parts) > 1 else ''} failed: " + "; ".join(parts),
        {"thresholds": list(judged)},
    )


def merge_shards(
    members: Sequence[Step],
    instances: int,
    results: Sequence[dict[str, Any] | None],
    keep: frozenset[str],
    *,
    cancelled: bool = False,
) -> dict[str, StepBurstResult]:
    """Combine every shard's result; ``None`` stands for a shard that never
    reported (cancelled before it ended): its instances count as cancelled."""
    shards = max(1, len(results))
    generator = _merge_generator(results)
    stopped = [r["stopped"] for r in results if r is not None and r.get("stopped")]
    out: dict[str, StepBurstResult] = {}
    for index, step in enumerate(members):
        merged: BurstMetrics | None = None
        records: list[dict[str, Any]] | None = [] if step.id in keep else None
        for r in results:
            data = (r or {}).get("steps", {}).get(step.id)
            if data is None:
                continue
            if merged is None:
                merged = BurstMetrics.from_json(data["metrics"])
            else:
                merged.merge_json(data["metrics"])
            if records is not None and data.get("instances"):
                records.extend(data["instances"])
        merged = merged or BurstMetrics()
        summary = merged.summary()
        summary["_percentile"] = merged.percentile_ms
        counts = {
            "instances": instances,
            "succeeded": merged.succeeded,
            "failed": merged.failed,
            "skipped": merged.skipped,
        }
        counts["cancelled"] = max(
            0, instances - sum(counts[k] for k in ("succeeded", "failed", "skipped"))
        )
        counts["attempts"] = merged.requests
        judged = judge(step.load.thresholds, summary) if index == 0 else []
        summary.pop("_percentile")
        failure: ErrorInfo | None = None
        if judged:
            failure = threshold_failure(step.id, judged)
        elif merged.failed:
            sample = merged.error_samples[0] if merged.error_samples else None
            message = f"{merged.failed} of {instances} instances failed" + (
                f"; first: [{sample['instance']}] {sample['message']}" if sample else ""
            )
            failure = ErrorInfo(sample["kind"] if sample else "error", message)
        if index == 0 and stopped and failure is None and not cancelled:
            failure = ErrorInfo("aborted", "; ".join(stopped))
        if failure is not None:
            status = Status.FAILED
        elif cancelled or counts["cancelled"]:
            status = Status.CANCELLED
        elif counts["skipped"] == instances and instances:
            status = Status.SKIPPED
        else:
            status = Status.SUCCESS
        metrics = {"mode": "burst", "shards": shards, **summary}
        if judged:
            metrics["thresholds"] = judged
        if index == 0:
            metrics["generator"] = generator
        if records is not None:
            records.sort(key=lambda rec: int(rec["position"]))
        out[step.id] = StepBurstResult(status, counts, metrics, records, failure)
    return out


def _merge_generator(results: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    lag = 0.0
    busy = 0.0
    warnings: list[str] = []
    for r in results:
        if r is None:
            continue
        gen = r.get("generator") or {}
        lag = max(lag, float(gen.get("loop_lag_ms_max") or 0.0))
        busy = max(busy, float(gen.get("cpu_busy") or 0.0))
        for w in gen.get("warnings") or []:
            if w not in warnings:
                warnings.append(w)
    return {"loop_lag_ms_max": round(lag, 3), "cpu_busy": round(busy, 3), "warnings": warnings}
