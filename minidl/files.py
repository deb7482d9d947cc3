"""Writing files so that a crash, Ctrl-C or full disk never leaves a
half-written file under the real name."""
import contextlib
import os
import stat
import tempfile


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary path in the same folder as ``path``; write it inside the
    block. On success it is flushed to disk and renamed over ``path`` (an atomic
    step on one file system); on any error it is removed and ``path`` is untouched.
    The file gets the permissions of the one it replaces, or for a new file those
    that open() would give it (0666 less the umask), so data in a shared folder
    stays readable for others.

        with atomic_path("history.json") as tmp:
            Path(tmp).write_text(text)
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=suffix)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _permissions(path))     # mkstemp made it private (0600)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _permissions(path):
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)      # the only way to read it is to set it: put it back at once
        os.umask(umask)
        return 0o666 & ~umask
