"""The files llmctl reads and writes itself: the endpoint file, profiles, token files.

- :func:`read_text`: a regular file (or a link to one) holding UTF-8 text. Every problem is
  one error naming the path and the fix (exit 3 unless the caller says otherwise): not UTF-8
  (where), a symbolic link to nothing, not a regular file (a folder, a FIFO that would block,
  a device), permission denied (who owns what, and the ``chown`` that fixes it).
- :func:`atomic_write`: a temp file in the same folder (``.NAME.XXXXXXXX.tmp``, locked while
  it is written), fsync, ``os.replace``. Temp files of that naming left by a writer that was
  killed (older than a minute and not locked by a live writer) are removed on the next write.
  A symbolic link is written through to its target; a link to nothing, or something that is
  not a regular file, is refused rather than replaced.
- :func:`locked`: an exclusive lock beside the file (``NAME.lock``, ``flock``: released by
  the kernel when its holder ends, however it ends) that records the holder's pid, so a
  waiter says at once whom it waits for, and a timeout names the process to wait for or stop.
- Run as root (``sudo llmctl ...``), the files and folders llmctl creates go to the owner of
  the folder they are created in, and a file it replaces keeps its owner: a later run as that
  user can still read and write them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shlex
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from llmctl.errors import ConfigError, ConflictError, LlmctlError
from llmctl.paths import config_dir

LOCK_TIMEOUT = 15.0
LOCK_POLL = 0.05
WRITE_RETRIES = 3
STALE_TEMP_AGE = 60.0  # seconds: a temp file older than this, and not locked, is debris
UTF8_FIX = "Save it as UTF-8 text (e.g. `iconv -f LATIN1 -t UTF-8 FILE > FILE.new`)."

try:  # POSIX; elsewhere (Windows) the lock is filelock's and the holder is not recorded
    import fcntl
except ImportError:  # pragma: no cover - not on Linux/macOS
    fcntl = None  # type: ignore[assignment]


# --- reading ----------------------------------------------------------------------------------


def read_text(path: Path, *, what: str = "", fix: str = "", missing_ok: bool = True,
              error: type[LlmctlError] = ConfigError) -> str | None:
    """The UTF-8 text of ``path``; None when it does not exist and ``missing_ok``.
    ``what`` prefixes the path in messages (``--token-file``); ``fix`` is the hint for a file
    whose content is bad; ``error`` the error class (exit code) for a bad file."""
    label = f"{what} {path}" if what else str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise dangling_link(path, label, error) from None
        if missing_ok:
            return None
        raise error(f"{label}: no such file", fix or None) from None
    except PermissionError:
        raise permission_error(path, "read", error=error, label=label) from None
    except OSError as exc:
        raise error(f"{label}: cannot read ({exc.strerror or exc})", fix or None) from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{label}: not a regular file ({_kind(st.st_mode)})",
                    fix or "Point llmctl at a regular file.")
    try:
        data = Path(path).read_bytes()
    except PermissionError:
        raise permission_error(path, "read", error=error, label=label) from None
    except OSError as exc:
        raise error(f"{label}: cannot read ({exc.strerror or exc})", fix or None) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise error(
            f"{label}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}, "
            f"offset {exc.start})",
            " ".join(p for p in (UTF8_FIX.replace("FILE", shlex.quote(str(path))), fix) if p),
        ) from None


def dangling_link(path: Path, label: str | None = None,
                  error: type[LlmctlError] = ConfigError) -> LlmctlError:
    target = os.readlink(path)
    return error(
        f"{label or path}: a symbolic link to {target}, which does not exist",
        f"llmctl neither follows nor replaces it: create the file it points to "
        f"(`touch {shlex.quote(str(Path(path).parent / target))}`) or remove the link "
        f"(`rm {shlex.quote(str(path))}`).",
    )


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a file"


# --- permissions: say who owns what, and the command that fixes it -------------------------


def _user(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def _euid() -> int | None:
    return os.geteuid() if hasattr(os, "geteuid") else None


def _blocker(path: Path, action: str) -> tuple[Path, str]:
    """What denies ``action`` on ``path``: a folder on the way that cannot be entered, the
    file itself, the folder that cannot be written in; and what you cannot do to it."""
    path = Path(os.path.abspath(path))
    for folder in reversed(path.parents):
        if os.path.exists(folder) and not os.access(folder, os.X_OK):
            return folder, "enter"
    folder = path.parent
    if action == "read":
        if os.path.exists(path) and not os.access(path, os.R_OK):
            return path, "read"
    elif action == "lock" and os.path.exists(path):
        if not os.access(path, os.R_OK | os.W_OK):
            return path, "open for writing"
    elif action == "write" and os.path.exists(path) and not os.access(path, os.W_OK) \
            and os.access(folder, os.W_OK):
        return path, "write"
    missing = path
    while not os.path.exists(missing.parent) and missing.parent != missing:
        missing = missing.parent
    if missing != path or not os.access(folder, os.W_OK | os.X_OK):
        return missing.parent, "create files in"
    return path, action


def permission_error(path: Path, action: str, *, error: type[LlmctlError] = ConfigError,
                     label: str | None = None) -> LlmctlError:
    """A PermissionError on ``path`` explained: which file or folder, who owns it, who you
    are, and the ``chown`` (or ``chmod``) that fixes it (``action``: read, write, lock)."""
    culprit, cannot = _blocker(path, action)
    me = _euid()
    what = f"cannot {'lock' if action == 'lock' else action} {label or path}: permission denied"
    if me is None:
        return error(what, f"Check who may {cannot} {culprit}.")
    try:
        st = os.stat(culprit)
    except OSError:
        return error(what, f"Check who may {cannot} {culprit} (`ls -ld {culprit}`).")
    owner, name = st.st_uid, _user(me)
    is_dir = stat.S_ISDIR(st.st_mode)
    if owner != me:
        target, recursive = _chown_target(culprit)
        flag = "-R " if recursive or is_dir else ""
        why = " (left by a `sudo llmctl ...`?)" if owner == 0 else ""
        return error(
            f"{what}: {culprit} is owned by {_user(owner)}{why}, and you ({name}) cannot "
            f"{cannot} it",
            f"Make it yours again: `sudo chown {flag}{name}: {shlex.quote(str(target))}`.",
        )
    bits = "u+rwx" if is_dir else "u+rw"
    return error(f"{what}: {culprit} is yours but its mode ({stat.filemode(st.st_mode)}) does "
                 f"not let you {cannot} it",
                 f"`chmod {bits} {shlex.quote(str(culprit))}`.")


def access_problem(path: Path, *, lock: bool = False) -> LlmctlError | None:
    """Without touching anything: the error llmctl would meet reading and writing ``path``
    (a file, or a folder it creates files in), or None (for doctor)."""
    path = Path(os.path.abspath(path))
    if os.path.exists(path):
        if os.path.isdir(path):
            if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
                return permission_error(path / "x", "write", label=str(path))
            return None
        if not os.access(path, os.R_OK):
            return permission_error(path, "lock" if lock else "read")
        if lock and not os.access(path, os.W_OK):
            return permission_error(path, "lock")
        if not lock and not (os.access(path, os.W_OK) or os.access(path.parent, os.W_OK)):
            return permission_error(path, "write")
        if not lock and not os.access(path.parent, os.W_OK | os.X_OK):
            return permission_error(path, "write")  # a write replaces the file: the folder
        return None
    existing = path.parent
    while not os.path.exists(existing) and existing.parent != existing:
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        return permission_error(path, "write")
    return None


def _chown_target(culprit: Path) -> tuple[Path, bool]:
    """llmctl's own config folder is chowned as a whole (a `sudo llmctl` leaves several root
    files in it); anything else only itself."""
    own = Path(os.path.abspath(config_dir()))
    culprit = Path(os.path.abspath(culprit))
    if culprit == own or own in culprit.parents:
        return own, True
    return culprit, False


def _adopt(target: int | Path, folder: Path, like: Path | None = None) -> None:
    """As root, give a file or folder llmctl just made to the owner of ``like`` (the file it
    replaces) or else of ``folder``: never leave root-owned files in a user's folder."""
    if _euid() != 0:
        return
    try:
        st = os.stat(like if like is not None and os.path.exists(like) else folder)
        if st.st_uid == 0:
            return
        if isinstance(target, int):
            os.fchown(target, st.st_uid, st.st_gid)
        else:
            os.chown(target, st.st_uid, st.st_gid)
    except OSError:
        pass  # best effort (a file system without owners)


def make_folder(folder: Path) -> None:
    """Create ``folder`` (0700) and its missing parents; errors explained."""
    folder = Path(os.path.abspath(folder))
    missing = []
    probe = folder
    while not os.path.exists(probe):
        if os.path.islink(probe):
            raise dangling_link(probe)
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for made in reversed(missing):
        try:
            made.mkdir(mode=0o700 if made == folder else 0o777)
        except FileExistsError:
            continue
        except PermissionError:
            raise permission_error(made, "write") from None
        except OSError as exc:
            raise ConfigError(f"cannot create {made}: {exc.strerror or exc}") from None
        _adopt(made, made.parent)
    if not os.path.isdir(folder):
        raise ConfigError(f"{folder}: not a folder", "Move it away, or point llmctl elsewhere.")


# --- writing ------------------------------------------------------------------------------


def write_target(path: Path) -> Path:
    """Where a write of ``path`` goes: the file, or the file a symbolic link points to.
    A link to nothing and anything but a regular file are refused."""
    target = Path(path)
    if os.path.islink(path):
        try:
            target = Path(path).resolve(strict=True)
        except FileNotFoundError:
            raise dangling_link(path) from None
        except (RuntimeError, OSError) as exc:
            raise ConfigError(f"{path}: cannot follow the symbolic link ({exc})") from None
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target
    except PermissionError:
        raise permission_error(target, "write") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(
            f"{path}: not a regular file ({_kind(st.st_mode)}); llmctl writes a new file and "
            "moves it into place, so it will not write over this",
            "Point llmctl at a regular file (or a path that does not exist yet).",
        )
    return target


def _temp_pattern(name: str) -> re.Pattern[str]:
    # tempfile.mkstemp: prefix + 8 characters of [a-z0-9_] + suffix
    return re.compile(rf"^\.{re.escape(name)}\.[a-z0-9_]{{8}}\.tmp$")


def stale_temps(target: Path, *, older_than: float = STALE_TEMP_AGE,
                remove: bool = False) -> list[Path]:
    """``.NAME.XXXXXXXX.tmp`` files beside ``target`` that a killed writer left: older than
    ``older_than`` seconds and not locked (a live writer holds a lock on its temp file until
    it is moved into place); removed when ``remove``."""
    folder = target.parent
    pattern = _temp_pattern(target.name)
    try:
        names = [n for n in os.listdir(folder) if pattern.match(n)]
    except OSError:
        return []
    found = []
    now = time.time()
    for name in names:
        tmp = folder / name
        try:
            fd = os.open(tmp, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or now - st.st_mtime < older_than:
                continue
            if not _try_lock(fd):
                continue  # a writer is still at it
            if remove:
                os.unlink(tmp)
            found.append(tmp)
        except OSError:
            continue
        finally:
            os.close(fd)
    return found


def clean_stale_temps(target: Path) -> list[Path]:
    """Remove what :func:`stale_temps` finds (on every write); returns what was removed."""
    return stale_temps(target, remove=True)


def atomic_write(
    path: Path, data: bytes, *, mode: int = 0o600, retries: int = WRITE_RETRIES
) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync,
    ``os.replace``. On any failure the original is untouched and the temp file removed;
    passing OSErrors (a full disk) are retried a few times, then reported as a ConfigError;
    a permission problem is explained at once (who owns what, the fix)."""
    target = write_target(path)
    folder = target.parent
    make_folder(folder)
    clean_stale_temps(target)
    last: OSError | None = None
    for attempt in range(retries):
        tmp: str | None = None
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
            try:
                _try_lock(fd)  # marks it as in use for clean_stale_temps
                os.fchmod(fd, mode)
                _adopt(fd, folder, like=target)
                view = memoryview(data)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                os.fsync(fd)
                os.replace(tmp, target)
                tmp = None
            finally:
                os.close(fd)
            with contextlib.suppress(OSError):
                dfd = os.open(folder, os.O_RDONLY)
                try:
                    os.fsync(dfd)
                finally:
                    os.close(dfd)
            return
        except PermissionError:
            raise permission_error(target, "write") from None
        except OSError as exc:
            last = exc
            if exc.errno == errno.EROFS:
                break
            time.sleep(0.05 * (attempt + 1))
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
    assert last is not None
    raise ConfigError(
        f"cannot write {path}: {last.strerror or last}",
        "Check the folder is writable and the disk is not full; the old file is unchanged.",
    )


# --- the lock -----------------------------------------------------------------------------


def _try_lock(fd: int) -> bool:
    if fcntl is None:  # pragma: no cover
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise


def _holder(fd: int) -> tuple[int | None, str]:
    """(pid, description) of the process that holds the lock, from what it wrote there."""
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
        pid, host = int(text[0]), text[1] if len(text) > 1 else ""
    except (OSError, ValueError, IndexError):
        return None, "another process (its pid is not recorded: an older llmctl?)"
    if host and host != socket.gethostname():
        return None, f"pid {pid} on host {host}"
    what = ""
    with contextlib.suppress(OSError):
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        words = [" ".join(a.decode("utf-8", "replace").split()) for a in args if a][:6]
        if words:  # the program's name, not a path cut short (a long venv path)
            words[0] = os.path.basename(words[0])
        what = " (" + " ".join(w[:40] for w in words)[:100] + ")"
    return pid, f"pid {pid}{what}"


@contextlib.contextmanager
def locked(path: Path, timeout: float | None = None,
           on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the exclusive lock ``PATH.lock`` while the block runs. When another process
    holds it, ``on_wait`` hears at once whom this waits for; after ``timeout`` seconds
    (default LOCK_TIMEOUT) a ConflictError (exit 5) names the holder and how to get it
    released."""
    timeout = LOCK_TIMEOUT if timeout is None else timeout
    if fcntl is None:  # pragma: no cover - Windows
        with _filelock(path, timeout):
            yield
        return
    make_folder(path.parent)
    lock_path = Path(f"{path}.lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except PermissionError:
        raise permission_error(lock_path, "lock") from None
    except OSError as exc:
        raise ConfigError(f"cannot lock {path}: {lock_path}: {exc.strerror or exc}") from None
    try:
        _adopt(fd, lock_path.parent)
        if not _try_lock(fd):
            _, who = _holder(fd)
            if on_wait is not None:
                on_wait(f"{path} is being written by {who}: waiting for it (up to "
                        f"{timeout:g} s)")
            deadline = time.monotonic() + timeout
            while not _try_lock(fd):
                if time.monotonic() >= deadline:
                    raise _still_locked(path, lock_path, fd, timeout)
                time.sleep(LOCK_POLL)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # releases the lock


def _still_locked(path: Path, lock_path: Path, fd: int, timeout: float) -> LlmctlError:
    pid, who = _holder(fd)
    quoted = shlex.quote(str(lock_path))
    note = (f" Removing {lock_path} does not help: the lock belongs to the running process "
            "and ends with it.")
    if pid is not None:
        hint = f"Let it finish and try again, or stop it: `kill {pid}`.{note}"
    else:
        hint = (f"Find the process with `fuser -v {quoted}` (or `lsof {quoted}`), let it "
                f"finish or stop it, then try again.{note}")
    return ConflictError(f"{path} is still locked by {who} after {timeout:g} s", hint)


@contextlib.contextmanager
def _filelock(path: Path, timeout: float) -> Iterator[None]:  # pragma: no cover - Windows
    from filelock import FileLock, Timeout

    make_folder(path.parent)
    lock = FileLock(f"{path}.lock", timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise ConflictError(f"{path} is still locked by another process after {timeout:g} s",
                            "Let it finish, then try again.") from None
    try:
        yield
    finally:
        lock.release()
