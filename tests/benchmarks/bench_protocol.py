"""Benchmark of the relay-agent protocol (issue 2): throughput, round trip, relay memory.

Run from the checkout::

    .venv/bin/python tests/benchmarks/bench_protocol.py           # full, about 45 s
    .venv/bin/python tests/benchmarks/bench_protocol.py --quick   # smoke test, about 20 s

Relay and agent always run as two processes over loopback, and every figure is printed
beside a baseline measured in the same run on the same machine, because the machine is
shared and noisy: the ratio is the figure to compare between runs.

1. Throughput. This process hosts the relay (``relay.app.start``, as the end-to-end harness does)
   and calls ``Hub.send`` with batches of 500 creates from 16 concurrent senders, so the
   window of 8 batches stays full; the agent is a real ``hatchway agent run`` process,
   registered through the registration endpoint, serving the null connector
   (``null_connector.py``). Baseline: this process runs a plain aiohttp websocket echo
   server (``compress=False``) and a child process a ``websockets`` client that echoes
   frames of the size of one 500-operation batch frame, 8 in flight.
2. Round trip of one operation: sequential ``Hub.send`` of one create; p50 and p99.
   Baseline: sequential echo round trips of frames of the size of a one-operation batch.
3. Relay memory per idle agent: ``hatchway relay serve`` in its own process; one load
   process registers the agents over HTTP, opens one websocket per agent, completes the
   real handshake (``AgentProtocol``) and idles. The relay's VmRSS after the connections,
   minus before them, divided by their number. Baseline: the same for a plain aiohttp
   websocket server (``compress=False``) holding as many idle connections that each
   exchanged one message.

The script re-runs itself with a hidden ``--role`` for the child processes it needs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from aiohttp import WSMsgType, web  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from agent.registration import register  # noqa: E402
from agent.settings import CONFIG_FILE  # noqa: E402
from relay.app import STORE_FILE, start  # noqa: E402
from relay.keys import HUB, STORE  # noqa: E402
from relay.settings import RelaySettings  # noqa: E402
from relay.store.sqlite import SqliteStore  # noqa: E402
from shared import logs  # noqa: E402
from shared.connector import USER, Action, Attributes, Operation, OperationResult  # noqa: E402
from shared.protocol import signing  # noqa: E402
from shared.protocol.agent import AgentProtocol, AgentState  # noqa: E402
from shared.protocol.events import BatchReceived, ConnectorInfo, HelloReceived  # noqa: E402
from shared.protocol.relay import RelayProtocol  # noqa: E402
from tests.benchmarks.report import machine, markdown_table  # noqa: E402

HERE = Path(__file__).resolve().parent

BATCH = 500
WINDOW = 8
SENDERS = 16
AGENT_NAME = "bench"
CONNECTOR = "null"
MAX_FRAME = 8 * 1024 * 1024

TARGET_OPS = 50_000.0
TARGET_P50_MS = 2.0
TARGET_P99_MS = 10.0
TARGET_KIB = 20.0


@dataclass(frozen=True)
class Plan:
    throughput_seconds: float
    throughput_warmup_per_sender: int
    round_trips: int
    round_trip_warmup: int
    idle_agents: int
    idle_warmup: int


FULL = Plan(10.0, 2, 3000, 300, 2000, 20)
QUICK = Plan(2.0, 1, 300, 50, 200, 10)


# Helpers shared by every role --------------------------------------------------------


def _attributes(i: int) -> Attributes:
    return {
        "user_name": f"user{i}@example.com",
        "display_name": f"User Number {i}",
        "mail": f"user{i}@example.com",
        "department": f"Department {i % 40}",
    }


#: Attribute values are shared between batches, so making a batch costs the benchmark
#: little beyond its unique keys; they are encoded afresh for every batch all the same.
_ATTRIBUTES = [_attributes(i) for i in range(BATCH)]


def operations(prefix: str, count: int) -> list[Operation]:
    """``count`` user creates with unique idempotency keys (the null connector answers a
    create without an ``id`` attribute with the key as anchor)."""
    return [
        Operation(f"{prefix}-{i}", Action.CREATE, USER, attributes=_ATTRIBUTES[i % BATCH])
        for i in range(count)
    ]


def sample_frames(count: int) -> tuple[str, str]:
    """A real signed batch frame of ``count`` operations and the agent's results frame,
    produced by the two state machines joined in memory."""
    relay_key, agent_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    relay = RelayProtocol(relay_key)
    agent = AgentProtocol(
        AGENT_NAME,
        agent_key,
        relay_key.public_key(),
        connectors=[ConnectorInfo(CONNECTOR, "null")],
    )
    agent.start()
    for frame in agent.data_to_send():
        events = relay.receive(frame)
        assert isinstance(events[0], HelloReceived)
    relay.challenge(agent_key.public_key())
    for _ in range(2):  # challenge -> auth, then welcome
        for frame in relay.data_to_send():
            agent.receive(frame)
        for frame in agent.data_to_send():
            relay.receive(frame)
    assert agent.state is AgentState.OPEN
    relay.send_batch(uuid.uuid4().hex, CONNECTOR, operations("sample", count))
    (batch_frame,) = relay.data_to_send()
    (received,) = agent.receive(batch_frame)
    assert isinstance(received, BatchReceived)
    agent.send_results(
        received.batch_id,
        [OperationResult(op.key, anchor=op.key) for op in received.operations],
    )
    (results_frame,) = agent.data_to_send()
    return batch_frame, results_frame


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_nofile(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def settled_rss(pid: int, *, wait: float = 2.0, timeout: float = 20.0) -> int:
    """VmRSS once it stops moving: two readings 0.5 s apart within 64 KiB."""
    await asyncio.sleep(wait)
    deadline = time.monotonic() + timeout
    last = rss_kib(pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now = rss_kib(pid)
        if abs(now - last) <= 64:
            return now
        last = now
    return last


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """User plus system CPU time of a process (or one of its threads), from /proc."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    fields = Path(path).read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU time the relay (this process) and the agent spend, whole and on the main thread
    (the event loop): robust on a shared machine, where wall-clock rates are not."""

    def __init__(self, agent_pid: int) -> None:
        self.pids = {"relay": os.getpid(), "agent": agent_pid}
        self.start = self._read()

    def _read(self) -> dict[str, float]:
        out = {}
        for name, pid in self.pids.items():
            out[name] = cpu_seconds(pid)
            out[f"{name}_main"] = cpu_seconds(pid, pid)
        # The whole machine, from /proc/stat: user nice system idle iowait irq softirq steal.
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        out["machine_ticks"] = float(sum(ticks))
        out["machine_idle_ticks"] = float(ticks[3] + ticks[4])
        return out

    def per_op(self, ops: int, seconds: float) -> dict[str, float]:
        end = self._read()
        delta = {key: end[key] - self.start[key] for key in end}
        out = {}
        ours = 0.0
        for name in self.pids:
            ours += delta[name]
            out[f"{name}_cpu_us_per_op"] = delta[name] / ops * 1e6
            out[f"{name}_main_us_per_op"] = delta[f"{name}_main"] / ops * 1e6
            out[f"{name}_main_busy"] = delta[f"{name}_main"] / seconds
        cores = os.cpu_count() or 1
        busy = 1 - delta["machine_idle_ticks"] / max(delta["machine_ticks"], 1)
        out["cores_busy"] = busy * cores
        out["cores_ours"] = ours / seconds
        out["cores_others"] = max(0.0, busy * cores - ours / seconds)
        return out


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    index = min(len(sorted_values) - 1, max(0, math.ceil(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def emit(**message: Any) -> None:
    """A child's report to the parent: one JSON line on stdout."""
    print(json.dumps(message), flush=True)


async def read_command() -> str:
    """The parent's next command on stdin; "" once stdin is closed."""
    return (await asyncio.to_thread(sys.stdin.readline)).strip()


# Child processes, seen from the parent -------------------------------------------------


@dataclass
class Child:
    """A child process whose stdout carries JSON lines and whose stderr goes to a file."""

    name: str
    proc: asyncio.subprocess.Process
    log_path: Path

    @classmethod
    async def start(
        cls, name: str, argv: Sequence[str], log_dir: Path, *, env: dict[str, str] | None = None
    ) -> Child:
        log_path = log_dir / f"{name}.log"
        with log_path.open("wb") as log:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env={**os.environ, **(env or {})},
            )
        child = cls(name, proc, log_path)
        CHILDREN.append(child)
        return child

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def message(self, timeout: float) -> dict[str, Any]:
        """The next JSON line the child prints."""
        assert self.proc.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.proc.stdout.readline()
                if not raw:
                    code = await self.proc.wait()
                    raise RuntimeError(
                        f"{self.name} exited ({code}) early; its log:\n{self.tail()}"
                    )
                with contextlib.suppress(ValueError):
                    message = json.loads(raw)
                    if isinstance(message, dict):
                        return message

    async def expect(self, event: str, timeout: float) -> dict[str, Any]:
        try:
            message = await self.message(timeout)
        except TimeoutError:
            raise RuntimeError(
                f"{self.name}: no {event!r} within {timeout} s; its log:\n{self.tail()}"
            ) from None
        if message.get("event") != event:
            raise RuntimeError(f"{self.name}: expected {event!r}, got {message}")
        return message

    async def command(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        await self.proc.stdin.drain()

    async def stop(self, timeout: float = 30.0) -> int:
        """Close stdin and send SIGTERM; kill if it has not exited after ``timeout``."""
        if self.proc.returncode is None:
            if self.proc.stdin is not None and not self.proc.stdin.is_closing():
                self.proc.stdin.close()
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            return await asyncio.wait_for(self.proc.wait(), 10)


CHILDREN: list[Child] = []


def role_argv(role: str, *args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--role", role, *args]


# Echo server (this process, or its own for the memory baseline) -------------------------


async def echo_handler(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False, max_msg_size=MAX_FRAME)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


async def start_echo_server(port: int) -> web.AppRunner:
    app = web.Application()
    app.router.add_get("/echo", echo_handler)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_address=True).start()
    return runner


# Figures 1 and 2: relay in this process, agent in its own ------------------------------


async def start_agent(relay_url: str, store: Any, root: Path) -> Child:
    config_dir, data_dir = root / "agent" / "config", root / "agent" / "data"
    data_dir.mkdir(parents=True, mode=0o700)
    _, token = await store.create_token(AGENT_NAME, 600)
    await register(relay_url, token, config_dir=config_dir, data_dir=data_dir, timeout=30)
    with (config_dir / CONFIG_FILE).open("a", encoding="utf-8") as fh:
        fh.write(f'\n[connectors.{CONNECTOR}]\ntype = "null_connector:NullConnector"\n')
    pythonpath = os.pathsep.join([str(HERE), str(REPO), os.environ.get("PYTHONPATH", "")])
    argv = [sys.executable, "-m", "relay.cli", "--log-json", "agent", "run"]
    argv += ["--config-dir", str(config_dir), "--data-dir", str(data_dir)]
    return await Child.start("agent", argv, root, env={"PYTHONPATH": pythonpath})


async def wait_connected(hub: Any, agent: Child, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while AGENT_NAME not in hub.connected_agents():
        if agent.proc.returncode is not None:
            raise RuntimeError(f"agent exited ({agent.proc.returncode}):\n{agent.tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"agent did not connect within {timeout} s:\n{agent.tail()}")
        await asyncio.sleep(0.05)


def check(results: list[OperationResult], ops: list[Operation]) -> None:
    """One successful result per operation, anchored at its key (see null_connector)."""
    if len(results) != len(ops) or any(
        r.anchor != op.key or not r.ok for r, op in zip(results, ops, strict=False)
    ):
        bad = next((r for r, op in zip(results, ops, strict=False) if r.anchor != op.key), None)
        raise RuntimeError(f"bad results: {len(results)} for {len(ops)}; first bad {bad}")


async def hub_throughput(
    hub: Any, agent_pid: int, seconds: float, warmup_per_sender: int
) -> dict[str, float]:
    async def sender(name: str, deadline: float | None, batches: int | None) -> int:
        sent = seq = 0
        while (deadline is None or time.perf_counter() < deadline) and (
            batches is None or seq < batches
        ):
            ops = operations(f"{name}-{seq}", BATCH)
            seq += 1
            check(await hub.send(AGENT_NAME, CONNECTOR, ops, timeout=30), ops)
            sent += BATCH
        return sent

    async with asyncio.timeout(120):
        await asyncio.gather(*(sender(f"w{n}", None, warmup_per_sender) for n in range(SENDERS)))
    meter = CpuMeter(agent_pid)
    start = time.perf_counter()
    async with asyncio.timeout(seconds + 120):
        counts = await asyncio.gather(
            *(sender(f"t{n}", start + seconds, None) for n in range(SENDERS))
        )
    elapsed = time.perf_counter() - start
    ops = sum(counts)
    return {"ops": ops, "seconds": elapsed, "ops_per_s": ops / elapsed} | meter.per_op(ops, elapsed)


async def hub_round_trips(hub: Any, count: int, warmup: int) -> dict[str, float]:
    times: list[float] = []
    async with asyncio.timeout(120 + count * 0.1):
        for i in range(warmup + count):
            ops = operations(f"r{i}", 1)
            start = time.perf_counter()
            check(await hub.send(AGENT_NAME, CONNECTOR, ops, timeout=10), ops)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"p50_ms": percentile(times, 50), "p99_ms": percentile(times, 99), "n": len(times)}


async def echo_baseline(url: str, log_dir: Path, *args: str) -> dict[str, Any]:
    child = await Child.start(
        f"echo-client-{args[0]}", role_argv("echo-client", url, *args), log_dir
    )
    try:
        return await child.expect("result", timeout=180)
    finally:
        await child.stop()


async def figures_1_and_2(plan: Plan, root: Path, out: dict[str, Any]) -> None:
    relay_dir = root / "relay"
    settings = RelaySettings(listen=f"127.0.0.1:{free_port()}")
    runner = await start(settings, relay_dir)
    app = runner.app
    echo_port = free_port()
    echo_runner: web.AppRunner | None = None
    agent: Child | None = None
    try:
        echo_runner = await start_echo_server(echo_port)
        echo_url = f"ws://127.0.0.1:{echo_port}/echo"
        hub = app[HUB]
        agent = await start_agent(f"http://127.0.0.1:{settings.host_port[1]}", app[STORE], root)
        await wait_connected(hub, agent)

        print(f"  echo baseline, {BATCH}-op frames, window {WINDOW} ...", flush=True)
        out["echo_pipelined"] = await echo_baseline(
            echo_url,
            root,
            "pipelined",
            "--ops",
            str(BATCH),
            "--window",
            str(WINDOW),
            "--seconds",
            str(plan.throughput_seconds),
        )
        print(f"  hub throughput, {SENDERS} senders ...", flush=True)
        out["throughput"] = await hub_throughput(
            hub, agent.proc.pid, plan.throughput_seconds, plan.throughput_warmup_per_sender
        )
        print("  echo baseline, sequential 1-op frames ...", flush=True)
        out["echo_sequential"] = await echo_baseline(
            echo_url,
            root,
            "sequential",
            "--ops",
            "1",
            "--count",
            str(plan.round_trips),
            "--warmup",
            str(plan.round_trip_warmup),
        )
        print("  hub round trips, 1 op ...", flush=True)
        out["round_trip"] = await hub_round_trips(hub, plan.round_trips, plan.round_trip_warmup)
        code = await agent.stop()
        if code != 0:
            raise RuntimeError(f"agent exited with {code}:\n{agent.tail()}")
    finally:
        if agent is not None:
            await agent.stop()
        if echo_runner is not None:
            await echo_runner.cleanup()
        await runner.cleanup()


# Figure 3: relay memory per idle agent ---------------------------------------------------


async def wait_http(url: str, proc: Child, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while True:
            if proc.proc.returncode is not None:
                raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(url) as response:
                    if response.status < 500:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not answering after {timeout} s:\n{proc.tail()}")
            await asyncio.sleep(0.1)


async def measure_idle(
    server_pid: int, load: Child, count: int, timeout: float, probe: Any = None
) -> dict[str, Any]:
    """VmRSS of ``server_pid`` before and after ``load`` opens ``count`` idle connections;
    ``probe`` (async, optional) adds figures read while they are open."""
    await load.expect("ready", timeout=timeout)
    before = await settled_rss(server_pid)
    await load.command("connect")
    connected = await load.expect("connected", timeout=timeout)
    if connected["count"] != count:
        raise RuntimeError(f"{load.name}: {connected['count']} connections, not {count}")
    after = await settled_rss(server_pid)
    extra = await probe() if probe is not None else {}
    await load.command("close")
    await load.expect("closed", timeout=timeout)
    return {
        "before_kib": before,
        "after_kib": after,
        "connections": count,
        "per_connection_kib": (after - before) / count,
        "connect_seconds": connected["seconds"],
        **extra,
    }


async def figure_3(plan: Plan, root: Path, out: dict[str, Any]) -> None:
    count, warm = plan.idle_agents, plan.idle_warmup
    timeout = 120 + count * 0.1
    # Relay: `hatchway relay serve` in its own process.
    port = free_port()
    data_dir, config_dir = root / "mem-relay" / "data", root / "mem-relay" / "config"
    data_dir.mkdir(parents=True)
    config_dir.mkdir(parents=True)
    argv = [sys.executable, "-m", "relay.cli", "--log-json", "relay", "serve"]
    argv += ["--listen", f"127.0.0.1:{port}", "--data-dir", str(data_dir)]
    argv += ["--config-dir", str(config_dir)]
    relay = await Child.start("mem-relay", argv, root)
    load: Child | None = None
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_http(base + "/healthz", relay)
        store = SqliteStore(data_dir / STORE_FILE)
        await store.open()
        try:
            names = [f"idle-{i:05d}" for i in range(warm + count)]
            tokens = [[name, (await store.create_token(name, 3600))[1]] for name in names]
        finally:
            await store.close()
        tokens_file = root / "tokens.json"
        tokens_file.write_text(json.dumps(tokens))
        print(f"  relay: {count} agents register, connect and idle ...", flush=True)
        load = await Child.start(
            "mem-agents",
            role_argv("idle-agents", base, str(tokens_file), "--warmup", str(warm)),
            root,
        )

        async def probe() -> dict[str, Any]:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
                http.get(base + "/healthz") as response,
            ):
                connected = (await response.json())["agents_connected"]
            if connected != count:
                raise RuntimeError(f"the relay counts {connected} connected agents, not {count}")
            return {"relay_agents_connected": connected}

        out["relay_memory"] = await measure_idle(relay.proc.pid, load, count, timeout, probe)
        await load.stop()
        load = None
    finally:
        if load is not None:
            await load.stop()
        await relay.stop()

    # Baseline: a plain aiohttp websocket server in its own process.
    port = free_port()
    server = await Child.start("mem-plain-server", role_argv("plain-server", str(port)), root)
    load = None
    try:
        ready = await server.expect("ready", timeout=30)
        print(f"  plain aiohttp server: {count} idle websockets ...", flush=True)
        load = await Child.start(
            "mem-plain-clients",
            role_argv("plain-clients", f"ws://127.0.0.1:{port}/echo", str(count), str(warm)),
            root,
        )
        out["plain_memory"] = await measure_idle(int(ready["pid"]), load, count, timeout)
        await load.stop()
        load = None
    finally:
        if load is not None:
            await load.stop()
        await server.stop()


# Roles run in child processes ------------------------------------------------------------


async def role_echo_client(args: argparse.Namespace) -> None:
    frame, _ = sample_frames(args.ops)
    async with connect(
        args.url, compression=None, max_size=MAX_FRAME, ping_interval=None, proxy=None
    ) as ws:
        if args.mode == "pipelined":
            await echo_pipelined(ws, frame, args.window, 1.0)  # warm-up
            done, elapsed = await echo_pipelined(ws, frame, args.window, args.seconds)
            emit(
                event="result",
                frame_bytes=len(frame.encode()),
                messages=done,
                seconds=elapsed,
                messages_per_s=done / elapsed,
            )
        else:
            times: list[float] = []
            for i in range(args.warmup + args.count):
                start = time.perf_counter()
                await ws.send(frame)
                echoed = await asyncio.wait_for(ws.recv(), 10)
                if i >= args.warmup:
                    times.append((time.perf_counter() - start) * 1000)
                assert len(echoed) == len(frame)
            times.sort()
            emit(
                event="result",
                frame_bytes=len(frame.encode()),
                p50_ms=percentile(times, 50),
                p99_ms=percentile(times, 99),
                n=len(times),
            )


async def echo_pipelined(
    ws: ClientConnection, frame: str, window: int, seconds: float
) -> tuple[int, float]:
    """Keep ``window`` frames in flight for ``seconds``; frames echoed and elapsed time."""
    start = time.perf_counter()
    deadline = start + seconds
    outstanding = done = 0
    for _ in range(window):
        await ws.send(frame)
        outstanding += 1
    while outstanding:
        await asyncio.wait_for(ws.recv(), 10)
        outstanding -= 1
        done += 1
        if time.perf_counter() < deadline:
            await ws.send(frame)
            outstanding += 1
    return done, time.perf_counter() - start


async def gather_limited(coros: Sequence[Any], limit: int) -> list[Any]:
    slots = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with slots:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


async def register_over_http(
    http: aiohttp.ClientSession, base: str, name: str, token: str
) -> tuple[str, Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    body = {
        "token": token,
        "public_key": signing.public_key_text(key.public_key()),
        "software": "hatchway-bench",
    }
    async with http.post(base + "/agent/v1/register", json=body) as response:
        answer = await response.json()
        if response.status != 200 or answer.get("agent") != name:
            raise RuntimeError(f"registration of {name} failed: {response.status} {answer}")
    return name, key, answer["relay_public_key"]


async def handshake(
    url: str, name: str, key: Ed25519PrivateKey, relay_key: Any
) -> ClientConnection:
    protocol = AgentProtocol(
        name, key, relay_key, connectors=[ConnectorInfo(CONNECTOR, "null")], software="bench"
    )
    protocol.start()
    ws = await connect(
        url,
        compression=None,
        max_size=MAX_FRAME,
        ping_interval=None,
        open_timeout=60,
        close_timeout=10,
        proxy=None,
    )
    try:
        async with asyncio.timeout(60):
            for frame in protocol.data_to_send():
                await ws.send(frame)
            while protocol.state is not AgentState.OPEN:
                protocol.receive(await ws.recv())
                for frame in protocol.data_to_send():
                    await ws.send(frame)
                if protocol.close is not None:
                    raise RuntimeError(f"{name}: handshake failed: {protocol.close}")
    except BaseException:
        await ws.close()
        raise
    return ws


async def idle_until_told(opened: Any) -> None:
    """Shared tail of the load roles: ready, connect on command, idle, close on command."""
    emit(event="ready")
    if await read_command() != "connect":
        return
    start = time.perf_counter()
    sockets = await opened()
    emit(event="connected", count=len(sockets), seconds=time.perf_counter() - start)
    await read_command()  # "close", or stdin closed
    await gather_limited([ws.close() for ws in sockets], 64)
    emit(event="closed")


async def role_idle_agents(args: argparse.Namespace) -> None:
    raise_nofile(args_limit(args))
    pairs = json.loads(Path(args.tokens).read_text())
    url = args.base.replace("http://", "ws://") + "/agent/v1/connect"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        registered = await gather_limited(
            [register_over_http(http, args.base, name, token) for name, token in pairs], 16
        )
    relay_key = signing.public_key_from_text(registered[0][2])
    warm, rest = registered[: args.warmup], registered[args.warmup :]
    for name, key, _ in warm:  # first connections pay one-time costs; not counted
        await (await handshake(url, name, key, relay_key)).close()

    async def opened() -> list[ClientConnection]:
        return await gather_limited(
            [handshake(url, name, key, relay_key) for name, key, _ in rest], 32
        )

    await idle_until_told(opened)


async def plain_connection(url: str, text: str) -> ClientConnection:
    ws = await connect(
        url, compression=None, ping_interval=None, open_timeout=60, close_timeout=10, proxy=None
    )
    await ws.send(text)
    await asyncio.wait_for(ws.recv(), 60)
    return ws


async def role_plain_clients(args: argparse.Namespace) -> None:
    raise_nofile(args.count + 1024)
    hello = json.dumps({"hello": "x" * 200})
    for _ in range(args.warmup):
        await (await plain_connection(args.url, hello)).close()

    async def opened() -> list[ClientConnection]:
        return await gather_limited(
            [plain_connection(args.url, hello) for _ in range(args.count)], 32
        )

    await idle_until_told(opened)


async def role_plain_server(args: argparse.Namespace) -> None:
    raise_nofile(20_000)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    runner = await start_echo_server(args.port)
    emit(event="ready", pid=os.getpid())
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def args_limit(args: argparse.Namespace) -> int:
    return len(json.loads(Path(args.tokens).read_text())) + 1024


# Report ----------------------------------------------------------------------------------


def table(results: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str, str, str, str]] = []
    if "throughput" in results:
        tput = results["throughput"]["ops_per_s"]
        echo = results["echo_pipelined"]
        equiv = echo["messages_per_s"] * BATCH
        rows.append(
            (
                f"throughput, batches of {BATCH}, window {WINDOW}",
                f"{tput:,.0f} ops/s",
                f"{equiv:,.0f} ops/s ({echo['messages_per_s']:,.0f} echoes/s"
                f" of {echo['frame_bytes'] / 1024:,.1f} KiB)",
                f"{tput / equiv:.3f}",
                f">= {TARGET_OPS:,.0f} ops/s",
                "yes" if tput >= TARGET_OPS else "NO",
            )
        )
        rt, seq = results["round_trip"], results["echo_sequential"]
        for name, target in (("p50", TARGET_P50_MS), ("p99", TARGET_P99_MS)):
            value, base = rt[f"{name}_ms"], seq[f"{name}_ms"]
            rows.append(
                (
                    f"round trip of 1 operation, {name}",
                    f"{value:.2f} ms",
                    f"{base:.3f} ms (echo of {seq['frame_bytes']} B)",
                    f"{value / base:.1f}",
                    f"<= {target:g} ms",
                    "yes" if value <= target else "NO",
                )
            )
    if "relay_memory" in results:
        mem, plain = results["relay_memory"], results["plain_memory"]
        value, base = mem["per_connection_kib"], plain["per_connection_kib"]
        rows.append(
            (
                f"relay memory per idle agent ({mem['connections']:,})",
                f"{value:.1f} KiB",
                f"{base:.1f} KiB (plain aiohttp websocket)",
                f"{value / base:.2f}",
                f"<= {TARGET_KIB:g} KiB",
                "yes" if value <= TARGET_KIB else "NO",
            )
        )
    return markdown_table(rows)


def details(results: dict[str, Any]) -> str:
    out = []
    if "throughput" in results:
        batch_frame, results_frame = sample_frames(BATCH)
        t = results["throughput"]
        out.append(
            f"throughput: {t['ops']:,} operations in {t['seconds']:.2f} s; a {BATCH}-op batch"
            f" frame is {len(batch_frame.encode()):,} B, its results frame"
            f" {len(results_frame.encode()):,} B"
        )
        for side in ("relay", "agent"):
            out.append(
                f"  {side} process: {t[f'{side}_cpu_us_per_op']:.1f} us CPU per operation,"
                f" {t[f'{side}_main_us_per_op']:.1f} us of it on the event loop thread,"
                f" which was busy {t[f'{side}_main_busy']:.0%} of the time"
            )
        out.append(
            f"  machine: {t['cores_busy']:.2f} of {os.cpu_count()} cores busy;"
            f" relay and agent {t['cores_ours']:.2f}, other processes {t['cores_others']:.2f}"
        )
        out.append(f"round trip: {results['round_trip']['n']} sends after warm-up")
    for key in ("relay_memory", "plain_memory"):
        if key in results:
            m = results[key]
            out.append(
                f"{key}: VmRSS {m['before_kib']:,} -> {m['after_kib']:,} KiB for"
                f" {m['connections']:,} connections (opened in {m['connect_seconds']:.1f} s)"
            )
    return "\n".join(out)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    plan = QUICK if args.quick else FULL
    raise_nofile(2 * plan.idle_agents + 1024)  # inherited by the relay process
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="hatchway-bench-") as tmp:
        root = Path(tmp)
        try:
            if args.only in (None, "hub"):
                print("figures 1-2: relay in this process, agent process", flush=True)
                await figures_1_and_2(plan, root, out)
            if args.only in (None, "memory"):
                print("figure 3: relay process, load process", flush=True)
                await figure_3(plan, root / "memory", out)
        finally:
            for child in CHILDREN:
                await child.stop(timeout=10)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run, as a smoke test")
    parser.add_argument(
        "--only", choices=["hub", "memory"], help="run only figures 1-2 (hub) or 3 (memory)"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures to FILE")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--role"] and len(argv) > 1:  # a child process this script started
        return run_role(argv[1], argv[2:])
    args = parser.parse_args(argv)
    logs.configure(json=True, level="warning")
    started = datetime.now(UTC)
    print(f"hatchway protocol benchmark, {'quick' if args.quick else 'full'}; {machine()}")
    results = asyncio.run(run(args))
    print()
    print(table(results))
    print()
    print(details(results))
    print(f"\n{started:%Y-%m-%d %H:%M} UTC; {machine()}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def run_role(role: str, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"bench_protocol --role {role}")
    if role == "echo-client":
        parser.add_argument("url")
        parser.add_argument("mode", choices=["pipelined", "sequential"])
        parser.add_argument("--ops", type=int, required=True)
        parser.add_argument("--window", type=int, default=WINDOW)
        parser.add_argument("--seconds", type=float, default=5.0)
        parser.add_argument("--count", type=int, default=1000)
        parser.add_argument("--warmup", type=int, default=100)
        entry = role_echo_client
    elif role == "idle-agents":
        parser.add_argument("base")
        parser.add_argument("tokens")
        parser.add_argument("--warmup", type=int, default=0)
        entry = role_idle_agents
    elif role == "plain-clients":
        parser.add_argument("url")
        parser.add_argument("count", type=int)
        parser.add_argument("warmup", type=int)
        entry = role_plain_clients
    elif role == "plain-server":
        parser.add_argument("port", type=int)
        entry = role_plain_server
    else:
        parser.error(f"unknown role {role!r}")
    asyncio.run(entry(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
