"""POST /v1/embeddings and GET /v1/models, compatible with OpenAI's API and its official client.

The client sends ``encoding_format="base64"`` unless told otherwise: little-endian float32 bytes,
base64-encoded. Token-id input and a ``dimensions`` other than the model's are refused clearly.
Clients choose among the models the server was configured with, by name; never a path.
"""

from __future__ import annotations

import base64
from typing import Literal, Union

import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from .http_errors import ApiError
from .limits import check_texts_within


class EmbeddingRequest(BaseModel):
    model: str | None = Field(None, description="A model the server offers (GET /v1/models); default: the server's.")
    input: Union[str, list[str], list[int], list[list[int]]] = Field(..., description="A text or a list of texts.")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, description="Must equal the model's dimension if given (no truncation).")
    user: str | None = None


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: Union[list[float], str]


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "densekit"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def choose_model(request: Request, model: str | None) -> str:
    """The requested model if the server offers it (the default when None); else 404 with the choices."""
    choices = request.app.state.settings.model_choices
    if model is None:
        return choices[0]
    if model not in choices:
        raise ApiError(404, f"model {model!r} is not served here; models: {', '.join(choices)}", "model_not_found", "model")
    return model


def _texts(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    items = list(value)  # type: ignore[arg-type]
    if not items:
        raise ApiError(422, "input is an empty list; expected a text or a non-empty list of texts", param="input")
    if not all(isinstance(item, str) for item in items):
        raise ApiError(422, "input holds token ids; this server embeds text only: send strings", param="input")
    return items


def embeddings_router() -> APIRouter:
    router = APIRouter(tags=["embeddings"])

    @router.post("/v1/embeddings", response_model=EmbeddingResponse, summary="Embed texts (OpenAI-compatible)")
    def create_embeddings(body: EmbeddingRequest, request: Request) -> EmbeddingResponse:
        state = request.app.state
        model = choose_model(request, body.model)
        texts = _texts(body.input)
        check_texts_within(texts, state.settings.limits, "input")
        encoder = state.models.get(model)
        if body.dimensions is not None and body.dimensions != encoder.dimension:
            raise ApiError(
                422,
                f"dimensions={body.dimensions} is not supported: {model} gives {encoder.dimension}-dimensional "
                "vectors; omit dimensions",
                param="dimensions",
            )
        vectors = encoder.encode(texts)
        tokens = encoder.count_tokens(texts)
        if body.encoding_format == "base64":
            values: list = [base64.b64encode(row.astype("<f4").tobytes()).decode("ascii") for row in vectors]
        else:
            values = np.asarray(vectors, dtype=np.float64).tolist()
        return EmbeddingResponse(
            data=[Embedding(index=index, embedding=value) for index, value in enumerate(values)],
            model=model,
            usage=Usage(prompt_tokens=tokens, total_tokens=tokens),
        )

    @router.get("/v1/models", response_model=ModelList, summary="Models this server offers")
    def list_models(request: Request) -> ModelList:
        return ModelList(data=[ModelCard(id=model) for model in request.app.state.settings.model_choices])

    return router
