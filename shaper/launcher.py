"""Run an engine as a child process and learn its control address without races.

Parent side (`shaper run`, tests):

    with EngineProcess(["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:5432"]) as engine:
        engine.control_url      # "http://127.0.0.1:40123"
        engine.listen           # ["127.0.0.1:39001"]

The child is `python -m shaper serve ARGS --control 127.0.0.1:0 --ready-fd N`.
When it is listening, serve writes one JSON line to file descriptor N and
closes it (`write_ready`): {"pid": ..., "control": "http://HOST:PORT",
"listen": ["HOST:PORT", ...]}. The parent blocks on that pipe, so there is no
sleep and no polling; if the child dies first the pipe reaches EOF and the
parent raises EngineStartError with the child's stderr.

No orphans: on Linux the child gets PR_SET_PDEATHSIG (SIGTERM) before it
executes Python, and serve calls `watch_parent` which also stops the engine
when the parent pid changes (covers other systems and exotic cases).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import ctypes.util
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from shaper.model.addresses import format_address

PARENT_ENV = "SHAPER_PARENT_PID"
DEATH_SIGNAL_ENV = "SHAPER_PARENT_DEATH_SIGNAL"  # "0": rely on the watchdog alone
PR_SET_PDEATHSIG = 1
WATCH_INTERVAL = 0.5


class EngineStartError(RuntimeError):
    """The engine child exited or stayed silent before it was ready."""


# -- child side (called by `shaper serve`) ------------------------------------


def ready_line(control: Any, listen: Sequence[Any] = ()) -> str:
    """The readiness JSON line. `control` is (host, port), a URL, or None."""
    if control is not None and not (isinstance(control, str) and "://" in control):
        control = "http://" + format_address(control)
    data = {"pid": os.getpid(), "control": control, "listen": [format_address(a) for a in listen]}
    return json.dumps(data) + "\n"


def write_ready(fd: int | None, control: Any, listen: Sequence[Any] = ()) -> None:
    """Tell the parent that the engine is ready: one JSON line on `fd`, then close it.

    Call once the listeners and the control API are bound. No-op when fd is None.
    """
    if fd is None:
        return
    data = ready_line(control, listen).encode()
    try:
        while data:
            written = os.write(fd, data)
            data = data[written:]
    except BrokenPipeError:  # the parent is gone; the watchdog will stop us
        pass
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


def set_parent_death_signal(sig: int = signal.SIGTERM) -> bool:
    """Ask Linux to send `sig` to this process when its parent (thread) exits."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class ParentWatch:
    """Checks every `interval` seconds that the parent process is still the same one."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        parent_pid: int,
        on_parent_exit: Callable[[], Any],
        interval: float,
    ):
        self.loop = loop
        self.parent_pid = parent_pid
        self.on_parent_exit = on_parent_exit
        self.interval = interval
        self._handle: asyncio.Handle | None = None
        self.fired = False

    def start(self) -> None:
        if os.getppid() != self.parent_pid:  # it died before we looked
            self._handle = self.loop.call_soon(self._fire)
        else:
            self._handle = self.loop.call_later(self.interval, self._check)

    def _check(self) -> None:
        if os.getppid() != self.parent_pid:
            self._fire()
        else:
            self._handle = self.loop.call_later(self.interval, self._check)

    def _fire(self) -> None:
        self._handle = None
        if not self.fired:
            self.fired = True
            self.on_parent_exit()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def _terminate_self() -> None:
    os.kill(os.getpid(), signal.SIGTERM)  # serve's handler stops the engine cleanly


def watch_parent(
    loop: asyncio.AbstractEventLoop,
    on_parent_exit: Callable[[], Any] = _terminate_self,
    parent_pid: int | None = None,
    interval: float = WATCH_INTERVAL,
) -> ParentWatch | None:
    """Call `on_parent_exit()` (once; default: SIGTERM to this process) when the parent
    process is gone.

    `parent_pid` defaults to $SHAPER_PARENT_PID, which EngineProcess sets; without either
    this does nothing (a foreground `shaper serve` outlives nobody). Also sets the Linux
    parent-death signal. Returns the watch (cancel() it to stop watching).
    """
    if parent_pid is None:
        raw = os.environ.get(PARENT_ENV, "")
        parent_pid = int(raw) if raw.isdigit() else 0
    if not parent_pid:
        return None
    if os.environ.get(DEATH_SIGNAL_ENV, "1") != "0":
        set_parent_death_signal(signal.SIGTERM)
    watch = ParentWatch(loop, parent_pid, on_parent_exit, interval)
    watch.start()
    return watch


# -- parent side ----------------------------------------------------------------


def _preexec_parent_death() -> None:  # runs in the child between fork and exec
    set_parent_death_signal(signal.SIGTERM)


_live: weakref.WeakSet[EngineProcess] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for engine in list(_live):
        with contextlib.suppress(Exception):
            engine.stop(timeout=2.0)


class EngineProcess:
    """An engine child process (`python -m shaper serve`), sync or async context manager.

    serve_args: the serve arguments (routes, limits, profile...); --control and
    --ready-fd are added. `command` replaces `python -m shaper serve` (tests).
    Start and stop it from the same thread that keeps running: on Linux the child
    is signalled when the thread that started it exits. parent_death_signal=False
    leaves only the watchdog (the child polls its parent pid every 0.5 s).
    """

    def __init__(
        self,
        serve_args: Sequence[str] = (),
        *,
        control: str = "127.0.0.1:0",
        token: str | None = None,
        command: Sequence[str] | None = None,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        startup_timeout: float = 20.0,
        stdout: Any = subprocess.DEVNULL,
        stderr: Any = None,
        parent_death_signal: bool = True,
    ):
        self.serve_args = list(serve_args)
        self.control = control
        self.token = token
        self.command = (
            list(command)
            if command is not None
            else [
                sys.executable,
                "-m",
                "shaper",
                "serve",
            ]
        )
        self.env = env
        self.cwd = cwd
        self.startup_timeout = startup_timeout
        self.stdout = stdout
        self._stderr_arg = stderr
        self._stderr_file: Any = None
        self.parent_death_signal = parent_death_signal
        self.process: subprocess.Popen[bytes] | None = None
        self.ready: dict[str, Any] | None = None

    # -- results ------------------------------------------------------------------

    @property
    def control_url(self) -> str:
        if not self.ready or not self.ready.get("control"):
            raise RuntimeError("the engine is not ready (call start() first)")
        return self.ready["control"]

    @property
    def listen(self) -> list[str]:
        """The bound listen addresses, as HOST:PORT strings."""
        return [format_address(a) for a in self.ready.get("listen", [])] if self.ready else []

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def returncode(self) -> int | None:
        return self.process.poll() if self.process else None

    def argv(self, ready_fd: int) -> list[str]:
        args = [
            *self.command,
            *self.serve_args,
            "--control",
            self.control,
            "--ready-fd",
            str(ready_fd),
        ]
        if self.token:
            args += ["--control-token", self.token]
        return args

    # -- start ---------------------------------------------------------------------

    def _spawn(self) -> int:
        if self.process is not None:
            raise RuntimeError("the engine process was already started")
        read_fd, write_fd = os.pipe()
        env = dict(os.environ if self.env is None else self.env)
        env[PARENT_ENV] = str(os.getpid())
        env[DEATH_SIGNAL_ENV] = "1" if self.parent_death_signal else "0"
        if self._stderr_arg is None:
            self._stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 (kept open for stderr_text)
            stderr = self._stderr_file
        else:
            stderr = self._stderr_arg
        try:
            self.process = subprocess.Popen(
                self.argv(write_fd),
                stdin=subprocess.DEVNULL,
                stdout=self.stdout,
                stderr=stderr,
                pass_fds=(write_fd,),
                env=env,
                cwd=self.cwd,
                start_new_session=True,  # a terminal's Ctrl-C goes to the parent, not here
                preexec_fn=_preexec_parent_death
                if self.parent_death_signal and sys.platform.startswith("linux")
                else None,
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        _live.add(self)
        return read_fd

    def _read_ready(self, read_fd: int) -> None:
        """Block (up to startup_timeout) for the readiness line; no sleeping."""
        deadline = time.monotonic() + self.startup_timeout
        buffer = b""
        try:
            while b"\n" not in buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._fail(f"no readiness line within {self.startup_timeout:g}s")
                readable, _, _ = select.select([read_fd], [], [], remaining)
                if not readable:
                    continue
                chunk = os.read(read_fd, 4096)
                if not chunk:
                    self._fail("the engine exited before it was ready")
                buffer += chunk
        finally:
            os.close(read_fd)
        try:
            self.ready = json.loads(buffer.split(b"\n", 1)[0])
        except ValueError:
            self._fail(f"unreadable readiness line {buffer[:200]!r}")

    def _fail(self, reason: str) -> None:
        code = None
        if self.process is not None:
            try:
                code = self.process.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                code = self.process.wait()
        detail = self.stderr_text().strip()
        message = f"{reason} (exit code {code})" if code is not None else reason
        if detail:
            message += ":\n" + detail[-2000:]
        raise EngineStartError(message)

    def stderr_text(self) -> str:
        """What the child wrote to stderr so far (when stderr was captured)."""
        if self._stderr_file is None:
            return ""
        self._stderr_file.seek(0)
        return self._stderr_file.read().decode(errors="replace")

    def start(self) -> EngineProcess:
        read_fd = self._spawn()
        try:
            self._read_ready(read_fd)
        except BaseException:
            self.stop()
            raise
        return self

    async def astart(self) -> EngineProcess:
        read_fd = self._spawn()  # in this thread: the death signal follows this thread
        try:
            await asyncio.to_thread(self._read_ready, read_fd)
        except BaseException:
            await self.astop()
            raise
        return self

    # -- stop ----------------------------------------------------------------------

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` seconds; returns the exit code."""
        process = self.process
        if process is None:
            return None
        _live.discard(self)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()
        return process.returncode

    async def astop(self, timeout: float = 5.0) -> int | None:
        return await asyncio.to_thread(self.stop, timeout)

    def __enter__(self) -> EngineProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> EngineProcess:
        return await self.astart()

    async def __aexit__(self, *exc: object) -> None:
        await self.astop()
