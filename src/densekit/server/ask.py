"""POST /collections/{name}/ask: extractive question answering over a collection's passages.

The reader is the one the server was configured with (clients never name a model or a path). It is
loaded once and used under its own lock: a transformers tokenizer must not be entered from two
threads at once.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from .collections import CollectionName
from .http_errors import ApiError
from .limits import check_k, check_lengths


class AskRequest(BaseModel):
    question: str = Field(..., description="The question.")
    k: int = Field(5, description="Passages to retrieve and read.")
    answers: int = Field(3, description="Distinct answers to return.")
    mode: Literal["dense", "sparse", "hybrid"] = "dense"
    where: dict[str, Any] | None = Field(None, description="Metadata filter for the retrieval.")


def _reader(request: Request):
    from ..pipelines.qa import default_reader_reference

    state = request.app.state
    reference = state.settings.reader or default_reader_reference()
    lock = state.models.lock_for(f"reader:{reference}")
    return reference, lock, state.models.reader


def ask_router() -> APIRouter:
    router = APIRouter(prefix="/collections", tags=["question answering"])

    @router.post("/{name}/ask", summary="Answer a question from the collection's passages")
    def ask_question(body: AskRequest, request: Request, name: str = CollectionName) -> dict[str, Any]:
        from ..pipelines.qa import ask

        limits = request.app.state.settings.limits
        check_k(body.k, limits)
        if not 1 <= body.answers <= limits.max_k:
            raise ApiError(422, f"answers is {body.answers}; expected 1 to {limits.max_k}", param="answers")
        check_lengths([body.question], limits, "question")
        if not body.question.strip():
            raise ApiError(422, f"question must be a non-empty string, got {body.question!r}", param="question")
        reference, lock, load_reader = _reader(request)
        with request.app.state.registry.handles(name).reader() as collection:
            with lock:
                reader = load_reader(reference)
                found = ask(collection, body.question, k=body.k, answers=body.answers, reader=reader,
                            mode=body.mode, where=body.where)
        return {
            "collection": name,
            "question": body.question,
            "answers": [{**answer.as_dict(), "answer": answer.text, "id": answer.passage_id} for answer in found],
        }

    return router
