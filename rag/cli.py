"""The `rag` command: a thin skin over the Python API (`build_index`, `Engine.ask`).

Commands that live above the library (`serve` in api/, `eval` in evals/) register themselves under the
`rag.commands` entry point group, so this package never imports them.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import textwrap
from dataclasses import asdict
from importlib.metadata import entry_points
from pathlib import Path

import click

from .errors import RagError
from .models import MODES, Answer, Filters
from .settings import get_settings
from .storage import SourceCount

UNNAMED_SOURCE = "Source not named"  # for documents whose publisher is not known


class _Group(click.Group):
    def list_commands(self, ctx):
        return sorted(set(super().list_commands(ctx)) | {ep.name for ep in entry_points(group="rag.commands")})

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is None:
            for ep in entry_points(group="rag.commands", name=name):
                return ep.load()
        return command

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RagError as exc:  # a message the user can act on, never a traceback
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group)
@click.version_option(package_name="crisis-rag")
def main() -> None:
    """Question answering over crisis sources, with cited, verbatim passages.

    \b
      rag index --corpus corpus/ --index index/
      rag ask "Why does Russia object to NATO expansion?"
    """


index_option = click.option(
    "--index", "index_dir", type=click.Path(path_type=Path), default=None,
    help="Index directory [default: RAG_INDEX_DIR, or ./index].",
)


@main.command("index")
@click.option("--corpus", "corpus", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="A folder or JSONL file of sources; repeat for several [default: RAG_CORPUS_PATHS and RAG_DATA_DIR].")
@index_option
@click.option("--if-stale", is_flag=True, help="Do nothing when the index already matches the corpus and settings.")
@click.option("--rebuild", is_flag=True, help="Rebuild every search segment from the document store (vectors of "
              "unchanged text are reused).")
@click.option("--shards", type=click.IntRange(1, 64), default=None,
              help="Create the index split into this many shards by document (a new index directory only).")
@click.option("--ray", "ray_address", metavar="ADDRESS|auto", default=None,
              help="Run the model on a Ray cluster's workers (auto: the one this machine runs, else a new one); "
              "needs the ray extra.")
@click.option("--ray-workers", type=click.IntRange(1), default=None,
              help="With --ray: how many workers load the model [default: one per CPU of the cluster].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def index_command(corpus: tuple[Path, ...], index_dir: Path | None, if_stale: bool, rebuild: bool, shards: int | None,
                  ray_address: str | None, ray_workers: int | None, as_json: bool) -> None:
    """Sync the index with source files (Markdown, text, HTML, JSONL), one corpus path at a time.

    Each path's documents are added, replaced or removed to match the files; documents of other paths
    and those added through the API stay. Unchanged chunks keep their vectors.

    \b
      rag index --corpus corpus/ --corpus ../shared/data/crisis/wh_briefings/ --index index/
      rag index --corpus corpus/ --index index/ --shards 2 --ray auto
    """
    from .documents import read_paths
    from .embedding import Embedder, passage_backend
    from .index import held_passage_backend, open_index, origin_of
    from .retrieve import index_config
    from .sharded import ShardedIndex

    settings = get_settings()
    index_dir = index_dir or settings.index_dir
    passages = passage_backend(settings) if rebuild else held_passage_backend(index_dir, settings)
    # First, so that without the ray extra --ray stops before anything is written.
    ray_embedder = _ray_embedder(ray_address, ray_workers, settings, passages) if ray_address else None
    paths = list(corpus) or [*settings.corpus_paths, *([settings.data_dir] if settings.data_dir else [])]
    corpora = {}
    for path in paths:
        corpora[origin_of(path)] = read_paths([path], settings.source_by_host)
        click.echo(f"read {len(corpora[origin_of(path)])} documents from {path}", err=True)
    if shards is not None:
        try:
            ShardedIndex.create(index_dir, shards)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    # Locally, both cores into the model: it is where indexing spends 97% of its time.
    embedder = ray_embedder or Embedder(settings.model_path, backend=settings.embed_backend, passages=passages)
    try:
        batch_size = ray_embedder.index_batch_size if ray_embedder else settings.embed_batch_size
        index = open_index(index_dir, index_config(settings, embedder), settings.index_kind, batch_size)
        if if_stale and not rebuild and not index.is_stale(corpora):
            count = sum(len(docs) for docs in corpora.values())
            click.echo(f"index at {index_dir} is up to date ({count} documents from {len(corpora)} paths)", err=True)
            return
        report = index.sync(corpora, embedder, progress=sys.stderr.isatty(), rebuild=rebuild)
        index.merge()
    finally:
        if ray_embedder:
            ray_embedder.close()
    if as_json:
        click.echo(json.dumps(asdict(report), default=str))  # default=str: the manifest's Path
    else:
        verb = "unchanged" if report.skipped else "indexed"
        click.echo(f"{verb}: {report.documents} documents, {report.chunks} chunks "
                   f"({report.added} added or changed, {report.removed} removed, {report.embedded} chunks embedded) "
                   f"in {report.seconds:.1f} s -> {report.path}")
        if report.sources:
            click.echo(format_sources(report.sources))


def _ray_embedder(address: str, workers: int | None, settings, passages: str):
    try:
        from .ray_cluster import RayEmbedder, connect
    except ImportError:
        raise click.UsageError('--ray needs Ray: pip install -e ".[ray]"') from None
    connect(address)
    return RayEmbedder(settings.model_path, passages, workers, batch_size=settings.embed_batch_size)


@main.command("ask")
@click.argument("question", required=False)
@index_option
@click.option("-k", "--top-k", default=5, show_default=True, help="How many passages.")
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True)
@click.option("--source", multiple=True, help="Only passages from this source (repeatable).")
@click.option("--from", "published_from", type=click.DateTime(["%Y-%m-%d"]), help="Published on or after (YYYY-MM-DD).")
@click.option("--to", "published_to", type=click.DateTime(["%Y-%m-%d"]), help="Published on or before (YYYY-MM-DD).")
@click.option("--by-source", is_flag=True, help="Group the answer by source: each source's own best passages.")
@click.option("--per-source", default=2, show_default=True, help="Passages per source with --by-source.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--file", "questions_file", type=click.File("r"),
              help="Questions, one per line or JSONL with a 'question' field; prints one JSON object per line.")
def ask_command(question, index_dir, top_k, mode, source, published_from, published_to, by_source, per_source,
                as_json, questions_file) -> None:
    """Print the passages that answer QUESTION, best first, with citations and the answering sentence.

    \b
      rag ask "Why does Russia object to NATO expansion?"
      rag ask --json --source "The White House" --from 2022-01-01 "What did the US offer Russia?"
      rag ask --by-source "Why does Russia object to NATO expansion?"
      rag ask --file questions.txt > answers.jsonl
    """
    from .retrieve import Engine

    if (question is None) == (questions_file is None):
        raise click.UsageError("give a QUESTION or --file, not both")
    if published_from and published_to and published_to < published_from:
        raise click.BadParameter(f"{published_to:%Y-%m-%d} is before --from {published_from:%Y-%m-%d}",
                                 param_hint="'--to'")
    engine = Engine.open(index_dir)
    filters = Filters(tuple(source), _date(published_from), _date(published_to))
    options = dict(top_k=top_k, mode=mode, filters=filters, group_by="source" if by_source else None, per_group=per_source)
    if questions_file is not None:
        for number, line in enumerate(questions_file, 1):
            if line.strip():
                text = _question_from_line(line, number)
                click.echo(json.dumps(engine.ask(text, **options).to_dict(), ensure_ascii=False))
        return
    answer = engine.ask(question, **options)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(format_answer(answer))


def _date(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value else None


def _question_from_line(line: str, number: int) -> str:
    if line.lstrip().startswith("{"):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise click.ClickException(f"line {number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record.get("question"), str):
            raise click.ClickException(f"line {number}: a JSON line needs a string field 'question'")
        return record["question"]
    return line.strip()


def format_sources(sources: list[SourceCount]) -> str:
    """A table of documents and chunks per source, one line each."""
    names = [s.source or UNNAMED_SOURCE for s in sources]
    width = max(len("source"), *map(len, names))
    lines = [f"{'source':<{width}}  {'documents':>9}  {'chunks':>9}"]
    lines += [f"{name:<{width}}  {s.documents:>9}  {s.chunks:>9}" for name, s in zip(names, sources)]
    return "\n".join(lines)


def format_answer(answer: Answer) -> str:
    """Readable text: each passage with its citation, the answering sentence in bold where it stands."""
    if answer.abstained:
        return " ".join(filter(None, ["The sources do not answer this question.", answer.note, f"({answer.took_ms:.0f} ms)"]))
    headings = {}
    for group in answer.groups:
        span = " to ".join(dict.fromkeys(d for d in (group.published_from, group.published_to) if d))
        headings[group.citations[0]] = f"== {group.source or UNNAMED_SOURCE}" + (f" ({span})" if span else "")
    blocks = []
    for p in answer.passages:
        if p.citation in headings:
            blocks.append(click.style(headings[p.citation], bold=True))
        said = f"{p.speaker}, {p.published}" if p.speaker else p.published
        cited = " — ".join(x for x in (p.title or "(untitled)", p.source, said) if x)
        # What is shown is the display text (Markdown read, wrapped lines joined); the sentence is its part.
        shown, sentence = p.display_text or p.text, p.display_sentence or p.sentence
        at = shown.find(sentence) if sentence else -1
        body = shown if at < 0 else (
            shown[:at] + click.style(sentence, bold=True, underline=True) + shown[at + len(sentence):])
        lines = [f"{p.citation} {cited}"]
        if p.url:
            lines.append(f"    {p.url}")
        lines.append(f"    > {sentence}")
        lines.append(textwrap.indent(body.strip(), "    "))
        blocks.append("\n".join(lines))
    if answer.not_addressed:
        blocks.append("Not addressed by: " + ", ".join(s or UNNAMED_SOURCE for s in answer.not_addressed))
    if answer.note:
        blocks.append(f"Note: {answer.note}")
    return "\n\n".join(blocks) + f"\n\n({answer.mode}, {answer.took_ms:.0f} ms, as of {answer.as_of or 'undated'})"


if __name__ == "__main__":
    main()
