"""`rag eval`: registered under the `rag.commands` entry point group, a thin skin over evals.runner and evals.beir."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rag import MODES as ALL_MODES

from .runner import MODES

DEFAULT_SET = Path(__file__).parent / "seed.jsonl"


@click.command("eval")
@click.option("--set", "set_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="An eval set: JSONL with a corpus header line [default: evals/seed.jsonl].")
@click.option("--beir", "beir_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A BEIR-layout dataset folder (corpus.jsonl, queries.jsonl, qrels/) to run instead of a set.")
@click.option("--split", type=click.Choice(["train", "test"]), default="test", show_default=True,
              help="The BEIR qrels split.")
@click.option("--corpus", "corpus", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Run the set over these folders or JSONL files instead of its own corpus (repeatable): "
                   "does the set hold up when other sources join the index?")
@click.option("--mode", "modes", multiple=True, type=click.Choice(ALL_MODES),
              help="Only this mode (repeatable) [default: bm25, dense and hybrid; rerank is slow, so only when named].")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("artifacts/eval-index"),
              show_default=True, help="Where eval indexes are built; an unchanged corpus is not embedded again.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write a Markdown report with a PNG plot into this folder.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (with per-question outcomes for sets).")
def eval_command(set_path: Path | None, beir_dir: Path | None, split: str, corpus: tuple[Path, ...],
                 modes: tuple[str, ...], cache_dir: Path, report_dir: Path | None, as_json: bool) -> None:
    """Measure retrieval quality, every mode side by side, on an eval set or a BEIR dataset.

    A set's corpus is indexed aside under --cache-dir. Reports hit@k by evidence span, sentence hits,
    document recall/MRR/nDCG, abstention precision/recall and latency; for BEIR, nDCG@10, recall and MRR@10.

    \b
      rag eval
      rag eval --set evals/wh_dev.jsonl --report artifacts/eval-report
      rag eval --beir ../shared/data/scifact --json > scifact.json
      rag eval --set evals/seed.jsonl --corpus corpus --corpus ../shared/data/crisis/kremlin_en
    """
    from . import report

    if set_path and beir_dir:
        raise click.UsageError("give --set or --beir, not both")
    if corpus and beir_dir:
        raise click.UsageError("--corpus goes with a set, not with --beir")
    modes = modes or MODES
    if beir_dir:
        from .beir import run_beir

        result = run_beir(beir_dir, split, cache_dir, modes)
        heading, rows, data = report.beir_heading(result), report.beir_rows(result), report.beir_json(result)
        written = report.write_beir_report(result, report_dir) if report_dir else None
    else:
        from .runner import run_set
        from .sets import load_set

        eval_set = load_set(set_path or DEFAULT_SET)
        if corpus:
            eval_set = eval_set.over([str(p.resolve()) for p in corpus])
        missing = eval_set.missing_corpus()
        if missing:
            message = f"skipped {eval_set.name}: its corpus {missing[0]} is not here"
            click.echo(json.dumps({"set": eval_set.name, "skipped": message}) if as_json else message, err=not as_json)
            return
        result = run_set(eval_set, cache_dir, modes)
        heading, rows, data = report.set_heading(result), report.set_rows(result), report.set_json(result)
        written = report.write_set_report(result, report_dir) if report_dir else None
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{heading}\n\n{report.text_table(modes, rows)}")
    if written:
        click.echo(f"report: {written}", err=True)
