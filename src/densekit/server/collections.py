"""Collection routes: list, info, search, add / upsert documents, get and delete one document.

Writes go through the collection's group writer (``writes.GroupWriter``): concurrent requests share
one commit, and each is answered only once that commit made it durable."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from ..collection.items import make_items
from .http_errors import ApiError
from .limits import check_batch, check_k, check_lengths

# The registry checks the name against settings.NAME_PATTERN (422) and the served set (404).
CollectionName = Path(..., description="A served collection's name: 1-64 letters, digits, _ or -.")


class SearchRequest(BaseModel):
    query: str = Field(..., description="What to look for.")
    k: int = Field(5, description="Number of hits (at most the server's max_k).")
    mode: Literal["dense", "sparse", "hybrid"] = "dense"
    where: dict[str, Any] | None = Field(None, description='Metadata filter, e.g. {"year": {"$gte": 2005}}.')
    alpha: float | None = Field(None, ge=0.0, le=1.0, description="Hybrid only: the dense side's weight (weighted fusion unless fusion says otherwise).")
    space: str = Field("text", description="Vector space for the dense side.")
    group: Literal["parent"] | None = Field(None, description='"parent": one hit per document (its best chunk).')
    fusion: Literal["probability", "rrf", "weighted"] | None = Field(None, description="Hybrid fusion (default probability).")
    explain: bool = Field(False, description="Add to each hit an explain object: the fusion, the fused score, and each side's score, rank and share.")


class Document(BaseModel):
    id: str | None = Field(None, description="Item id (generated when missing; required for upsert).")
    text: str
    metadata: dict[str, Any] = Field(default_factory=dict)


class DocumentsRequest(BaseModel):
    documents: list[Document]
    upsert: bool = Field(False, description="Replace items that have the same ids instead of refusing them.")


def _public_info(info: dict[str, Any], name: str) -> dict[str, Any]:
    # The folder path is the server's business, not the client's.
    return {"name": name, **{key: value for key, value in info.items() if key != "path"}}


def collections_router() -> APIRouter:
    router = APIRouter(prefix="/collections", tags=["collections"])

    @router.get("", summary="Collections this server serves")
    def list_collections(request: Request) -> dict[str, Any]:
        registry = request.app.state.registry
        listed = []
        for name in registry.names():
            with registry.handles(name).reader() as collection:
                info = collection.info()
            space = info["spaces"].get("text") or next(iter(info["spaces"].values()), {})
            listed.append({"name": name, "count": info["count"], "model": space.get("model"),
                           "spaces": sorted(info["spaces"])})
        return {"collections": listed}

    @router.get("/{name}", summary="A collection's info: count, spaces, models, size")
    def collection_info(request: Request, name: str = CollectionName) -> dict[str, Any]:
        with request.app.state.registry.handles(name).reader() as collection:
            return _public_info(collection.info(), name)

    @router.get("/{name}/features", summary="What works on this collection here: search, ask, images (and why not)")
    def features(request: Request, name: str = CollectionName) -> dict[str, Any]:
        from ..models import model_info
        from ..pipelines.qa import default_reader_reference

        with request.app.state.registry.handles(name).reader() as collection:
            kinds = {space.kind for space in collection.spaces.values()}
            keys = collection.metadata_keys()
        reader = request.app.state.settings.reader or default_reader_reference()
        reader_found = model_info(reader).found_at is not None
        return {
            "collection": name,
            "metadata_keys": keys,
            "search": {"available": "text" in kinds or bool(kinds), "why": None},
            "ask": {"available": reader_found and "text" in kinds, "why": None if reader_found and "text" in kinds else (
                "this collection holds no texts" if "text" not in kinds else
                "no reader model on this server: train one (densekit train reader, see docs/qa.md) "
                "or download an extractive QA model, then start densekit serve with DENSEKIT_READER set to it")},
            "images": {"available": "image" in kinds, "why": None if "image" in kinds else
                       "this collection has no image space: add pictures with `densekit images index COLLECTION PHOTOS/`"},
        }

    @router.post("/{name}/search", summary="Search by meaning (dense), words (sparse) or both (hybrid)")
    def search(body: SearchRequest, request: Request, name: str = CollectionName) -> dict[str, Any]:
        limits = request.app.state.settings.limits
        check_k(body.k, limits)
        check_lengths([body.query], limits, "query")
        with request.app.state.registry.handles(name).reader() as collection:
            hits = collection.search(body.query, k=body.k, mode=body.mode, where=body.where, alpha=body.alpha,
                                     space=body.space, group=body.group, fusion=body.fusion, explain=body.explain)
            keys = collection.metadata_keys() if body.where else {}
        # A filter on a key no item has matches nothing: say so rather than answer a silent "no hits".
        warnings = [f"no item has the metadata key {key!r}, so the filter matches nothing; keys: {', '.join(keys) or 'none'}"
                    for key in (body.where or {}) if key not in keys]
        return {"collection": name, "query": body.query, "mode": body.mode, "hits": [hit.as_dict() for hit in hits],
                **({"warnings": warnings} if warnings else {})}

    @router.post("/{name}/documents", status_code=201, summary="Add documents (or upsert them)")
    def add_documents(body: DocumentsRequest, request: Request, name: str = CollectionName) -> dict[str, Any]:
        limits = request.app.state.settings.limits
        check_batch(body.documents, limits, "documents")
        texts = [document.text for document in body.documents]
        check_lengths(texts, limits, "documents.text")
        if not texts:
            raise ApiError(422, "documents is empty; expected at least one document", param="documents")
        ids = [document.id for document in body.documents]
        given = [id_ is not None for id_ in ids]
        if body.upsert and not all(given):
            raise ApiError(422, f"upsert needs an id on every document; document {given.index(False)} has none",
                           param="documents")
        if any(given) and not all(given):
            raise ApiError(422, "give an id on every document or on none", param="documents")
        metadata = [document.metadata for document in body.documents]
        handles = request.app.state.registry.handles(name)
        # Validated and encoded here, in this request's thread (the shared models batch concurrent
        # requests); the group writer only stores and commits.
        items = make_items(texts, ids if all(given) else None, metadata)
        with handles.reader() as collection:
            vectors = collection.encode_items(items)
        _, count = handles.writes.submit(
            lambda writer: writer.add_items(items, vectors=vectors, replace=body.upsert), items=len(items))
        return {"collection": name, "ids": [item.id for item in items], "count": count, "upserted": body.upsert}

    # {id:path}: ids may hold "/" (every CLI-indexed file's does), raw or percent-encoded as %2F.
    @router.get("/{name}/documents/{id:path}", summary="One item by id (ids may contain '/')")
    def get_document(request: Request, id: str, name: str = CollectionName) -> dict[str, Any]:
        with request.app.state.registry.handles(name).reader() as collection:
            item = collection.get(id)
        if item is None:
            raise ApiError(404, f"no item {id!r} in collection {name!r}", "not_found_error", "id")
        return item.as_dict()

    @router.delete("/{name}/documents/{id:path}", summary="Delete an item (and a document's chunks) by id")
    def delete_document(request: Request, id: str, name: str = CollectionName) -> dict[str, Any]:
        removed, count = request.app.state.registry.handles(name).writes.submit(lambda writer: writer.delete([id]))
        if removed == 0:  # nothing was staged, so the group's commit wrote nothing for it
            raise ApiError(404, f"no item {id!r} in collection {name!r}", "not_found_error", "id")
        return {"collection": name, "deleted": removed, "count": count}

    return router

