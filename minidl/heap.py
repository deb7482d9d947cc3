"""Why the first epoch of a CNN run was slower than the others, and the one
allocation that fixes it (benchmarks/README.md, "The first epoch's steps are
slower").

The C library's malloc on Linux (glibc) gives the free memory at the top of
its heap back to the OS once it exceeds the trim threshold, and it serves each
request above the mmap threshold with fresh pages from the OS (mmap). Both
start low (128 KiB and twice that) and rise, to at most 32 MiB and 64 MiB on
64-bit systems, only when a block that malloc had mmapped, larger than the
current mmap threshold, is freed: glibc takes that as a sign that the program
will ask for such blocks again. A BN CNN step frees several MB of arrays.
Until a larger mmapped block has been freed (in a run: the layers' full-size
scratch buffers, 7.2 MB the largest, freed when an epoch's last, smaller
batch arrives), every step gives its memory back and takes it again: some
3,000 page faults a step, and steps 1.2 to 1.5 times as long.

warm_heap() frees one such block of 32 MiB, never touched, so that glibc
raises both thresholds to its cap at once, before the first step. This
changes malloc's behaviour for the whole process for good, as the first
smaller batch did anyway, but further: the process keeps up to 64 MiB of
freed memory for reuse instead of returning it, and its peak resident size
can be a few MB larger (README, "Where the time goes"). Thresholds set by
hand (mallopt, MALLOC_MMAP_THRESHOLD_, GLIBC_TUNABLES) stay as they are:
glibc stops adapting them then. Elsewhere (macOS, Windows, other C
libraries) warm_heap() allocates and frees 32 MiB of address space, and
nothing else happens. Trainer.fit calls it; a loop of your own may. Set
ENABLED = False to leave the heap alone (benchmarks/first_epoch.py
--cold-heap does, to show the difference).
"""
import struct

import numpy as np

# glibc's cap on the dynamic mmap threshold is 4 MiB * sizeof(long): 32 MiB on
# 64-bit systems. Two pages less leave room for malloc's header and the rounding
# up to whole pages, so that the block malloc maps stays within the cap.
BLOCK = 4 * 2**20 * struct.calcsize("l") - 2 * 4096

ENABLED = True
_warmed = False


def warm_heap():
    """Free one block of BLOCK bytes, once per process (see above)."""
    global _warmed
    if ENABLED and not _warmed:
        _warmed = True
        try:
            np.empty(BLOCK, np.uint8)   # allocated and freed at once; its pages never touched
        except MemoryError:             # a tight address-space limit: train without it
            pass
