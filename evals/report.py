"""Presenting eval results: a terminal table, JSON for machines, and a Markdown report with a plot."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from .beir import DEPTH, BeirResult
from .runner import HIT_KS, RECALL_KS, SENTENCE_KS, TOP_K, SetResult

COLOURS = {"bm25": "#4C72B0", "dense": "#DD8452", "hybrid": "#55A868", "rerank": "#8172B3"}  # one hue per mode, everywhere


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def set_rows(result: SetResult) -> list[tuple[str, list[str]]]:
    """(metric, one value per mode) for the summary table."""
    s = list(result.scores.values())
    rows = [(f"hit@{k} (evidence span)", [_number(x.hit[k]) for x in s]) for k in HIT_KS]
    rows += [(f"sentence-hit@{k}", [_number(x.sentence_hit[k]) for x in s]) for k in SENTENCE_KS]
    rows += [(f"doc recall@{k}", [_number(x.recall[k]) for x in s]) for k in RECALL_KS]
    rows += [
        ("doc MRR@10", [_number(x.mrr) for x in s]),
        ("doc nDCG@10", [_number(x.ndcg) for x in s]),
        ("abstain precision", [_number(x.abstain_precision) for x in s]),
        ("abstain recall", [_number(x.abstain_recall) for x in s]),
        ("answerable abstained", [_number(x.answerable_abstained) for x in s]),
        ("distinct-source ratio@5", [_number(x.distinct_source_ratio) for x in s]),
    ]
    optional = [  # shown only for sets that have what they measure
        ("perspective coverage@5", [x.perspective_coverage for x in s]),
        ("perspective coverage, grouped", [x.perspective_coverage_grouped for x in s]),
        ("grouped sources holding evidence", [x.grouped_precision for x in s]),
        ("speaker named (sentence hits@5)", [x.speaker_named for x in s]),
        ("speaker accuracy (where named)", [x.speaker_accuracy for x in s]),
    ]
    rows += [(name, [_number(v) for v in values]) for name, values in optional if any(v is not None for v in values)]
    rows += [
        ("latency p50 (ms)", [f"{x.latency_p50:.1f}" for x in s]),
        ("latency p95 (ms)", [f"{x.latency_p95:.1f}" for x in s]),
    ]
    if any(x.grouped_latency_p50 is not None for x in s):
        rows.append(("grouped latency p50 (ms)", [_number(x.grouped_latency_p50) for x in s]))
    return rows


def beir_rows(result: BeirResult) -> list[tuple[str, list[str]]]:
    s = list(result.scores.values())
    return [
        ("nDCG@10", [_number(x.ndcg) for x in s]),
        (f"recall@{DEPTH} (passages)", [_number(x.recall) for x in s]),
        ("MRR@10", [_number(x.mrr) for x in s]),
        ("latency p50 (ms)", [f"{x.latency_p50:.1f}" for x in s]),
        ("latency p95 (ms)", [f"{x.latency_p95:.1f}" for x in s]),
    ]


def set_heading(result: SetResult) -> str:
    items = result.eval_set.items
    answerable = sum(i.answerable for i in items)
    return (f"{result.eval_set.name}: {answerable} answerable + {len(items) - answerable} unanswerable questions "
            f"over {result.documents} document{'s' if result.documents != 1 else ''}, top {TOP_K} passages")


def beir_heading(result: BeirResult) -> str:
    return f"BEIR {result.name} ({result.split}): {result.queries} queries over {result.documents} documents"


def text_table(modes: Sequence[str], rows: Sequence[tuple[str, list[str]]]) -> str:
    width = max(len(name) for name, _ in rows)
    cells = [max(len(m), *(len(v[i]) for _, v in rows)) for i, m in enumerate(modes)]
    lines = ["  ".join([" " * width, *(m.rjust(c) for m, c in zip(modes, cells))])]
    lines.append("  ".join(["-" * width, *("-" * c for c in cells)]))
    lines += ["  ".join([name.ljust(width), *(v.rjust(c) for v, c in zip(values, cells))]) for name, values in rows]
    return "\n".join(lines)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    # Cells are one line each: quoted sentences keep their source line breaks.
    lines += ["| " + " | ".join(" ".join(str(c).split()).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def set_json(result: SetResult) -> dict[str, Any]:
    items = result.eval_set.items
    return {
        "set": result.eval_set.name,
        "path": str(result.eval_set.path),
        "corpus": result.eval_set.header.corpus,
        "index": str(result.index_dir),
        "documents": result.documents,
        "answerable": sum(i.answerable for i in items),
        "unanswerable": sum(not i.answerable for i in items),
        "top_k": TOP_K,
        "modes": {mode: asdict(scores) for mode, scores in result.scores.items()},
        "outcomes": [asdict(o) for o in result.outcomes],
    }


def beir_json(result: BeirResult) -> dict[str, Any]:
    return {
        "beir": result.name, "split": result.split, "documents": result.documents, "queries": result.queries,
        "index": str(result.index_dir), "depth": DEPTH,
        "modes": {mode: asdict(scores) for mode, scores in result.scores.items()},
    }


def _plot(curves: dict[str, dict[int, float]], dashed: dict[str, dict[int, float]], title: str, ylabel: str,
          path: Path, tags: dict[str, dict[str, float]] | None = None) -> None:
    """Curves per mode (solid, with a dashed companion if given), plus per-tag bars when ``tags`` is given."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    with plt.rc_context({"font.size": 10, "axes.spines.top": False, "axes.spines.right": False,
                         "axes.grid": True, "grid.alpha": 0.3, "axes.titleweight": "bold"}):
        fig, axes = plt.subplots(1, 2 if tags else 1, figsize=(12 if tags else 7, 4.5), squeeze=False)
        ax = axes[0][0]
        for mode, curve in curves.items():
            ks = list(curve)
            ax.plot(ks, list(curve.values()), marker="o" if len(ks) <= 20 else None, markersize=4, linewidth=2,
                    color=COLOURS[mode], label=mode)
            if mode in dashed:
                ax.plot(ks, list(dashed[mode].values()), linestyle="--", linewidth=1.2, color=COLOURS[mode], alpha=0.7,
                        label=f"{mode} (sentence)")
        ax.set(title=title, xlabel="k", ylabel=ylabel, ylim=(0, 1.02))
        if len(ks) <= 20:
            ax.set_xticks(ks)
        ax.legend(frameon=False, loc="lower right")
        if tags:
            bars = axes[0][1]
            names = sorted({t for per_mode in tags.values() for t in per_mode})
            height = 0.8 / len(tags)
            for i, (mode, per_tag) in enumerate(tags.items()):
                positions = [n + (i - (len(tags) - 1) / 2) * height for n in range(len(names))]
                bars.barh(positions, [per_tag.get(t, 0.0) for t in names], height=height, color=COLOURS[mode], label=mode)
            bars.set_yticks(range(len(names)), names)
            bars.invert_yaxis()
            bars.set(title="hit@5 by tag (number of questions)", xlim=(0, 1.02))
            bars.grid(axis="y", visible=False)
            bars.legend(frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=len(tags))
        fig.tight_layout()
        fig.savefig(path, dpi=150, metadata={"Software": None})  # no version stamp: reruns give the same bytes
        plt.close(fig)


def write_set_report(result: SetResult, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    modes = list(result.scores)
    plot = folder / f"{result.eval_set.name}.png"
    counts = Counter(t for i in result.eval_set.items if i.answerable for t in i.tags)  # bar labels say how many
    _plot({m: s.hit for m, s in result.scores.items()}, {m: s.sentence_hit for m, s in result.scores.items()},
          f"{result.eval_set.name}: hit@k by evidence span", "share of answerable questions", plot,
          tags={m: {f"{t} ({counts[t]})": v for t, v in s.hit_by_tag.items()} for m, s in result.scores.items()})
    by_key = {(o.item_id, o.mode): o for o in result.outcomes}

    def rank(item_id: str, mode: str) -> str:
        o = by_key[(item_id, mode)]
        return "abstained" if o.abstained else str(o.span_rank or "—")

    items = result.eval_set.items
    missed = [i for i in items if i.answerable and any((by_key[(i.id, m)].span_rank or 99) > 5 for m in modes)]
    not_abstained = [i for i in items if not i.answerable and not by_key[(i.id, modes[-1])].abstained]
    sections = [
        f"# Retrieval eval: {result.eval_set.name}",
        f"{result.eval_set.header.description}".strip(),
        f"{set_heading(result)}. Corpus: {', '.join(f'`{c}`' for c in result.eval_set.header.corpus)}; "
        f"set: `{result.eval_set.path.name}`.",
        markdown_table(["metric", *modes], [[name, *values] for name, values in set_rows(result)]),
        "A hit at rank r: the r-th passage comes from a relevant document and contains the evidence quote "
        "(whitespace-normalised). A sentence hit: its highlighted sentence also overlaps the quote. "
        "Document metrics rank distinct documents in the order of their first passage.",
        f"![hit@k]({plot.name})",
        "## Answerable questions not within the top 5 in some mode",
        markdown_table(["id", "question", "tags", *modes],
                       [[i.id, i.question, ", ".join(i.tags), *(rank(i.id, m) for m in modes)] for i in missed])
        if missed else "None.",
        f"## Unanswerable questions that {modes[-1]} answered anyway",
        markdown_table(["id", "question", "best similarity", "top sentence"],
                       [[i.id, i.question, _number(by_key[(i.id, modes[-1])].max_similarity),
                         by_key[(i.id, modes[-1])].top_sentence[:120]] for i in not_abstained])
        if not_abstained else "None.",
    ]
    path = folder / f"{result.eval_set.name}.md"
    path.write_text("\n\n".join(s for s in sections if s) + "\n", encoding="utf-8")
    return path


def write_beir_report(result: BeirResult, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    name = f"beir-{result.name}-{result.split}"
    plot = folder / f"{name}.png"
    _plot({m: s.recall_curve for m, s in result.scores.items()}, {},
          f"{result.name} ({result.split}): recall@k of relevant documents", "recall", plot)
    modes = list(result.scores)
    sections = [
        f"# Retrieval eval: BEIR {result.name}",
        f"{beir_heading(result)}. Metrics from ranx; declining off; at most {DEPTH} passages per query "
        "(Engine.ask's limit), so recall is measured at that depth.",
        markdown_table(["metric", *modes], [[n, *v] for n, v in beir_rows(result)]),
        f"![recall@k]({plot.name})",
    ]
    path = folder / f"{name}.md"
    path.write_text("\n\n".join(sections) + "\n", encoding="utf-8")
    return path
