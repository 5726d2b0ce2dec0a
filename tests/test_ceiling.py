"""The fp32 ceiling of fracture/bench/ceiling.py from /proc/cpuinfo texts, and counted FLOPs."""

import pytest
import torch

from fracture.bench.ceiling import CpuInfo, fp32_flop_per_cycle, machine_clock, model_flop

ZEN4 = """processor	: 0
vendor_id	: AuthenticAMD
cpu family	: 25
model name	: AMD EPYC
cpu MHz		: 2596.134
flags		: fpu sse2 avx fma avx2 avx512f avx512_vnni

processor	: 1
vendor_id	: AuthenticAMD
cpu family	: 25
model name	: AMD EPYC
cpu MHz		: 2800.000
flags		: fpu sse2 avx fma avx2 avx512f avx512_vnni
"""


@pytest.mark.parametrize(
    ("vendor", "family", "flags", "flop"),
    [
        ("AuthenticAMD", 25, "sse2 avx fma avx2 avx512f", 32),  # Zen 4: 512-bit ops halved
        ("GenuineIntel", 6, "sse2 avx fma avx2 avx512f", 64),  # 2 x 512-bit FMA units
        ("GenuineIntel", 6, "sse2 avx fma avx2", 32),  # 2 units x 8 lanes x 2
        ("GenuineIntel", 6, "sse2 avx", 16),
        ("GenuineIntel", 6, "sse2", 8),
    ],
)
def test_flop_per_cycle_follows_the_flags(vendor, family, flags, flop):
    text = f"vendor_id : {vendor}\ncpu family : {family}\nflags : {flags}\n"
    assert fp32_flop_per_cycle(CpuInfo.parse(text))[0] == flop


def test_arm_flags_give_no_rule():
    assert fp32_flop_per_cycle(CpuInfo.parse("Features : fp asimd\n")) is None


def test_clock_is_lscpus_maximum_else_the_highest_cpu_mhz():
    cpu = CpuInfo.parse(ZEN4)
    assert (cpu.model, cpu.family, cpu.mhz) == ("AMD EPYC", 25, (2596.134, 2800.0))
    assert machine_clock("CPU max MHz:     3700.0000\n", cpu)[0] == pytest.approx(3.7)
    assert machine_clock("Model name: AMD EPYC\n", cpu)[0] == pytest.approx(2.8)


def test_flops_count_a_multiply_add_as_two():
    conv = torch.nn.Conv2d(3, 4, kernel_size=3, padding=1, bias=False)
    # 4 output channels x 8 x 8 positions x (3 x 3 x 3) multiply-adds
    assert model_flop(conv, 8) == 2 * 4 * 8 * 8 * 27
