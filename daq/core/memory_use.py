"""A process's memory as the kernel and the C allocator see it, for its heartbeat.

Resident memory alone cannot tell a leak from memory the allocator keeps after it was freed:
glibc's malloc holds freed heap for reuse (up to ``MALLOC_TRIM_THRESHOLD_`` at the top of each
arena, and whatever fragmentation strands), and the DAQ's processes are started with large
thresholds (``daq/processes/process_table.py``). ``mallinfo2`` says how much of the heap is
in use and how much is held free; a leak grows the first, the allocator's keeping the second.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _mallinfo2():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        fn = libc.mallinfo2  # glibc 2.33 and later
    except (OSError, AttributeError):
        return None
    fn.restype = _Mallinfo2
    fn.argtypes = []
    return fn


_MALLINFO2 = _mallinfo2()


def memory_use() -> dict[str, float]:
    """``rss_mb`` (resident), and with glibc ``heap_in_use_mb`` (allocated by the program:
    malloc's arenas in use plus its own mmaps) and ``heap_free_mb`` (freed, held by malloc
    for reuse), each in MB."""
    use: dict[str, float] = {}
    try:
        with open("/proc/self/statm") as fh:
            use["rss_mb"] = round(int(fh.read().split()[1]) * _PAGE_MB, 1)
    except (OSError, ValueError, IndexError):
        pass
    if _MALLINFO2 is not None:
        m = _MALLINFO2()
        use["heap_in_use_mb"] = round((m.uordblks + m.hblkhd) / 2**20, 1)
        use["heap_free_mb"] = round(m.fordblks / 2**20, 1)
    return use
