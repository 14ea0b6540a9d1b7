"""ldap3's exceptions turned into Hatchway's error classes.

The engine acts on the class (retry, match, quarantine), so the mapping is what matters;
the message says, in words an administrator can act on, what the directory refused. When the
directory names an attribute ("sn: value #0 invalid per syntax", "object class
'inetOrgPerson' requires attribute 'sn'"), the error carries it, spelled as the request did.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ldap3.core import exceptions as ldap_exc

from shared.exceptions import (
    AuthenticationError,
    ConflictError,
    ConnectorError,
    InvalidDataError,
    NotFoundError,
    OperationTimeoutError,
    UnavailableError,
)

#: LDAP result codes (RFC 4511, appendix A) by the class they fall into.
_CONFLICT = frozenset({68})  # entryAlreadyExists
_NOT_FOUND = frozenset({32})  # noSuchObject
_AUTHENTICATION = frozenset({7, 8, 13, 48, 49, 50, 123})
_INVALID_DATA = frozenset({16, 17, 18, 19, 20, 21, 34, 64, 65, 66, 67, 69})
_UNAVAILABLE = frozenset({51, 52, 80})  # busy, unavailable, other
_TIMEOUT = frozenset({3})  # timeLimitExceeded
_SIZE = frozenset({4, 11})  # sizeLimitExceeded, adminLimitExceeded
#: Result codes that refuse a DN: invalidDNSyntax, namingViolation.
DN_REFUSED = frozenset({34, 64})

_NAMED = (
    re.compile(r"attribute '([^']+)'"),
    re.compile(r"^(?:modify/\w+: )?([A-Za-z][\w;-]*): "),
    re.compile(r"naming attribute '([^']+)'"),
)


def attribute_in(message: str, names: Iterable[str] = ()) -> str | None:
    """The attribute a directory's message names, spelled as in ``names`` if it is there."""
    for pattern in _NAMED:
        found = pattern.search(message)
        if found:
            named = found.group(1)
            by_lower = {n.lower(): n for n in names}
            return by_lower.get(named.lower(), named)
    return None


def shortened(text: str, limit: int = 200) -> str:
    """A DN fit for a message: values can be thousands of characters long."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def classify(
    exc: ldap_exc.LDAPException, *, dn: str | None = None, names: Iterable[str] = ()
) -> ConnectorError:
    """The Hatchway error for ``exc``; ``names`` are the attributes of the request."""
    if isinstance(exc, ldap_exc.LDAPOperationResult):
        return _from_result(exc, dn, names)
    if isinstance(exc, TimeoutError | ldap_exc.LDAPResponseTimeoutError):
        return OperationTimeoutError(f"the directory did not answer in time: {exc}")
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(exc, ldap_exc.LDAPCertificateError):
        return AuthenticationError(
            "the directory's TLS certificate is not trusted (set ca_file to the CA that"
            f" signed it, or check the host name in url): {text}"
        )
    if isinstance(exc, ldap_exc.LDAPCommunicationError | ldap_exc.LDAPStartTLSError | OSError):
        return UnavailableError(f"cannot talk to the directory: {text}")
    return ConnectorError(f"ldap3 failed: {text}")


def _from_result(
    exc: ldap_exc.LDAPOperationResult, dn: str | None, names: Iterable[str]
) -> ConnectorError:
    code = exc.result
    said = exc.message or exc.description or ""
    where = f" ({shortened(dn)})" if dn else ""
    detail = f"{exc.description}: {said}" if said and said != exc.description else said
    if code in _CONFLICT:
        return ConflictError(f"an entry with this DN already exists{where}")
    if code in _NOT_FOUND:
        return NotFoundError(f"no such entry{where}")
    if code == 49:
        return AuthenticationError(
            "the directory refused the bind DN and password (invalidCredentials): check"
            " bind_dn and password, and that the account is not locked"
        )
    if code in _AUTHENTICATION:
        return AuthenticationError(
            f"the bind DN may not do this{where}: {detail}. Grant it write access to the"
            " user and group containers"
        )
    if code in _INVALID_DATA:
        return InvalidDataError(
            f"the directory refused the values{where}: {detail}",
            attribute=attribute_in(said, names),
        )
    if code in _UNAVAILABLE:
        return UnavailableError(f"the directory is not available: {detail}")
    if code in _TIMEOUT:
        return OperationTimeoutError(f"the directory's time limit was exceeded: {detail}")
    if code in _SIZE:
        return InvalidDataError(f"the directory's size limit was exceeded: {detail}")
    if code == 53:  # unwillingToPerform: the server refuses by policy, so retrying cannot help
        return InvalidDataError(f"the directory is unwilling to do this{where}: {detail}")
    return ConnectorError(f"the directory answered {detail} (result {code}){where}")
