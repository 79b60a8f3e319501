"""A real single-node SLURM on localhost for the tests: install, configure, start, stop.

Debian's munge and slurm-wlm, one node (this host, its CPUs and memory), one
partition, no accounting database: job status comes from squeue, so MinJobAge
keeps finished jobs visible for an hour. Every daemon is started by pid and
stopped by pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PACKAGES = ["munge", "slurm-wlm"]
# The jobstep executor strips SLURM_* variables (SLURM_CONF among them) before its nested
# srun, so jobs find the config only at the default path, as on a real cluster.
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")


CLUSTER_NAME = "arithsignal-test"  # the first line of every config write_conf writes: how a leftover link is known


class ClusterUnavailable(RuntimeError):
    pass


def stale_link(default_conf: Path = DEFAULT_CONF) -> bool:
    """Is ``default_conf`` a link that a killed test run left behind: to one of write_conf's configs whose
    slurmctld is gone (or to a pytest temporary config that no longer exists)? Anything else is left alone."""
    if not default_conf.is_symlink():
        return False
    target = Path(os.readlink(default_conf))
    if not target.exists():
        return target.name == "slurm.conf" and "pytest-of-" in str(target)
    if not target.read_text().startswith(f"ClusterName={CLUSTER_NAME}\n"):
        return False
    try:
        os.kill(int((target.parent / "slurmctld.pid").read_text().strip()), 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return True
    return False  # its slurmctld is alive (or its pid is now another process's): not ours to touch


def install() -> None:
    """apt-get install munge slurm-wlm if the daemons are missing (root only, as in CI)."""
    if shutil.which("slurmctld") and shutil.which("munged"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", *PACKAGES], check=True, env=env, capture_output=True)


def _node() -> tuple[str, int, int]:
    out = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
    fields = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
    mem = int(fields["RealMemory"]) - 1024  # leave the OS some room
    return fields["NodeName"], int(fields["CPUs"]), mem


def write_conf(root: Path) -> Path:
    node, cpus, mem = _node()
    for d in ("state", "spool", "log"):
        (root / d).mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(
        f"""ClusterName={CLUSTER_NAME}
SlurmctldHost={socket.gethostname().split(".")[0]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldPort=6917
SlurmdPort=6918
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=3600
NodeName={node} CPUs={cpus} RealMemory={mem} State=UNKNOWN
PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""
    )
    return conf


class Cluster:
    """Start munged, slurmctld and slurmd; ``stop()`` kills exactly those pids."""

    def __init__(self, root: Path):
        self.root = root
        self.conf = write_conf(root)
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.pids: list[int] = []
        self.linked = False

    def _daemon(self, argv: list[str], pidfile: Path | None = None) -> None:
        p = subprocess.Popen(
            argv, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self.pids.append(p.pid)

    def start(self) -> Cluster:
        if stale_link():
            DEFAULT_CONF.unlink()  # a killed run's link would otherwise skip every later run's SLURM tests
        if DEFAULT_CONF.exists() or DEFAULT_CONF.is_symlink():
            raise ClusterUnavailable(f"{DEFAULT_CONF} exists: this machine has a SLURM of its own; not touching it")
        DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
        DEFAULT_CONF.symlink_to(self.conf)
        self.linked = True
        munge_dir = self.root / "munge"
        munge_dir.mkdir(exist_ok=True)
        self.munge_socket = munge_dir / "munge.socket"
        # munged in the foreground, as root, with its own socket and files (nothing system-wide touched)
        self._daemon(
            [
                "munged",
                "--foreground",
                "--force",
                f"--socket={self.munge_socket}",
                f"--pid-file={munge_dir}/munged.pid",
                f"--seed-file={munge_dir}/seed",
                f"--log-file={munge_dir}/munged.log",
            ]  # fmt: skip
        )
        self._wait(lambda: self.munge_socket.exists(), "munged")
        # slurm finds munge's socket through its AuthInfo
        self.conf.write_text(
            self.conf.read_text().replace(
                "AuthType=auth/munge", f"AuthType=auth/munge\nAuthInfo=socket={self.munge_socket}"
            )
        )
        self._daemon(["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._daemon(["slurmd", "-D", "-f", str(self.conf)])
        self._wait(self._node_idle, "slurmd to register")
        return self

    def _node_idle(self) -> bool:
        r = subprocess.run(["sinfo", "-h", "-o", "%t"], env=self.env, capture_output=True, text=True)
        return r.returncode == 0 and r.stdout.strip() in ("idle", "mix", "alloc")

    def _wait(self, ok, what: str, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if ok():
                return
            time.sleep(0.2)
        raise RuntimeError(f"timed out waiting for {what}; logs in {self.root}/log")

    def run(self, *argv: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(list(argv), env={**self.env, **kw.pop("env", {})}, capture_output=True, text=True, **kw)

    def stop(self) -> None:
        for pid in reversed(self.pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.time() + 10
        for pid in self.pids:
            while time.time() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.linked:
            DEFAULT_CONF.unlink(missing_ok=True)
            self.linked = False
