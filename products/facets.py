"""Facet counts of the product list (API.md, "Facet counts"): for each filter, how many products
each of its choices would show with every other filter applied.

Each facet counts the products the caller may see, filtered by the list's own filter backends
as if the facet's parameters had not been sent: a filter added to the list, or a change of
what one matches, reaches the facets with no change here. The count and the stock and price
facets are conditional counts, and those that filter the same rows (all three, when neither
`in_stock` nor a price bound is sent) share one scan; the categories are one grouped count,
rolled up the category tree as the `category` filter matches (a category counts the products of
its whole subtree), with the tree read in one more small query.
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, QuerySet

from backend.queries import where_digest
from products.models import Category

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
    categories: QuerySet  # products by the category they are in
    tree: QuerySet  # every category, with its parent

    def read(self) -> list[QuerySet]:
        """What the answer reads (for the cache): each scan with its counts, the categories'
        counts and the tree."""
        return [*(rows.alias(**counts) for rows, counts in self.scans), self.categories, self.tree]


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
        .values("category_id")
        .annotate(count=Count("pk"))
        .order_by()
    )
    tree = Category.objects.values("id", "parent_id", "name", "slug").order_by("name", "id")
    return FacetQueries(list(scans.values()), categories, tree)


def count_facets(queries: FacetQueries) -> dict:
    """Runs the queries: the answer's body. Categories no product matches are left out, and so
    are products without a category."""
    counts = {}
    for rows, counted in queries.scans:
        counts |= rows.aggregate(**counted)
    return {
        "count": counts["count:count"],
        "categories": _rolled_up(queries),
        "in_stock": {"true": counts["in_stock:true"], "false": counts["in_stock:false"]},
        "price": [
            {"min": _money(low), "max": _money(high), "count": counts[f"price:{n}"]}
            for n, (low, high) in enumerate(PRICE_BANDS)
        ],
    }


def _rolled_up(queries: FacetQueries) -> list[dict]:
    """Each category with the products of its subtree, by name; those with none left out."""
    tree = list(queries.tree)
    parents = {category["id"]: category["parent_id"] for category in tree}
    totals = Counter()
    for row in queries.categories:
        category, seen = row["category_id"], set()
        while category is not None and category not in seen:  # a cycle only raw SQL could make
            seen.add(category)
            totals[category] += row["count"]
            category = parents.get(category)
    return [
        {"id": c["id"], "name": c["name"], "slug": c["slug"], "count": totals[c["id"]]}
        for c in tree
        if totals[c["id"]]
    ]


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"
