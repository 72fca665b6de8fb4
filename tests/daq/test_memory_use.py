"""A process's memory in its heartbeat: what the allocator holds, told from what is in use."""

import platform

import numpy as np
import pytest

from daq.core.memory_use import memory_use


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallinfo2 is glibc's")
def test_memory_in_use_grows_with_an_allocation_and_falls_when_it_is_freed():
    before = memory_use()
    block = np.ones(100 * 2**20 // 8)  # 100 MB, written: resident too
    during = memory_use()
    assert during["heap_in_use_mb"] - before["heap_in_use_mb"] >= 99.0
    assert during["rss_mb"] - before["rss_mb"] >= 99.0
    del block
    after = memory_use()
    assert during["heap_in_use_mb"] - after["heap_in_use_mb"] >= 99.0
    assert after["heap_free_mb"] >= 0.0
