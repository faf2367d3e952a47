"""A slower machine and a busy neighbour, emulated for ``media_load`` (Linux, root, cgroup v1 or v2).

- ``cpu_limited(cpus)``: this process, and every process it starts from then on, runs in a new cgroup
  that may use ``cpus`` CPUs in all. The quota is refilled every 2 ms (the kernel's least quota is 1 ms),
  so the limit acts like a slower processor: a few hundred microseconds of waiting at a time, not the
  default 100 ms period's stalls of tens of milliseconds, which no slower machine has.
- ``busy_neighbour()``: one CPU-bound process beside the run (another service on the same machine), inside
  the limit when started within ``cpu_limited``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 2000
LEAST_QUOTA_US = 1000  # the kernel refuses less


class CpuLimitError(RuntimeError):
    """The limit cannot be set here (no cgroup file system, not root, a limit below what the kernel takes)."""


def quota_us(cpus: float, *, period_us: int = PERIOD_US) -> int:
    quota = round(cpus * period_us)
    if quota < LEAST_QUOTA_US:
        raise CpuLimitError(f"--cpus {cpus}: the least limit is {LEAST_QUOTA_US / period_us} CPU "
                            f"(a quota of {LEAST_QUOTA_US} µs per {period_us} µs)")
    return quota


def _group_dir(root: Path) -> tuple[Path, bool]:
    """The cgroup directory to make the group in, and whether it is cgroup v2."""
    if (root / "cgroup.controllers").exists():
        return root, True
    if (root / "cpu" / "cpu.cfs_quota_us").exists():
        return root / "cpu", False
    raise CpuLimitError(f"no cgroup cpu controller under {root}")


def _own_group(parent: Path, v2: bool) -> Path:
    """The cgroup this process is in now (to go back to)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (v2 and controllers == "") or (not v2 and "cpu" in controllers.split(",")):
            return parent / path.lstrip("/")
    return parent


@contextlib.contextmanager
def cpu_limited(cpus: float, *, root: Path = CGROUP_ROOT) -> Iterator[Path]:
    """Runs the block (and what it starts) within ``cpus`` CPUs; yields the group's directory."""
    quota = quota_us(cpus)
    parent, v2 = _group_dir(root)
    home = _own_group(parent, v2)
    group = parent / f"media-load-{os.getpid()}"
    try:
        if v2 and "cpu" not in (parent / "cgroup.subtree_control").read_text().split():
            (parent / "cgroup.subtree_control").write_text("+cpu")
        group.mkdir()
        if v2:
            (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        else:
            (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
        (group / "cgroup.procs").write_text(str(os.getpid()))
    except OSError as exc:
        with contextlib.suppress(OSError):
            group.rmdir()
        raise CpuLimitError(f"cannot limit the CPU in {group}: {exc} (it needs root and a writable cgroup "
                            "file system)") from exc
    try:
        yield group
    finally:
        (home / "cgroup.procs").write_text(str(os.getpid()))
        with contextlib.suppress(OSError):  # a process started inside may still be exiting
            group.rmdir()


@contextlib.contextmanager
def busy_neighbour() -> Iterator[subprocess.Popen]:
    """One process spinning on a CPU for as long as the block runs."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()
