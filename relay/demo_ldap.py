"""A throwaway OpenLDAP server for ``hatchway demo``, in the demo's work folder.

The demo provisions into OpenLDAP too when ``slapd`` is installed, to show one agent
serving two connectors. The server is configured the way the test suite's throwaway slapd
is (see ``shared/DESIGN.md``, "Testing"): a cn=config LDIF loaded with ``slapadd -n0`` into
a private ``slapd.d`` folder (``slaptest -f`` fails on Debian 12), then ``slapd`` in the
foreground so the demo owns the process and stops it with SIGTERM. It listens on loopback
only, without TLS, with a random administrator password written nowhere but the agent's
configuration in the same work folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relay.exceptions import DemoError

#: Debian keeps slapd and slapadd in /usr/sbin, which is not on a user's PATH.
SBIN = "/usr/sbin:/sbin"
SCHEMA_DIR = Path("/etc/ldap/schema")
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
MODULE_DIR = Path("/usr/lib/ldap")
BASE_DN = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{BASE_DN}"
PEOPLE = f"ou=people,{BASE_DN}"
GROUPS = f"ou=groups,{BASE_DN}"
#: Seconds slapadd may take to load the configuration or the base entries.
LOAD_TIMEOUT = 60.0
#: Seconds slapd may take until the administrator can bind.
START_TIMEOUT = 30.0
#: Seconds slapd may take to exit after SIGTERM before it is killed.
STOP_TIMEOUT = 15.0
#: Seconds between bind attempts while slapd starts.
POLL_INTERVAL = 0.1


def find_slapd() -> Path | None:
    """slapd's path, or None when OpenLDAP's server is not installed."""
    found = shutil.which("slapd") or shutil.which("slapd", path=SBIN)
    return Path(found) if found else None


def schema_ldif() -> str:
    """The schemas the demo's (and the test suite's) slapd loads, as cn=config entries."""
    return "\n".join((SCHEMA_DIR / f"{name}.ldif").read_text() for name in SCHEMAS)


def _config_ldif(root: Path, password: str) -> str:
    schemas = schema_ldif()
    return f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {root}/slapd.pid
olcArgsFile: {root}/slapd.args
olcLogLevel: none

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {MODULE_DIR}
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{schemas}

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend
olcSortVals: member uniqueMember memberUid

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {root}/db
olcSuffix: {BASE_DN}
olcRootDN: {ADMIN_DN}
olcRootPW: {password}
olcDbMaxSize: 1073741824
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: uid,cn,mail eq,sub
olcAccess: {{0}}to * by * read
"""


BASE_LDIF = f"""\
dn: {BASE_DN}
objectClass: top
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: {PEOPLE}
objectClass: organizationalUnit
ou: people

dn: {GROUPS}
objectClass: organizationalUnit
ou: groups
"""


@dataclass(frozen=True, slots=True)
class LdapEntry:
    dn: str
    attributes: dict[str, list[str]]


class DemoSlapd:
    """slapd serving ``dc=example,dc=org`` from ``root`` on a loopback ``port``."""

    base_dn = BASE_DN
    admin_dn = ADMIN_DN

    def __init__(self, program: Path, root: Path, port: int) -> None:
        self.program = program
        self.root = root
        self.port = port
        self.password = secrets.token_urlsafe(18)
        self.log_path = root / "slapd.log"
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        # No trailing slash: ldap3 (and so the LDAP connector) refuses "ldap://host:port/".
        return f"ldap://127.0.0.1:{self.port}"

    def connector_settings(self) -> dict[str, Any]:
        """The agent's ``[connectors.NAME]`` table for this server."""
        return {
            "type": "ldap",
            "url": self.url,
            "bind_dn": self.admin_dn,
            "password": self.password,
            "user_dn_template": f"uid={{uid}},{PEOPLE}",
            "group_dn_template": f"cn={{cn}},{GROUPS}",
        }

    async def start(self, *, timeout: float = START_TIMEOUT) -> None:
        """Write a fresh configuration and database, start slapd and return once the
        administrator can bind (within ``timeout`` seconds)."""
        await asyncio.to_thread(self._load)
        with self.log_path.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                str(self.program),
                "-d",
                "0",
                "-F",
                str(self.root / "slapd.d"),
                "-h",
                self.url,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: the Ctrl-C that stops the demo must not kill slapd
                # before the demo has stopped the agent that talks to it.
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(self._can_bind):
            if self._process.returncode is not None:
                raise DemoError(
                    f"slapd exited with code {self._process.returncode} while starting;"
                    f" see {self.log_path}"
                )
            if time.monotonic() > deadline:
                raise DemoError(f"slapd did not answer within {timeout:.0f} s; see {self.log_path}")
            await asyncio.sleep(POLL_INTERVAL)

    async def stop(self, *, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, then SIGKILL if slapd is still there after ``timeout`` seconds."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()

    def _load(self) -> None:
        if not SCHEMA_DIR.is_dir() or not MODULE_DIR.is_dir():
            raise DemoError(
                f"slapd is installed but {SCHEMA_DIR} or {MODULE_DIR} is missing;"
                " reinstall OpenLDAP's server (Debian: slapd)"
            )
        if self.root.exists():
            shutil.rmtree(self.root)
        (self.root / "slapd.d").mkdir(parents=True, mode=0o700)
        (self.root / "db").mkdir()
        config = self.root / "config.ldif"
        config.write_text(_config_ldif(self.root, self.password))
        config.chmod(0o600)
        base = self.root / "base.ldif"
        base.write_text(BASE_LDIF)
        slapadd = self.program.with_name("slapadd")
        self._run([slapadd, "-n0", "-F", self.root / "slapd.d", "-l", config])
        self._run([slapadd, "-F", self.root / "slapd.d", "-b", BASE_DN, "-l", base])

    def _run(self, command: list[Path | str]) -> None:
        try:
            done = subprocess.run(
                [str(part) for part in command],
                capture_output=True,
                text=True,
                timeout=LOAD_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DemoError(f"could not set up slapd: {exc}") from exc
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()
            raise DemoError(f"{command[0]} exited {done.returncode}: {output}")

    def _connect(self) -> Any:
        # Imported here: ldap3 is only needed when slapd is installed.
        import ldap3

        return ldap3.Connection(
            ldap3.Server(self.url, connect_timeout=2, get_info=ldap3.NONE),
            self.admin_dn,
            self.password,
            receive_timeout=5,
            raise_exceptions=False,
        )

    def _can_bind(self) -> bool:
        from ldap3.core.exceptions import LDAPException

        conn = self._connect()
        try:
            return bool(conn.bind())
        except LDAPException:
            return False
        finally:
            with contextlib.suppress(LDAPException):
                conn.unbind()

    async def search(
        self, base: str, filter: str, attributes: list[str], *, limit: int = 0
    ) -> list[LdapEntry]:
        """Entries one level below ``base`` (``limit`` 0: all), read as the administrator."""
        return await asyncio.to_thread(self._search, base, filter, attributes, limit)

    def _search(self, base: str, filter: str, attributes: list[str], limit: int) -> list[LdapEntry]:
        import ldap3
        from ldap3.core.exceptions import LDAPException

        conn = self._connect()
        try:
            if not conn.bind():
                raise DemoError(f"could not bind to slapd at {self.url}: {conn.result}")
            found = conn.extend.standard.paged_search(
                base,
                filter,
                search_scope=ldap3.LEVEL,
                attributes=attributes,
                paged_size=500,
                generator=True,
            )
            out: list[LdapEntry] = []
            for item in found:
                if item.get("type") != "searchResEntry":
                    continue
                values = {k: [str(v) for v in _list(vs)] for k, vs in item["attributes"].items()}
                out.append(LdapEntry(item["dn"], values))
                if limit and len(out) >= limit:
                    break
        except LDAPException as exc:
            raise DemoError(f"could not read slapd at {self.url}: {exc}") from exc
        finally:
            with contextlib.suppress(LDAPException):
                conn.unbind()
        return out


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]
