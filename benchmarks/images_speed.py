"""Image indexing and search speed: images indexed per second, thumbnail/metadata overhead, search latency at 10,000 images.

No CLIP weights exist on these machines, so two locally built models stand in (speed does not
depend on the weights' values):
  tiny  the test model (densekit.images.tiny.sample_clip): 32 px input, 2-layer 32-wide towers, 32-d;
  base  CLIPConfig() defaults = openai/clip-vit-base-patch32's architecture (ViT-B/32 at 224 px,
        12-layer 512-wide text tower, 512-d), random weights, saved and loaded like the real one.

1. Indexing: photo-sized JPEGs (640 x 480, crops of scikit-image's sample pictures) are indexed
   into a fresh collection with ``index_images`` (read, hash, decode, EXIF, thumbnail, preprocess,
   encode, store, commit). Variants run interleaved, repeated, medians reported: with thumbnails vs
   with the thumbnail writer stubbed out (the difference is the thumbnail's cost per image), and
   each stage timed image by image (read + hash, decode + EXIF + metadata, thumbnail, preprocess,
   encode in batches of 32), which is less noisy on a shared machine.
   Bytes per image: thumbnail file and the item's metadata JSON.
2. Search at 10,000 images: an image space of 10,000 items (real metadata shape, random unit vectors
   of the model's dimension: how they were made does not change search cost), flat (exact) and
   HNSW indexes; text-to-image ``collection.search`` (includes encoding the query with the text
   tower), index-only ``search_vector``, and a filtered search; median and p95 over queries.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/images_speed.py --quick
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/images_speed.py --models tiny,base --images 96 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_photos(folder: Path, count: int) -> list[Path]:
    """Distinct 640 x 480 JPEGs: random crops (and flips) of the sample pictures, upscaled."""
    import numpy as np
    from PIL import Image

    from densekit.images.tiny import sample_pictures

    rng = np.random.default_rng(0)
    pictures = list(sample_pictures().values())
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        array = pictures[number % len(pictures)]
        height, width = array.shape[:2]
        top, left = int(rng.integers(0, height // 4)), int(rng.integers(0, width // 4))
        crop = Image.fromarray(array[top : top + 3 * height // 4, left : left + 3 * width // 4]).convert("RGB")
        if number % 2:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        path = folder / f"photo-{number:05d}.jpg"
        crop.resize((640, 480)).save(path, quality=88)
        paths.append(path)
    return paths


def build_model(name: str, folder: Path) -> Path:
    from densekit.images.tiny import build_tokenizer, sample_clip

    if name == "tiny":
        return sample_clip(folder / "tiny")
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor

    from densekit.encoders.clip import quiet_transformers

    target = folder / "base"
    with quiet_transformers():
        from transformers import CLIPImageProcessor

        processor = CLIPProcessor(image_processor=CLIPImageProcessor(), tokenizer=build_tokenizer())
        torch.manual_seed(0)
        CLIPModel(CLIPConfig()).save_pretrained(str(target))
        processor.save_pretrained(str(target))
    return target


def index_once(encoder, photos: Path, work: Path, thumbnails: bool) -> tuple[float, Path]:
    from densekit.collection import Collection
    from densekit.images import indexing

    folder = Path(tempfile.mkdtemp(dir=work))
    original = indexing.write_thumbnail
    if not thumbnails:
        indexing.write_thumbnail = lambda *args, **kwargs: "none"
    try:
        start = time.perf_counter()
        with Collection.create(folder / "c", encoder=encoder, space="images") as collection:
            indexing.index_images(collection, [photos])
        return time.perf_counter() - start, folder / "c"
    finally:
        indexing.write_thumbnail = original


def bench_indexing(encoder, photos: Path, count: int, work: Path, rounds: int) -> dict:
    times = {"with thumbnails": [], "thumbnails stubbed": []}
    collection = None
    for round_number in range(rounds):
        variants = list(times) if round_number % 2 == 0 else list(reversed(times))
        for variant in variants:
            seconds, folder = index_once(encoder, photos, work, thumbnails=variant == "with thumbnails")
            times[variant].append(seconds)
            if variant == "with thumbnails":
                collection = folder
    thumbnail_bytes = [path.stat().st_size for path in (collection / "thumbnails").iterdir()]
    from densekit.collection import Collection

    reader = Collection.open(collection, readonly=True)
    metadata_bytes = [len(json.dumps(item.metadata, sort_keys=True)) for batch in reader.store.iterate(reader.view) for item in batch]
    reader.close()
    with_thumbnails = statistics.median(times["with thumbnails"])
    stubbed = statistics.median(times["thumbnails stubbed"])
    return {
        "images/s": count / with_thumbnails,
        "images/s (no thumbnails)": count / stubbed,
        "thumbnail ms/image": 1000 * (with_thumbnails - stubbed) / count,
        "thumbnail bytes/image": statistics.mean(thumbnail_bytes),
        "metadata bytes/image": statistics.mean(metadata_bytes),
    }


def bench_stages(encoder, photos: Path, work: Path, rounds: int) -> dict:
    """Per-image cost of each indexing stage, timed image by image (medians): less noisy than differences of whole runs."""
    import hashlib

    import torch

    from densekit.images.loading import decode_image, read_image_file
    from densekit.images.thumbnails import write_thumbnail

    stages: dict[str, list[float]] = {name: [] for name in ("read + sha256", "decode + EXIF + metadata", "thumbnail write", "preprocess", "encode (batch 32)")}
    files = sorted(photos.iterdir())
    for _ in range(rounds):
        target = Path(tempfile.mkdtemp(dir=work))
        pixels = []
        for path in files:
            start = time.perf_counter()
            data = read_image_file(path)
            digest = hashlib.sha256(data).hexdigest()
            middle = time.perf_counter()
            loaded = decode_image(path, data)
            decoded = time.perf_counter()
            write_thumbnail(target, digest, loaded.image)
            thumbnailed = time.perf_counter()
            pixels.append(encoder.preprocess([loaded.image]))
            done = time.perf_counter()
            stages["read + sha256"].append(middle - start)
            stages["decode + EXIF + metadata"].append(decoded - middle)
            stages["thumbnail write"].append(thumbnailed - decoded)
            stages["preprocess"].append(done - thumbnailed)
        for start in range(0, len(pixels) - 31, 32):
            began = time.perf_counter()
            encoder.encode_pixels(torch.cat(pixels[start : start + 32]))
            stages["encode (batch 32)"].append((time.perf_counter() - began) / 32)
    return {f"{name} ms/image": 1000 * statistics.median(values) for name, values in stages.items() if values}


def bench_search(encoder, work: Path, size: int, queries: int) -> list[dict]:
    import numpy as np

    from densekit.collection import Collection
    from densekit.collection.store import Item

    rng = np.random.default_rng(1)
    captions = ["a dog hiding behind a tree", "a cup of coffee", "a rocket on a launch pad", "a photo of a cat",
                "an astronaut in a white suit", "a man with a camera"]
    rows = []
    for kind in ("flat", "hnsw"):
        folder = Path(tempfile.mkdtemp(dir=work)) / "c"
        with Collection.create(folder, encoder=encoder, space="images", index=kind) as collection:
            for start in range(0, size, 2000):
                count = min(2000, size - start)
                items = [
                    Item(f"/photos/{number:05d}.jpg", None, {
                        "path": f"/photos/{number:05d}.jpg", "file": f"{number:05d}.jpg", "folder": "/photos",
                        "bytes": 250_000, "width": 640, "height": 480, "format": "JPEG" if number % 4 else "PNG",
                        "mode": "RGB", "exif_date": None, "frames": 1, "thumbnail": f"{number:064x}.jpg"}, kind="image")
                    for number in range(start, start + count)
                ]
                vectors = rng.standard_normal((count, encoder.dimension)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                collection.add_items(items, vectors={"images": vectors})
        reader = Collection.open(folder, readonly=True)
        reader.search(captions[0], k=10, space="images")  # warm: loads the index, first model call
        text, vector_only, filtered = [], [], []
        query_vectors = encoder.encode_texts(captions)
        for number in range(queries):
            caption = captions[number % len(captions)]
            start = time.perf_counter()
            reader.search(caption, k=10, space="images")
            text.append(time.perf_counter() - start)
            start = time.perf_counter()
            reader.search_vector(query_vectors[number % len(captions)], k=10, space="images")
            vector_only.append(time.perf_counter() - start)
            start = time.perf_counter()
            reader.search(caption, k=10, space="images", where={"format": "PNG"})
            filtered.append(time.perf_counter() - start)
        reader.close()
        for name, values in (("text -> image", text), ("vector only", vector_only), ("text, where format=PNG", filtered)):
            values.sort()
            rows.append({"index": kind, "query": name, "median ms": 1000 * statistics.median(values),
                         "p95 ms": 1000 * values[int(0.95 * (len(values) - 1))]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny,base", help="comma-separated: tiny, base")
    parser.add_argument("--images", type=int, default=96, help="photos to index per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--search-size", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="tiny model, 32 images, 1 round, 10 queries")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.models, arguments.images, arguments.rounds, arguments.queries = "tiny", 32, 1, 10

    from densekit.encoders.clip import ClipEncoder

    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        photos = work / "photos"
        make_photos(photos, arguments.images)
        print(f"{arguments.images} photos of 640x480 JPEG, {arguments.rounds} rounds, torch threads {arguments.threads}, "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for name in arguments.models.split(","):
            encoder = ClipEncoder(str(build_model(name, work)), threads=arguments.threads)
            print(f"\n== model {name}: {encoder.dimension}-d, image side {encoder.processor.image_processor.crop_size.height} px")
            indexing = bench_indexing(encoder, photos, arguments.images, work, arguments.rounds)
            indexing.update(bench_stages(encoder, photos, work, arguments.rounds))
            for key, value in indexing.items():
                print(f"  {key:34s} {value:10.1f}")
            print(f"\n  search over {arguments.search_size:,} images, {arguments.queries} queries, k=10")
            print(f"  {'index':6s} {'query':26s} {'median ms':>10s} {'p95 ms':>10s}")
            for row in bench_search(encoder, work, arguments.search_size, arguments.queries):
                print(f"  {row['index']:6s} {row['query']:26s} {row['median ms']:10.2f} {row['p95 ms']:10.2f}")


if __name__ == "__main__":
    main()
