"""Images in an S3-compatible bucket (MEDIA_STORAGE_URL=s3://…): stored, shown and deleted
there, against a real S3 endpoint (moto's server, started here on a free loopback port and
stopped by its process id)."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import boto3
import pytest
from django.core.exceptions import ImproperlyConfigured

from backend.settings import media_storage
from tests.factories import make_product
from tests.ops.servers import free_port
from tests.products.images import image_bytes, upload

BUCKET = "catalog-media"
REGION = "eu-west-1"
PUBLIC_READ = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{BUCKET}/*",
        }
    ],
}


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_for(endpoint)
        yield endpoint
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)


def _wait_for(endpoint: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def bucket(s3_endpoint, settings, monkeypatch):
    """A fresh bucket, and the default storage pointed at it as MEDIA_STORAGE_URL would."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION)
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    # Images are public (their URLs are unsigned, so pages and their ETags stay the same): the
    # bucket's policy lets anyone read them, as the README asks of a production bucket.
    client.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(PUBLIC_READ))
    url = f"s3://{BUCKET}?endpoint_url={s3_endpoint}&region={REGION}"
    settings.STORAGES = settings.STORAGES | {"default": media_storage(url)}
    yield client
    for found in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=found["Key"])
    client.delete_bucket(Bucket=BUCKET)


def keys(client) -> set[str]:
    return {found["Key"] for found in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def test_an_image_is_stored_shown_and_deleted_in_the_bucket(
    bucket, s3_endpoint, editor_client, api_client, django_capture_on_commit_callbacks
):
    product = make_product()
    url = f"/api/v1/products/{product.pk}/images/"

    created = editor_client.post(url, {"image": upload(image_bytes("PNG"))}, format="multipart")

    assert created.status_code == 201, created.content
    body = created.json()
    assert len(keys(bucket)) == 3
    assert body["url"].startswith(f"{s3_endpoint}/{BUCKET}/products/{product.pk}/")
    assert fetch(body["url"]).startswith(b"\x89PNG")
    assert fetch(body["renditions"]["thumb"])[8:12] == b"WEBP"
    listed = api_client.get("/api/v1/products/").json()["results"]
    assert listed[0]["image"] == body["renditions"]

    with django_capture_on_commit_callbacks(execute=True):
        deleted = editor_client.delete(f"{url}{body['id']}/")

    assert deleted.status_code == 204
    assert keys(bucket) == set()


def test_a_refused_upload_leaves_the_bucket_empty(bucket, editor_client):
    product = make_product()

    response = editor_client.post(
        f"/api/v1/products/{product.pk}/images/",
        {"image": upload(image_bytes("GIF", mode="P"))},
        format="multipart",
    )

    assert response.status_code == 400
    assert keys(bucket) == set()


@pytest.mark.parametrize("url", ["http://bucket", "s3://", "s3:///key"])
def test_a_media_storage_url_that_is_not_an_s3_bucket_is_refused_at_start_up(url):
    with pytest.raises(ImproperlyConfigured):
        media_storage(url)


def test_without_a_media_storage_url_images_are_local_files():
    assert media_storage("") == {"BACKEND": "django.core.files.storage.FileSystemStorage"}
