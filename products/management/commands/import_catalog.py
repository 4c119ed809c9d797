"""manage.py import_catalog --categories FILE --products FILE [--dry-run] (API.md, Bulk data)."""

import time

from django.core.management.base import BaseCommand, CommandError

from products.bulk.csvfiles import FileProblem
from products.bulk.importer import ImportFailed, import_catalog


class Command(BaseCommand):
    help = (
        "Create or update categories (by slug) and products (by SKU) from CSV files. Every row "
        "is checked first; if any is bad, each bad row is listed and nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("--categories", required=True, metavar="FILE")
        parser.add_argument("--products", required=True, metavar="FILE")
        parser.add_argument(
            "--dry-run", action="store_true", help="check and count, but write nothing"
        )

    def handle(self, *args, **options):
        started = time.monotonic()
        try:
            result = import_catalog(
                categories_path=options["categories"],
                products_path=options["products"],
                dry_run=options["dry_run"],
            )
        except FileProblem as exc:
            raise CommandError(f"{exc}\nNothing was written.") from exc
        except ImportFailed as exc:
            for error in exc.errors:
                self.stderr.write(error)
            raise CommandError(f"{len(exc.errors)} problem(s); nothing was written.") from exc
        verb = "would be" if options["dry_run"] else "were"
        self.stdout.write(
            f"Categories: {result.categories_created} created, {result.categories_updated} "
            f"updated. Products: {result.products_created} created, {result.products_updated} "
            f"updated. (These {verb} written; {time.monotonic() - started:.1f}s.)"
        )
