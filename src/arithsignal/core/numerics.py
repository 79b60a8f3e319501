"""CPU numerics: which instruction set torch's kernels run, pinned so that the same seed gives the same numbers on any
x86-64 machine, and recorded in every table's provenance and every checkpoint.

PyTorch's CPU kernels dispatch on the processor in three places, and each path rounds differently: ATen's vectorised
kernels (``ATEN_CPU_CAPABILITY``), MKL's BLAS (``MKL_CBWR``) and oneDNN (``ONEDNN_MAX_CPU_ISA``). Training amplifies
a last-bit difference into other step counts, so a run on an AVX-512 machine and one on an AVX2 machine disagree.
Under **portable** numerics (the default on a CPU) a job pins all three before torch is imported:

* ATen and oneDNN to AVX2, which every x86-64 machine of the last decade has;
* MKL to its ``COMPATIBLE`` branch: MKL honours an ISA branch (``AVX2``) only on Intel processors and runs its own
  ``AUTO`` path elsewhere (on AMD it reports ``CNR:AUTO`` whatever is asked), so ``COMPATIBLE`` (SSE2, no
  approximate reciprocals) is MKL's one branch that is the same on Intel and AMD processors. It is slower at
  matrix products (docs/PERFORMANCE.md has the cost, from ``benchmarks/bench.py --only numerics``).

``check`` then asks torch which paths it really took and fails naming the variable that was not honoured
(``python -m arithsignal fingerprint`` trains a short run under them and prints its hash). Portable
numerics are an execution setting (the environment variable ``ARITHSIGNAL_NUMERICS``: ``portable`` or ``native``),
not an experiment setting: they enter no run hash, and switching them reruns nothing; the provenance says which
was used. On a GPU nothing is pinned (the CPU does no arithmetic that matters there); the record still says so.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import platform
import re
import sys
import tempfile

ENV = "ARITHSIGNAL_NUMERICS"
MODES = ("portable", "native")
PINS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE", "ONEDNN_MAX_CPU_ISA": "AVX2"}


class NumericsError(RuntimeError):
    """The pinned numeric path was not taken, or the setting is not understood."""


def mode() -> str:
    value = os.environ.get(ENV, "portable")
    if value not in MODES:
        raise NumericsError(f"{ENV}={value!r}: expected one of {list(MODES)}")
    return value


def _gpu_present() -> bool:
    return os.path.exists("/dev/nvidiactl") or bool(os.environ.get("CUDA_VISIBLE_DEVICES", "").strip(" -"))


def applies(cpu_only: bool = False) -> bool:
    """Whether this process pins: portable mode, an x86-64 CPU, and no GPU (``cpu_only``: a process that computes on
    the CPU whatever else the machine has, as the fingerprint does)."""
    return mode() == "portable" and platform.machine() in ("x86_64", "AMD64") and (cpu_only or not _gpu_present())


_PINNED = [
    False
]  # whether this process pinned (a job does; tests, the CLI and benchmarks that import torch first do not)


def pin(cpu_only: bool = False) -> None:
    """Set the three variables before torch is imported (a job's first line). Set by hand to other values, they are
    overridden, and the job says so."""
    if not applies(cpu_only):
        return
    if "torch" in sys.modules:
        raise NumericsError("numerics.pin() must run before torch is imported: the dispatch paths are fixed at import")
    for key, value in PINS.items():
        if os.environ.get(key, value) != value:
            print(
                f"portable numerics: {key}={os.environ[key]} replaced by {value} (set {ENV}=native to keep it)",
                file=sys.stderr,
            )
        os.environ[key] = value
    _PINNED[0] = True


@contextlib.contextmanager
def _captured_fd1():
    """What C code prints to file descriptor 1 inside the block (MKL's and oneDNN's verbose lines)."""
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as f:
        os.dup2(f.fileno(), 1)
        text: list[str] = []
        try:
            yield text
        finally:
            libc.fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
            f.seek(0)
            text.append(f.read().decode(errors="replace"))


def _paths_taken() -> dict:
    """Ask the libraries which paths they run: ATen's capability, MKL's CNR branch and oneDNN's ISA (from their verbose
    lines on a small matrix product and a GELU)."""
    torch = sys.modules["torch"]  # imported by the job already (not here: a job without torch never gets this far)

    out = {"aten_capability": torch.backends.cpu.get_cpu_capability()}
    a = torch.ones(8, 8)
    with _captured_fd1() as text, torch.backends.mkl.verbose(torch.backends.mkl.VERBOSE_ON):
        a @ a
    found = re.search(r"CNR:([A-Z0-9_,]+)", text[0])
    out["mkl_cnr"] = found.group(1) if found else "not reported"
    with _captured_fd1() as text, torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
        torch.nn.functional.gelu(torch.ones(64, 64))
    found = re.search(r",jit:([a-z0-9_]+)", text[0])
    out["onednn_isa"] = found.group(1) if found else "not reported"
    return out


def check() -> dict:
    """After torch is imported: the paths really taken. Where this process pinned them, any that differs from its pin
    fails the job with a message naming the variable."""
    taken = _paths_taken()
    if _PINNED[0]:
        wrong = []
        if taken["aten_capability"].lower() != PINS["ATEN_CPU_CAPABILITY"]:
            wrong.append(
                f"ATEN_CPU_CAPABILITY={PINS['ATEN_CPU_CAPABILITY']} (torch runs {taken['aten_capability']} kernels)"
            )
        if not taken["mkl_cnr"].startswith(PINS["MKL_CBWR"]):
            wrong.append(f"MKL_CBWR={PINS['MKL_CBWR']} (MKL reports CNR:{taken['mkl_cnr']})")
        if taken["onednn_isa"] not in ("not reported",) and not taken["onednn_isa"].startswith(
            PINS["ONEDNN_MAX_CPU_ISA"].lower()
        ):
            wrong.append(f"ONEDNN_MAX_CPU_ISA={PINS['ONEDNN_MAX_CPU_ISA']} (oneDNN runs jit:{taken['onednn_isa']})")
        if wrong:
            raise NumericsError("portable numerics were refused: " + "; ".join(wrong)
                                + f". This CPU may lack AVX2; set {ENV}=native "
                                "to run on its own numerics (the provenance will say so)")  # fmt: skip
    return taken


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe(device: str | None = None) -> dict:
    """The numeric environment of this process: mode, device, CPU model, the paths ATen, MKL and oneDNN take, their
    versions, torch's version and the thread count. Without torch imported (a job that does no tensor arithmetic), the
    libraries' fields read 'not used'."""
    if "torch" not in sys.modules:
        applied = "no tensor arithmetic"
    elif _PINNED[0]:
        applied = "portable"
    else:
        applied = "native" if mode() == "native" or applies() else "native (portable not applied: a GPU, or not x86-64)"
    record = {"mode": applied, "cpu_model": cpu_model(), "machine": platform.machine()}
    if "torch" not in sys.modules:
        return {**record, "device": device or "cpu", "torch": "not used"}
    torch = sys.modules["torch"]

    config = torch.__config__.show()
    mkl = re.search(r"Math Kernel Library Version ([^\s]+)", config)
    dnn = re.search(r"MKL-DNN v([^\s]+)", config)
    return {**record, "device": device or "cpu", "torch": torch.__version__, "threads": torch.get_num_threads(),
            "mkl": mkl.group(1) if mkl else "none", "onednn": dnn.group(1) if dnn else "none",
            **_paths_taken()}  # fmt: skip


def text(record: dict) -> str:
    """The record as provenance stores it (sorted JSON)."""
    return json.dumps(record, sort_keys=True)


_RECORDED: dict[str, str] = {}


def recorded() -> str:
    """This process's record as provenance text, described once (after the job has imported torch, if it does): the
    device is the one a job picks (ARITHSIGNAL_DEVICE, else the GPU where torch sees one, else the CPU)."""
    key = "torch" if "torch" in sys.modules else "no torch"
    if key not in _RECORDED:
        device = None
        if key == "torch":
            torch = sys.modules["torch"]
            device = os.environ.get("ARITHSIGNAL_DEVICE", "auto")
            device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
        _RECORDED[key] = text(describe(device))
    return _RECORDED[key]
