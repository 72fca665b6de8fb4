"""What an HDF5 file from elsewhere may contain, checked before any of its data is read.

HDF5 reads other files for a file that asks: an external link (any object, any file), a
dataset with external storage (raw bytes of any file), a virtual dataset (datasets of any
file). A crafted "run file" could so make ``inspect`` or ``export`` print or copy a file the
user can read and never meant to share. Our files use two external links, both to a sibling
file by bare name: ``/truth`` (the emulator's truth) and ``/raw`` (a reprocessed file's
waveforms). Everything else that points out of the file is refused, and so are soft links (we
write none) and structures larger or deeper than ours, so that the walk itself is bounded."""

from __future__ import annotations

import re

import h5py

from daq.run_file.layout import RunFileError

#: the external links a file may have: link name at the root -> (target file pattern, target
#: object); the target is a bare file name, so it resolves beside the file
ALLOWED_EXTERNAL = {"truth": (re.compile(r"run_\d{6,}\.truth\.h5"), "/truth"),
                    "raw": (re.compile(r"[\w.+-]+\.h5"), "/raw")}
MAX_OBJECTS = 2000  # ours: at most about 100
MAX_DEPTH = 4  # ours: 2


def check_structure(f: h5py.File) -> None:
    """Raise :class:`RunFileError` naming the first object that points out of ``f`` (other
    than the allowed links), or a structure beyond the bounds; nothing is read but links and
    dataset properties."""
    seen = 0

    def walk(group: h5py.Group, depth: int) -> None:
        nonlocal seen
        for name in group:
            seen += 1
            where = f"{group.name.rstrip('/')}/{name}"
            if seen > MAX_OBJECTS:
                raise RunFileError(f"{f.filename}: more than {MAX_OBJECTS} objects: not a run "
                                   "file of ours")
            try:
                link = group.get(name, getlink=True)
            except (KeyError, OSError, TypeError, ValueError) as exc:
                raise RunFileError(f"{f.filename}: {where}: a link HDF5 cannot read "
                                   f"({exc.__class__.__name__})") from None
            if isinstance(link, h5py.ExternalLink):
                _check_external(f, where, depth, link)
                continue
            if not isinstance(link, h5py.HardLink):
                raise RunFileError(f"{f.filename}: {where} is a {type(link).__name__}: not "
                                   "in a run file's layout")
            obj = group[name]
            if isinstance(obj, h5py.Dataset):
                if obj.is_virtual:
                    raise RunFileError(f"{f.filename}: {where} is a virtual dataset (it "
                                       "reads other files): refused")
                if obj.external:
                    raise RunFileError(f"{f.filename}: {where} keeps its data in another "
                                       f"file ({obj.external[0][0]!r}): refused")
            elif isinstance(obj, h5py.Group):
                if depth + 1 >= MAX_DEPTH:
                    raise RunFileError(f"{f.filename}: {where} nests deeper than a run "
                                       "file's layout")
                walk(obj, depth + 1)

    walk(f, 0)


def _check_external(f: h5py.File, where: str, depth: int, link: h5py.ExternalLink) -> None:
    allowed = ALLOWED_EXTERNAL.get(where.lstrip("/")) if depth == 0 else None
    target = str(link.filename)
    if allowed is None or not allowed[0].fullmatch(target) or link.path != allowed[1]:
        raise RunFileError(f"{f.filename}: {where} is an external link to {target!r}:"
                           f"{link.path}: not one a run file has; refused")
