"""A throwaway OpenLDAP server configured through cn=config.

The configuration is loaded with `slapadd -n0` into a private slapd.d folder (slaptest -f
failed on Debian 12), then slapd runs in the foreground (`-d stats`, which also sends the
operation log to our log file rather than syslog) so that the test session owns the process
and can stop it with SIGTERM.

Member attributes keep their values sorted (``olcSortVals``), as OpenLDAP recommends for
large groups, and ``member`` has no equality index: with one, removing one member of a
10,000-member group took about 25 ms here instead of 2 ms (back-mdb updates the index
entries of every value of an attribute when one value is deleted).

Besides plain LDAP (which also offers StartTLS) it listens for LDAPS on a second port, with a
certificate for 127.0.0.1 from a throwaway CA whose certificate is ``ca_file``.
"""

import contextlib
import tempfile
import urllib.parse
from pathlib import Path

from relay.demo_ldap import ADMIN_DN, BASE_DN, BASE_LDIF, MODULE_DIR, schema_ldif
from tests.pki import make_pki

from .ports import LOOPBACK, free_port
from .process import ThrowawayServer, program, run, running, start_server, wait_until

START_TIMEOUT = 30.0

ADMIN_PASSWORD = "hatchway-admin"  # a throwaway server on loopback


def _config_ldif(root: Path, tls: tuple[Path, Path, Path]) -> str:
    schemas = schema_ldif()
    ca, cert, key = tls
    return f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {root}/slapd.pid
olcArgsFile: {root}/slapd.args
olcLogLevel: none
olcTLSCACertificateFile: {ca}
olcTLSCertificateFile: {cert}
olcTLSCertificateKeyFile: {key}

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {MODULE_DIR}
olcModuleLoad: back_mdb
olcModuleLoad: memberof
olcModuleLoad: refint

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
olcAccess: {{0}}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth \
manage by * break

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcDbDirectory: {root}/db
olcSuffix: {BASE_DN}
olcRootDN: {ADMIN_DN}
olcRootPW: {ADMIN_PASSWORD}
olcDbMaxSize: 1073741824
olcDbNoSync: TRUE
olcDbIndex: objectClass eq
olcDbIndex: uid,cn,mail eq,sub
olcDbIndex: memberUid eq
olcAccess: {{0}}to * by * read

dn: olcOverlay={{0}}memberof,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {{0}}memberof
olcMemberOfRefInt: TRUE
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf

dn: olcOverlay={{1}}refint,olcDatabase={{1}}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcRefintConfig
olcOverlay: {{1}}refint
olcRefintAttribute: member
olcRefintAttribute: memberOf
"""


class SlapdServer(ThrowawayServer):
    stop_timeout = 30.0
    host = LOOPBACK
    base_dn = BASE_DN
    admin_dn = ADMIN_DN
    admin_password = ADMIN_PASSWORD

    def __init__(self, root: Path, port: int, ldaps_port: int) -> None:
        super().__init__(root, port)
        self.ldaps_port = ldaps_port
        self.tls_dir = root / "tls"
        self.ca_file = self.tls_dir / "ca.pem"
        self.config_dir = root / "slapd.d"
        self.socket_path = root / "ldapi"
        self.log_path = root / "slapd.log"

    @property
    def url(self) -> str:
        # No trailing slash: ldap3 rejects "ldap://host:port/".
        return f"ldap://{self.host}:{self.port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{self.host}:{self.ldaps_port}"

    @property
    def ldapi_url(self) -> str:
        return "ldapi://" + urllib.parse.quote(str(self.socket_path), safe="")

    @classmethod
    def create(cls) -> "SlapdServer":
        """Write the configuration and base entries into a fresh temporary folder."""
        root = Path(tempfile.mkdtemp(prefix="hatchway-slapd-"))
        port = free_port()
        ldaps_port = free_port()
        while ldaps_port == port:
            ldaps_port = free_port()
        server = cls(root, port, ldaps_port)
        try:
            server._load()
        except BaseException:
            server.remove()
            raise
        return server

    def _load(self) -> None:
        self.config_dir.mkdir()
        (self.root / "db").mkdir()
        self.tls_dir.mkdir()
        config = self.root / "config.ldif"
        config.write_text(_config_ldif(self.root, make_pki(self.tls_dir)))
        run([program("slapadd"), "-n0", "-F", self.config_dir, "-l", config], timeout=60)
        base = self.root / "base.ldif"
        base.write_text(BASE_LDIF)
        run([program("slapadd"), "-F", self.config_dir, "-b", self.base_dn, "-l", base], timeout=60)

    def start(self) -> None:
        """Start on the same port and data; return once the admin can bind."""
        if self.running:
            return
        self._process = start_server(
            [
                program("slapd"),
                "-d",
                "stats",
                "-F",
                self.config_dir,
                "-h",
                f"{self.url}/ {self.ldaps_url}/ {self.ldapi_url}",
            ],
            log=self.log_path,
        )
        wait_until(
            self._admin_can_bind,
            what=f"slapd on {self.url}",
            timeout=START_TIMEOUT,
            log=self.log_path,
            process=self._process,
        )

    def _admin_can_bind(self) -> bool:
        # Imported here so that sessions without LDAP tests skip ldap3's import warnings.
        import ldap3
        from ldap3.core.exceptions import LDAPException

        server = ldap3.Server(self.url, connect_timeout=1, get_info=ldap3.NONE)
        conn = ldap3.Connection(
            server, self.admin_dn, self.admin_password, receive_timeout=2, raise_exceptions=False
        )
        try:
            return bool(conn.bind())
        except LDAPException:
            return False
        finally:
            conn.unbind()


def running_slapd() -> contextlib.AbstractContextManager[SlapdServer]:
    """A started server that is stopped and deleted however the block ends."""
    return running(SlapdServer.create())
