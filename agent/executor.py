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
    Schema,
    failed,
)
from shared.exceptions import ConnectorError, ErrorClass

log = structlog.get_logger("agent.executor")


class Executor:
    def __init__(
        self,
        connectors: Mapping[str, Connector],
        journal: Journal,
        *,
        concurrency: int = 4,
        operation_timeout: float | None = 300.0,
    ) -> None:
        self.connectors = connectors
        self.journal = journal
        #: Seconds a connector may take for one batch (default 300) before its operations
        #: are answered with a timeout error; they stay in doubt and may be redelivered.
        self.operation_timeout = operation_timeout
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
                settled = await self._settle_all(connector, to_run, results, doubtful)
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
            async with asyncio.timeout(self.operation_timeout):
                results = await connector.apply(operations)
        except TimeoutError:
            log.warning("connector did not answer in time", seconds=self.operation_timeout)
            error = OperationError(
                ErrorClass.TIMEOUT, f"connector did not answer within {self.operation_timeout} s"
            )
            return failed(operations, error)
        except ConnectorError as exc:
            error = OperationError.from_exception(exc)
            return failed(operations, error)
        except Exception as exc:
            # A connector bug must not take the agent down; the results say what happened,
            # and the journal leaves these operations in doubt so a redelivery tries again.
            log.exception("connector raised an unexpected error", connector=connector.type_name)
            error = OperationError(ErrorClass.INTERNAL, f"connector failed: {exc!r}"[:500])
            return failed(operations, error)
        if len(results) != len(operations):
            error = OperationError(ErrorClass.INTERNAL, "connector returned a wrong result count")
            log.error("connector returned a wrong result count", connector=connector.type_name)
            return failed(operations, error)
        return results

    async def _settle_all(
        self,
        connector: Connector,
        operations: list[Operation],
        results: list[OperationResult],
        doubtful: set[str],
    ) -> list[OperationResult]:
        """Interpret the re-runs of operations that may already have happened: a delete
        that finds nothing is done; a create that conflicts is matched by its naming
        attribute. The schema is read once, and only if a create needs matching."""
        settled: list[OperationResult] = []
        schema: Schema | None = None
        for op, result in zip(operations, results, strict=True):
            kind = result.error.error_class if result.error is not None else None
            if op.key not in doubtful or kind is None:
                settled.append(result)
            elif op.action is Action.DELETE and kind is ErrorClass.NOT_FOUND:
                settled.append(OperationResult(op.key, anchor=op.anchor))
            elif op.action is Action.CREATE and kind is ErrorClass.CONFLICT:
                schema = schema or await _schema(connector)
                anchor = None if schema is None else await _match(connector, schema, op)
                settled.append(result if anchor is None else OperationResult(op.key, anchor=anchor))
            else:
                settled.append(result)
        return settled


async def _schema(connector: Connector) -> Schema | None:
    try:
        return await connector.schema()
    except Exception as exc:
        # Without a schema nothing can be matched; the conflicts are reported as they are.
        log.exception("could not read the schema to match in-doubt creates", error=repr(exc))
        return None


async def _match(connector: Connector, schema: Schema, op: Operation) -> str | None:
    """Find the object an interrupted create made, by its naming attribute."""
    info = schema.object_class(op.object_class)
    if info is None:
        return None
    value = (op.attributes or {}).get(info.naming_attribute)
    if value is None or isinstance(value, list):
        return None
    try:
        found = await connector.search(
            op.object_class, Equals(info.naming_attribute, value), Page(size=2)
        )
    except Exception as exc:
        log.exception("could not match an in-doubt create", key=op.key, error=repr(exc))
        return None
    return found.objects[0].anchor if len(found.objects) == 1 else None


def _is_final(result: OperationResult) -> bool:
    """Whether a redelivery should get this same answer. A retryable error or a connector
    bug is not final: the key stays in doubt, and the next delivery runs it again."""
    if result.error is None:
        return True
    kind = result.error.error_class
    return not kind.retryable and kind is not ErrorClass.INTERNAL
