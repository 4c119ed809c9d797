"""Product images (API.md, "Product images"): what an upload must be, how it is stored, and
how a stored image is shown.

An upload is read by Pillow alone, never trusted by its name or content type: it must open as
JPEG, PNG or WebP, pass `verify()` and a decode of all its data, and hold nothing after the
image's own end (a polyglot: an image that is also a ZIP, an HTML page, a script). Nothing of
the uploaded bytes but the picture is stored:
- an upright JPEG keeps its own compressed picture, and every segment that is not picture
  (EXIF, XMP, ICC, IPTC, comments, a camera's second frame) is dropped; the copy must decode
  to the very pixels the upload did. It loses nothing to a second compression, and it is
  decoded only at the scale its renditions need: a 24-megapixel photo never has its 92 MiB of
  pixels in memory (`_kept_jpeg`);
- anything else (PNG, WebP, a JPEG its EXIF turns) is re-encoded from its decoded pixels, with
  the EXIF orientation applied first and no metadata carried over.
Renditions are WebP, their long side 256 and 1024 px, never enlarged (a small image's
renditions are its own size).

The API and the admin both go through `prepare` and `store`, so they refuse and keep the same.
"""

import re
import tempfile
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import models, transaction
from PIL import ExifTags, Image, UnidentifiedImageError

from products.models import MAX_POSITION, Product, ProductImage

MAX_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
FORMATS = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp"}  # MPO: a camera's JPEG
SAVE_OPTIONS = {
    "JPEG": {"format": "JPEG", "quality": 90},
    "PNG": {"format": "PNG", "optimize": False},
    "WEBP": {"format": "WEBP", "quality": 90},
}
RENDITIONS = {"thumb": 256, "medium": 1024}
RENDITION_OPTIONS = {"format": "WEBP", "quality": 80}
# A large image is first shrunk by a whole factor (box averaging, cheap) to at most this many
# times the rendition, then resampled: a 24-megapixel photo's 1024 px rendition then passes
# through 1200 x 800 pixels rather than 1024 x 4000 (16 MiB) or 3000 x 2000.
REDUCING_GAP = 1.0
FILE_FIELDS = ("file", "thumb", "medium")
KEPT_INFO = ("transparency",)  # what is picture, not metadata

# Pillow's own bomb guard at our limit: an image past twice as many pixels is refused by
# Image.open itself (DecompressionBombError) before anything is decoded; one past the limit
# only warns there (an error where warnings are), and `_open` refuses it next.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

NOT_AN_IMAGE = "The file is not an image Pillow can read: send a JPEG, PNG or WebP image."
WRONG_FORMAT = "{format} images are not accepted: send a JPEG, PNG or WebP image."
TOO_MANY_BYTES = f"The file is larger than {MAX_BYTES // (1024 * 1024)} MiB."
TOO_MANY_PIXELS = f"The image has more than {MAX_PIXELS:,} pixels."
DAMAGED = "The image is damaged or truncated: {problem}."
TRAILING_DATA = "The file holds more than an image (data after the image's end)."
ANIMATED = "Animated images are not accepted: send a still image."


@dataclass
class PreparedImage:
    """An upload that passed, re-encoded: the files to store (temporary until stored)."""

    extension: str
    width: int
    height: int
    files: dict[str, IO[bytes]]  # "file", "thumb", "medium"

    def close(self) -> None:
        for handle in self.files.values():
            handle.close()


def prepare(upload: IO[bytes]) -> PreparedImage:
    """The upload made safe to store, with its renditions, or ValidationError naming what is
    wrong."""
    if upload.size > MAX_BYTES:
        raise ValidationError(TOO_MANY_BYTES, code="too_large")
    kept = _kept_jpeg(upload)
    if kept is not None:
        return kept
    image = _upright(_decoded(_checked(upload), upload))  # no reference here: see `_upright`
    image.info = {key: image.info[key] for key in KEPT_INFO if key in image.info}
    files = {"file": _encoded(image, **SAVE_OPTIONS[_save_format(image.format)])}
    files |= _renditions(image)
    return PreparedImage(FORMATS[image.format], image.width, image.height, files)


def _save_format(image_format: str) -> str:
    return "JPEG" if image_format == "MPO" else image_format


@contextmanager
def _refusing_what_pillow_cannot_read():
    """Pillow's errors as the ValidationError that names them."""
    try:
        yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValidationError(TOO_MANY_PIXELS, code="too_many_pixels") from exc
    except UnidentifiedImageError as exc:
        raise ValidationError(NOT_AN_IMAGE, code="not_an_image") from exc
    except ValidationError:
        raise
    except Exception as exc:  # Pillow's decoders raise many kinds for a broken file
        raise ValidationError(DAMAGED.format(problem=exc), code="damaged") from exc


def _checked(upload: IO[bytes]) -> Image.Image:
    """Opened and checked, not yet decoded. `verify()` checks what decoding skips (PNG chunk
    checksums) but leaves the image unusable, hence the second open."""
    with _refusing_what_pillow_cannot_read():
        _open(upload).verify()
        return _open(upload)


def _decoded(image: Image.Image, upload: IO[bytes]) -> Image.Image:
    """All of the image's data decoded (at the scale a `draft()` chose), and nothing after it."""
    with _refusing_what_pillow_cannot_read():
        image.load()
    if _has_trailing_data(upload, image.format):
        raise ValidationError(TRAILING_DATA, code="polyglot")
    return image


def _open(upload: IO[bytes]) -> Image.Image:
    upload.seek(0)
    image = Image.open(upload)
    if image.format not in FORMATS:
        raise ValidationError(WRONG_FORMAT.format(format=image.format), code="format")
    if image.width * image.height > MAX_PIXELS:
        raise ValidationError(TOO_MANY_PIXELS, code="too_many_pixels")
    if getattr(image, "is_animated", False) and image.format != "MPO":
        raise ValidationError(ANIMATED, code="animated")
    return image


ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
BAND_ROWS = 256


def _orientation(image: Image.Image) -> Image.Transpose | None:
    """How the image's EXIF orientation says to turn it: None for an upright one."""
    return ORIENTATIONS.get(image.getexif().get(ExifTags.Base.Orientation))


def _upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says (what ImageOps.exif_transpose does), without
    holding two copies of a large image at once: its rows go to a temporary file band by band,
    it is let go, and the turned image is built from the bands. A 24-megapixel photo is some
    92 MiB decoded; both at once would be twice that. The caller must hold no other reference."""
    method = _orientation(image)
    if method is None:
        return image
    image_format, info = image.format, dict(image.info)
    if image.mode in ("P", "PA"):  # a palette: small, and pasting bands would lose it
        turned = image.transpose(method)
    else:
        mode, size = image.mode, image.size
        with tempfile.TemporaryFile() as spill:
            bands = _spilled(image, spill)
            del image  # the caller holds no other reference: its memory goes here
            turned = _unspilled(spill, bands, mode, size, method)
    turned.format, turned.info = image_format, info
    return turned


def _spilled(image: Image.Image, spill: IO[bytes]) -> list[tuple[int, int, int]]:
    """The image's rows written to `spill` in bands: (first row, rows, bytes) of each."""
    bands = []
    for top in range(0, image.height, BAND_ROWS):
        rows = image.crop((0, top, image.width, min(image.height, top + BAND_ROWS))).tobytes()
        spill.write(rows)
        bands.append((top, min(BAND_ROWS, image.height - top), len(rows)))
    return bands


def _unspilled(spill, bands, mode: str, size: tuple[int, int], method) -> Image.Image:
    width, height = size
    turned = Image.new(mode, (height, width) if method in TURNS else (width, height))
    spill.seek(0)
    for top, count, length in bands:
        band = Image.frombytes(mode, (width, count), spill.read(length))
        turned.paste(band.transpose(method), _turned_box(method, size, top, count))
    return turned


TURNS = {
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_270,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
}


def _turned_box(method, size: tuple[int, int], top: int, rows: int) -> tuple[int, int]:
    """Where the band of rows `top` to `top + rows` of a `size` image lands once turned (its
    top-left corner)."""
    width, height = size
    corners = [(0, top), (width, top + rows)]
    moved = {
        Image.Transpose.FLIP_LEFT_RIGHT: lambda x, y: (width - x, y),
        Image.Transpose.FLIP_TOP_BOTTOM: lambda x, y: (x, height - y),
        Image.Transpose.ROTATE_180: lambda x, y: (width - x, height - y),
        Image.Transpose.ROTATE_90: lambda x, y: (y, width - x),
        Image.Transpose.ROTATE_270: lambda x, y: (height - y, x),
        Image.Transpose.TRANSPOSE: lambda x, y: (y, x),
        Image.Transpose.TRANSVERSE: lambda x, y: (height - y, width - x),
    }[method]
    points = [moved(x, y) for x, y in corners]
    return min(x for x, _ in points), min(y for _, y in points)


JPEG_FORMATS = ("JPEG", "MPO")
SOS, EOI, APP14 = 0xDA, 0xD9, 0xEE
# Segments that are not picture: APP0-APP15 (JFIF, EXIF, XMP, ICC, MPF, IPTC...) and comments,
# but for APP14's "Adobe" (it says how the colours were transformed).
DROPPED_SEGMENTS = frozenset([*range(0xE0, 0xF0), 0xFE])
# In compressed data a 0xFF byte is followed by 0x00 (stuffing), a restart marker (0xD0-0xD7),
# or fill (0xFF); anything else is the next segment's marker.
NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _kept_jpeg(upload: IO[bytes]) -> PreparedImage | None:
    """An upright JPEG stored as it came, less every segment that is not picture, once all its
    data decoded; None for any other image, or a JPEG whose segments are not laid out plainly
    enough to copy (those are re-encoded from their pixels). It is decoded at the smallest
    scale JPEG's own decoder offers (1/2, 1/4 or 1/8) that still covers the largest rendition."""
    image = _checked(upload)
    if image.format not in JPEG_FORMATS or _orientation(image) is not None:
        return None
    width, height = image.size
    scale = _fitted_size(image.size, max(RENDITIONS.values()))
    image.draft("RGB", scale)
    _decoded(image, upload)
    stripped = _without_metadata(upload)
    if stripped is None or not _same_picture(stripped, image, scale):
        return None
    files = {"file": stripped} | _renditions(image)
    return PreparedImage(FORMATS[image.format], width, height, files)


def _same_picture(stripped: IO[bytes], decoded: Image.Image, scale: tuple[int, int]) -> bool:
    """Whether the stripped copy decodes, at the same scale, to the very pixels the upload did:
    what is stored is then the picture that was checked, whatever the copy left out."""
    try:
        with Image.open(stripped) as copy:
            copy.draft("RGB", scale)
            same = copy.tobytes() == decoded.tobytes()
    except Exception:  # the copy does not read back (Pillow raises many kinds): re-encode
        same = False
    stripped.seek(0)
    if not same:
        stripped.close()
    return same


def _without_metadata(upload: IO[bytes]) -> IO[bytes] | None:
    """The JPEG's segments, up to its first end-of-image marker, without DROPPED_SEGMENTS."""
    upload.seek(0)
    data = memoryview(upload.read())
    output = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115 (returned open)
    output.write(data[:2])  # start of image
    position = 2
    while position + 2 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xFF:  # a fill byte before the marker
            position += 1
            continue
        if marker == EOI:
            output.write(data[position : position + 2])
            output.seek(0)
            return output
        end = position + 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if end > len(data):
            break
        if marker not in DROPPED_SEGMENTS or _is_adobe(marker, data[position + 4 : end]):
            output.write(data[position:end])
        position = end
        if marker == SOS:
            found = NEXT_MARKER.search(data, position)
            if found is None:
                break
            output.write(data[position : found.start()])
            position = found.start()
    output.close()
    return None


def _is_adobe(marker: int, content: memoryview) -> bool:
    return marker == APP14 and bytes(content[:5]) == b"Adobe"


def _has_trailing_data(upload: IO[bytes], image_format: str) -> bool:
    """Whether anything follows the image's own end: the JPEG end-of-image marker, PNG's IEND
    chunk, or the length WebP's RIFF header gives. A decoder stops there and never looks
    further, which is what lets a ZIP or a script ride along."""
    upload.seek(0, 2)
    size = upload.tell()
    if image_format == "WEBP":
        upload.seek(4)
        riff_length = int.from_bytes(upload.read(4), "little")
        return size > 8 + riff_length + (riff_length % 2)
    upload.seek(max(0, size - 12))
    tail = upload.read()
    if image_format == "PNG":
        return not tail.endswith(b"IEND\xae\x42\x60\x82")
    return not tail.endswith(b"\xff\xd9")


def _renditions(image: Image.Image) -> dict[str, IO[bytes]]:
    """Largest first, each from the one before: the small one is made from 1024 px, not from
    the original's many megapixels."""
    files, source = {}, image
    for name, long_side in sorted(RENDITIONS.items(), key=lambda item: -item[1]):
        source = _fitted(source, long_side)
        files[name] = _encoded(_for_webp(source), **RENDITION_OPTIONS)
    return files


def _fitted(image: Image.Image, long_side: int) -> Image.Image:
    size = _fitted_size(image.size, long_side)
    if size == image.size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)


def _fitted_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """`size` made to fit `long_side`, never enlarged."""
    scale = long_side / max(size)
    if scale >= 1:
        return size
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _for_webp(image: Image.Image) -> Image.Image:
    if image.mode in ("RGB", "RGBA"):
        return image
    return image.convert("RGBA" if image.has_transparency_data else "RGB")


def _encoded(image: Image.Image, **options) -> IO[bytes]:
    """Written to a temporary file (memory up to 1 MiB, disk past it)."""
    output = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)  # noqa: SIM115 (returned open)
    image.save(output, **options)
    output.seek(0)
    return output


# --- storing -----------------------------------------------------------------------------------


def store(image: ProductImage, prepared: PreparedImage) -> None:
    """Put the prepared files in the storage under new, unguessable names, and their facts on
    `image` (not yet saved). The names never repeat, so a URL can be cached for ever."""
    stem = f"{image.product_id}/{uuid.uuid4().hex}"
    suffixes = {"file": f".{prepared.extension}"} | {name: f"-{name}.webp" for name in RENDITIONS}
    for field, handle in prepared.files.items():
        getattr(image, field).save(f"{stem}{suffixes[field]}", File(handle), save=False)
    image.width, image.height = prepared.width, prepared.height
    prepared.close()


def add_image(
    *, product: Product, prepared: PreparedImage, alt: str = "", position: int | None = None
) -> ProductImage:
    """A new image of `product`, last unless `position` says otherwise. Should the row not be
    written, the files just stored go again."""
    if position is None:
        position = next_position(product)
    image = ProductImage(product=product, alt=alt, position=position)
    store(image, prepared)
    try:
        with transaction.atomic():
            image.save()
    except Exception:
        delete_files(image)
        raise
    return image


def next_position(product: Product) -> int:
    """After the last image; at the largest position there is, beside it (then by id)."""
    last = product.images.order_by("-position").values_list("position", flat=True).first()
    return 0 if last is None else min(last + 1, MAX_POSITION)


def delete_files(image: ProductImage) -> None:
    for field in FILE_FIELDS:
        name = getattr(image, field).name
        if name:
            default_storage.delete(name)


# --- showing -----------------------------------------------------------------------------------

VALUES = ("id", "product_id", "file", "thumb", "medium", "width", "height", "alt", "position")


def represent(row: dict) -> dict:
    """An image as the API shows it, from a `.values(*VALUES)` row (or an instance's)."""
    return {
        "id": row["id"],
        "url": default_storage.url(row["file"]),
        "width": row["width"],
        "height": row["height"],
        "alt": row["alt"],
        "position": row["position"],
        "renditions": renditions(row),
    }


def renditions(row: dict) -> dict:
    return {name: default_storage.url(row[name]) for name in RENDITIONS}


def as_row(image: ProductImage) -> dict:
    row = {name: getattr(image, name) for name in VALUES}
    return row | {name: row[name].name for name in FILE_FIELDS}


def attach_images(products: list[dict]) -> None:
    """`images` on each product row: all of them, in order, in one query."""
    if not products:
        return
    by_product = {row["id"]: [] for row in products}
    found = ProductImage.objects.filter(product_id__in=list(by_product)).values(*VALUES)
    for image in found.order_by("product_id", "position", "id"):
        by_product[image["product_id"]].append(represent(image))
    for row in products:
        row["images"] = by_product[row["id"]]


def first_image_columns() -> dict[str, "FirstImageFile"]:
    """What a product row of a list needs for `image`: its first image's rendition names, each
    looked up in the same statement as the row (through the product-position index)."""
    return {f"image_{name}": FirstImageFile(name) for name in RENDITIONS}


FIRST_IMAGE_COLUMNS = ("product_id", "position", "id")  # what finds the first image


class FirstImageFile(models.Func):
    """The file name `rendition` holds for the row's product's first image (by position, then id),
    or NULL: a subquery of the row's own statement, written out here. Built from `Subquery` and
    `OuterRef`, the same two subqueries cost a list request 3.3 M CPU instructions, a fifth of
    an uncached page: the querysets built, cloned and resolved against the outer query, then
    compiled (docs/performance.md)."""

    def __init__(self, rendition: str):
        super().__init__(models.F("pk"), output_field=models.CharField())
        self.rendition = rendition
        table = ProductImage._meta.db_table
        columns = (*FIRST_IMAGE_COLUMNS, rendition)
        self.topics = (table, *(f"{table}.{column}" for column in columns))

    def as_sql(self, compiler, connection, **extra):
        product, params = compiler.compile(self.source_expressions[0])
        table = ProductImage._meta.db_table
        column = ProductImage._meta.get_field(self.rendition).column
        of_product, *order = FIRST_IMAGE_COLUMNS
        return (
            f"(SELECT {column} FROM {table} WHERE {of_product} = {product}"
            f" ORDER BY {', '.join(order)} LIMIT 1)",
            params,
        )


def first_renditions(row: dict) -> dict | None:
    """`image` of a product row with `first_image_columns()`: None when it has no image."""
    if row["image_thumb"] is None:
        return None
    return {name: default_storage.url(row[f"image_{name}"]) for name in RENDITIONS}
