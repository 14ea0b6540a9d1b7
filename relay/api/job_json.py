"""Jobs, their cycles, staged deprovisions and whereabouts as the admin API shows them:
the JSON of each next to its schema, so that the OpenAPI document says what is sent.

Times are ISO 8601 in UTC; a running cycle's ``rate`` is in objects per second and its
``eta_seconds`` in seconds.
"""

from __future__ import annotations

from typing import Any

from relay.api.logs import log_json
from relay.api.routes import TIME, iso, ref
from relay.engine import control
from relay.engine import status as statuses
from relay.engine.engine import Engine
from relay.store.base import EntryKind, Store
from relay.store.engine_records import (
    CycleKind,
    CycleRecord,
    CycleState,
    JobRecord,
    JobState,
    LogAction,
    LogStatus,
    RetryRecord,
    Shadow,
    ShadowState,
    StagedDecision,
    StagedOperation,
)


def progress_json(progress: statuses.Progress | None) -> dict[str, Any] | None:
    if progress is None:
        return None
    return {
        "cycle": progress.cycle,
        "kind": progress.kind.value,
        "started_at": iso(progress.started_at),
        "done": progress.done,
        "total": progress.total,
        "rate": progress.rate,
        "eta_seconds": progress.eta,
    }


def cycle_json(cycle: CycleRecord, now: float) -> dict[str, Any]:
    end = cycle.finished_at if cycle.finished_at is not None else now
    return {
        "id": cycle.id,
        "job": cycle.job,
        "kind": cycle.kind.value,
        "state": cycle.state.value,
        "started_at": iso(cycle.started_at),
        "finished_at": iso(cycle.finished_at),
        "total": cycle.total,
        "done": cycle.done,
        "counts": cycle.counts,
        "error": cycle.error,
        "duration_seconds": max(end - cycle.started_at, 0.0),
    }


def staged_json(staged: StagedOperation) -> dict[str, Any]:
    return {
        "id": staged.id,
        "kind": staged.kind.value,
        "entry_id": staged.entry_id,
        "anchor": staged.anchor,
        "action": staged.action,
        "reason": staged.reason,
        "display": staged.display,
        "staged_at": iso(staged.staged_at),
        "decision": staged.decision.value,
        "decided_at": iso(staged.decided_at),
        "cycle": staged.cycle,
    }


def shadow_json(shadow: Shadow) -> dict[str, Any]:
    return {
        "kind": shadow.kind.value,
        "entry_id": shadow.entry_id,
        "anchor": shadow.anchor,
        "state": shadow.state.value,
        "values": shadow.values,
        "source_version": shadow.source_version,
        "updated_at": iso(shadow.updated_at),
    }


def retry_json(retry: RetryRecord) -> dict[str, Any]:
    return {
        "attempts": retry.attempts,
        "error_class": retry.error_class,
        "error": retry.error,
        "first_failed_at": iso(retry.first_failed_at),
        "next_attempt_at": iso(retry.next_attempt_at),
        "source_version": retry.source_version,
    }


async def job_json(
    store: Store, engine: Engine, record: JobRecord, *, detail: bool, staged: int | None = None
) -> dict[str, Any]:
    """A job as the API shows it: the summary of a list, or with ``detail`` its file too.
    ``progress`` is the current cycle's, when the job runs in this relay. ``staged``, the
    pending deprovisions, is counted here unless given (a list counts them in one query)."""
    if staged is None:
        staged = await store.count_staged(record.name, StagedDecision.PENDING)
    progress = await engine.progress(record.name)
    out: dict[str, Any] = {
        "name": record.name,
        "state": record.state.value,
        "summary": statuses.state_summary(record.state, staged),
        "connection": control.connection_text(record),
        "version": record.version,
        "initial_done": record.initial_done,
        "quarantine_reason": record.quarantine_reason,
        "next_attempt_at": iso(record.next_attempt_at),
        "staged": staged,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
        "progress": progress_json(progress),
    }
    if detail:
        out["spec"] = record.spec
        out["cursor"] = record.cursor
        out["reconciled_at"] = iso(record.reconciled_at)
    return out


def status_json(
    status: statuses.JobStatus, live: statuses.Progress | None, now: float
) -> dict[str, Any]:
    """A job's status; ``live`` is the engine's progress when the job runs here."""
    return {
        "name": status.name,
        "state": status.state.value,
        "summary": status.summary,
        "staged": status.staged,
        "initial_done": status.initial_done,
        "cursor": status.cursor,
        "behind": status.behind,
        "quarantine_reason": status.quarantine_reason,
        "next_attempt_at": iso(status.next_attempt_at),
        "current": progress_json(status.current),
        "last": cycle_json(status.last, now) if status.last is not None else None,
        "retries": status.retries,
        "retries_more": status.retries_more,
        "shadows": status.shadows,
        "progress": progress_json(live),
    }


def where_json(found: statuses.Whereabouts) -> dict[str, Any]:
    return {
        "job": found.job,
        "kind": found.kind.value,
        "asked": found.asked,
        "entry_id": found.entry_id,
        "name": found.name,
        "in_directory": found.in_directory,
        "in_scope": found.in_scope,
        "scope_reason": found.scope_reason,
        "pending": found.pending,
        "initial_done": found.initial_done,
        "state": found.state,
        "shadow": shadow_json(found.shadow) if found.shadow is not None else None,
        "staged": staged_json(found.staged) if found.staged is not None else None,
        "retry": retry_json(found.retry) if found.retry is not None else None,
        "logs": [log_json(e) for e in found.logs],
        "in_flight_since": iso(found.in_flight_since),
    }


# Schemas --------------------------------------------------------------------------------------

_STAMP = {"type": "string", "format": "date-time"}
_INT = {"type": "integer", "minimum": 0}
_TEXT = {"type": "string"}
_NULLABLE_TEXT = {"type": ["string", "null"]}
_KIND = {"type": "string", "enum": [k.value for k in EntryKind]}


def _nullable(name: str) -> dict[str, Any]:
    return {"anyOf": [ref(name), {"type": "null"}]}


def _object(properties: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "required": list(properties),
        "properties": properties,
    }
    if description is not None:
        schema["description"] = description
    return schema


_JOB = {
    "name": _TEXT,
    "state": {"type": "string", "enum": [s.value for s in JobState]},
    "summary": {
        "type": "string",
        "description": 'the state as people read it, e.g. "running, waiting for approval"',
    },
    "connection": {
        "type": "string",
        "description": '"agent / connector", "built-in / connector", or "(invalid: ...)"',
    },
    "version": {"type": "integer", "description": "grows with every change of file or state"},
    "initial_done": {"type": "boolean"},
    "quarantine_reason": _NULLABLE_TEXT,
    "next_attempt_at": {**TIME, "description": "when a quarantined job is tried again"},
    "staged": {**_INT, "description": "deprovisions waiting for approval"},
    "created_at": _STAMP,
    "updated_at": _STAMP,
    "progress": {
        **_nullable("Progress"),
        "description": "the current cycle, when the job runs in this relay",
    },
}
_OUTCOME = {
    "kind": _KIND,
    "entry_id": _TEXT,
    "action": {"type": "string", "enum": [a.value for a in LogAction]},
    "status": {"type": "string", "enum": [s.value for s in LogStatus]},
    "anchor": _NULLABLE_TEXT,
    "reason": _NULLABLE_TEXT,
    "error": _NULLABLE_TEXT,
    "changes": {
        "type": "object",
        "additionalProperties": {"type": "array", "minItems": 2, "maxItems": 2},
    },
    "steps": {"type": "array", "items": ref("Step")},
    "attributes": {
        "type": ["object", "null"],
        "description": "the target attributes planned for the object",
    },
}

SCHEMAS: dict[str, dict[str, Any]] = {
    "Progress": _object(
        {
            "cycle": {"type": "string", "description": "the cycle's id"},
            "kind": {"type": "string", "enum": [k.value for k in CycleKind]},
            "started_at": _STAMP,
            "done": _INT,
            "total": {"type": ["integer", "null"], "description": "null while unknown"},
            "rate": {"type": ["number", "null"], "description": "objects per second"},
            "eta_seconds": {"type": ["number", "null"], "description": "null while unknown"},
        },
        "how far a running cycle is",
    ),
    "Job": _object(_JOB),
    "JobDetail": _object(
        {
            **_JOB,
            "spec": {"type": "string", "description": "the job file (TOML) as given"},
            "cursor": {
                "type": "integer",
                "description": "the directory change up to which the job has applied",
            },
            "reconciled_at": TIME,
        }
    ),
    "JobSteered": _object(
        {
            "job": ref("JobDetail"),
            "changed": {
                "type": "boolean",
                "description": "false when a start or resume found the job running",
            },
            "message": _TEXT,
        }
    ),
    "Cycle": _object(
        {
            "id": _TEXT,
            "job": _TEXT,
            "kind": {"type": "string", "enum": [k.value for k in CycleKind]},
            "state": {"type": "string", "enum": [s.value for s in CycleState]},
            "started_at": _STAMP,
            "finished_at": TIME,
            "total": {"type": ["integer", "null"]},
            "done": _INT,
            "counts": {
                "type": "object",
                "description": "objects by outcome: created, updated, failed...",
                "additionalProperties": {"type": "integer"},
            },
            "error": _NULLABLE_TEXT,
            "duration_seconds": {
                "type": "number",
                "description": "from start to end; so far for a running cycle",
            },
        }
    ),
    "JobStatus": _object(
        {
            "name": _TEXT,
            "state": {"type": "string", "enum": [s.value for s in JobState]},
            "summary": _TEXT,
            "staged": _INT,
            "initial_done": {"type": "boolean"},
            "cursor": {"type": "integer"},
            "behind": {**_INT, "description": "directory changes not looked at yet"},
            "quarantine_reason": _NULLABLE_TEXT,
            "next_attempt_at": TIME,
            "current": {
                **_nullable("Progress"),
                "description": "the running cycle as the store has it",
            },
            "last": {**_nullable("Cycle"), "description": "the last cycle that ended"},
            "retries": {**_INT, "description": "objects whose last operation failed"},
            "retries_more": {
                "type": "boolean",
                "description": "true: more objects fail than retries counts",
            },
            "shadows": {**_INT, "description": "linked objects"},
            "progress": {
                **_nullable("Progress"),
                "description": "the current cycle, live, when the job runs in this relay",
            },
        }
    ),
    "StagedDeprovision": _object(
        {
            "id": {"type": "integer"},
            "kind": _KIND,
            "entry_id": {
                "type": "string",
                "description": "empty for a target object no entry matched (reconcile)",
            },
            "anchor": _TEXT,
            "action": {"type": "string", "enum": ["disable", "delete"]},
            "reason": _TEXT,
            "display": _TEXT,
            "staged_at": _STAMP,
            "decision": {"type": "string", "enum": [d.value for d in StagedDecision]},
            "decided_at": TIME,
            "cycle": _TEXT,
        }
    ),
    "StagedDecided": _object({"count": {**_INT, "description": "pending deprovisions decided"}}),
    "ProvisionOutcome": _object(_OUTCOME, "what was done to one object, step by step"),
    "DryRun": {
        "type": "object",
        "required": ["total", "planned", "counts"],
        "properties": {
            "total": {**_INT, "description": "objects looked at"},
            "planned": {
                "type": "array",
                "items": ref("ProvisionOutcome"),
                "description": "the first planned changes",
            },
            "counts": {
                "type": "object",
                "description": '"action:status" -> objects',
                "additionalProperties": {"type": "integer"},
            },
            "guard": {
                "type": "string",
                "description": "present when the deletion guard would stage deprovisions",
            },
        },
    },
    "ReconcileRequested": _object({"requested": {"type": "boolean", "const": True}}),
    "Whereabouts": _object(
        {
            "job": _TEXT,
            "kind": _KIND,
            "asked": {"type": "string", "description": "the id or name asked for"},
            "entry_id": _NULLABLE_TEXT,
            "name": {**_NULLABLE_TEXT, "description": "userName / displayName"},
            "in_directory": {"type": "boolean"},
            "in_scope": {"type": ["boolean", "null"], "description": "null: not in directory"},
            "scope_reason": {**_NULLABLE_TEXT, "description": "why it is out of scope"},
            "pending": {
                "type": ["integer", "null"],
                "description": "its changes not applied yet; null: too many pending to tell",
            },
            "initial_done": {"type": "boolean"},
            "state": {
                "type": "string",
                "enum": [*(s.value for s in ShadowState), "not linked"],
            },
            "shadow": {
                "anyOf": [
                    _object(
                        {
                            "kind": _KIND,
                            "entry_id": _TEXT,
                            "anchor": _TEXT,
                            "state": {"type": "string", "enum": [s.value for s in ShadowState]},
                            "values": {
                                "type": "object",
                                "description": "the target values last written",
                            },
                            "source_version": {"type": "integer"},
                            "updated_at": _STAMP,
                        }
                    ),
                    {"type": "null"},
                ]
            },
            "staged": _nullable("StagedDeprovision"),
            "retry": {
                "anyOf": [
                    _object(
                        {
                            "attempts": {"type": "integer"},
                            "error_class": _TEXT,
                            "error": _TEXT,
                            "first_failed_at": _STAMP,
                            "next_attempt_at": {
                                **TIME,
                                "description": "null: not before the entry changes",
                            },
                            "source_version": {"type": "integer"},
                        }
                    ),
                    {"type": "null"},
                ]
            },
            "logs": {"type": "array", "items": ref("LogEntry")},
            "in_flight_since": {
                **TIME,
                "description": "since when its operations are with the target",
            },
        }
    ),
}
