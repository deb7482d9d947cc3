"""Why the first epoch of a CNN run was slower than the others, and the one
allocation that fixes it (benchmarks/README.md, "The first epoch's steps are
slower").

The C library's malloc on Linux (glibc) gives the free memory at the top of
its heap back to the OS once it exceeds the trim threshold, and it serves each
request above the mmap threshold with fresh pages from the OS. Both start low
(128 KiB) and rise, to at most 32 MiB and 64 MiB, only when a block above the
current mmap threshold is freed; glibc assumes a program that frees such blocks
will ask for them again. A BN CNN step frees several MB of arrays. Until a
larger block has been freed (in a run: the layers' full-size scratch buffers,
freed when an epoch's last, smaller batch arrives), every step gives its
memory back and takes it again: some 3,000 page faults a step, and steps 1.2
to 1.5 times as long.

warm_heap() frees one block of 32 MiB, never touched, so that glibc raises
both thresholds at once, at the start instead of at the end of the first
epoch. The price: the process keeps more freed memory for reuse instead of
returning it (up to 64 MiB at the top of the heap), so its peak resident
size can be a few MB larger (README, "Where the time goes"). Elsewhere
(macOS, Windows, other C libraries) it allocates and frees 32 MiB of address
space, and nothing else happens. Trainer.fit calls it; a loop of your own may.
"""
import numpy as np

BLOCK = 32 * 2**20 - 2 * 4096   # glibc's largest dynamic threshold, less its block header

_warmed = False


def warm_heap():
    """Free one 32 MiB block, once per process (see above)."""
    global _warmed
    if not _warmed:
        np.empty(BLOCK, np.uint8)   # allocated and freed at once; its pages are never touched
        _warmed = True
