"""Images made for tests, with Pillow: valid ones of each format, and what must be refused."""

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

EXIF_ORIENTATION = 0x0112
ROTATED_90 = 6  # EXIF: the camera was turned; shown turned 90° clockwise


def image_bytes(
    image_format: str = "JPEG",
    size: tuple[int, int] = (640, 480),
    mode: str = "RGB",
    orientation: int | None = None,
    **save,
) -> bytes:
    image = Image.new(mode, size, "red" if mode != "L" else 128)
    if mode in ("RGB", "RGBA"):  # a marker: the left half blue, to see where it turns
        image.paste("blue", (0, 0, size[0] // 2, size[1]))
    if orientation is not None:
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = orientation
        exif[0x010F] = "Camera maker"  # Make: metadata that must not survive
        save["exif"] = exif.tobytes()
    output = io.BytesIO()
    image.save(output, format=image_format, **save)
    return output.getvalue()


def upload(content: bytes, name: str = "picture.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def as_listed(detail: dict) -> dict:
    """A product's detail body as a list shows the product: its first image's renditions
    (`image`) instead of every image."""
    listed = {name: value for name, value in detail.items() if name != "images"}
    return listed | {"image": detail["images"][0]["renditions"] if detail["images"] else None}


# The image inline's management form, empty: what the admin's product form posts with no image.
NO_IMAGE_FORMS = {
    "images-TOTAL_FORMS": "0",
    "images-INITIAL_FORMS": "0",
    "images-MIN_NUM_FORMS": "0",
    "images-MAX_NUM_FORMS": "1000",
}
