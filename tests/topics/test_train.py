"""Training on a user's own labels and taxonomy, and using the result in the classify stage."""

import json

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from pipeline import codec
from pipeline.envelope import Incoming
from pipeline.events import Article, PipelineInfo
from pipeline.settings import Settings
from pipeline.stages import build_stage
from pipeline.topics.model import load_topic_model, tokenize
from pipeline.topics.train import (
    FitOptions,
    TrainingDataError,
    _fit_calibration,
    is_held_out,
    read_labelled_jsonl,
    topic_balance_weights,
    train_custom_model,
    training_text,
    with_lexicon_labels,
)


def test_inference_features_match_the_training_vectorizer(fixture_files, hobby_model_dir):
    model = load_topic_model(hobby_model_dir)
    texts = [
        training_text(e, FitOptions().title_repeat) for e in read_labelled_jsonl(fixture_files[0])
    ]
    vectorizer = TfidfVectorizer(analyzer=tokenize, sublinear_tf=True, dtype=np.float32).fit(texts)
    assert vectorizer.vocabulary_ == model.vocabulary
    text = "The grandmaster pruned the roses before the blitz final, and the roses bloomed."
    expected = vectorizer.transform([text]).toarray()[0]
    columns, values = model.features(text)
    assert list(columns) == list(np.flatnonzero(expected))
    assert np.allclose(values, expected[columns], atol=1e-3)  # idf is stored as float32


def test_a_retrained_model_keeps_its_own_taxonomy(hobby_model_dir):
    model = load_topic_model(hobby_model_dir)
    assert model.info.model == "hobbies"
    assert model.info.model_version == "0.1"
    assert [t.label for t in model.taxonomy.topics] == ["gardening", "chess", "knitting"]
    garden, chess, knitting = model.predict(
        [
            "Compost the beds and water the seedlings.",
            "Black resigned after the rook endgame.",
            "She knitted a wool scarf with needles and yarn.",
        ]
    )
    assert garden[0].code == "hobby:garden"
    assert chess[0].code == "hobby:chess"
    # No story was labelled knitting: the model learnt nothing for it, so it comes last with the
    # same low score whatever the text, a story about knitting included, and is never kept.
    for scores in (garden, chess, knitting):
        assert scores[-1].code == "hobby:knitting"
        assert scores[-1].score < Settings.load(env={}).classify_threshold
    assert garden[-1].score == chess[-1].score == knitting[-1].score


def test_training_is_reproducible_with_a_fixed_seed(fixture_files):
    examples = read_labelled_jsonl(fixture_files[0])
    first = train_custom_model(examples, None, name="h", version="1", seed=3)
    second = train_custom_model(examples, None, name="h", version="1", seed=3)
    assert first.vocabulary == second.vocabulary
    assert np.array_equal(first.logistic_weights, second.logistic_weights)
    assert np.array_equal(first.calibration, second.calibration)
    assert first.taxonomy.codes == ("hobby:chess", "hobby:garden")


def test_a_retrained_model_runs_in_the_classify_stage(hobby_model_dir):
    stage = build_stage(Settings.load({"classify_model": hobby_model_dir}, env={}), "classify")
    article = Article(
        id="a1",
        title="Club final",
        text="The grandmaster won the final with a rook and pawn endgame.",
        word_count=10,
        content_hash="sha256:" + "0" * 64,
        received_at="2026-11-30T12:00:00Z",
        pipeline=PipelineInfo(version="test"),
        entities=[],
    )
    (enriched,) = stage.process([Incoming(value=codec.dumps(article))])
    assert isinstance(enriched, Article)
    assert enriched.topic == "hobby:chess"
    assert enriched.pipeline.stages["classify"].model == "hobbies"


def test_labels_outside_the_taxonomy_and_unlabelled_records_are_refused(tmp_path, fixture_files):
    from pipeline.topics.taxonomy import Taxonomy

    examples = read_labelled_jsonl(fixture_files[0])
    with pytest.raises(TrainingDataError, match="hobby:chess"):
        train_custom_model(examples, Taxonomy.from_codes(["hobby:garden"]), name="x", version="1")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "no labels here"}) + "\n")
    with pytest.raises(TrainingDataError, match="no labels"):
        read_labelled_jsonl(bad)


def test_lexicon_rules_add_conflict_only_to_political_or_crime_stories():
    text = "Rebels and government troops agreed a ceasefire after weeks of shelling."
    assert "medtop:16000000" in with_lexicon_labels("", text, ["medtop:11000000"])
    assert "medtop:16000000" not in with_lexicon_labels("", text, ["medtop:15000000"])


def test_held_out_split_is_a_stable_tenth():
    keys = [f"https://example.org/story/{n}" for n in range(5000)]
    share = sum(map(is_held_out, keys)) / len(keys)
    assert 0.08 < share < 0.12
    assert [is_held_out(k) for k in keys[:50]] == [is_held_out(k) for k in keys[:50]]


def test_topic_balance_weighs_stories_of_rare_topics_up():
    # Three stories of a frequent topic, one of a rare one, one with both.
    targets = np.array([[1, 0], [1, 0], [1, 0], [0, 1], [1, 1]], dtype=np.int8)
    weights = np.ones(5)
    assert np.array_equal(topic_balance_weights(targets, weights, 0.0), weights)
    balanced = topic_balance_weights(targets, weights, 0.5)
    assert balanced[3] > balanced[4] > balanced[0]
    # Frequencies 4 and 2 around a mean of 3: factors (3/4) ** 0.5 and (3/2) ** 0.5.
    assert balanced[0] == pytest.approx((3 / 4) ** 0.5)
    assert balanced[3] == pytest.approx((3 / 2) ** 0.5)


def test_calibration_shares_slopes_and_keeps_the_naive_bayes_share():
    rng = np.random.default_rng(5)
    targets = (rng.random((300, 3)) < 0.3).astype(np.int8)
    logistic = 2.0 * targets - 1.0 + rng.normal(0, 1, targets.shape)
    bayes = np.log(0.2 + 0.6 * targets) + rng.normal(0, 0.3, targets.shape)
    calibration = _fit_calibration(logistic, bayes, targets, bayes_share=4.0)
    a, b = calibration[0, :2]
    assert a > 0
    assert b == pytest.approx(4.0 * a)
    assert np.allclose(calibration[:, :2], calibration[0, :2])


def test_a_small_corpus_keeps_the_logistic_heads_probabilities(hobby_model_dir):
    model = load_topic_model(hobby_model_dir)
    assert np.array_equal(model.calibration[:, :2], np.tile([1.0, 0.0], (3, 1)))
    assert not model.calibration[:, 2].any()
