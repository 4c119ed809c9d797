"""manage.py export_catalog --categories FILE --products FILE (API.md, Bulk data)."""

from django.core.management.base import BaseCommand

from products.bulk.exporter import export_catalog


class Command(BaseCommand):
    help = "Write the whole catalog as CSV, in the format import_catalog reads."

    def add_arguments(self, parser):
        parser.add_argument("--categories", required=True, metavar="FILE")
        parser.add_argument("--products", required=True, metavar="FILE")

    def handle(self, *args, **options):
        categories, products = export_catalog(
            categories_path=options["categories"], products_path=options["products"]
        )
        self.stdout.write(f"Exported {categories} categories and {products} products.")
