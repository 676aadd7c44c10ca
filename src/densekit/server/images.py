"""Image routes: search an image space by text or by an uploaded picture; serve stored thumbnails.

POST /collections/{name}/images/search takes a multipart form (``query`` text or ``image`` file,
``k``, optional ``space``). Uploaded bytes are decoded in memory with the images module's safe
loader (pixel limit, corrupt files refused); nothing is written, and no client-named path is read.
Thumbnails are served only by their content-hash names from the collection's own thumbnails folder.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse

from .collections import CollectionName
from .http_errors import ApiError
from .limits import check_k, check_lengths

_THUMBNAIL = re.compile(r"^[0-9a-f]{64}\.jpg$")


def _with_thumbnail(hit: Any, name: str) -> dict[str, Any]:
    data = hit.as_dict()
    thumbnail = (hit.metadata or {}).get("thumbnail")
    if isinstance(thumbnail, str) and _THUMBNAIL.match(thumbnail):
        data["thumbnail"] = f"/collections/{name}/thumbnails/{thumbnail}"
    return data


def images_router() -> APIRouter:
    router = APIRouter(prefix="/collections", tags=["images"])

    @router.post("/{name}/images/search", summary="Find images by a text description or by a similar picture")
    def search_images(
        request: Request,
        name: str = CollectionName,
        query: str | None = Form(None, description="Describe the picture (text-to-image)."),
        image: UploadFile | None = File(None, description="A picture to find similar ones (image-to-image)."),
        k: int = Form(12, description="Number of hits."),
        space: str | None = Form(None, description="The image space (default: the collection's only one)."),
    ) -> dict[str, Any]:
        from ..images import image_space
        from ..images.loading import ImageLoadError, decode_image, model_view

        limits = request.app.state.settings.limits
        check_k(k, limits)
        if (query is None or not query.strip()) == (image is None):
            raise ApiError(422, "send exactly one of 'query' (text) or 'image' (a file)", param="query")
        if query is not None:
            check_lengths([query], limits, "query")
        with request.app.state.registry.handles(name).reader() as collection:
            target = image_space(collection, space)
            encoder = collection.encoder(target)
            # CLIP encoders are shared process-wide by their loader: one user at a time.
            with request.app.state.models.lock_for(f"clip:{encoder.model_name}"):
                if image is not None:
                    data = image.file.read()
                    try:
                        loaded = decode_image("upload", data, max_pixels=encoder.max_pixels)
                    except ImageLoadError as error:
                        raise ApiError(422, f"the uploaded image cannot be used: {error.reason}", param="image") from error
                    # model_view: a tiny upload of a 100,000 x 1 banner must not cost the server GBs.
                    vector = encoder.encode_pixels(encoder.preprocess([model_view(loaded.image)]))
                else:
                    vector = encoder.encode_queries([query])
            hits = collection.search_vector(vector[0], k, space=target)
        return {"collection": name, "space": target, "by": "image" if image is not None else "text",
                "hits": [_with_thumbnail(hit, name) for hit in hits]}

    @router.get("/{name}/thumbnails/{file}", summary="A stored thumbnail, by its content-hash name")
    def thumbnail(request: Request, file: str, name: str = CollectionName) -> FileResponse:
        from ..images.thumbnails import thumbnail_path

        if not _THUMBNAIL.match(file):
            raise ApiError(422, f"invalid thumbnail name {file!r}: expected <64 hex digits>.jpg", param="file")
        path = thumbnail_path(request.app.state.registry.location(name), file)
        if not path.is_file():
            raise ApiError(404, f"no thumbnail {file!r} in collection {name!r}", "not_found_error", "file")
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"})

    return router
