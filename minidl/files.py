"""Writing files so that a crash, Ctrl-C or full disk never leaves a
half-written file under the real name."""
import contextlib
import errno
import os
import secrets
import stat


# errors of writing a file, which a write() reports without its name ("[Errno 28] No
# space left on device"); a download's network errors (also OSErrors) are not among them
WRITE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS}


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary path in the same folder as ``path``; write it inside the
    block. On success it is flushed to disk and renamed over ``path`` (an atomic
    step on one file system); on any error it is removed and ``path`` is untouched.
    The file gets the permissions of the one it replaces, or for a new file those
    that open() would give it (0666 less the umask), so data in a shared folder
    stays readable for others. As with open(): a symlink's target is written (the
    link stays), and a file we may not write raises PermissionError, unchanged;
    a path that is a folder raises IsADirectoryError before anything is written.

        with atomic_path("history.json") as tmp:
            Path(tmp).write_text(text)
    """
    path = check_writable(path)
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    tmp = _new_file(folder, suffix)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        if os.path.exists(path):
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
    except BaseException as e:
        os.unlink(tmp)
        if isinstance(e, OSError) and e.filename is None and e.errno in WRITE_ERRORS:
            raise OSError(e.errno, e.strerror, path) from e   # say which file it was
        raise


def _new_file(folder, suffix):
    """Create an empty file with a fresh random name, as open() would: mode 0666
    less the umask (tempfile.mkstemp would make it 0600, private to its owner)."""
    while True:
        tmp = os.path.join(folder, f".tmp-{secrets.token_hex(6)}{suffix}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:     # a name already taken: draw another
            continue
        except OSError as e:        # else the message names our hidden temporary file
            if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            raise OSError(e.errno, f"{e.strerror}: no new file can be made in this folder "
                          "(minidl writes each file under a temporary name there first, then "
                          "renames it)", folder) from None


def check_writable(path):
    """The real path (through symlinks: the target is replaced, not the link) that
    atomic_path would write; raises IsADirectoryError or PermissionError first if
    it is a folder or a read-only file. For writers of several files, to check
    them all before writing any."""
    path = os.path.realpath(path)
    if os.path.isdir(path):             # else the rename fails naming our hidden temp file
        raise IsADirectoryError(errno.EISDIR, "Is a folder; expected the name of a file "
                                "to write (e.g. one inside that folder)", path)
    if os.path.exists(path) and read_only(path):
        if _read_only_file_system(path):             # not the file's mode: chmod cannot help
            raise OSError(errno.EROFS, "Read-only file system: nothing on it can be "
                          "written; choose a folder elsewhere", path)
        raise PermissionError(errno.EACCES, "Permission denied: the file is read-only "
                              "(minidl does not replace it; chmod u+w to allow)", path)
    parent = next((p for p in _parents(path) if os.path.lexists(p)), None)
    if parent is not None and not os.path.isdir(parent):   # else "[Errno 17] File exists"
        raise NotADirectoryError(errno.ENOTDIR, f"{parent} is a file, not a folder, so "
                                 "nothing can be written inside it", path)
    return path


def read_only(path):
    """Whether the file at path is read-only: its mode has no write bit for its owner
    (chmod 444), or we may not write it. By the mode bits too, since os.access says
    "writable" to root (in Docker, on Colab) whatever they are."""
    return not os.stat(path).st_mode & stat.S_IWUSR or not os.access(path, os.W_OK)


def _read_only_file_system(path):
    """Whether path lies on a file system mounted read-only (False where that cannot
    be asked: Windows has no statvfs)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (AttributeError, OSError):
        return False


def _parents(path):
    """The folders above path, nearest first."""
    folder = os.path.dirname(path)
    while folder and folder != os.path.dirname(folder):
        yield folder
        folder = os.path.dirname(folder)
