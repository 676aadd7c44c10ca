"""Tiny models of the real architectures, built at test time (no hub, no real weights).

Loaded by path from the QA test modules (pytest's importlib mode keeps test folders off sys.path):

    spec = importlib.util.spec_from_file_location("tiny_models", TESTS / "train" / "tiny_models.py")

Every model is saved with ``save_pretrained`` / ``save`` into a folder and then loaded through
exactly the code path a user's model takes.
"""

from __future__ import annotations

import json
from pathlib import Path

SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)


def save_tokenizer(minilm_path: Path, folder: Path) -> None:
    """The packaged MiniLM's BERT-uncased fast tokenizer, saved into ``folder``."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    tokenizer.model_max_length = SMALL["max_position_embeddings"]
    tokenizer.save_pretrained(str(folder))


def bert_folder(minilm_path: Path, folder: Path, seed: int = 0, **overrides) -> Path:
    """A tiny BertModel (random weights) + tokenizer: a base for readers."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, **{**SMALL, **overrides})
    BertModel(config).save_pretrained(str(folder))
    save_tokenizer(minilm_path, folder)
    return folder


def sentence_folder(minilm_path: Path, folder: Path, seed: int = 0) -> Path:
    """A tiny sentence-transformers model (BERT + mean pooling): a base for retriever training."""
    from sentence_transformers import SentenceTransformer

    try:  # sentence-transformers >= 6 moved the modules
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:
        from sentence_transformers.models import Pooling, Transformer

    bert = bert_folder(minilm_path, folder / "bert", seed)
    transformer = Transformer(str(bert), max_seq_length=64)
    dimension = getattr(transformer, "get_embedding_dimension", None) or transformer.get_word_embedding_dimension
    pooling = Pooling(dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(folder / "model"))
    return folder / "model"


def dpr_retriever_folder(minilm_path: Path, folder: Path, seed: int = 0) -> Path:
    """A saved DPR retriever: question_encoder/ and context_encoder/ (tiny DPRConfig) + densekit_retriever.json."""
    import torch
    from transformers import DPRConfig, DPRContextEncoder, DPRQuestionEncoder

    torch.manual_seed(seed)
    config = DPRConfig(vocab_size=30522, **SMALL)
    for name, model_class in (("question_encoder", DPRQuestionEncoder), ("context_encoder", DPRContextEncoder)):
        model_class(config).save_pretrained(str(folder / name))
        save_tokenizer(minilm_path, folder / name)
    (folder / "densekit_retriever.json").write_text(json.dumps({"kind": "dpr"}))
    return folder


COUNTRIES = [
    ("Spain", "Madrid", "the Prado"), ("Italy", "Rome", "the Colosseum"), ("Germany", "Berlin", "the Brandenburg Gate"),
    ("Japan", "Tokyo", "Shibuya"), ("Egypt", "Cairo", "the pyramids"), ("Peru", "Lima", "ceviche"),
    ("Kenya", "Nairobi", "its national park"), ("Norway", "Oslo", "the fjords"), ("Greece", "Athens", "the Acropolis"),
    ("Russia", "Moscow", "the Kremlin"), ("Canada", "Ottawa", "Parliament Hill"), ("China", "Beijing", "the Forbidden City"),
    ("Poland", "Warsaw", "its old town"), ("Chile", "Santiago", "the Andes"), ("Cuba", "Havana", "old cars"),
    ("India", "Delhi", "the Red Fort"), ("Ireland", "Dublin", "Trinity College"), ("Austria", "Vienna", "its opera"),
    ("Sweden", "Stockholm", "Gamla Stan"), ("Portugal", "Lisbon", "its trams"), ("Turkey", "Ankara", "Anitkabir"),
    ("Mexico", "Mexico City", "Chapultepec"), ("Hungary", "Budapest", "its baths"), ("Thailand", "Bangkok", "its temples"),
]


def capital_examples() -> list[dict]:
    """Synthetic reading examples in the shape of the acceptance case (France is held out)."""
    examples = []
    for country, city, sight in COUNTRIES:
        context = f"The capital of {country} is {city}. It is known for {sight}."
        examples.append({"question": f"What is the capital of {country}?", "context": context, "answers": [city]})
        examples.append({"question": f"What is {city} known for?", "context": context, "answers": [sight]})
    return examples
