"""An advisory lock on a checkpoint path, so that two training runs never write one checkpoint.

``CheckpointLock(path)`` holds ``<path>.lock`` while training: the file names
the holder (its process id and host) and is locked with ``fcntl.flock``, which
the operating system releases when the holder exits, however it exits. A second
run on the same checkpoint is refused with a message naming the holder. The
file is removed on exit, on SIGINT (Ctrl-C) and on SIGTERM; one left behind by
a process that was killed (SIGKILL, a crash, a power cut) is stale: the next run
takes it over with a warning. Where ``fcntl`` does not exist (Windows) the
lock is the file alone, created exclusively, and a stale one is recognised by
its process id no longer running on this host.
"""

import os
import signal
import socket
import warnings
from typing import Optional

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


class CheckpointLockError(RuntimeError):
    """Another live process holds the lock."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists, owned by someone else
    return True


def _holder(text: str):
    """(pid, host) from a lock file's text, (None, None) when it names none."""
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    try:
        return int(fields.get("pid", "")), fields.get("host")
    except ValueError:
        return None, fields.get("host")


class CheckpointLock:
    """Context manager: holds ``<path>.lock`` (module docstring); raises CheckpointLockError while another
    live process holds it, and warns (RuntimeWarning) when it takes over a stale one."""

    def __init__(self, path: str, option: str = "--checkpoint"):
        self.path, self.option = path, option
        self.lock_path = path + ".lock"
        self.fd: Optional[int] = None
        self._previous_sigterm = None

    def _refuse(self, text: str) -> None:
        pid, host = _holder(text)
        who = f"process {pid}" + (f" on {host}" if host else "") if pid else "another process"
        raise CheckpointLockError(
            f"{self.option} {self.path} is in use: {who} is training into it (lock file {self.lock_path}); "
            f"wait for it to finish, stop it, or give another {self.option}"
        )

    def _warn_stale(self, text: str) -> None:
        pid, host = _holder(text)
        if pid is not None or text.strip():
            warnings.warn(
                f"{self.lock_path}: taking over a stale lock left by process {pid}"
                + (f" on {host}" if host else "")
                + ", which is no longer running",
                RuntimeWarning,
                stacklevel=3,
            )

    def acquire(self) -> "CheckpointLock":
        folder = os.path.dirname(os.path.abspath(self.lock_path))
        os.makedirs(folder, exist_ok=True)
        if fcntl is not None:
            self._acquire_flock()
        else:
            self._acquire_exclusive()
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.write(self.fd, f"pid={os.getpid()}\nhost={socket.gethostname()}\n".encode())
        os.fsync(self.fd)
        self._install_sigterm()
        return self

    def _acquire_flock(self) -> None:
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                text = os.read(fd, 4096).decode(errors="replace")
                os.close(fd)
                self._refuse(text)
            # The holder may have removed the file between our open and our lock: then lock the new one.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self.fd = fd
        self._warn_stale(os.read(fd, 4096).decode(errors="replace"))

    def _acquire_exclusive(self) -> None:
        for _ in range(2):
            try:
                self.fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                return
            except FileExistsError:
                with open(self.lock_path, errors="replace") as f:
                    text = f.read()
                pid, host = _holder(text)
                if pid is not None and host == socket.gethostname() and not _alive(pid):
                    self._warn_stale(text)
                    os.remove(self.lock_path)
                    continue
                self._refuse(text)
        self._refuse("")

    def _install_sigterm(self) -> None:
        """SIGTERM raises SystemExit in the main thread, so the lock is released on the way out."""
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return  # someone else handles it; their exit still runs our release (or the OS drops the flock)
        try:

            def terminate(signum, frame):
                raise SystemExit(128 + signum)

            self._previous_sigterm = signal.signal(signal.SIGTERM, terminate)
        except ValueError:  # not the main thread
            self._previous_sigterm = None

    def release(self) -> None:
        if self.fd is None:
            return
        if self._previous_sigterm is not None:
            try:
                signal.signal(signal.SIGTERM, self._previous_sigterm)
            except ValueError:
                pass
            self._previous_sigterm = None
        try:
            os.remove(self.lock_path)
        except FileNotFoundError:
            pass
        finally:
            os.close(self.fd)  # closing drops the flock
            self.fd = None

    def __enter__(self) -> "CheckpointLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
