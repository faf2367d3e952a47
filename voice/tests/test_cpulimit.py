"""``voice.bench.cpulimit``: the cgroup that emulates a slower machine for ``media_load``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from voice.bench.cpulimit import PERIOD_US, CpuLimitError, busy_neighbour, cpu_limited, quota_us


def test_the_quota_is_the_share_of_each_period_and_never_below_the_kernels_least():
    assert quota_us(0.75) == 1500 and PERIOD_US == 2000
    assert quota_us(2) == 4000
    with pytest.raises(CpuLimitError, match=r"least limit is 0\.5 CPU"):
        quota_us(0.3)


def _v1_tree(root: Path) -> Path:
    cpu = root / "cpu"
    cpu.mkdir(parents=True)
    (cpu / "cpu.cfs_quota_us").write_text("-1")
    (cpu / "cgroup.procs").write_text("")
    return cpu


def test_a_v1_group_gets_the_period_the_quota_and_this_process(tmp_path, monkeypatch):
    """On a stand-in cgroup tree (plain files): what is written where, and the process goes back after."""
    cpu = _v1_tree(tmp_path)
    monkeypatch.setattr("voice.bench.cpulimit._own_group", lambda parent, v2: parent)
    with cpu_limited(0.75, root=tmp_path) as group:
        assert group.parent == cpu and group.name == f"media-load-{os.getpid()}"
        assert (group / "cpu.cfs_period_us").read_text() == "2000"
        assert (group / "cpu.cfs_quota_us").read_text() == "1500"
        assert (group / "cgroup.procs").read_text() == str(os.getpid())
    assert (cpu / "cgroup.procs").read_text() == str(os.getpid())  # back where it was


def test_a_v2_group_gets_cpu_max_and_the_controller_enabled(tmp_path, monkeypatch):
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids")
    (tmp_path / "cgroup.subtree_control").write_text("memory pids")
    (tmp_path / "cgroup.procs").write_text("")
    monkeypatch.setattr("voice.bench.cpulimit._own_group", lambda parent, v2: parent)
    with cpu_limited(1.0, root=tmp_path) as group:
        assert (group / "cpu.max").read_text() == "2000 2000"
        assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu"
        assert (group / "cgroup.procs").read_text() == str(os.getpid())


def test_without_a_cgroup_file_system_it_says_so(tmp_path):
    with pytest.raises(CpuLimitError, match="no cgroup cpu controller"), cpu_limited(1.0, root=tmp_path):
        pass


def _own_cpu_group() -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(",") or controllers == "":
            return path
    return ""


def test_on_this_machine_the_process_and_its_children_run_in_the_group_and_come_back():
    before = _own_cpu_group()
    try:
        limited = cpu_limited(1.0)
        group = limited.__enter__()
    except CpuLimitError as exc:
        pytest.skip(f"no writable cgroup here: {exc}")
    try:
        assert _own_cpu_group().endswith(group.name)
        with busy_neighbour() as neighbour:
            lines = Path(f"/proc/{neighbour.pid}/cgroup").read_text()
            assert group.name in lines  # started inside: limited too
    finally:
        limited.__exit__(None, None, None)
    assert _own_cpu_group() == before
    assert not group.exists()
