"""Devices: the check of a device name, the one device resolution of every command and of the Python API
(`pick_device`), and the one autocast helper.

torch is imported inside the functions: the CLI checks ``--device`` at parse time with `check_device`, and
``ganalyze-mem --help`` must not load torch.
"""

from __future__ import annotations

import contextlib
import re
from typing import TYPE_CHECKING

from ..errors import GanalyzeError

if TYPE_CHECKING:
    import torch

DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
DEVICE_HELP = "'auto' (CUDA when available, else the CPU), 'cpu', 'cuda' or 'cuda:N', or 'mps'."
PRECISIONS = {"fp32": None, "bf16": "bfloat16", "fp16": "float16"}  # precision name -> autocast dtype (torch's name)


def check_device(device: str) -> str:
    """`device` when it is a device name this project can use; `GanalyzeError` saying which names are allowed."""
    text = str(device).strip().lower()
    if not DEVICE_PATTERN.match(text):
        raise GanalyzeError(f"--device {device!r} is not a device this project can use; choose {DEVICE_HELP}")
    return text


def pick_device(device: str = "auto") -> str:
    """The one device resolution: 'auto' -> 'cuda' when available, else 'cpu'; an absent device is a clear error."""
    import torch

    device = check_device(device)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise GanalyzeError(f"--device {device} was asked for but no CUDA GPU is visible; use --device cpu.")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise GanalyzeError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) are visible "
                                f"(cuda:0 to cuda:{torch.cuda.device_count() - 1}).")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise GanalyzeError("--device mps was asked for but Apple's MPS backend is not available; use --device cpu.")
    return device


def autocast(device: str | torch.device, dtype: torch.dtype | str | None) -> contextlib.AbstractContextManager:
    """Autocast to `dtype` on `device`'s type, or nothing when `dtype` is None. `dtype` is a torch dtype or a
    precision name (`PRECISIONS`: "fp32" is no autocast, "bf16" bfloat16, "fp16" float16)."""
    import torch

    if isinstance(dtype, str):
        if dtype not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {dtype!r}")
        dtype = None if PRECISIONS[dtype] is None else getattr(torch, PRECISIONS[dtype])
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)
