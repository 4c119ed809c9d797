"""Facet counts of the product list (API.md, "Facet counts"): for each filter, how many products
each of its choices would show with every other filter applied.

Each facet counts the products the caller may see, filtered by the list's own filter backends
as if the facet's parameters had not been sent: a filter added to the list, or a change of
what one matches, reaches the facets with no change here. The count and the stock and price
facets are conditional counts, and those that filter the same rows (all three, when neither
`in_stock` nor a price bound is sent) share one scan; the categories are one grouped count.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, QuerySet

from backend.queries import where_digest

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
    "in_stock": ("in_stock",),
    "price": ("min_price", "max_price"),
    "categories": ("category", "category_slug"),
}
COUNTED = {  # what each of the counted parts counts, by the name its answer gives it
    "count": {"count": Q()},
    "in_stock": {"true": Q(stock__gt=0), "false": Q(stock=0)},
    "price": {
        str(n): Q(price__gte=low) & (Q() if high is None else Q(price__lt=high))
        for n, (low, high) in enumerate(PRICE_BANDS)
    },
}


@dataclass(frozen=True)
class FacetQueries:
    scans: list[tuple[QuerySet, dict[str, Count]]]  # rows, and counts named `<part>:<name>`
    categories: QuerySet

    def read(self) -> list[QuerySet]:
        """What the answer reads (for the cache): each scan with its counts, and the
        categories."""
        return [*(rows.alias(**counts) for rows, counts in self.scans), self.categories]


def facet_queries(matching_all_but: Callable[[tuple[str, ...]], QuerySet]) -> FacetQueries:
    """`matching_all_but(names)` is what the caller sees through every filter of the request
    but those `names`."""
    scans: dict[str, tuple[QuerySet, dict]] = {}
    for part, counted in COUNTED.items():
        rows = matching_all_but(LEFT_OUT[part]).order_by()
        _, counts = scans.setdefault(where_digest(rows.query), (rows, {}))
        for name, condition in counted.items():
            counts[f"{part}:{name}"] = Count("pk", filter=condition)
    categories = (
        matching_all_but(LEFT_OUT["categories"])
        .values("category_id", "category__name", "category__slug")
        .annotate(count=Count("pk"))
        .order_by("category__name", "category_id")
    )
    return FacetQueries(list(scans.values()), categories)


def count_facets(queries: FacetQueries) -> dict:
    """Runs the queries: the answer's body. Categories no product matches are left out, and so
    are products without a category."""
    counts = {}
    for rows, counted in queries.scans:
        counts |= rows.aggregate(**counted)
    return {
        "count": counts["count:count"],
        "categories": [
            {
                "id": row["category_id"],
                "name": row["category__name"],
                "slug": row["category__slug"],
                "count": row["count"],
            }
            for row in queries.categories
            if row["category_id"] is not None
        ],
        "in_stock": {"true": counts["in_stock:true"], "false": counts["in_stock:false"]},
        "price": [
            {"min": _money(low), "max": _money(high), "count": counts[f"price:{n}"]}
            for n, (low, high) in enumerate(PRICE_BANDS)
        ],
    }


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"
