"""Running ``haystack_side`` in the benchmark's own venv (``bench/.venv-haystack``), made on first use.

Haystack is never a project dependency: it lives in that venv only. torch goes in first, pinned to the
local CPU wheel, because letting pip resolve it pulls gigabytes of CUDA packages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

VENV = Path(__file__).resolve().parent / ".venv-haystack"
PYTHON = VENV / "bin" / "python"
TORCH = "torch==2.13.0"
PACKAGES = ("haystack-ai>=2.24,<3", "sentence-transformers-haystack>=2.0")


class Unavailable(RuntimeError):
    """Haystack's venv could not be made (no network, no index, no venv module): the comparison is skipped."""


def ensure_venv() -> Path:
    marker = VENV / ".installed"
    if not marker.exists():
        print(f"  creating {VENV} (Haystack, for comparison only)", file=sys.stderr, flush=True)
        pip = [str(PYTHON), "-m", "pip", "install", "-qq", "--retries", "2", "--timeout", "30"]
        step = "python -m venv"
        try:
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True)
            step = f"pip install {TORCH}"
            subprocess.run([*pip, TORCH], check=True, capture_output=True)
            step = f"pip install {' '.join(PACKAGES)}"
            subprocess.run([*pip, *PACKAGES], check=True, capture_output=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            error = getattr(exc, "stderr", b"") or b""
            last = error.decode(errors="replace").strip().splitlines()[-1:] or [str(exc)]
            raise Unavailable(f"could not install Haystack into {VENV} ({step}: {last[0][:200]})") from None
        marker.touch()
    return PYTHON


def run(model: Path, questions: Sequence[str], real_texts: Sequence[str],
        synthetic: dict[str, tuple[Sequence[str], np.ndarray]], rounds: int) -> dict:
    """Haystack's embedding speed on ``real_texts`` and hybrid ask latency on them and on each synthetic set."""
    python = ensure_venv()
    with tempfile.TemporaryDirectory(prefix="bench-haystack-") as tmp:
        folder = Path(tmp)
        spec = {"model": str(model), "questions": list(questions), "rounds": rounds, "synthetic": list(synthetic)}
        (folder / "spec.json").write_text(json.dumps(spec))
        (folder / "real.json").write_text(json.dumps(list(real_texts)))
        for name, (texts, vectors) in synthetic.items():
            (folder / f"{name}.json").write_text(json.dumps(list(texts)))
            np.save(folder / f"{name}.npy", vectors)
        env = {**os.environ, "HAYSTACK_TELEMETRY_ENABLED": "False", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        script = Path(__file__).with_name("haystack_side.py")
        done = subprocess.run([str(python), "-P", str(script), str(folder)], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"haystack side failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])
