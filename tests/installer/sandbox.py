"""Run a command under the restrictions a systemd unit asks for, without systemd.

This machine runs no systemd, so the tests cannot start the units; they run each unit's
ExecStart under what can be rebuilt from the kernel's own interfaces instead:

- ``setpriv`` (around this script): the service user, NoNewPrivileges, an empty
  CapabilityBoundingSet;
- here: UMask, MemoryDenyWriteExecute (``prctl(PR_SET_MDWE)``, kept across execve), and a
  seccomp filter allowing exactly the system calls of the unit's SystemCallFilter (the
  groups expanded by ``systemd-analyze syscall-filter``), with ``socket()`` only for the
  families of RestrictAddressFamilies; anything else fails with EPERM, as with
  SystemCallErrorNumber=EPERM.

Runs under Debian's /usr/bin/python3, which has the ``seccomp`` module (python3-seccomp).
Usage: sandbox.py --syscalls FILE --families AF_UNIX,AF_INET [--umask 0077] [--mdwe] -- CMD...
"""

from __future__ import annotations

import argparse
import ctypes
import os
import socket

import seccomp

PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--syscalls", required=True, help="allowed system calls, one a line")
    parser.add_argument("--families", required=True, help="comma-separated AF_* names")
    parser.add_argument("--umask", default="0077")
    parser.add_argument("--mdwe", action="store_true")
    parser.add_argument("command", nargs="+")
    args = parser.parse_args()

    os.umask(int(args.umask, 8))
    if args.mdwe:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE)")

    with open(args.syscalls, encoding="utf-8") as fh:
        names = {line.strip() for line in fh if line.strip()}
    families = [getattr(socket, name) for name in args.families.split(",")]
    rules = seccomp.SyscallFilter(defaction=seccomp.ERRNO(1))  # EPERM
    for name in sorted(names - {"socket"}):
        try:
            rules.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError):
            continue  # not a system call on this architecture; systemd skips it too
    if "socket" in names:
        for family in families:
            rules.add_rule(seccomp.ALLOW, "socket", seccomp.Arg(0, seccomp.EQ, family))
    rules.load()
    os.execv(args.command[0], args.command)


if __name__ == "__main__":
    main()
