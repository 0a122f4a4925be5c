"""``train-topics`` and ``eval-topics``: click commands the ``wirestream`` group adds."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.topics.evaluate import evaluate, format_evaluation, labelled_texts, load_mapping
from pipeline.topics.model import (
    SHIPPED_MODEL_DIR,
    ModelFormatError,
    load_topic_model,
    save_topic_model,
)
from pipeline.topics.taxonomy import TaxonomyError, load_taxonomy
from pipeline.topics.train import (
    DEFAULT_DATA_DIR,
    DEFAULT_SEED,
    FitOptions,
    TrainingDataError,
    read_labelled_jsonl,
    train_custom_model,
    train_shipped_model,
)

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command("train-topics")
@click.option(
    "--input",
    "input_file",
    type=_FILE,
    help="Your labelled JSONL (`text`, optional `title`, `labels` or `label`). "
    "Without it, the shipped IPTC model is trained from the corpora in --data-dir.",
)
@click.option(
    "--taxonomy",
    type=_FILE,
    help='With --input: JSON {"name", "topics": [{"code", "label"}]}. '
    "Default: the labels name themselves.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="Folder of the licensed corpora (Wikinews, HuffPost) for the shipped model.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Model directory to write. Default: the shipped model's place in the package "
    "(required with --input).",
)
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
@click.option(
    "--written-weight",
    type=float,
    default=FitOptions().written_weight,
    show_default=True,
    help="Weight of each written snippet in the shipped model (0 leaves them out).",
)
@click.option(
    "--name", default="custom-topics", show_default=True, help="Model name (with --input)."
)
@click.option(
    "--version",
    "model_version",
    default="1",
    show_default=True,
    help="Model version (with --input).",
)
def train_topics(
    input_file: Path | None,
    taxonomy: Path | None,
    data_dir: Path,
    output: Path | None,
    seed: int,
    written_weight: float,
    name: str,
    model_version: str,
) -> None:
    """Train a topic model: the shipped one reproducibly, or one on your own labels."""
    try:
        if input_file is None:
            if taxonomy is not None:
                raise click.UsageError("--taxonomy needs --input")
            options = FitOptions(written_weight=written_weight)
            model, corpus = train_shipped_model(data_dir, seed=seed, options=options)
            click.echo(f"trained on {corpus.counts}")
            output = output or SHIPPED_MODEL_DIR
        else:
            if output is None:
                raise click.UsageError("--output is required with --input")
            examples = read_labelled_jsonl(input_file)
            model = train_custom_model(
                examples,
                load_taxonomy(taxonomy) if taxonomy else None,
                name=name,
                version=model_version,
                seed=seed,
            )
            click.echo(f"trained on {len(examples)} texts, {len(model.taxonomy.topics)} topics")
    except (TrainingDataError, TaxonomyError) as exc:
        raise click.ClickException(str(exc)) from exc
    save_topic_model(model, output)
    click.echo(f"wrote {model.info.model} {model.info.model_version} to {output}")


@click.command("eval-topics")
@click.argument("file", type=_FILE)
@click.option(
    "--mapping", required=True, type=_FILE, help="JSON object: dataset label -> model code."
)
@click.option(
    "--model",
    "model_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Model directory; default: the shipped model.",
)
@click.option(
    "--label-field", default="label", show_default=True, help="Record field holding the label."
)
def eval_topics(file: Path, mapping: Path, model_dir: Path | None, label_field: str) -> None:
    """Accuracy, macro-F1, per-class figures and confusion matrix on a labelled JSONL FILE."""
    try:
        model = load_topic_model(model_dir)
        texts, gold, skipped = labelled_texts(file, load_mapping(mapping), label_field)
        result = evaluate(model, texts, gold, skipped)
    except (TrainingDataError, ModelFormatError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"model     {model.info.model} {model.info.model_version}")
    click.echo(format_evaluation(result))
