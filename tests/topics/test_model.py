"""The shipped model: loads fast and safely, scores every topic, and reads a ceasefire story
as politics and conflict."""

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.topics.model import (
    SHIPPED_MODEL_DIR,
    ModelFormatError,
    load_topic_model,
    tokenize,
)
from pipeline.topics.taxonomy import iptc_media_topics

THRESHOLD = 0.25  # the classify stage's default

# Written for this test: diplomacy around a truce, the kind of story the seed article is.
CEASEFIRE = """Ministers agree to extend truce as border talks resume

The foreign ministers of the two neighbouring states agreed on Friday to extend a ceasefire \
along their disputed border for another month, after talks hosted by the United Nations.

Government officials said both armies would pull heavy artillery back from the front line, \
while parliament in the capital is expected to vote on the peace plan next week. The president \
told reporters that negotiations on prisoners of war and the withdrawal of troops would \
continue, and opposition leaders demanded a role in the talks."""

MATCH_REPORT = """United win derby with late penalty

The home side scored a penalty in the final minute to beat their rivals two goals to one in \
the league on Saturday. The striker, who had missed a chance in the first half, sent the \
goalkeeper the wrong way, and the coach praised the fans after the match."""


LOAD_AND_LIST_MODULES = """
import sys
from pipeline.topics.model import load_topic_model
load_topic_model(None).predict(["A text."])
print(" ".join(name.split(".")[0] for name in sys.modules))
"""


def test_tokenize_lowercases_and_drops_numbers_and_single_letters():
    assert tokenize("Kerry's 4 talks in 2016: A ceasefire") == ["kerry", "talks", "in", "ceasefire"]


def test_shipped_model_is_small_and_loads_without_the_training_libraries(shipped_model):
    size = sum(f.stat().st_size for f in SHIPPED_MODEL_DIR.iterdir())
    assert size < 20 * 1024 * 1024
    # scikit-learn alone costs a second at start: workers only predict, with numpy. The load
    # time is measured by `make bench-topics`.
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_AND_LIST_MODULES], capture_output=True, text=True, check=True
    )
    modules = set(loaded.stdout.split())
    assert "numpy" in modules and not modules & {"sklearn", "scipy"}
    model = load_topic_model(None)
    assert model.info.model == "wirestream-iptc-topics"
    assert model.info.model_version
    assert model.taxonomy == iptc_media_topics()


def test_every_topic_is_scored_in_range_and_sorted(shipped_model):
    (scores,) = shipped_model.predict([MATCH_REPORT])
    assert sorted(s.code for s in scores) == sorted(iptc_media_topics().codes)
    values = [s.score for s in scores]
    assert values == sorted(values, reverse=True)
    assert all(0.0 <= v <= 1.0 for v in values)
    assert scores[0].code == "medtop:15000000"


def test_ceasefire_story_is_politics_first_and_conflict_above_threshold(shipped_model):
    (scores,) = shipped_model.predict([CEASEFIRE])
    assert scores[0].code == "medtop:11000000"
    kept = {s.code for s in scores if s.score >= THRESHOLD}
    assert "medtop:16000000" in kept


def test_texts_without_known_words_still_get_scores(shipped_model):
    assert [len(s) for s in shipped_model.predict(["", "zzqx"])] == [17, 17]


def test_a_directory_that_is_not_a_model_is_refused(tmp_path: Path):
    with pytest.raises(ModelFormatError):
        load_topic_model(tmp_path)
    (tmp_path / "model.json").write_text('{"format": "something-else"}')
    with pytest.raises(ModelFormatError):
        load_topic_model(tmp_path)


SEED_ARTICLE = (
    Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "seed-article.txt"
)


@pytest.mark.skipif(not SEED_ARTICLE.exists(), reason="needs ../shared/samples")
def test_seed_article_is_politics_with_conflict(shipped_model):
    title, _, body = SEED_ARTICLE.read_text(encoding="utf-8").partition("\n")
    (scores,) = shipped_model.predict([f"{title.strip()}\n\n{body.strip()}"])
    assert scores[0].code == "medtop:11000000"
    assert "medtop:16000000" in {s.code for s in scores if s.score >= THRESHOLD}
