"""Runs verified batches against connectors: de-duplicate, journal, execute, answer.

Each operation runs at most once in effect:

* a key with a journaled result is answered from the journal (``replayed``);
* a key still running in this process (the relay redelivered it after a reconnect) waits
  for that run instead of starting another;
* a key journaled as started without a final result (the agent died, the target was
  unavailable, or the connector failed) is *in doubt* and is re-run tolerantly:
  a create that now conflicts is matched by its naming attribute, and a delete that finds
  nothing is counted as done.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence

import structlog

from agent.exceptions import JournalError
from agent.journal import Journal
from shared.connector import (
    Action,
    Connector,
    Equals,
    Operation,
    OperationError,
    OperationResult,
    Page,
)
from shared.exceptions import ConnectorError, ErrorClass

log = structlog.get_logger("agent.executor")


class Executor:
    def __init__(
        self, connectors: Mapping[str, Connector], journal: Journal, *, concurrency: int = 4
    ) -> None:
        self.connectors = connectors
        self.journal = journal
        self._slots = asyncio.Semaphore(concurrency)
        self._running: dict[str, asyncio.Future[OperationResult]] = {}

    @property
    def busy(self) -> int:
        """Operations executing right now."""
        return len(self._running)

    async def run(
        self, connector_name: str, operations: Sequence[Operation]
    ) -> list[OperationResult]:
        connector = self.connectors[connector_name]
        loop = asyncio.get_running_loop()
        # Claim keys before the first await, so a redelivery that arrives while this batch
        # runs always finds them here and waits, whatever order the journal answers in.
        waits: dict[str, asyncio.Future[OperationResult]] = {}
        mine: dict[str, asyncio.Future[OperationResult]] = {}
        claimed: list[Operation] = []
        for op in operations:
            running = self._running.get(op.key)
            if running is not None:
                waits[op.key] = running
            else:
                mine[op.key] = self._running[op.key] = loop.create_future()
                claimed.append(op)
        answers: dict[str, OperationResult] = {}
        try:
            answers.update(await self._answer(connector, claimed))
            for key, future in mine.items():
                future.set_result(answers[key])
        except BaseException as exc:
            for future in mine.values():
                if not future.done():
                    future.set_exception(exc)
                    future.exception()  # retrieved here; the waiting caller re-raises it
            raise
        finally:
            for key, future in mine.items():
                if self._running.get(key) is future:
                    del self._running[key]
        for key, future in waits.items():
            answers[key] = await asyncio.shield(future)
        return [answers[op.key] for op in operations]

    async def _answer(
        self, connector: Connector, operations: list[Operation]
    ) -> dict[str, OperationResult]:
        """Answer from the journal what it knows; run the rest."""
        known = await self.journal.lookup([op.key for op in operations])
        answers: dict[str, OperationResult] = {}
        fresh: list[Operation] = []
        in_doubt: list[Operation] = []
        for op in operations:
            stored = known.get(op.key)
            if stored is not None:
                answers[op.key] = dataclasses.replace(stored, replayed=True)
            elif op.key in known:
                in_doubt.append(op)
            else:
                fresh.append(op)
        if fresh or in_doubt:
            await self.journal.start(op.key for op in fresh)
            to_run = fresh + in_doubt
            async with self._slots:
                results = await self._apply(connector, to_run)
            doubtful = {op.key for op in in_doubt}
            settled = [
                await self._settle(connector, op, result) if op.key in doubtful else result
                for op, result in zip(to_run, results, strict=True)
            ]
            try:
                await self.journal.finish([r for r in settled if _is_final(r)])
            except JournalError:
                # The operations ran and their results are true; unjournaled, they stay in
                # doubt, and a redelivery re-runs them tolerantly.
                log.exception("results could not be journaled")
            answers.update((r.key, r) for r in settled)
        return answers

    async def _apply(
        self, connector: Connector, operations: list[Operation]
    ) -> list[OperationResult]:
        try:
            results = await connector.apply(operations)
        except ConnectorError as exc:
            error = OperationError.from_exception(exc)
            return [OperationResult(op.key, error=error) for op in operations]
        except Exception as exc:
            # A connector bug must not take the agent down; the results say what happened,
            # and the journal leaves these operations in doubt so a redelivery tries again.
            log.exception("connector raised an unexpected error", connector=connector.type_name)
            error = OperationError(ErrorClass.INTERNAL, f"connector failed: {exc!r}"[:500])
            return [OperationResult(op.key, error=error) for op in operations]
        if len(results) != len(operations):
            error = OperationError(ErrorClass.INTERNAL, "connector returned a wrong result count")
            log.error("connector returned a wrong result count", connector=connector.type_name)
            return [OperationResult(op.key, error=error) for op in operations]
        return results

    async def _settle(
        self, connector: Connector, op: Operation, result: OperationResult
    ) -> OperationResult:
        """Interpret the re-run of an operation that may already have happened."""
        if result.error is None:
            return result
        kind = result.error.error_class
        if op.action is Action.DELETE and kind is ErrorClass.NOT_FOUND:
            return OperationResult(op.key, anchor=op.anchor)
        if op.action is Action.CREATE and kind is ErrorClass.CONFLICT:
            anchor = await _match(connector, op)
            if anchor is not None:
                return OperationResult(op.key, anchor=anchor)
        return result


async def _match(connector: Connector, op: Operation) -> str | None:
    """Find the object an interrupted create made, by its naming attribute."""
    try:
        schema = await connector.schema()
        info = schema.object_class(op.object_class)
        if info is None:
            return None
        value = (op.attributes or {}).get(info.naming_attribute)
        if value is None or isinstance(value, list):
            return None
        found = await connector.search(
            op.object_class, Equals(info.naming_attribute, value), Page(size=2)
        )
    except ConnectorError as exc:
        log.warning("could not match an in-doubt create", key=op.key, error=str(exc))
        return None
    return found.objects[0].anchor if len(found.objects) == 1 else None


def _is_final(result: OperationResult) -> bool:
    """Whether a redelivery should get this same answer. A retryable error or a connector
    bug is not final: the key stays in doubt, and the next delivery runs it again."""
    if result.error is None:
        return True
    kind = result.error.error_class
    return not kind.retryable and kind is not ErrorClass.INTERNAL
