"""Catalog imports and exports started in the admin, run by a Celery worker (API.md,
"Background jobs"; README, "Running in production").

`start_import` / `start_export` record a `CatalogJob` in the caller's transaction; after commit
it goes to the broker, or runs in-process when there is none (as `users.mail` does email). `run`
claims a queued job, so a job redelivered or handed on twice runs once. While it runs, a thread
of its own writes the counts and a heartbeat in short transactions of their own beside the
import's single one. A worker that dies leaves its job running with a heartbeat that stops:
`sweep` (Celery beat, and every worker as it starts) marks such a job failed; the import's
transaction died with the worker, so the catalog is unchanged.
"""

import logging
import os
import threading
from datetime import timedelta

from django.core.files.base import ContentFile
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone

from backend.background import hand_on
from products.bulk.csvfiles import FileProblem
from products.bulk.exporter import CATEGORY_HEADER, PRODUCT_HEADER, export_catalog
from products.bulk.importer import ImportFailed, import_catalog
from products.models import CatalogJob

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY = 2.0  # seconds
STALE_AFTER = timedelta(seconds=30)  # no heartbeat this long: the worker is gone
REQUEUE_AFTER = timedelta(minutes=1)  # queued this long: the hand-over to the broker was lost
WORKER_LOST = "the worker running this job stopped; nothing was written"
CATEGORIES, PRODUCTS = "categories.csv", "products.csv"
Status = CatalogJob.Status


def start_import(user, *, categories=None, products=None) -> CatalogJob:
    """`categories`, `products`: uploaded files; one left out imports nothing of its kind."""
    with transaction.atomic():  # handed on once its files are stored, whatever the caller's
        job = CatalogJob.objects.create(kind=CatalogJob.Kind.IMPORT, created_by=user)
        job.categories_file.save(CATEGORIES, categories or _empty(CATEGORY_HEADER), save=False)
        job.products_file.save(PRODUCTS, products or _empty(PRODUCT_HEADER), save=False)
        job.save(update_fields=["categories_file", "products_file"])
        return _queued(job)


def start_export(user) -> CatalogJob:
    return _queued(CatalogJob.objects.create(kind=CatalogJob.Kind.EXPORT, created_by=user))


def _empty(header: list[str]) -> ContentFile:
    return ContentFile(",".join(header) + "\r\n")


def _queued(job: CatalogJob) -> CatalogJob:
    transaction.on_commit(lambda: dispatch(job.pk))
    return job


def dispatch(pk: int) -> None:
    hand_on(pk, task="products.tasks.run_catalog_job", run_here=run, what="Catalog job")


def run(pk: int) -> None:
    """Run a queued job to its end; one already claimed is left alone."""
    now = timezone.now()
    claimed = CatalogJob.objects.filter(pk=pk, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return
    job = CatalogJob.objects.get(pk=pk)
    with Heartbeat(pk) as heartbeat:
        try:
            runner = _run_import if job.kind == job.Kind.IMPORT else _run_export
            outcome = runner(job, heartbeat)
        except Exception:
            _finish(job, heartbeat, Status.FAILED, ["internal error; see the worker's log"])
            raise
    _finish(job, heartbeat, *outcome)


def _run_import(job: CatalogJob, heartbeat: "Heartbeat") -> tuple[str, list[str]]:
    paths = {job.categories_file.path: CATEGORIES, job.products_file.path: PRODUCTS}

    def progress(result) -> None:
        heartbeat.rows_checked, heartbeat.rows_written = result.rows_checked, result.rows_written

    try:
        import_catalog(
            categories_path=job.categories_file.path,
            products_path=job.products_file.path,
            dry_run=False,
            progress=progress,
        )
    except ImportFailed as exc:
        heartbeat.rows_written = 0
        return Status.FAILED, [_named(error, paths) for error in exc.errors]
    except FileProblem as exc:
        heartbeat.rows_written = 0
        return Status.FAILED, [_named(str(exc), paths)]
    return Status.SUCCEEDED, []


def _named(error: str, paths: dict[str, str]) -> str:
    """An error about a stored file, named as the admin shows that file."""
    for path, name in paths.items():
        if error.startswith(path):
            return name + error[len(path) :]
    return error


def _run_export(job: CatalogJob, heartbeat: "Heartbeat") -> tuple[str, list[str]]:
    for file, name in ((job.categories_file, CATEGORIES), (job.products_file, PRODUCTS)):
        file.name = file.field.generate_filename(job, name)  # the job's own directory
        os.makedirs(os.path.dirname(file.path), exist_ok=True)

    def progress(rows: int) -> None:
        heartbeat.rows_written = rows

    export_catalog(
        categories_path=job.categories_file.path,
        products_path=job.products_file.path,
        progress=progress,
    )
    return Status.SUCCEEDED, []


def _finish(job: CatalogJob, heartbeat: "Heartbeat", status: str, errors: list[str]) -> None:
    CatalogJob.objects.filter(pk=job.pk).update(
        status=status,
        errors=errors,
        finished_at=timezone.now(),
        rows_checked=heartbeat.rows_checked,
        rows_written=heartbeat.rows_written,
        categories_file=job.categories_file.name,
        products_file=job.products_file.name,
    )


class Heartbeat(threading.Thread):
    """Writes the job's counts and heartbeat every few seconds, each write its own transaction
    on the thread's own connection. Not on SQLite, which has one writer at a time: there the
    import's transaction holds the lock, and the counts are written when the job ends."""

    def __init__(self, pk: int):
        super().__init__(daemon=True, name=f"catalog-job-{pk}")
        self.pk = pk
        self.rows_checked = self.rows_written = 0
        self.stopping = threading.Event()

    def __enter__(self) -> "Heartbeat":
        if connection.vendor != "sqlite":
            self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join()

    def run(self) -> None:
        try:
            while not self.stopping.wait(HEARTBEAT_EVERY):
                self.beat()
        finally:
            connection.close()  # this thread's own

    def beat(self) -> None:
        try:
            CatalogJob.objects.filter(pk=self.pk, status=Status.RUNNING).update(
                heartbeat_at=timezone.now(),
                rows_checked=self.rows_checked,
                rows_written=self.rows_written,
            )
        except DatabaseError:
            logger.warning("Catalog job %s: heartbeat not written", self.pk, exc_info=True)
            close_old_connections()


def sweep() -> tuple[int, int]:
    """Marks failed the running jobs whose heartbeat stopped, and hands on again the jobs
    queued for a minute (`run` claims each once); returns how many of each."""
    now = timezone.now()
    failed = CatalogJob.objects.filter(
        status=Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER
    ).update(status=Status.FAILED, finished_at=now, errors=[WORKER_LOST], rows_written=0)
    queued = CatalogJob.objects.filter(status=Status.QUEUED, created_at__lt=now - REQUEUE_AFTER)
    pks = list(queued.values_list("pk", flat=True))
    for pk in pks:
        dispatch(pk)
    return failed, len(pks)
