"""The pipeline's stages: pure processing over batches of messages, no Kafka.

Besides the built-in stages, any installed package may add stages through the entry-point group
``wirestream.stages`` (see docs/plugins.md); settings place them after classify (``plugins``)
or on the enriched topic as sinks (``sinks``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Protocol

from pipeline.envelope import Incoming
from pipeline.events import Result, StageInfo
from pipeline.settings import Settings

ENTRY_POINT_GROUP = "wirestream.stages"


class Stage(Protocol):
    name: str
    input_schema: str
    output_schema: str
    info: StageInfo

    def process(self, batch: Sequence[Incoming]) -> list[Result]:
        """One result per message, in order: the article to emit, or its dead letter."""
        ...


StageFactory = Callable[[Settings, str], Stage]


class PluginError(RuntimeError):
    """A plugin stage named in the settings is not installed or does not load."""


def plugin_factory(name: str) -> StageFactory:
    """The factory a package registered as ``name`` in the ``wirestream.stages`` group."""
    found = entry_points(group=ENTRY_POINT_GROUP, name=name)
    if not found:
        installed = ", ".join(sorted(e.name for e in entry_points(group=ENTRY_POINT_GROUP)))
        raise PluginError(
            f"no plugin stage {name!r} is installed (entry points of {ENTRY_POINT_GROUP}: "
            f"{installed or 'none'})"
        )
    return next(iter(found)).load()


def build_stage(settings: Settings, name: str) -> Stage:
    """Create a stage, loading its models now (at worker start, never at import)."""
    if name == "clean":
        from pipeline.stages.clean import CleanStage

        return CleanStage(max_body_bytes=settings.max_body_bytes)
    if name == "ner":
        from pipeline.stages.ner import build_ner_stage

        return build_ner_stage(settings)
    if name == "classify":
        from pipeline.stages.classify import ClassifyStage
        from pipeline.topics.model import load_topic_model

        return ClassifyStage(load_topic_model(settings.classify_model), settings.classify_threshold)
    if name in settings.plugins or name in settings.sinks:
        stage = plugin_factory(name)(settings, name)
        if stage.name != name or not callable(getattr(stage, "process", None)):
            raise PluginError(f"plugin {name!r} built {stage!r}, not a stage named {name!r}")
        return stage
    raise ValueError(f"unknown stage {name!r}")


def routes(settings: Settings) -> dict[str, tuple[str, str | None]]:
    """How articles flow: each stage's input and output topic, the duplicate check included
    (clean sends to the one-partition dedup topic; the check sends on to the clean topic).
    Plugin stages follow classify in order, each reading its own topic; the last one sends to
    the enriched topic. Sinks read the enriched topic and send no articles (None)."""
    after_classify = (*settings.plugin_topics, settings.topic_enriched)
    table: dict[str, tuple[str, str | None]] = {
        "clean": (settings.topic_raw, settings.topic_dedup),
        "dedup": (settings.topic_dedup, settings.topic_clean),
        "ner": (settings.topic_clean, settings.topic_entities),
        "classify": (settings.topic_entities, after_classify[0]),
    }
    for n, plugin in enumerate(settings.plugins):
        table[plugin] = (settings.plugin_topics[n], after_classify[n + 1])
    for sink in settings.sinks:
        table[sink] = (settings.topic_enriched, None)
    return table


def input_topic(settings: Settings, name: str) -> str:
    return routes(settings)[name][0]


def output_topic(settings: Settings, name: str) -> str | None:
    """Where a stage's articles go; None for a sink, whose articles stay with it."""
    return routes(settings)[name][1]
