"""Product images over the API (API.md, "Product images"): what is taken and refused, what is
stored, how products show them, and who may change them."""

import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image, ImageCms, ImageOps

from products.images import MAX_BYTES
from products.models import MAX_POSITION, ProductImage
from tests.factories import make_product, make_products
from tests.products.images import EXIF_ORIENTATION, ROTATED_90, image_bytes, upload

PRODUCTS_URL = "/api/v1/products/"


def images_url(product) -> str:
    return f"{PRODUCTS_URL}{product.pk}/images/"


def post_image(client, product, content: bytes, name: str = "picture.jpg", **fields):
    return client.post(
        images_url(product), {"image": upload(content, name), **fields}, format="multipart"
    )


def stored_files() -> list[str]:
    return [str(path) for path in Path(default_storage.location).rglob("*") if path.is_file()]


def opened(url: str) -> Image.Image:
    name = url.removeprefix("/media/")
    with default_storage.open(name) as handle:
        image = Image.open(io.BytesIO(handle.read()))
        image.load()
        return image


# --- uploading ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_format", "extension"), [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp")]
)
def test_an_upload_is_stored_with_webp_renditions(editor_client, image_format, extension):
    product = make_product()

    response = post_image(
        editor_client, product, image_bytes(image_format, (2000, 1000)), alt="Front"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "url", "width", "height", "alt", "position", "renditions"}
    assert (body["width"], body["height"], body["alt"], body["position"]) == (
        2000,
        1000,
        "Front",
        0,
    )
    assert body["url"].endswith(f".{extension}")
    assert opened(body["url"]).format == image_format
    sizes = {name: opened(url).size for name, url in body["renditions"].items()}
    assert sizes == {"thumb": (256, 128), "medium": (1024, 512)}
    assert {opened(url).format for url in body["renditions"].values()} == {"WEBP"}
    assert len(stored_files()) == 3


def test_an_upload_sent_again_with_its_idempotency_key_is_answered_once_and_stored_once(
    editor_client,
):
    product = make_product()
    content = image_bytes()
    key = {"HTTP_IDEMPOTENCY_KEY": "upload-1", "format": "multipart"}

    first = editor_client.post(images_url(product), {"image": upload(content)}, **key)
    again = editor_client.post(images_url(product), {"image": upload(content)}, **key)
    other = editor_client.post(
        images_url(product), {"image": upload(image_bytes(size=(9, 9)))}, **key
    )

    assert (first.status_code, again.status_code, other.status_code) == (201, 201, 422)
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert product.images.count() == 1


def test_a_small_image_is_never_enlarged(editor_client):
    response = post_image(editor_client, make_product(), image_bytes("PNG", (200, 100)))

    renditions = response.json()["renditions"]
    assert opened(renditions["thumb"]).size == (200, 100)
    assert opened(renditions["medium"]).size == (200, 100)


def test_the_exif_orientation_is_applied_and_no_metadata_is_kept(editor_client):
    content = image_bytes("JPEG", (400, 200), orientation=ROTATED_90)
    assert Image.open(io.BytesIO(content)).getexif()[EXIF_ORIENTATION] == ROTATED_90

    body = post_image(editor_client, make_product(), content).json()

    assert (body["width"], body["height"]) == (200, 400)
    for url in [body["url"], *body["renditions"].values()]:
        image = opened(url)
        assert not image.getexif()
        assert not {"exif", "icc_profile", "xmp", "comment"} & set(image.info)
    turned = opened(body["url"]).convert("RGB")
    assert turned.getpixel((100, 20))[2] > 200  # the blue left half is now on top
    assert turned.getpixel((100, 380))[0] > 200


def photo_with_metadata(**save) -> bytes:
    """An upright JPEG as a camera or an editor leaves it: EXIF (orientation 1 among it), ICC,
    XMP and a comment around the picture."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 1
    exif[0x010F] = "Camera maker"
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    picture = Image.open(io.BytesIO(image_bytes("JPEG", (1200, 800))))
    output = io.BytesIO()
    picture.save(
        output, "JPEG", exif=exif.tobytes(), icc_profile=profile, comment=b"shot by me",
        xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>", quality=90, **save,
    )  # fmt: skip
    return output.getvalue()


@pytest.mark.parametrize("progressive", [False, True])
def test_an_upright_jpeg_keeps_its_picture_bit_for_bit_and_loses_its_metadata(
    editor_client, progressive
):
    content = photo_with_metadata(progressive=progressive)
    uploaded = Image.open(io.BytesIO(content))
    assert {"exif", "icc_profile", "xmp", "comment"} <= set(uploaded.info)

    body = post_image(editor_client, make_product(), content).json()

    stored = opened(body["url"])
    assert (stored.format, stored.size, body["width"], body["height"]) == (
        "JPEG",
        (1200, 800),
        1200,
        800,
    )
    assert not stored.getexif()
    assert not {"exif", "icc_profile", "xmp", "comment"} & set(stored.info)
    assert "jfif" not in stored.info  # not re-encoded: Pillow's encoder writes a JFIF header
    assert ("progression" in stored.info) is progressive
    assert stored.tobytes() == uploaded.convert(stored.mode).tobytes()
    assert default_storage.size(body["url"].removeprefix("/media/")) < len(content)
    assert opened(body["renditions"]["medium"]).size == (1024, 683)


def test_a_jpeg_with_stray_bytes_between_its_segments_is_re_encoded(editor_client):
    content = image_bytes("JPEG", (300, 200))
    frame = content.index(b"\xff\xc0")  # libjpeg skips the stray bytes with a warning
    content = content[:frame] + b"\x00<?php" + content[frame:]

    response = post_image(editor_client, make_product(), content)

    assert response.status_code == 201, response.content
    name = response.json()["url"].removeprefix("/media/")
    with default_storage.open(name) as stored:
        assert b"<?php" not in stored.read()
    assert "jfif" in opened(response.json()["url"]).info  # re-encoded
    assert opened(response.json()["url"]).size == (300, 200)


def test_a_jpeg_whose_colours_hang_on_its_jfif_header_is_re_encoded_not_changed(editor_client):
    """Components named R, G and B are RGB to libjpeg unless a JFIF header says YCbCr: without
    its header this file's picture would change colour, so it is re-encoded instead."""
    content = bytearray(image_bytes("JPEG", (64, 48)))
    renamed = {1: ord("R"), 2: ord("G"), 3: ord("B")}
    frame, scan = content.index(b"\xff\xc0"), content.index(b"\xff\xda")
    for at in (frame + 10, frame + 13, frame + 16, scan + 5, scan + 7, scan + 9):
        content[at] = renamed[content[at]]
    red, green, blue = Image.open(io.BytesIO(bytes(content))).getpixel((60, 10))
    assert red > 200 > max(green, blue)

    body = post_image(editor_client, make_product(), bytes(content)).json()

    red, green, blue = opened(body["url"]).getpixel((60, 10))
    assert red > 200 > max(green, blue)  # still red
    assert "jfif" in opened(body["url"]).info


def test_fill_bytes_before_a_jpeg_marker_are_dropped_with_the_metadata(editor_client):
    content = image_bytes("JPEG", (300, 200))
    frame = content.index(b"\xff\xc0")
    content = content[:frame] + b"\xff\xff" + content[frame:]  # two fill bytes, as JPEG allows

    body = post_image(editor_client, make_product(), content).json()

    stored = opened(body["url"])
    assert "jfif" not in stored.info  # kept, not re-encoded
    assert stored.tobytes() == Image.open(io.BytesIO(content)).tobytes()


def test_a_cameras_second_frame_is_not_stored(editor_client):
    first = Image.open(io.BytesIO(image_bytes("JPEG", (300, 200))))
    second = Image.new("RGB", (300, 200), "green")
    output = io.BytesIO()
    first.save(output, "MPO", save_all=True, append_images=[second])
    content = output.getvalue()
    uploaded = Image.open(io.BytesIO(content))
    assert (uploaded.format, uploaded.n_frames) == ("MPO", 2)

    body = post_image(editor_client, make_product(), content).json()

    stored = opened(body["url"])
    assert (stored.format, getattr(stored, "n_frames", 1)) == ("JPEG", 1)
    assert stored.tobytes() == uploaded.tobytes()  # the first frame's pixels, as they came
    assert "mp" not in stored.info


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied_as_pillow_applies_it(editor_client, orientation):
    picture = Image.new("RGB", (300, 700), "white")  # taller than a band: turned band by band
    for n, corner in enumerate([(0, 0), (150, 0), (0, 350)]):  # three colours, one corner white
        picture.paste(("red", "green", "blue")[n], (*corner, corner[0] + 150, corner[1] + 350))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    output = io.BytesIO()
    picture.save(output, "PNG", exif=exif.tobytes())
    content = output.getvalue()

    body = post_image(editor_client, make_product(), content, name="p.png").json()

    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(content))).convert("RGB")
    stored = opened(body["url"]).convert("RGB")
    assert stored.size == expected.size == (body["width"], body["height"])
    assert stored.tobytes() == expected.tobytes()


def test_positions_follow_the_last_image_unless_given(editor_client):
    product = make_product()

    positions = [
        post_image(editor_client, product, image_bytes()).json()["position"],
        post_image(editor_client, product, image_bytes()).json()["position"],
        post_image(editor_client, product, image_bytes(), position=7).json()["position"],
        post_image(editor_client, product, image_bytes()).json()["position"],
    ]

    assert positions == [0, 1, 7, 8]


def test_after_an_image_at_the_largest_position_the_next_one_goes_beside_it(editor_client):
    product = make_product()
    post_image(editor_client, product, image_bytes(), position=MAX_POSITION)

    response = post_image(editor_client, product, image_bytes())

    assert response.status_code == 201
    assert response.json()["position"] == MAX_POSITION


def polyglot() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("payload.html", "<script>alert(1)</script>")
    return image_bytes("JPEG") + archive.getvalue()


def bomb() -> bytes:
    """A PNG of 10 000 x 10 000 pixels in a few hundred KiB: 100 megapixels."""
    return image_bytes("PNG", (10_000, 10_000), mode="L")


REFUSED = {
    "not an image": (b"just some text, not a picture", "not an image"),
    "empty": (b"", "empty"),
    "truncated": (image_bytes("JPEG", (800, 600), quality=95)[:-2000], "damaged or truncated"),
    "truncated png": (image_bytes("PNG")[:-40], "damaged or truncated"),
    "polyglot": (polyglot(), "more than an image"),
    "png with trailing data": (image_bytes("PNG") + b"<?php echo 1; ?>", "more than an image"),
    "gif": (image_bytes("GIF", mode="P"), "GIF images are not accepted"),
    "bmp": (image_bytes("BMP"), "BMP images are not accepted"),
    "tiff": (image_bytes("TIFF"), "TIFF images are not accepted"),
    "svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "not an image"),
    "too many pixels": (image_bytes("PNG", (8000, 5001), mode="L"), "more than 40,000,000 pixels"),
    "decompression bomb": (bomb(), "more than 40,000,000 pixels"),
    "too many bytes": (image_bytes("PNG", (16, 16)) + b"\0" * MAX_BYTES, "larger than 10 MiB"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_refused_upload_is_a_400_naming_the_problem_and_nothing_is_stored(editor_client, case):
    content, problem = REFUSED[case]
    product = make_product()

    response = post_image(editor_client, product, content)

    assert response.status_code == 400, response.content
    assert list(response.json()) == ["image"]
    assert problem in response.json()["image"][0]
    assert not ProductImage.objects.exists()
    assert stored_files() == []


def test_a_body_past_the_upload_limit_is_a_413_and_nothing_is_stored(editor_client):
    content = image_bytes("PNG", (16, 16)) + b"\0" * (MAX_BYTES + 100 * 1024)

    response = post_image(editor_client, make_product(), content)

    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert not ProductImage.objects.exists()


def test_other_json_bodies_keep_their_one_mib_limit(editor_client):
    response = editor_client.post(PRODUCTS_URL, {"name": "x" * (2 * 1024 * 1024)}, format="json")

    assert response.status_code == 413


@pytest.mark.parametrize(
    ("fields", "problem_field"),
    [({}, "image"), ({"alt": "x" * 256}, "alt"), ({"position": -1}, "position")],
)
def test_a_form_without_an_image_or_with_bad_fields_is_a_400(editor_client, fields, problem_field):
    product = make_product()
    if problem_field != "image":
        fields = {"image": upload(image_bytes()), **fields}

    response = editor_client.post(images_url(product), fields, format="multipart")

    assert response.status_code == 400
    assert problem_field in response.json()
    assert not ProductImage.objects.exists()


# --- permissions -------------------------------------------------------------------------------


def test_anonymous_uploads_are_401_and_customers_403(api_client, customer_client):
    product = make_product()

    assert post_image(api_client, product, image_bytes()).status_code == 401
    assert post_image(customer_client, product, image_bytes()).status_code == 403
    assert not ProductImage.objects.exists()
    assert stored_files() == []


def test_changing_and_deleting_need_change_product(api_client, customer_client, editor_client):
    product = make_product()
    image = post_image(editor_client, product, image_bytes()).json()
    url = f"{images_url(product)}{image['id']}/"

    assert api_client.patch(url, {"alt": "x"}, format="json").status_code == 401
    assert customer_client.patch(url, {"alt": "x"}, format="json").status_code == 403
    assert api_client.delete(url).status_code == 401
    assert customer_client.delete(url).status_code == 403
    assert ProductImage.objects.get().alt == ""


def test_an_image_under_an_id_no_product_can_have_is_404(editor_client):
    past_the_range = f"{PRODUCTS_URL}{2**63}/images/"

    assert editor_client.patch(f"{past_the_range}1/", {"alt": "x"}).status_code == 404
    assert editor_client.delete(f"{past_the_range}1/").status_code == 404
    assert editor_client.post(past_the_range, {}, format="multipart").status_code == 404


def test_an_image_of_an_unknown_product_is_404(editor_client):
    product = make_product()

    response = editor_client.post(
        f"{PRODUCTS_URL}{product.pk + 1}/images/",
        {"image": upload(image_bytes())},
        format="multipart",
    )

    assert response.status_code == 404
    assert stored_files() == []


# --- changing and deleting ---------------------------------------------------------------------


def test_alt_and_position_can_be_changed(editor_client):
    product = make_product()
    image = post_image(editor_client, product, image_bytes()).json()

    response = editor_client.patch(
        f"{images_url(product)}{image['id']}/", {"alt": "Side view", "position": 3}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == image | {"alt": "Side view", "position": 3}


def test_deleting_an_image_removes_its_files(editor_client, django_capture_on_commit_callbacks):
    product = make_product()
    kept = post_image(editor_client, product, image_bytes()).json()
    gone = post_image(editor_client, product, image_bytes()).json()

    with django_capture_on_commit_callbacks(execute=True):  # the files go once committed
        response = editor_client.delete(f"{images_url(product)}{gone['id']}/")

    assert response.status_code == 204
    assert len(stored_files()) == 3
    assert default_storage.exists(kept["url"].removeprefix("/media/"))
    assert not default_storage.exists(gone["url"].removeprefix("/media/"))


def test_deleting_a_product_removes_its_image_files(
    editor_client, django_capture_on_commit_callbacks
):
    product = make_product()
    post_image(editor_client, product, image_bytes())
    post_image(editor_client, product, image_bytes("PNG"))

    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.delete(f"{PRODUCTS_URL}{product.pk}/")

    assert response.status_code == 204
    assert not ProductImage.objects.exists()
    assert stored_files() == []


# --- how products show them --------------------------------------------------------------------


def test_a_product_shows_its_images_in_order(editor_client, api_client):
    product = make_product()
    second = post_image(editor_client, product, image_bytes(), position=5).json()
    first = post_image(editor_client, product, image_bytes(), position=1).json()

    detail = api_client.get(f"{PRODUCTS_URL}{product.pk}/").json()

    assert detail["images"] == [first, second]
    assert "image" not in detail


def test_a_product_change_answers_with_its_images_read_once(editor_client):
    product = make_product(stock=1)
    first = post_image(editor_client, product, image_bytes(), position=1).json()
    second = post_image(editor_client, product, image_bytes(), position=2).json()

    with CaptureQueriesContext(connection) as queries:
        response = editor_client.patch(f"{PRODUCTS_URL}{product.pk}/", {"stock": 7}, format="json")

    assert response.status_code == 200, response.content
    assert (response.json()["stock"], response.json()["images"]) == (7, [first, second])
    image_reads = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT") and ProductImage._meta.db_table in query["sql"]
    ]
    assert len(image_reads) == 1, image_reads


def test_a_list_shows_each_products_first_image_renditions_or_null(editor_client, api_client):
    bare, pictured = make_product(), make_product()
    post_image(editor_client, pictured, image_bytes(), position=2)
    first = post_image(editor_client, pictured, image_bytes(), position=1).json()

    rows = {row["id"]: row for row in api_client.get(PRODUCTS_URL).json()["results"]}

    assert rows[bare.pk]["image"] is None
    assert rows[pictured.pk]["image"] == first["renditions"]
    assert "images" not in rows[pictured.pk]


def test_the_list_costs_a_count_and_a_page_with_images_or_without(
    editor_client, api_client, django_assert_num_queries
):
    for product in make_products(25):
        post_image(editor_client, product, image_bytes("PNG", (32, 32)))

    with django_assert_num_queries(2):  # count, page (first images looked up in its statement)
        response = api_client.get(PRODUCTS_URL, {"page_size": 25})

    assert response.status_code == 200
    assert all(row["image"] for row in response.json()["results"])


def test_an_image_write_changes_the_product_etag(editor_client, api_client):
    product = make_product()
    before = api_client.get(f"{PRODUCTS_URL}{product.pk}/")["ETag"]
    listed = api_client.get(PRODUCTS_URL)["ETag"]

    post_image(editor_client, product, image_bytes())

    assert api_client.get(f"{PRODUCTS_URL}{product.pk}/")["ETag"] != before
    assert api_client.get(PRODUCTS_URL)["ETag"] != listed


# --- the admin ---------------------------------------------------------------------------------


def admin_form(product, content: bytes | None, **image_fields) -> dict:
    """The product's change form, saved with one new image row."""
    form = {
        "name": product.name,
        "sku": product.sku,
        "description": product.description,
        "category": "",
        "price": str(product.price),
        "stock": str(product.stock),
        "is_active": "on",
        "_save": "Save",
        "images-TOTAL_FORMS": "1",
        "images-INITIAL_FORMS": "0",
        "images-MIN_NUM_FORMS": "0",
        "images-MAX_NUM_FORMS": "1000",
        "images-0-alt": image_fields.get("alt", ""),
        "images-0-position": image_fields.get("position", "0"),
    }
    if content is not None:
        form["images-0-upload"] = upload(content)
    return form


def admin_change_url(product) -> str:
    return f"/admin/products/product/{product.pk}/change/"


def test_the_admin_change_page_shows_the_images_with_thumbnails(admin_client, editor_client):
    product = make_product()
    image = post_image(editor_client, product, image_bytes(), alt="Front").json()

    page = admin_client.get(admin_change_url(product))

    assert page.status_code == 200
    content = page.content.decode()
    assert f'<img src="{image["renditions"]["thumb"]}"' in content
    assert 'value="Front"' in content


def test_an_admin_upload_is_stored_as_the_api_stores_it(admin_client):
    product = make_product()

    response = admin_client.post(
        admin_change_url(product),
        admin_form(product, image_bytes("JPEG", (2000, 1000), orientation=ROTATED_90), alt="Top"),
    )

    assert response.status_code == 302
    image = ProductImage.objects.get(product=product)
    assert (image.width, image.height, image.alt) == (1000, 2000, "Top")
    assert Image.open(image.thumb).size == (128, 256)
    assert Image.open(image.medium).format == "WEBP"
    assert not Image.open(image.file).getexif()
    assert len(stored_files()) == 3


@pytest.mark.parametrize("case", ["gif", "polyglot", "too many pixels"])
def test_an_admin_upload_is_refused_as_the_api_refuses_it(admin_client, case):
    content, problem = REFUSED[case]
    product = make_product()

    response = admin_client.post(admin_change_url(product), admin_form(product, content))

    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors
    assert problem in str(errors)
    assert not ProductImage.objects.exists()
    assert stored_files() == []


def test_an_admin_image_row_without_a_file_is_refused(admin_client):
    product = make_product()

    response = admin_client.post(admin_change_url(product), admin_form(product, None, alt="x"))

    assert response.status_code == 200
    assert not ProductImage.objects.exists()


@pytest.mark.parametrize("product_pk", [0, 2**63, 10**30])
def test_an_image_path_with_an_id_no_product_can_have_is_a_json_404(editor_client, product_pk):
    response = editor_client.post(
        f"{PRODUCTS_URL}{product_pk}/images/", {"image": upload(image_bytes())}, format="multipart"
    )

    assert response.status_code == 404
    assert list(response.json()) == ["detail", "code"]


def test_image_writes_reach_the_next_read_of_a_cached_list(
    settings, editor_client, api_client, django_assert_num_queries
):
    settings.API_CACHE_SECONDS = 300
    product = make_product()
    api_client.get(PRODUCTS_URL)
    api_client.get(PRODUCTS_URL)
    with django_assert_num_queries(1):  # the versions: the page comes rendered from the cache
        assert api_client.get(PRODUCTS_URL).json()["results"][0]["image"] is None

    first = post_image(editor_client, product, image_bytes(), position=5).json()
    assert api_client.get(PRODUCTS_URL).json()["results"][0]["image"] == first["renditions"]

    second = post_image(editor_client, product, image_bytes("PNG"), position=9).json()
    editor_client.patch(f"{images_url(product)}{second['id']}/", {"position": 1}, format="json")
    assert api_client.get(PRODUCTS_URL).json()["results"][0]["image"] == second["renditions"]

    editor_client.delete(f"{images_url(product)}{second['id']}/")
    editor_client.delete(f"{images_url(product)}{first['id']}/")
    assert api_client.get(PRODUCTS_URL).json()["results"][0]["image"] is None


def test_an_upload_sent_as_json_is_a_415_and_nothing_is_stored(editor_client):
    product = make_product()

    response = editor_client.post(images_url(product), {"alt": "x"}, format="json")

    assert response.status_code == 415
    assert not ProductImage.objects.exists()


def test_an_upload_body_that_is_not_a_form_is_a_400_and_nothing_is_stored(editor_client):
    product = make_product()
    boundary = "1b4c0ffee"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
    ).encode()

    response = editor_client.generic(
        "POST",
        images_url(product),
        head + image_bytes("PNG"),  # cut short: no closing boundary
        content_type=f"multipart/form-data; boundary={boundary}",
    )

    assert response.status_code == 400
    assert response.json()["detail"] == "Malformed multipart form: no closing boundary."
    assert not ProductImage.objects.exists()
    assert stored_files() == []
