"""The command-line entry points, through click's runner."""

import json

from click.testing import CliRunner

from pipeline.topics.commands import eval_topics, train_topics


def test_train_topics_on_a_user_file_writes_a_loadable_model(tmp_path, fixture_files):
    data, taxonomy = fixture_files
    out = tmp_path / "model"
    result = CliRunner().invoke(
        train_topics,
        ["--input", str(data), "--taxonomy", str(taxonomy), "-o", str(out), "--name", "hobbies"],
    )
    assert result.exit_code == 0, result.output
    assert "13 texts, 3 topics" in result.output
    assert (out / "model.json").exists()
    assert (out / "weights.npz").exists()


def test_train_topics_with_input_needs_an_output(fixture_files):
    result = CliRunner().invoke(train_topics, ["--input", str(fixture_files[0])])
    assert result.exit_code != 0
    assert "--output" in result.output


def test_eval_topics_prints_figures_table_and_confusion(tmp_path, hobby_model_dir):
    records = [
        {
            "title": "Endgame",
            "body": "The rook and king checkmate ended the blitz game.",
            "label": "c",
        },
        {"body": "Sow the beans and compost the roses in the garden beds.", "label": "g"},
        {"body": "A story with a label the mapping leaves out.", "label": "other"},
    ]
    data = tmp_path / "eval.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"c": "hobby:chess", "g": "hobby:garden"}))
    result = CliRunner().invoke(
        eval_topics, [str(data), "--mapping", str(mapping), "--model", str(hobby_model_dir)]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "records   2 (skipped 1 without a mapped label)" in lines
    assert "accuracy  1.0000" in lines
    assert "macro-F1  1.0000" in lines
    assert any(line.startswith("hobby:chess") and line.endswith("chess") for line in lines)
    assert "confusion (rows: gold, columns: predicted)" in lines


def test_eval_topics_reports_codes_the_model_does_not_know(tmp_path, hobby_model_dir):
    data = tmp_path / "eval.jsonl"
    data.write_text(json.dumps({"body": "text", "label": "x"}) + "\n")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"x": "medtop:99000000"}))
    result = CliRunner().invoke(
        eval_topics, [str(data), "--mapping", str(mapping), "--model", str(hobby_model_dir)]
    )
    assert result.exit_code == 1
    assert "medtop:99000000" in result.output
