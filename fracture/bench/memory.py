"""Peak memory: the process's and its DataLoader workers' resident set, and CUDA's."""

import resource

import torch


def reset_cuda_peak(device: torch.device) -> None:
    """Start a new CUDA peak-memory measurement (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def cuda_peak_mib(device: torch.device) -> float | None:
    """Most CUDA memory allocated by tensors since the last reset, in MiB; None on the CPU."""
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def peak_rss_mib() -> dict:
    """Largest resident set so far, in MiB, of this process and of its largest child process
    (a DataLoader worker or a generator process) that has ended."""
    # Linux reports ru_maxrss in KiB.
    return {
        "process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "largest_child": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }
