"""POST /similarity: a cosine matrix of texts, or the texts ranked against a query."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ..pipelines.similarity import most_similar, similarity
from .embeddings import choose_model
from .limits import check_texts_within


class SimilarityRequest(BaseModel):
    texts: list[str] = Field(..., description="Texts to compare (or candidates, with a query).")
    query: str | None = Field(None, description="Rank the texts by similarity to this one.")
    k: int | None = Field(None, ge=1, description="With a query: keep the k best.")
    model: str | None = Field(None, description="A model the server offers (GET /v1/models).")


def similarity_router() -> APIRouter:
    router = APIRouter(tags=["similarity"])

    @router.post("/similarity", summary="Cosine similarity matrix, or a ranking against a query")
    def compare(body: SimilarityRequest, request: Request) -> dict[str, Any]:
        state = request.app.state
        model = choose_model(request, body.model)
        texts = list(body.texts)
        check_texts_within(texts + ([body.query] if body.query is not None else []), state.settings.limits, "texts")
        encoder = state.models.get(model)
        if body.query is not None:
            ranking = most_similar(body.query, texts, k=body.k, encoder=encoder)
            return {
                "model": model,
                "query": body.query,
                "ranking": [{"index": item.index, "text": item.text, "score": round(item.score, 6)} for item in ranking],
            }
        matrix = similarity(texts, encoder=encoder)
        return {"model": model, "texts": texts, "cosine": matrix.round(6).tolist()}

    return router
