"""Saving a figure: the format from the file name, one file per format if
asked, the same bytes for the same plot, and never a half-written file."""
import os

import matplotlib.figure
import matplotlib.pyplot as plt
import numpy as np

from minidl.errors import FormatError, SettingError
from minidl.files import atomic_path, check_writable

DPI_RANGE = (10, 1200)    # pixels per inch save() takes: FreeType fails below, memory above


def save(fig, path, formats=None, dpi=None, close=True):
    """Save a figure, close it and return the paths written.

    The file's suffix picks the format ("accuracy.pdf"). A suffix starting with a
    letter names a format, so "acc.txt" is refused; a path with no suffix, or whose
    last dot is part of the name ("run_lr0.5", "v1.2_bn"), gets ".png" added ("grid"
    gives "grid.png", as with savefig), and the paths returned say so.
    formats=("png", "pdf") writes one file per format instead (".png" is taken as
    "png"), the suffix of path replaced if it names a format ("run_lr0.5" + "png"
    gives "run_lr0.5.png"). PDF and SVG files keep their text as text (to edit
    on a slide), and get no date, and SVG fixed ids, so the same plot always
    gives the same bytes (a figure kept in a course's
    repository changes only when the plot does). Each file is written under a
    temporary name and renamed when complete: never a half-written file.
    dpi: pixels per inch of a PNG (default the figure's, 110), from 10 to 1200;
    200 or 300 for slides and print. PDF and SVG are vector graphics and need none.
    close: close the figure afterwards (frees its memory in a script); in a
    notebook, close=False keeps it, so that the cell still shows it.
    """
    if not isinstance(fig, matplotlib.figure.Figure):   # an Axes, or a plot's None
        raise SettingError(f"plot.save: expected a matplotlib Figure (what the plots of this "
                           f"module return; for an Axes, ax.figure), got {type(fig).__name__}")
    low, high = DPI_RANGE
    if dpi is not None and not (isinstance(dpi, (int, float, np.number)) and low <= dpi <= high):
        raise SettingError(f"plot.save: dpi must be a number from {low} to {high} (or None: the "
                           f"figure's, 110), got {dpi!r}; below {low} FreeType cannot draw the "
                           f"text, and {high} is twice print quality")
    supported = fig.canvas.get_supported_filetypes()
    names = [os.fspath(path)]
    try:
        if not formats and not _names_format(names[0]) and not os.path.isdir(names[0]):
            formats = ["png"]                     # "grid", "run_lr0.5": PNG, suffix added
        if formats:
            stem = names[0]
            if _suffix(stem) in supported:        # else a dot in the name, not a format
                stem = os.path.splitext(stem)[0]
            formats = [formats] if isinstance(formats, str) else formats
            if not all(isinstance(f, str) and f.strip(".") for f in formats):
                raise FormatError(f"plot.save: formats must be names such as 'png' or 'pdf', "
                                  f"got {formats!r}")
            names = list(dict.fromkeys(f"{stem}.{f.removeprefix('.')}"   # ".png" as "png";
                                       for f in formats))                   # each once
        kinds = [_suffix(name) for name in names]
        for name, kind in zip(names, kinds):      # all checked before any is written
            check_writable(name)                   # not a folder, not a read-only file
            if kind not in supported:
                raise FormatError(f"cannot save a plot as {name!r}: {kind!r} is not an image "
                                  "format matplotlib writes; use one of "
                                  f"{', '.join(sorted(supported))}")
        for name, kind in zip(names, kinds):
            with atomic_path(name, suffix="." + kind) as tmp, plt.rc_context(VECTOR_TEXT):
                fig.savefig(tmp, format=kind, bbox_inches="tight", metadata=NO_DATE.get(kind),
                            dpi=dpi or "figure")
    finally:
        if close:
            plt.close(fig)
    return names


NO_DATE = {"pdf": {"CreationDate": None}, "svg": {"Date": None}}
# text in PDF and SVG files as text, which slide software and editors can change
# and search (matplotlib's defaults draw it as Type 3 glyphs and as paths); SVG's
# ids from a fixed salt
VECTOR_TEXT = {"pdf.fonttype": 42, "svg.fonttype": "none", "svg.hashsalt": "minidl"}


def _suffix(name):
    """The suffix of name in lower case, without the dot: "acc.PDF" gives "pdf"."""
    return os.path.splitext(name)[1][1:].lower()


def _names_format(name):
    """Whether the suffix of name is meant as a format: it starts with a letter
    ("acc.pdf", "acc.txt"); in "run_lr0.5", "v1.2_bn" or "grid" there is none."""
    return _suffix(name)[:1].isalpha()
