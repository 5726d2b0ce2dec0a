"""This CPU's fp32 ceiling, and a model's measured FLOPs per image: what images/s could be.

The ceiling is cores x fp32 FLOP per cycle per core x clock, each from what the machine says:

* FLOP per cycle from the ``/proc/cpuinfo`` flags (``fp32_flop_per_cycle``): FMA units x fp32
  lanes per vector x 2 (an FMA is a multiply and an add). Two FMA units is the assumption for
  every recent x86 core; AMD Zen 4 (family 25) runs AVX-512 on 256-bit units, so its
  AVX-512 reaches no more than its AVX2 (2 x 8 x 2 = 32). ``--flop-per-cycle`` overrides it.
* The clock from ``lscpu``'s "CPU max MHz" (the boost clock) when present, else the highest
  "cpu MHz" of ``/proc/cpuinfo`` (a virtual machine often shows its base clock there, so the
  ceiling is then low and a share of it can pass 100 %).
* Cores: the physical cores among the CPUs this process may use (SMT siblings share their
  core's FMA units).

FLOPs per image are counted on one forward pass (``model_flop``), a multiply-add as 2 FLOP:
ResNet50 at 224 px is 8.2 GFLOP (torchvision's "4.1 GFLOPS" counts multiply-adds).
"""

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode


@dataclass(frozen=True)
class CpuInfo:
    """What ``/proc/cpuinfo`` says about the first CPU, and every CPU's "cpu MHz"."""

    model: str
    vendor: str
    family: int | None
    flags: frozenset[str]
    mhz: tuple[float, ...]

    @classmethod
    def parse(cls, text: str) -> "CpuInfo":
        first = {}  # the first processor's fields; x86 CPUs of one machine share them
        for line in text.splitlines():
            key, _, value = line.partition(":")
            first.setdefault(key.strip(), value.strip())
        family = first.get("cpu family", "")
        return cls(
            model=first.get("model name", "unknown"),
            vendor=first.get("vendor_id", ""),
            family=int(family) if family.isdigit() else None,
            flags=frozenset(first.get("flags", "").split()),
            mhz=tuple(float(m) for m in re.findall(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)),
        )


@dataclass(frozen=True)
class Ceiling:
    """The fp32 peak of ``cores`` cores; ``rule`` and ``clock_source`` say where it came from."""

    cores: int
    flop_per_cycle: int
    rule: str
    ghz: float
    clock_source: str

    @property
    def gflop_per_s(self) -> float:
        return self.cores * self.flop_per_cycle * self.ghz

    def images_per_s(self, flop_per_image: float) -> float:
        return self.gflop_per_s * 1e9 / flop_per_image


def fp32_flop_per_cycle(cpu: CpuInfo) -> tuple[int, str] | None:
    """fp32 FLOP per cycle per core from the flags, and the rule used; None if unknown."""
    flags = cpu.flags
    if "avx512f" in flags and cpu.vendor == "AuthenticAMD" and cpu.family == 25:
        return 32, "Zen 4 AVX-512 on 2 x 256-bit FMA units: 2 units x 8 lanes x 2 (mul+add)"
    if "avx512f" in flags:
        return 64, "AVX-512: 2 x 512-bit FMA units x 16 lanes x 2 (mul+add); one-unit Xeons: 32"
    if {"avx2", "fma"} <= flags:
        return 32, "AVX2+FMA: 2 x 256-bit FMA units x 8 lanes x 2 (mul+add)"
    if "avx" in flags:
        return 16, "AVX without FMA: one 256-bit multiply + one 256-bit add per cycle"
    if "sse2" in flags:
        return 8, "SSE2: one 128-bit multiply + one 128-bit add per cycle"
    return None


def fp32_ceiling(
    cpus: set[int], flop_per_cycle: int | None = None, ghz: float | None = None
) -> Ceiling | str:
    """The ceiling of the physical cores among ``cpus``, or why there is none.

    Args:
        cpus: The CPUs the measured work may use (``os.sched_getaffinity``).
        flop_per_cycle: Overrides the flags' rule.
        ghz: Overrides the clock read from ``lscpu`` / ``/proc/cpuinfo``.
    """
    cpu = CpuInfo.parse(_read("/proc/cpuinfo"))
    rule = (flop_per_cycle, "given (--flop-per-cycle)") if flop_per_cycle else None
    rule = rule or fp32_flop_per_cycle(cpu)
    clock = (ghz, "given (--ghz)") if ghz else machine_clock(_lscpu(), cpu)
    if rule is None or clock is None:
        missing = "fp32 FLOP/cycle (--flop-per-cycle)" if rule is None else "clock (--ghz)"
        return f"unknown {missing}"
    return Ceiling(physical_cores(cpus), rule[0], rule[1], clock[0], clock[1])


def machine_clock(lscpu: str, cpu: CpuInfo) -> tuple[float, str] | None:
    """GHz and where it was read: lscpu's maximum, else the highest cpuinfo "cpu MHz"."""
    found = re.search(r"^CPU max MHz:\s*([\d.]+)", lscpu, re.M)
    if found and float(found.group(1)) > 0:
        return float(found.group(1)) / 1000, 'lscpu "CPU max MHz"'
    if cpu.mhz:
        return max(cpu.mhz) / 1000, '/proc/cpuinfo "cpu MHz" (lscpu has no max: maybe base)'
    return None


def physical_cores(cpus: set[int]) -> int:
    """Distinct (package, core) pairs among ``cpus``; ``len(cpus)`` where sysfs does not say."""
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topology / "physical_package_id").read_text().strip()
            cores.add((package, (topology / "core_id").read_text().strip()))
        except OSError:
            return len(cpus)
    return len(cores)


def model_flop(model: torch.nn.Module, image_size: int) -> float:
    """FLOPs of one (1, 3, S, S) forward pass of ``model``, a multiply-add counted as 2."""
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(torch.zeros(1, 3, image_size, image_size))
    return float(counter.get_total_flops())


def cpu_model() -> str:
    """lscpu's "Model name" (what /proc/cpuinfo calls "model name")."""
    return CpuInfo.parse(_read("/proc/cpuinfo")).model


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _lscpu() -> str:
    try:
        return subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
