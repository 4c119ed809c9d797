"""Facet counts of the product list (API.md, "Facet counts"): for each filter, how many products
each of its choices would show with every other filter applied.

Each facet is one grouped count over the products the caller may see, filtered by the list's
own filter backends as if the facet's parameters had not been sent: a filter added to the list,
or a change of what one matches, reaches the facets with no change here.
"""

from collections.abc import Callable
from decimal import Decimal

from django.db.models import BooleanField, Case, Count, ExpressionWrapper, Q, QuerySet, Value, When

# Each band holds its `min` and not its `max`, so every price is in exactly one band.
PRICE_BANDS = [
    (Decimal(0), Decimal(10)),
    (Decimal(10), Decimal(50)),
    (Decimal(50), Decimal(100)),
    (Decimal(100), Decimal(500)),
    (Decimal(500), None),
]
LEFT_OUT = {
    "count": (),
    "categories": ("category", "category_slug"),
    "in_stock": ("in_stock",),
    "price": ("min_price", "max_price"),
}


def facet_queries(matching_all_but: Callable[[tuple[str, ...]], QuerySet]) -> dict[str, QuerySet]:
    """The query behind each part of the answer; `matching_all_but(names)` is what the caller
    sees through every filter of the request but those `names`."""
    products = {part: matching_all_but(names).order_by() for part, names in LEFT_OUT.items()}
    band = Case(
        *(When(price__lt=high, then=Value(n)) for n, (_, high) in enumerate(PRICE_BANDS[:-1])),
        default=Value(len(PRICE_BANDS) - 1),
    )
    return {
        "count": products["count"],
        "categories": products["categories"]
        .values("category_id", "category__name", "category__slug")
        .annotate(count=Count("pk"))
        .order_by("category__name", "category_id"),
        "in_stock": products["in_stock"]
        .values(in_stock=ExpressionWrapper(Q(stock__gt=0), output_field=BooleanField()))
        .annotate(count=Count("pk")),
        "price": products["price"].values(band=band).annotate(count=Count("pk")),
    }


def count_facets(queries: dict[str, QuerySet]) -> dict:
    """Runs the queries: the answer's body. Categories no product matches are left out, and so
    are products without a category."""
    in_stock = {row["in_stock"]: row["count"] for row in queries["in_stock"]}
    bands = {row["band"]: row["count"] for row in queries["price"]}
    return {
        "count": queries["count"].count(),
        "categories": [
            {
                "id": row["category_id"],
                "name": row["category__name"],
                "slug": row["category__slug"],
                "count": row["count"],
            }
            for row in queries["categories"]
            if row["category_id"] is not None
        ],
        "in_stock": {"true": in_stock.get(True, 0), "false": in_stock.get(False, 0)},
        "price": [
            {"min": _money(low), "max": _money(high), "count": bands.get(n, 0)}
            for n, (low, high) in enumerate(PRICE_BANDS)
        ],
    }


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"
