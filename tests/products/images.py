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
