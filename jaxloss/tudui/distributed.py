"""``jaxloss train --distributed``: one process of a multi-process run, and how it ends.

``jax.distributed.initialize`` connects the processes; ``jax.devices()`` then lists every
process's devices and the training mesh spans them (on CPU the collectives go through gloo).

When a process dies, jax's coordination service notices (at once when a socket closes,
otherwise after ``--heartbeat-timeout`` seconds) and terminates every other process from a
C++ thread with a fatal log, a stack dump and SIGABRT, which no Python code can catch (jax
0.10.2 has no hook for it; the client's ``missed_heartbeat_callback`` fails in this jaxlib
with ``std::bad_cast``). So :func:`launch` runs the training in a child process (``python
-m jaxloss.tudui.distributed``) whose Python output goes to the terminal and whose native
output (file descriptors 1 and 2) goes to ``<workdir>/jax-process-<id>.log``; when the
child ends abnormally, the launcher prints one line saying which process was lost and how
to continue. The child dies with its launcher (``PR_SET_PDEATHSIG`` and a watchdog thread).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from jaxloss.tudui.errors import one_line

if TYPE_CHECKING:
    from jaxloss.tudui.config import DistributedConfig

_TERMINAL_FDS = "JAXLOSS_TERMINAL_FDS"  # the launcher's stdout and stderr, for the child
_LAUNCHER_PID = "JAXLOSS_LAUNCHER_PID"
_REPORTED = "jaxloss: the process reported its own error\n"  # child -> launcher, on fd 2


def initialized() -> bool:
    """Whether this process is connected to a distributed run (is its training process)."""
    jax = sys.modules.get("jax")  # not imported yet: certainly not connected
    return jax is not None and jax.distributed.is_initialized()


# ---------------------------------------------------------------- the launcher


def log_file(workdir, process_id: int | None) -> Path:
    """Where a process's native output (and a Python traceback) goes."""
    return Path(workdir).resolve() / f"jax-process-{'?' if process_id is None else process_id}.log"


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def launch(launch: DistributedConfig, argv: list[str], workdir: Path) -> int:
    """Run this process's share of the run in a child process; returns the exit status.

    0, 2 (a reported error), 130 (Ctrl-C) and 143 (SIGTERM) are the child's own; when it
    is lost, or loses another process, one line on stderr says so and the status is 1.
    """
    log_path = log_file(workdir, launch.process_id)
    sys.stdout.flush()
    terminal = (os.dup(1), os.dup(2))
    env = dict(os.environ)
    env[_TERMINAL_FDS] = f"{terminal[0]},{terminal[1]}"
    env[_LAUNCHER_PID] = str(os.getpid())
    child = subprocess.Popen(
        [sys.executable, "-m", "jaxloss.tudui.distributed", *argv],
        stdout=subprocess.PIPE,  # what native code prints (gloo, XLA, jax's C++ logs)
        stderr=subprocess.STDOUT,
        pass_fds=terminal,
        env=env,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        start_new_session=True,  # Ctrl-C reaches the launcher only, which passes it on once
    )
    for fd in terminal:
        os.close(fd)

    def forward(signum, frame):
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    tail: deque[str] = deque(maxlen=200)
    reported = False
    try:
        assert child.stdout is not None
        log = None
        for raw in child.stdout:
            line = raw.decode("utf-8", "replace")
            if _REPORTED.strip() in line:
                reported = True
                continue
            if log is None:
                log_path.parent.mkdir(parents=True, exist_ok=True)
                log = open(log_path, "a")
            log.write(line)
            log.flush()
            tail.append(line)
        if log is not None:
            log.close()
        rc = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    native_failure = any("Terminating process" in ln or re.match(r"F\d{4} ", ln) for ln in tail)
    if reported or (rc >= 0 and not native_failure):
        return 1 if reported else rc  # the child said what happened, on the terminal
    pid = "?" if launch.process_id is None else launch.process_id
    print(
        f"jaxloss train: error: process {pid} of {launch.num_processes}: "
        f"{_reason(list(tail), rc, launch)}; jax's log: {log_path}. Checkpoints in "
        f"{Path(workdir) / 'checkpoints'} are intact: start every process again with --resume",
        file=sys.stderr,
    )
    return 1


def _reason(lines: list[str], rc: int, launch: DistributedConfig) -> str:
    """What jax's log says ended the child, in a few words."""
    text = " ".join(lines)
    if "stopped sending heartbeats" in text:
        m = re.search(r"stopped sending heartbeats\):\s*([\d\s,]+)", text)
        who = ", ".join(m.group(1).split()) if m else "another process"
        return (
            f"process {who} stopped sending heartbeats for {launch.heartbeat_timeout} s "
            "(killed, crashed or hung), so this one stopped too"
        )
    if re.search(r"leader task|coordination service|Socket closed|Connection reset", text):
        return (
            f"lost the coordinator (process 0 at {launch.coordinator_address}): it ended or "
            "cannot be reached, so this process stopped too"
        )
    if "DEADLINE_EXCEEDED" in text:
        return (
            f"not every process joined within {launch.initialization_timeout} s "
            "(--initialization-timeout); start all of them with the same --num-processes"
        )
    if rc < 0:
        return f"its training process ended on signal {signal.Signals(-rc).name}"
    fatal = [ln.strip() for ln in lines if re.match(r"[FE]\d{4} ", ln)]
    return f"its training process exited with status {rc}" + (
        f" ({fatal[-1][:200]})" if fatal else ""
    )


# ---------------------------------------------------------------- the training process


def _watch_launcher(launcher: int) -> None:
    """End this process soon after its launcher is gone (where PR_SET_PDEATHSIG is not)."""

    def watch() -> None:
        while os.getppid() == launcher:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="jaxloss-launcher-watch", daemon=True).start()


def _child_main(argv: list[str]) -> int:
    from jaxloss.tudui import cli
    from jaxloss.tudui.config import DistributedConfig, from_args

    fds = os.environ.pop(_TERMINAL_FDS, None)
    if fds is not None:  # Python's own output to the terminal; fds 1, 2 stay the log pipe
        out, err = (int(fd) for fd in fds.split(","))
        sys.stdout = open(out, "w", buffering=1, closefd=True)
        sys.stderr = open(err, "w", buffering=1, closefd=True)
    launcher = os.environ.pop(_LAUNCHER_PID, None)
    if launcher is not None:
        _watch_launcher(int(launcher))
    args = cli.build_parser().parse_args(argv)
    launch_config = from_args(DistributedConfig, args)
    try:
        import jax

        jax.distributed.initialize(
            coordinator_address=launch_config.coordinator_address,
            num_processes=launch_config.num_processes,
            process_id=launch_config.process_id,
            initialization_timeout=launch_config.initialization_timeout,
            heartbeat_timeout_seconds=launch_config.heartbeat_timeout,
            shutdown_timeout_seconds=max(30, launch_config.heartbeat_timeout),
        )
    except Exception as e:  # e.g. no cluster detected and no --coordinator-address
        print(
            f"jaxloss train: error: --distributed: jax.distributed.initialize() failed "
            f"({type(e).__name__}: {one_line(e)}); outside Cloud TPU, Slurm "
            "and Open MPI give --coordinator-address, --num-processes and --process-id",
            file=sys.stderr,
        )
        return 2
    try:
        return cli.main(argv)
    except Exception as e:  # one line here, the traceback in the log (fd 2)
        with os.fdopen(os.dup(2), "w") as log:
            traceback.print_exc(file=log)
            log.write("\n" + _REPORTED)
        where = f"process {launch_config.process_id} of {launch_config.num_processes}"
        what = f"{type(e).__name__}: {one_line(e)}"
        if re.search(r"Gloo|Connection closed|Connection reset|coordination|heartbeat", str(e)):
            what = f"a collective with the other processes failed ({what}), so one has ended"
        print(
            f"jaxloss train: error: {where}: {what}; traceback in "
            f"{log_file(args.workdir, launch_config.process_id)}; start every process again with "
            "--resume",
            file=sys.stderr,
            flush=True,
        )
        os._exit(1)  # not sys.exit: jax's shutdown barrier would wait for the lost process


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
