"""A deterministic demo catalog for `make run` and for trying the API at scale."""

import io
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.db.models import F
from PIL import Image, ImageDraw

from products import images
from products.models import Category, Product

SKU_PREFIX = "DEMO-"
FIRST_DAY = datetime(2025, 1, 1, tzinfo=UTC)
SPREAD = timedelta(days=365)
PICTURE_SIZE = (800, 600)  # drawn here: no image files in the repository

CATEGORIES = [
    ("Kitchen", "Pots, pans, knives and everything for the stove."),
    ("Garden", "Tools, planters and outdoor furniture."),
    ("Lighting", "Lamps, lanterns and bulbs."),
    ("Office", "Desks, chairs and paper goods."),
    ("Bathroom", "Towels, mirrors and storage."),
    ("Outdoor", "Camping, hiking and picnic gear."),
    ("Toys", "Games and toys for all ages."),
    ("Textiles", "Blankets, cushions and rugs."),
    ("Storage", "Boxes, shelves and baskets."),
    ("Tableware", "Plates, cups and cutlery."),
    ("Tools", "Hand tools and workshop supplies."),
    ("Decor", "Frames, vases and wall art."),
]
SUBCATEGORIES = [  # (name, description, the parent's slug): a tree three levels deep
    ("Cookware", "Pots, pans and roasting tins.", "kitchen"),
    ("Knives", "Chef's knives, sharpeners and blocks.", "cookware"),
    ("Planters", "Pots and troughs for plants.", "garden"),
    ("Lamps", "Table, floor and desk lamps.", "lighting"),
]
ADJECTIVES = [
    "Rustic", "Modern", "Classic", "Compact", "Sturdy", "Elegant", "Vintage", "Nordic",
    "Handmade", "Minimal", "Deluxe", "Everyday",
]  # fmt: skip
MATERIALS = ["Oak", "Steel", "Linen", "Ceramic", "Glass", "Copper", "Bamboo", "Wool", "Stone"]
NOUNS = [
    "Lantern", "Kettle", "Chair", "Basket", "Lamp", "Bowl", "Shelf", "Blanket", "Mug", "Vase",
    "Spade", "Tray", "Clock", "Stool", "Candle", "Planter",
]  # fmt: skip


class Command(BaseCommand):
    help = (
        "Fill a deterministic demo catalog: 16 categories (12 at the top, a tree three levels "
        "deep) and N products with DEMO-… SKUs. "
        "Does nothing when the demo products are already there, unless --reset."
    )

    def add_arguments(self, parser):
        parser.add_argument("--products", type=int, default=300, help="how many (default 300)")
        parser.add_argument("--reset", action="store_true", help="replace existing demo rows")
        parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument(
            "--pictures", type=int, default=12, help="products given a picture (default 12)"
        )

    def handle(self, *args, **options):
        existing = Product.objects.filter(sku__startswith=SKU_PREFIX).count()
        if existing and not options["reset"]:
            self.stdout.write(f"Demo catalog already there ({existing} products; --reset redoes).")
            return
        started = time.monotonic()
        with transaction.atomic():
            Product.objects.filter(sku__startswith=SKU_PREFIX).delete()
            categories = self._categories()
            count = self._products(options["products"], categories, options)
            self._pictures(options["pictures"])
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"Demo catalog: {len(categories)} categories, {count} products in {elapsed:.1f}s."
        )

    def _categories(self) -> list[Category]:
        by_slug = {}
        rows = [(*row, None) for row in CATEGORIES] + SUBCATEGORIES
        for name, description, parent in rows:
            category, _ = Category.objects.update_or_create(
                slug=name.lower(),
                defaults={"name": name, "description": description, "parent": by_slug.get(parent)},
            )
            by_slug[category.slug] = category
        return list(by_slug.values())

    def _products(self, total: int, categories: list[Category], options) -> int:
        rng = random.Random(options["seed"])
        rows = (self._product(n, total, rng, categories) for n in range(1, total + 1))
        Product.objects.bulk_create(rows, batch_size=options["batch_size"])
        # bulk_create stamps updated_at with now (auto_now); the demo is stable run after run.
        Product.objects.filter(sku__startswith=SKU_PREFIX).update(updated_at=F("created_at"))
        return total

    def _pictures(self, count: int) -> None:
        """The first products by SKU, each through the same checks and renditions as an
        upload."""
        products = Product.objects.filter(sku__startswith=SKU_PREFIX).order_by("sku")
        for n, product in enumerate(products[:count]):
            picture = ContentFile(_picture(n), name="demo.png")
            images.add_image(product=product, prepared=images.prepare(picture), alt=product.name)

    @staticmethod
    def _product(n: int, total: int, rng: random.Random, categories: list[Category]) -> Product:
        name = f"{rng.choice(ADJECTIVES)} {rng.choice(MATERIALS)} {rng.choice(NOUNS)}"
        in_stock = rng.random() >= 0.1
        category = categories[n % len(categories)]
        return Product(
            name=f"{name} {n}",
            sku=f"{SKU_PREFIX}{n:07d}",
            description=f"A {name.lower()} from our {category.name.lower()} range.",
            price=Decimal(rng.randrange(100, 100_000)) / 100,
            stock=rng.randrange(1, 500) if in_stock else 0,
            is_active=rng.random() >= 0.05,
            category=category,
            created_at=FIRST_DAY + SPREAD * (n / total),
        )


def _picture(n: int) -> bytes:
    """A PNG of a coloured shape on a lighter ground, different for each `n`."""
    hue = (n * 47) % 360
    ground = Image.new("RGB", PICTURE_SIZE, f"hsl({hue}, 45%, 88%)")
    draw = ImageDraw.Draw(ground)
    inset = 80 + (n % 4) * 20
    box = (inset, inset, PICTURE_SIZE[0] - inset, PICTURE_SIZE[1] - inset)
    shape = draw.ellipse if n % 2 else draw.rounded_rectangle
    shape(box, fill=f"hsl({hue}, 60%, 45%)")
    output = io.BytesIO()
    ground.save(output, format="PNG")
    return output.getvalue()
