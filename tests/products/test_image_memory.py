"""What an upload of a large photo costs a worker in memory (API.md, "Product images": up to
10 MiB and 40 megapixels): measured in a process of its own (tests/products/image_memory.py),
through the whole WSGI stack, with the body streamed from a file as gunicorn streams it."""

import json
import os
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from products.images import MAX_BYTES
from tests.products.images import EXIF_ORIENTATION, ROTATED_90

PROJECT = Path(__file__).resolve().parents[2]
# The application's own environment, as production installs it (`make test` builds it first):
# the development one imports more (Pygments, for one) into every process.
WORKER_PYTHON = PROJECT / ".venv" / "bin" / "python"
BOUNDARY = "memory-test-boundary"
PEAK_LIMIT_MIB = 200


def photo_like_jpeg(path: Path, *, orientation: int | None = None, **save) -> None:
    """6000 x 4000 pixels (24 megapixels) that compress like a photo: just under 10 MiB."""
    width, height = 6000, 4000
    coarse = Image.effect_noise((width // 4, height // 4), 60).resize((width, height))
    picture = Image.merge(
        "RGB",
        (
            coarse,
            Image.linear_gradient("L").resize((width, height)),
            Image.effect_noise((width, height), 30),
        ),
    )
    options = {"quality": 91} | save
    if orientation is not None:
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = orientation
        options["exif"] = exif.tobytes()
    picture.save(path, "JPEG", **options)


def multipart_body(image: Path, body: Path) -> None:
    with body.open("wb") as out:
        out.write(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="image"; '
            f'filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
        )
        out.write(image.read_bytes())
        out.write(f"\r\n--{BOUNDARY}--\r\n".encode())


def measured_upload(tmp_path: Path, image: Path) -> dict:
    body = tmp_path / "body"
    multipart_body(image, body)
    environment = os.environ | {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'memory.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DJANGO_DEBUG": "true",
    }
    environment.pop("REDIS_URL", None)
    subprocess.run(
        [WORKER_PYTHON, "manage.py", "migrate", "--verbosity", "0"],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        timeout=300,
        check=True,
    )
    finished = subprocess.run(
        [WORKER_PYTHON, "-m", "tests.products.image_memory", str(body), BOUNDARY],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr.decode()[-3000:]
    return json.loads(finished.stdout.decode().strip().splitlines()[-1])


def test_a_10_mib_photo_turned_by_exif_peaks_under_200_mib(tmp_path):
    """Turned, the worse case: it is decoded in full to be turned (measured 194 MiB; upright,
    109). A progressive JPEG turned by EXIF, which cameras do not write, peaks at 245 MiB: its
    decoder's coefficient buffer and the full-size pixels are both held while it decodes."""
    image = tmp_path / "photo.jpg"
    photo_like_jpeg(image, orientation=ROTATED_90)
    assert MAX_BYTES * 0.9 < image.stat().st_size <= MAX_BYTES

    memory = measured_upload(tmp_path, image)

    assert memory["peak"] < PEAK_LIMIT_MIB, memory


@pytest.mark.parametrize(
    "save", [{}, {"progressive": True, "quality": 93}], ids=["baseline", "progressive"]
)
def test_a_10_mib_upright_photo_peaks_under_200_mib(tmp_path, save):
    """Upright, a JPEG keeps its compressed picture and is decoded only at the scale of its
    renditions; a progressive one still holds its whole coefficient buffer (some 69 MiB) while
    it decodes."""
    image = tmp_path / "photo.jpg"
    photo_like_jpeg(image, **save)
    assert MAX_BYTES * 0.9 < image.stat().st_size <= MAX_BYTES

    memory = measured_upload(tmp_path, image)

    assert memory["peak"] < PEAK_LIMIT_MIB, memory
