"""Builders: each returns a valid, unique row; pass only what the test is about."""

import io
import itertools
from decimal import Decimal

import pyotp
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from products import images
from products.models import Category, Product, ProductImage
from users.models import TOTPDevice, User

DEFAULT_PASSWORD = "Corr3ct-horse-battery"

_sequence = itertools.count(1)


def make_user(*, password: str = DEFAULT_PASSWORD, **fields) -> User:
    n = next(_sequence)
    fields.setdefault("username", f"user{n}")
    fields.setdefault("email", f"{fields['username']}@example.com")
    return User.objects.create_user(password=password, **fields)


def make_staff(**fields) -> User:
    return make_user(is_staff=True, **fields)


def make_category(**fields) -> Category:
    n = next(_sequence)
    fields.setdefault("name", f"Category {n}")
    fields.setdefault("slug", f"category-{n}")
    return Category.objects.create(**fields)


def make_product(**fields) -> Product:
    n = next(_sequence)
    fields.setdefault("name", f"Product {n}")
    fields.setdefault("sku", f"SKU-{n:06d}")
    fields.setdefault("price", Decimal("9.99"))
    fields.setdefault("stock", 10)
    return Product.objects.create(**fields)


def make_image(product: Product, **fields) -> ProductImage:
    """An image of `product`, stored as an upload would be (a small PNG)."""
    picture = io.BytesIO()
    Image.new("RGB", (32, 24), "teal").save(picture, "PNG")
    prepared = images.prepare(ContentFile(picture.getvalue(), name="picture.png"))
    return images.add_image(product=product, prepared=prepared, **fields)


def make_products(count: int, **fields) -> list[Product]:
    return [make_product(**fields) for _ in range(count)]


def grant(user: User, *codenames: str) -> User:
    """Give `user` model permissions such as "products.add_product"."""
    for codename in codenames:
        app_label, name = codename.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=name)
        )
    return User.objects.get(pk=user.pk)  # a fresh instance: the permission cache is per object


def enable_totp(user: User) -> str:
    """Turn two-factor log-in on for `user`, as a confirmed enrolment would; returns the secret."""
    secret = pyotp.random_base32()
    TOTPDevice.objects.create(user=user, secret=secret, confirmed_at=timezone.now())
    return secret
