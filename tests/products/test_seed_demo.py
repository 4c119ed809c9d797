"""`manage.py seed_demo`: a demo catalog that is the same wherever and however often it runs."""

from decimal import Decimal
from io import StringIO

from django.core.files.storage import default_storage
from django.core.management import call_command
from PIL import Image

from products.models import Category, Product, ProductImage

DEMO_CATEGORIES = 16


def seed(*args, **options) -> None:
    """Without pictures unless asked: drawing and encoding them is most of a seed's time."""
    options.setdefault("pictures", 0)
    call_command("seed_demo", *args, stdout=StringIO(), **options)


def snapshot() -> list[tuple]:
    """The demo rows as a client would compare them, in a stable order."""
    return list(
        Product.objects.order_by("sku").values_list(
            "name", "sku", "price", "stock", "is_active", "category__slug", "created_at"
        )
    )


def test_seed_creates_16_categories_and_the_products_asked_for():
    seed(products=50)

    assert Category.objects.count() == DEMO_CATEGORIES
    assert Product.objects.count() == 50
    assert not Product.objects.filter(category=None).exists()


def test_the_demo_categories_form_a_tree_three_levels_deep():
    seed(products=50)

    knives = Category.objects.get(slug="knives")
    assert [category.slug for category in knives.ancestor_chain()] == ["kitchen", "cookware"]
    assert Category.objects.filter(parent=None).count() == 12


def test_seeded_rows_obey_the_catalog_rules():
    seed(products=50)

    for product in Product.objects.all():
        product.full_clean()
        assert Decimal("0") <= product.price <= Decimal("99999999.99")
        assert product.price == product.price.quantize(Decimal("0.01"))
        assert product.stock >= 0
    for category in Category.objects.all():
        category.full_clean()
    skus = [sku.lower() for sku in Product.objects.values_list("sku", flat=True)]
    assert len(set(skus)) == len(skus)


def test_seeding_twice_does_not_duplicate():
    seed(products=50)
    first = snapshot()

    seed(products=50)

    assert Category.objects.count() == DEMO_CATEGORIES
    assert Product.objects.count() == 50
    assert snapshot() == first


def test_reset_rebuilds_the_demo_catalog():
    seed(products=50)
    first = snapshot()
    Product.objects.filter(pk__in=Product.objects.order_by("pk").values("pk")[:10]).delete()
    Product.objects.update(price=Decimal("1.00"), stock=0)

    seed(products=50, reset=True)

    assert Category.objects.count() == DEMO_CATEGORIES
    assert Product.objects.count() == 50
    assert snapshot() == first


def test_reset_with_another_size_replaces_the_demo_products():
    seed(products=50)

    seed(products=20, reset=True)

    assert Category.objects.count() == DEMO_CATEGORIES
    assert Product.objects.count() == 20


def test_two_databases_seeded_alike_hold_identical_rows():
    seed(products=50)
    first = snapshot()
    Product.objects.all().delete()
    Category.objects.all().delete()

    seed("--reset", "--products", "50")

    assert len(first) == 50
    assert snapshot() == first


def test_seed_gives_the_first_products_a_picture_with_its_renditions():
    seed(products=20, pictures=12)

    pictured = Product.objects.filter(images__isnull=False).order_by("sku")
    assert list(pictured.values_list("sku", flat=True)) == [f"DEMO-{n:07d}" for n in range(1, 13)]
    image = ProductImage.objects.order_by("product__sku").first()
    assert (image.width, image.height) == (800, 600)
    assert Image.open(image.thumb).size == (256, 192)
    assert default_storage.exists(image.medium.name)


def test_seed_reset_replaces_the_pictures():
    seed(products=20, pictures=3)
    seed(products=20, pictures=3, reset=True)

    assert ProductImage.objects.count() == 3
