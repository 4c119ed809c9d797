"""Run by test_image_memory.py in a process of its own, as a worker would be: one image upload
through the whole WSGI stack, its body streamed from a file as gunicorn streams it from the
socket. Writes `{"before": MiB, "peak": MiB}` (resident memory before the upload, and the most
it reached during it) to stdout.

Usage: python -m tests.products.image_memory BODY_FILE BOUNDARY, with DATABASE_URL (migrated)
and MEDIA_ROOT set. Nothing but the application is imported (no test tooling), so its resident
size is a worker's.
"""

import gc
import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")

import django

django.setup()

import io  # noqa: E402

from django.contrib.auth.models import Permission  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from PIL import Image  # noqa: E402

from products.models import Product  # noqa: E402
from users.models import User  # noqa: E402

PASSWORD = "Memory-test-pass-1"


def status(key: str) -> int:
    """A line of /proc/self/status, in MiB (VmRSS: now; VmHWM: the peak)."""
    with open("/proc/self/status") as lines:
        for line in lines:
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) // 1024
    raise LookupError(key)


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # VmHWM starts again from the current resident size


def call(handler, url: str, body, length: int, content_type: str, token: str = "") -> tuple:
    """A POST through the WSGI handler, as gunicorn hands it on: (status, body)."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": url,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "HTTP_HOST": "localhost",
        "HTTP_AUTHORIZATION": f"Bearer {token}" if token else "",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(length),
        "wsgi.input": body,
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
    }
    statuses = []
    answer = b"".join(handler(environ, lambda status, headers: statuses.append(status)))
    return int(statuses[0].split()[0]), answer


def access_token(handler) -> str:
    credentials = json.dumps({"username": "memory", "password": PASSWORD}).encode()
    status, answer = call(
        handler,
        "/api/v1/auth/token/",
        io.BytesIO(credentials),
        len(credentials),
        "application/json",
    )
    assert status == 200, answer
    return json.loads(answer)["access"]


def small_body(boundary: str) -> bytes:
    picture = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(picture, "JPEG")
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    )
    return head.encode() + picture.getvalue() + f"\r\n--{boundary}--\r\n".encode()


def main(body_path: str, boundary: str) -> None:
    user = User.objects.create_user("memory", "memory@example.com", PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_product"))
    product = Product.objects.create(name="Memory", sku="MEMORY-1", price=1)
    handler = WSGIHandler()
    token = access_token(handler)
    url = f"/api/v1/products/{product.pk}/images/"
    form = f"multipart/form-data; boundary={boundary}"
    small = small_body(boundary)
    warm, answer = call(handler, url, io.BytesIO(small), len(small), form, token)
    assert warm == 201, answer  # every import and first-use cost paid before measuring

    gc.collect()
    reset_peak()
    before = status("VmRSS")
    with open(body_path, "rb") as body:
        answered, answer = call(handler, url, body, os.path.getsize(body_path), form, token)
    assert answered == 201, answer
    sys.stdout.write(json.dumps({"before": before, "peak": status("VmHWM")}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
