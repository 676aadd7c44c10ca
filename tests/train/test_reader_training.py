"""Reader training: answer spans, window labels, a few steps on a tiny model, and the capital of
France acceptance case with a reader trained in the test on synthetic examples."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from densekit.errors import InvalidInputError
from densekit.pipelines.reader import Reader
from densekit.train.reader import ReadingExample, find_answer, load_examples, make_features, train_reader

_spec = importlib.util.spec_from_file_location("densekit_tiny_models", Path(__file__).resolve().parent / "tiny_models.py")
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)

FRANCE = "The capital of France is Paris. It is known for the Eiffel Tower."


def test_find_answer():
    assert find_answer(FRANCE, "Paris") == 25
    assert find_answer(FRANCE, "paris") == 25
    assert find_answer("Paris or Paris", "Paris", start=9) == 9
    assert find_answer("Paris or Paris", "Paris", start=3) == 0
    assert find_answer(FRANCE, "Lyon") is None


def test_load_examples(shared_data, tmp_path):
    examples, skipped = load_examples(shared_data / "quoref", split="test")
    assert skipped == 0 and len(examples) > 400
    assert all(example.context[example.start : example.end] == example.answer for example in examples)
    path = tmp_path / "examples.jsonl"
    path.write_text(json.dumps({"question": "q", "passage": FRANCE, "answer": "Paris"}) + "\n"
                    + json.dumps({"question": "q", "context": FRANCE, "answers": ["Lyon"]}) + "\n")
    examples, skipped = load_examples(path)
    assert examples == [ReadingExample("q", FRANCE, "Paris", 25)] and skipped == 1
    path.write_text('{"question": "q"}\n')
    with pytest.raises(InvalidInputError, match="examples.jsonl:1"):
        load_examples(path)


def test_window_labels_point_at_the_answer(minilm_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    context = " ".join(f"word{number}" for number in range(150)) + " The answer is Zanzibar. " + " ".join(["filler"] * 150)
    example = ReadingExample("Where?", context, "Zanzibar", context.index("Zanzibar"))
    features = make_features(tokenizer, [example], max_length=128, stride=32)
    assert len(features) > 3
    labelled = [feature for feature in features if feature["start_positions"] > 0]
    assert labelled, "some window must hold the answer"
    for feature in labelled:
        tokens = feature["input_ids"][feature["start_positions"] : feature["end_positions"] + 1]
        assert tokenizer.decode(tokens).replace(" ", "") == "zanzibar"
    assert any(feature["start_positions"] == 0 == feature["end_positions"] for feature in features)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory, minilm_path):
    return tiny.bert_folder(minilm_path, tmp_path_factory.mktemp("bert"), hidden_size=64, intermediate_size=128)


def test_training_saves_a_loadable_reader(tiny_bert, tmp_path):
    examples = [ReadingExample("What is the capital of France?", FRANCE, "Paris", 25)] * 4
    logged = []
    report = train_reader(examples, str(tiny_bert), tmp_path / "reader", batch_size=2, max_steps=2, max_length=64,
                          stride=16, log=logged.append)
    assert report.steps == 2 and report.examples == 4 and len(logged) == 2
    settings = json.loads((tmp_path / "reader" / "densekit_reader.json").read_text())
    assert settings["max_length"] == 64 and settings["stride"] == 16
    reader = Reader(str(tmp_path / "reader"))
    assert reader.max_length == 64 and reader.stride == 16
    answer = reader.read("What is the capital of France?", [FRANCE])[0]
    assert FRANCE[answer.start : answer.end] == answer.text


def test_bad_arguments(tiny_bert, tmp_path):
    with pytest.raises(InvalidInputError, match="stride"):
        train_reader([ReadingExample("q", FRANCE, "Paris", 25)], str(tiny_bert), tmp_path, max_length=64, stride=40)
    with pytest.raises(InvalidInputError, match="at least one example"):
        train_reader([], str(tiny_bert), tmp_path)


@pytest.mark.slow
def test_capital_of_france_with_a_reader_trained_here(tiny_bert, tmp_path):
    """The acceptance case: a tiny reader trained for seconds on synthetic capitals (France held out)."""
    examples_file = tmp_path / "capitals.jsonl"
    examples_file.write_text("\n".join(json.dumps(example) for example in tiny.capital_examples()) + "\n")
    examples, _ = load_examples(examples_file)
    assert not any("France" in example.context for example in examples)
    report = train_reader(examples, str(tiny_bert), tmp_path / "reader", batch_size=8, epochs=12, learning_rate=3e-3,
                          max_length=128, stride=32, seed=13)
    assert report.final_loss < 1.0
    answer = Reader(str(tmp_path / "reader")).read("What is the capital of France?", [FRANCE])[0]
    assert answer.text == "Paris"
    assert np.isfinite(answer.reader_score)


def _trained_reader() -> Path | None:
    from densekit import config

    folder = config.home() / "models" / "densekit-quoref-reader"
    return folder if (folder / "densekit_reader.json").is_file() else None


# Looked up once, at collection: other tests point DENSEKIT_HOME elsewhere while they run.
TRAINED_READER = _trained_reader()


@pytest.mark.slow
@pytest.mark.skipif(TRAINED_READER is None, reason="benchmark reader not trained in DENSEKIT_HOME/models/densekit-quoref-reader")
def test_capital_of_france_with_the_quoref_reader():
    """The issue's reader case with the reader `densekit train reader` made on the Quoref train split
    (benchmarks/qa_quoref.py): exactly "Paris", from the passage's first sentence."""
    passage = "The capital of France is Paris. It is known for the Eiffel Tower."
    answer = Reader(str(TRAINED_READER), threads=1).read("What is the capital of France?", [passage])[0]
    assert answer is not None and answer.text == "Paris"
    assert passage[answer.start : answer.end] == "Paris"
