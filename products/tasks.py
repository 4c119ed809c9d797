"""Celery jobs of the products app (backend/celery.py runs them; products.bulk.jobs enqueues
them)."""

from celery import signals

from backend.celery import app
from products.bulk import jobs

# A large import takes minutes, not the two an email may (CELERY_TASK_TIME_LIMIT). Past this
# the pool process is killed: its transaction rolls back and the sweep marks the job failed.
JOB_TIME_LIMIT = 6 * 3600


@app.task(acks_late=True, time_limit=JOB_TIME_LIMIT)
def run_catalog_job(pk: int) -> None:
    jobs.run(pk)


@app.task
def sweep_catalog_jobs() -> tuple[int, int]:
    return jobs.sweep()


@signals.worker_ready.connect
def sweep_at_start(**kwargs) -> None:
    """A worker that starts after one died finds that one's job at once, not at the next beat."""
    jobs.sweep()
