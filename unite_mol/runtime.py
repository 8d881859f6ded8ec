"""Domain-neutral run helpers: provenance, device and dtype choice, durations.

Every room of the package (the core trainer, the molecule and image adapters, their CLIs, the benches)
takes these from here, so that each decision is made in one place and the arrows run one way: this
module imports nothing from ``unite_mol``.

* provenance: :func:`git_commit`, :func:`command_line`, :func:`machine_info`;
* device: :func:`pick_device` (``"auto"``: cuda, then mps, then cpu; a named device is checked);
* dtype: :func:`use_bf16` (the autocast policy, after :func:`cpu_has_fast_bf16`) and
  :func:`resolve_precision` (what a user's ``precision`` means on a device);
* durations: :func:`parse_duration` (``"1h30m"`` -> seconds) and :func:`format_duration` (seconds -> text);
* :func:`uncompiled`: a model without ``torch.compile`` call wrappers;
* :func:`run_batches`: independent batches of CPU work on all threads, one batch per thread.
"""

from __future__ import annotations

import math
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

PRECISIONS = ("auto", "bf16", "fp32")
AMP_MODES = ("auto", "bf16", "off")


# ------------------------------------------------------------------------------------------- provenance
def git_commit() -> str | None:
    """The checkout's ``HEAD`` commit, or ``None`` outside a git checkout."""
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def command_line() -> str:
    """This process's command line as the user typed it: ``python -m unite_mol.bench metrics --n 10``."""
    prog = Path(sys.argv[0]).resolve()
    try:
        module = ".".join(prog.relative_to(Path(__file__).resolve().parents[1]).with_suffix("").parts)
    except ValueError:  # not a unite_mol module (a script, pytest, ...)
        return " ".join(["python", *sys.argv])
    return " ".join(["python -m", module.removesuffix(".__main__"), *sys.argv[1:]])


def matmul_gflops(size: int = 1024, repeats: int = 3) -> float:
    """Float32 matrix-multiply speed on the CPU at the current torch thread count, GFLOP/s (best of ``repeats``):
    a reference to read a wall-clock number against, since a shared machine's speed drifts between minutes
    (this project's generate(1000) took 50 s in one half hour and 64 s in another at the same code)."""
    a = torch.randn(size, size, generator=torch.Generator().manual_seed(0))
    best = float("inf")
    for _ in range(repeats + 1):          # the first is a warm-up
        t0 = time.perf_counter()
        torch.mm(a, a)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size ** 3 / best / 1e9


def machine_info(command: str | None = None) -> dict[str, Any]:
    """Machine, software, commit, load, the command line (default: :func:`command_line`) and the CPU's matmul
    speed at that moment (:func:`matmul_gflops`)."""
    command = command_line() if command is None else command
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
            "python": platform.python_version(), "torch": torch.__version__,
            "platform": platform.platform(), "commit": git_commit(), "command": command,
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "matmul_gflops_fp32": round(matmul_gflops(), 1)}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# ------------------------------------------------------------------------------------- device and dtype
def _has_mps() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def pick_device(device: str | torch.device = "auto", *, local_rank: int | None = None) -> torch.device:
    """``"auto"``: cuda, then mps, then cpu; any other name must be a device this machine has.

    ``local_rank`` (a distributed run's ``LOCAL_RANK``) is the index a bare ``"cuda"`` (or ``"auto"`` on
    a CUDA machine) gets; ``None`` leaves it unindexed.

    Raises:
        ValueError: for a name torch does not know, or ``"cuda"`` / ``"mps"`` on a machine without it.
    """
    if str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank) if local_rank is not None else torch.device("cuda")
        return torch.device("mps") if _has_mps() else torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:K' or 'mps'") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={str(device)!r} was requested but CUDA is not available on this machine "
                             f"(torch {torch.__version__}); use device='auto' or 'cpu'")
        if dev.index is None and local_rank is not None:
            dev = torch.device("cuda", local_rank)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device={str(device)!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not _has_mps():
        raise ValueError(f"device={str(device)!r} was requested but MPS is not available; use 'auto' or 'cpu'")
    return dev


def cpu_has_fast_bf16() -> bool:
    """Whether torch reports native bf16 on this CPU (AVX-512 BF16 or AMX), i.e. bf16 autocast pays off."""
    probes = [getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None)]
    probes = [p for p in probes if p is not None]
    if probes:
        return any(bool(p()) for p in probes)
    try:  # older torch: read the CPU flags
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def use_bf16(amp: str, device: torch.device) -> bool:
    """The one place that decides the autocast dtype policy (``amp``: ``"auto"``, ``"bf16"`` or ``"off"``)."""
    if amp == "off":
        return False
    if amp == "bf16":
        return True
    return device.type == "cuda" or (device.type == "cpu" and cpu_has_fast_bf16())


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"bf16"`` or ``"fp32"``: what ``precision`` (``"auto"``, ``"bf16"``, ``"fp32"``) means on ``device``.

    Raises:
        ValueError: for another ``precision``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be 'auto', 'bf16' or 'fp32', got {precision!r}")
    return "bf16" if use_bf16({"fp32": "off"}.get(precision, precision), device) else "fp32"


def uncompiled(model: nn.Module) -> nn.Module:
    """Drop compiled call wrappers (a deep copy of a compiled module must not call the original's)."""
    for m in model.modules():
        if getattr(m, "_compiled_call_impl", None) is not None:
            m._compiled_call_impl = None
    return model


def batch_workers(device: torch.device, batches: int, threads: int | None = None) -> tuple[int, int]:
    """``(workers, threads per worker)`` for ``batches`` independent batches on ``device``: on a CPU with
    ``threads >= 2`` torch threads (default: ``torch.get_num_threads()``), up to ``threads`` workers of
    ``threads // workers`` threads each; elsewhere one worker with all threads."""
    threads = torch.get_num_threads() if threads is None else threads
    if device.type != "cpu" or threads < 2 or batches < 2:
        return 1, threads
    workers = min(threads, batches)
    return workers, threads // workers


def run_batches(fn, starts, device: torch.device) -> None:
    """``fn(s)`` for every ``s`` in ``starts``, batches side by side on a CPU (:func:`batch_workers`).

    The samplers' passes are small (a few hundred molecules of 10-30 atoms), too small for torch to spread
    one op over two cores well: on the development CPU a denoiser pass takes 169 ms on two threads and
    238 ms on one, so two one-thread workers on two batches do the same work in about 70 % of the time.
    Torch's intra-op thread count is process-wide: it is ``threads // workers`` while the workers run and
    is restored afterwards (other threads running torch work at the same time see it too). ``fn`` must not
    depend on the order the batches run in, and must not change shared state without a lock. When ``fn``
    raises, batches not yet started are cancelled and the exception is re-raised (the earliest batch's).
    """
    starts = list(starts)
    workers, per = batch_workers(device, len(starts))
    if workers == 1:
        for s in starts:
            fn(s)
        return
    from concurrent.futures import ThreadPoolExecutor

    before = torch.get_num_threads()
    try:
        with ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(per,)) as pool:
            futures = [pool.submit(fn, s) for s in starts]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    finally:
        torch.set_num_threads(before)


# -------------------------------------------------------------------------------------------- durations
def parse_duration(text: str) -> float:
    """``"90s"``, ``"30m"``, ``"1.5h"``, ``"1h30m"`` or plain seconds -> seconds.

    Raises:
        ValueError: for anything else.
    """
    text = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise ValueError(f"cannot read duration {text!r}; use e.g. 90s, 30m, 1.5h or 1h30m")
    return sum(float(v) * {"h": 3600, "m": 60, "s": 1}[u] for v, u in parts)


def format_duration(seconds: float) -> str:
    """``"45s"``, ``"12.5 min"`` or ``"3.2 h"``; ``"?"`` for a non-finite value."""
    if not math.isfinite(seconds):
        return "?"
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def progress_callback(progress: bool | Callable[[int], None], total: int) -> tuple[Callable[[int], Any] | None, Any]:
    """(update(k), bar or None): a tqdm bar on stderr (rate, ETA) unless ``UNITE_MOL_NO_PROGRESS=1``, none for
    ``False``, or the caller's callable."""
    if callable(progress):
        return progress, None
    if not progress or os.environ.get("UNITE_MOL_NO_PROGRESS") == "1" or total == 0:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="mol", desc="generate", disable=None, dynamic_ncols=True)  # None: off without a tty
    return bar.update, bar
