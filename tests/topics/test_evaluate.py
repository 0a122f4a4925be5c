"""How often a source's one label is among the topics the classify stage would return."""

import pytest

from pipeline.topics.evaluate import evaluate_returned
from pipeline.topics.model import load_topic_model

GARDEN_TEXT = "Prune the roses and mulch the beds with compost before the seedlings go in."
CHESS_TEXT = "The grandmaster won the blitz final with a rook and pawn endgame."


def test_label_returned_counts_gold_topics_at_or_above_the_threshold(hobby_model_dir):
    model = load_topic_model(hobby_model_dir)
    texts = [GARDEN_TEXT, CHESS_TEXT, GARDEN_TEXT, CHESS_TEXT]
    # The third and fourth gold labels are wrong on purpose: knitting was never trained, and
    # the chess story is no gardening story.
    gold = ["hobby:garden", "hobby:chess", "hobby:knitting", "hobby:garden"]
    threshold = 0.5
    result = evaluate_returned(model, texts, gold, threshold)
    scores = model.probabilities([GARDEN_TEXT, CHESS_TEXT])
    garden_col, chess_col, knitting_col = (
        model.taxonomy.codes.index(c) for c in ("hobby:garden", "hobby:chess", "hobby:knitting")
    )
    assert scores[0, garden_col] >= threshold > scores[0, knitting_col]
    assert scores[1, chess_col] >= threshold > scores[1, garden_col]
    assert result.label_returned == pytest.approx(0.5)
    returned_per_story = (scores >= threshold).sum(axis=1)
    assert result.mean_topics == pytest.approx(returned_per_story.mean())
    assert result.none_returned == 0.0


def test_a_threshold_above_every_score_returns_nothing(hobby_model_dir):
    model = load_topic_model(hobby_model_dir)
    result = evaluate_returned(model, [GARDEN_TEXT], ["hobby:garden"], threshold=1.01)
    assert (result.label_returned, result.mean_topics, result.none_returned) == (0.0, 0.0, 1.0)
