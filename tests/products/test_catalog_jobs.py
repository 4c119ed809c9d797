"""CSV imports and exports started in the admin and run as background jobs (API.md, "Background
jobs"). With no broker (the tests' settings) a job runs in-process once the request commits;
tests/ops/test_jobs.py runs them on a real Celery worker, killed mid-import."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from products.bulk import jobs
from products.bulk.importer import import_catalog
from products.models import CatalogJob, Category, Product
from tests.factories import grant, make_category, make_product, make_staff

JOBS_URL = "/admin/products/catalogjob/"
IMPORT_URL = f"{JOBS_URL}import/"
EXPORT_URL = f"{JOBS_URL}export/"
IMPORTER = [f"products.{a}_{m}" for m in ("category", "product") for a in ("add", "change")]
EXPORTER = ["products.view_category", "products.view_product"]
CATEGORIES = "name,slug\nTools,tools\nGarden,garden\n"
PRODUCTS = (
    "name,sku,price,stock,is_active,category_id\n"
    "Hammer,HAM-1,9.50,3,true,\n"
    "Rake,RAK-1,12.00,1,true,\n"
    "Spade,SPA-1,15.00,2,false,\n"
)


def upload(name: str, text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def staff_client(client, *permissions: str):
    client.force_login(grant(make_staff(username="ivy", email="ivy@example.com"), *permissions))
    return client


@pytest.fixture
def importer(client):
    return staff_client(client, *IMPORTER)


@pytest.fixture
def exporter(client):
    return staff_client(client, *EXPORTER)


def start_import(client, capture, **files: str):
    with capture(execute=True):
        response = client.post(
            IMPORT_URL, {name: upload(f"{name}.csv", text) for name, text in files.items()}
        )
    return response


def only_job() -> CatalogJob:
    [job] = CatalogJob.objects.all()
    return job


def test_an_import_started_in_the_admin_writes_the_files_and_counts_its_rows(
    importer, django_capture_on_commit_callbacks
):
    response = start_import(
        importer, django_capture_on_commit_callbacks, categories=CATEGORIES, products=PRODUCTS
    )

    job = only_job()
    assert response.status_code == 302
    assert response["Location"] == f"{JOBS_URL}{job.pk}/change/"
    assert (job.kind, job.status, job.errors) == ("import", "succeeded", [])
    assert (job.rows_checked, job.rows_written) == (5, 5)
    assert job.created_by.username == "ivy"
    assert job.started_at <= job.finished_at
    assert sorted(Category.objects.values_list("slug", flat=True)) == ["garden", "tools"]
    assert sorted(Product.objects.values_list("sku", flat=True)) == ["HAM-1", "RAK-1", "SPA-1"]


def test_an_import_of_only_products_leaves_the_categories_alone(
    importer, django_capture_on_commit_callbacks
):
    make_category(name="Kept", slug="kept")

    start_import(importer, django_capture_on_commit_callbacks, products=PRODUCTS)

    assert only_job().status == "succeeded"
    assert list(Category.objects.values_list("slug", flat=True)) == ["kept"]
    assert Product.objects.count() == 3


def test_an_import_with_no_file_is_refused_and_starts_nothing(importer):
    response = importer.post(IMPORT_URL, {})

    assert response.status_code == 200
    assert "Choose a categories file, a products file, or both." in response.content.decode()
    assert not CatalogJob.objects.exists()


def test_a_bad_row_fails_the_job_listing_every_bad_row_and_nothing_is_written(
    importer, django_capture_on_commit_callbacks
):
    make_product(sku="OLD-1", name="Old")
    bad_products = (
        "name,sku,price,stock,is_active,category_id\n"
        "Hammer,HAM-1,9.50,3,true,\n"
        "Rake,RAK-1,-1,1,true,\n"
        "Spade,SPA-1,15.00,lots,false,\n"
    )
    bad_categories = "name,slug\nTools,tools\nTools,tools-2\n"

    start_import(
        importer,
        django_capture_on_commit_callbacks,
        categories=bad_categories,
        products=bad_products,
    )

    job = only_job()
    assert job.status == "failed"
    assert [re.match(r"[^:]+:\d+: [^:]+", error)[0] for error in job.errors] == [
        "categories.csv:3: name",
        "products.csv:3: price",
        "products.csv:4: stock",
    ]
    assert (job.rows_checked, job.rows_written) == (5, 0)
    assert list(Product.objects.values_list("sku", flat=True)) == ["OLD-1"]
    assert not Category.objects.exists()
    page = importer.get(f"{JOBS_URL}{job.pk}/change/").content.decode()
    assert "products.csv:4: stock:" in page
    assert 'http-equiv="refresh"' not in page


def test_progress_is_reported_as_rows_are_checked_and_written(tmp_path):
    categories, products = tmp_path / "c.csv", tmp_path / "p.csv"
    categories.write_text(CATEGORIES)
    products.write_text(PRODUCTS)
    seen = []

    import_catalog(
        categories_path=str(categories),
        products_path=str(products),
        dry_run=False,
        progress=lambda result: seen.append((result.rows_checked, result.rows_written)),
    )

    checked = [pair for pair in seen if pair[1] == 0]
    assert [count for count, _ in checked] == [1, 2, 3, 4, 5]
    assert seen[-1] == (5, 5)
    assert [written for _, written in seen] == sorted(written for _, written in seen)


def test_a_running_job_page_refreshes_itself_and_shows_its_counts(importer):
    job = CatalogJob.objects.create(
        kind="import", status="running", rows_checked=1234, heartbeat_at=timezone.now()
    )

    page = importer.get(f"{JOBS_URL}{job.pk}/change/").content.decode()

    assert '<meta http-equiv="refresh" content="2">' in page
    assert "1234" in page
    assert "Running" in page


def test_an_export_is_offered_for_download_when_done(exporter, django_capture_on_commit_callbacks):
    category = make_category(name="Tools", slug="tools")
    make_product(sku="HAM-1", name="Hammer", category=category)

    with django_capture_on_commit_callbacks(execute=True):
        response = exporter.post(EXPORT_URL)

    job = only_job()
    assert response["Location"] == f"{JOBS_URL}{job.pk}/change/"
    assert (job.kind, job.status, job.rows_written) == ("export", "succeeded", 2)
    page = exporter.get(response["Location"]).content.decode()
    assert f"{JOBS_URL}{job.pk}/download/products/" in page
    download = exporter.get(f"{JOBS_URL}{job.pk}/download/products/")
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert [(row["sku"], row["category_id"]) for row in rows] == [("HAM-1", str(category.pk))]
    categories = exporter.get(f"{JOBS_URL}{job.pk}/download/categories/")
    assert b"tools" in b"".join(categories.streaming_content)


def test_the_export_files_are_not_under_the_public_media_root(
    exporter, django_capture_on_commit_callbacks, settings
):
    with django_capture_on_commit_callbacks(execute=True):
        exporter.post(EXPORT_URL)

    path = only_job().products_file.path
    assert path.startswith(str(settings.CATALOG_JOBS_ROOT))
    assert not path.startswith(str(settings.MEDIA_ROOT))


@pytest.mark.parametrize(
    ("permissions", "url", "status"),
    [
        (EXPORTER, IMPORT_URL, 403),
        (IMPORTER[:-1], IMPORT_URL, 403),
        (IMPORTER, EXPORT_URL, 403),
        (EXPORTER[:1], EXPORT_URL, 403),
        ([], JOBS_URL, 403),
        (IMPORTER, IMPORT_URL, 200),
        (EXPORTER, EXPORT_URL, 200),
        (EXPORTER, JOBS_URL, 200),
    ],
)
def test_starting_a_job_takes_the_catalog_permissions(client, permissions, url, status):
    response = staff_client(client, *permissions).get(url)

    assert response.status_code == status


def test_a_refused_start_writes_nothing(client):
    client = staff_client(client, *EXPORTER)

    response = client.post(IMPORT_URL, {"products": upload("products.csv", PRODUCTS)})

    assert response.status_code == 403
    assert not CatalogJob.objects.exists()
    assert not Product.objects.exists()


def test_only_an_exporter_downloads_an_export(client):
    job = jobs.start_export(None)
    jobs.run(job.pk)

    response = staff_client(client, *IMPORTER).get(f"{JOBS_URL}{job.pk}/download/products/")

    assert response.status_code == 403


def test_there_is_nothing_to_download_from_an_unfinished_export(exporter):
    job = CatalogJob.objects.create(kind="export", status="running")

    response = exporter.get(f"{JOBS_URL}{job.pk}/download/products/")

    assert response.status_code == 404


def test_jobs_cannot_be_added_changed_or_deleted_by_hand(exporter):
    job = CatalogJob.objects.create(kind="export")

    assert exporter.get(f"{JOBS_URL}add/").status_code == 403
    assert exporter.post(f"{JOBS_URL}{job.pk}/change/", {"status": "failed"}).status_code == 403
    assert exporter.post(f"{JOBS_URL}{job.pk}/delete/", {"post": "yes"}).status_code == 403
    assert CatalogJob.objects.get(pk=job.pk).status == "queued"


def test_the_sweep_fails_a_job_whose_worker_stopped_and_leaves_a_live_one():
    long_ago = timezone.now() - jobs.STALE_AFTER - timedelta(seconds=1)
    stale = CatalogJob.objects.create(
        kind="import", status="running", heartbeat_at=long_ago, rows_written=7
    )
    live = CatalogJob.objects.create(kind="import", status="running", heartbeat_at=timezone.now())

    assert jobs.sweep() == (1, 0)

    stale.refresh_from_db()
    live.refresh_from_db()
    assert (stale.status, stale.errors, stale.rows_written) == ("failed", [jobs.WORKER_LOST], 0)
    assert stale.finished_at is not None
    assert live.status == "running"


def test_the_sweep_hands_on_a_job_left_queued():
    make_product(sku="HAM-1")
    job = CatalogJob.objects.create(
        kind="export", created_at=timezone.now() - jobs.REQUEUE_AFTER - timedelta(seconds=1)
    )

    assert jobs.sweep() == (0, 1)

    job.refresh_from_db()
    assert (job.status, job.rows_written) == ("succeeded", 1)


def test_a_job_already_claimed_is_not_run_again():
    job = CatalogJob.objects.create(kind="export", status="running", heartbeat_at=timezone.now())

    jobs.run(job.pk)

    job.refresh_from_db()
    assert (job.status, job.finished_at) == ("running", None)


def test_the_job_list_costs_the_same_queries_for_one_job_or_many(exporter):
    def queries_for_the_list() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert exporter.get(JOBS_URL).status_code == 200
        return len(captured)

    CatalogJob.objects.create(kind="export", created_by=make_staff(username="a", email="a@x.io"))
    one = queries_for_the_list()
    for n in range(5):
        staff = make_staff(username=f"s{n}", email=f"s{n}@example.com")
        CatalogJob.objects.create(kind="import", created_by=staff)

    assert queries_for_the_list() == one


@pytest.mark.django_db(transaction=True)
def test_an_import_started_outside_a_transaction_runs_with_its_files():
    job = jobs.start_import(None, products=upload("products.csv", PRODUCTS))

    job.refresh_from_db()
    assert (job.status, job.errors, job.rows_written) == ("succeeded", [], 3)
    assert Product.objects.count() == 3
