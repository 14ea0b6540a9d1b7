"""Root conftest: the throwaway-server fixtures, and no silent skips in CI.

The design promises that in CI nothing that needs a server is skipped, so when the CI
environment variable is set, any skipped test turns the run into a failure.
"""

import importlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

import pytest
import structlog

# Whether tests/ is a package (tests.conftest) or a plain folder that pytest puts on sys.path
# (conftest), the fixtures module is found relative to this file.
_fixtures = importlib.import_module(
    f"{__package__}.servers.fixtures" if __package__ else "servers.fixtures"
)
mariadb_database = _fixtures.mariadb_database
mariadb_server = _fixtures.mariadb_server
postgres_database = _fixtures.postgres_database
postgres_server = _fixtures.postgres_server
scim_server = _fixtures.scim_server
slapd_server = _fixtures.slapd_server
sqlite_odbc_database = _fixtures.sqlite_odbc_database


class NoSkipsInCi:
    """Records skips and fails the session because of them."""

    def __init__(self) -> None:
        self.skipped: list[str] = []

    def _record(self, report: pytest.CollectReport | pytest.TestReport) -> None:
        if not report.skipped or hasattr(report, "wasxfail"):
            return
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        reason = str(reason).removeprefix("Skipped: ")
        self.skipped.append(f"{report.nodeid or report.fspath}: {reason}")

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._record(report)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._record(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.skipped and session.exitstatus in (
            pytest.ExitCode.OK,
            pytest.ExitCode.NO_TESTS_COLLECTED,
        ):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.skipped:
            return
        terminalreporter.section("skipped tests fail the run because CI is set", red=True)
        for line in self.skipped:
            terminalreporter.line(f"SKIPPED {line}", red=True)
        terminalreporter.line(
            f"{len(self.skipped)} skipped; in CI every test must run (install what it needs "
            "with scripts/setup.sh instead of skipping).",
            red=True,
        )


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """A test that runs a CLI command configures logging to print to pytest's captured
    stream, which pytest closes after that test; later tests must not log into it."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    # A runner that stops pytest with SIGTERM would otherwise skip fixture teardown and leave
    # the throwaway servers running; as an interrupt, teardown stops them and cleans up.
    is_main = threading.current_thread() is threading.main_thread()
    if is_main and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)
    if os.environ.get("CI"):
        config.pluginmanager.register(NoSkipsInCi(), "hatchway-no-skips-in-ci")
