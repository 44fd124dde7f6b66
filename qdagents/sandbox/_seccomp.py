"""A seccomp denylist for the bwrap backend, in the spirit of docker's default profile.

Why: namespaces hide the host, but the kernel itself stays reachable, and a bwrap sandbox started
by root maps its uid to host uid 0, so a kernel bug reachable from the sandbox is a host-root bug.
The syscalls below are rarely needed by a coding agent and are the usual routes of container
escapes and kernel exploits (``open_by_handle_at``, ``bpf``, ``userfaultfd``, ``io_uring``,
``keyctl``, the new mount API, ``ptrace`` ...). Denied calls fail with ``EPERM``; syscalls of a
foreign ABI (``int 0x80`` i386 calls, x32) kill the process, since their numbers differ and would
slip past the list. Only x86_64 is covered (numbers from ``asm/unistd_64.h``); elsewhere
:func:`seccomp_filter` returns None and the sandbox runs without a filter.
"""

from __future__ import annotations

import errno
import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

DENIED_X86_64 = {
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
    "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321, "userfaultfd": 323,
    "perf_event_open": 298, "io_uring_setup": 425, "io_uring_enter": 426,
    "io_uring_register": 427, "name_to_handle_at": 303, "open_by_handle_at": 304,
    "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "mount_setattr": 442, "kexec_load": 246, "kexec_file_load": 320,
    "init_module": 175, "finit_module": 313, "delete_module": 176, "syslog": 103,
    "reboot": 169, "acct": 163, "swapon": 167, "swapoff": 168, "iopl": 172, "ioperm": 173,
    "uselib": 134, "lookup_dcookie": 212, "quotactl": 179, "clock_settime": 227,
    "settimeofday": 164, "adjtimex": 159, "clock_adjtime": 305, "vhangup": 153,
}

_LD_ABS, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06
_ALLOW, _KILL_PROCESS = 0x7FFF0000, 0x80000000
_ERRNO = 0x00050000 | errno.EPERM


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def seccomp_filter() -> bytes | None:
    """The classic-BPF program (``struct sock_filter[]``) bwrap's ``--seccomp`` reads."""
    if platform.machine() != "x86_64":
        return None
    numbers = sorted(set(DENIED_X86_64.values()))
    program = [_op(_LD_ABS, 4),                            # arch
               _op(_JEQ, AUDIT_ARCH_X86_64, jt=1),
               _op(_RET, _KILL_PROCESS),
               _op(_LD_ABS, 0),                            # syscall number
               _op(_JGE, X32_SYSCALL_BIT, jf=1),
               _op(_RET, _KILL_PROCESS)]
    for index, number in enumerate(numbers):               # jump to the EPERM at the end
        program.append(_op(_JEQ, number, jt=len(numbers) - index))
    program += [_op(_RET, _ALLOW), _op(_RET, _ERRNO)]
    return b"".join(program)
