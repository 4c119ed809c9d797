"""The catalog: categories and the products in them.

Invariants live in the database (case-insensitive unique names and SKUs, money and stock
bounds, PROTECT on a category with products) so the API, the admin, imports and racing
requests all meet the same wall; serializers only make the messages friendly.
"""

import contextvars
import functools
import operator
import os
import unicodedata
from contextlib import contextmanager
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex, OpClass
from django.core import validators
from django.core.exceptions import ValidationError
from django.core.files.storage import FileSystemStorage
from django.db import connection, models
from django.db.models import OuterRef, Q, Subquery
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.deconstruct import deconstructible

from backend.change_context import VIAS

CATEGORY_NAME_TAKEN = "A category with this name already exists."
CATEGORY_SLUG_TAKEN = "A category with this slug already exists."
CATEGORY_HAS_PRODUCTS = "This category still has products: move or delete them first."
CATEGORY_HAS_CHILDREN = "This category still has subcategories: move or delete them first."
MAX_DEPTH = 8  # levels of the category tree, the roots being the first
PARENT_CYCLE = "A category cannot be placed under itself or one of its own subcategories."
PATH_SEPARATOR = " \u203a "  # a single right-pointing angle quotation mark
PARENT_TOO_DEEP = f"The category tree would be more than {MAX_DEPTH} levels deep."
SKU_TAKEN = "A product with this SKU already exists."
MAX_PRICE = Decimal("99999999.99")
MAX_STOCK = 2**31 - 1  # the largest integer column every supported database holds
DESCRIPTION_MAX_LENGTH = 5000
MAX_POSITION = MAX_STOCK


@deconstructible
class SkuValidator(validators.RegexValidator):
    regex = r"^[A-Za-z0-9._-]+\Z"
    message = "Enter a valid SKU: letters, digits, '-', '_' and '.' only."


class NormalizedCharField(models.CharField):
    """Text stored in Unicode's NFKC form, so look-alikes are one value: `Café` typed as one
    code point or as `e` and a combining accent, and a fullwidth `Ｃａｆé`. Model forms (the
    admin) and `to_python` callers (the API's serializer, imports) all pass through it."""

    def to_python(self, value):
        value = super().to_python(value)
        return unicodedata.normalize("NFKC", value) if isinstance(value, str) else value


def parent_chain(levels: int) -> str:
    """`parent__parent__…`: the lookup of the category `levels` above."""
    return "__".join(["parent"] * levels)


def ancestor_names(level: int) -> dict[str, str]:
    """The row names of the category `level` above (1: the parent), by attribute."""
    return {key: f"ancestor_{level}_{key}" for key in ("id", "name", "slug")}


class CategoryQuerySet(models.QuerySet):
    def for_api(self):
        """Fast reads take the ancestors from the annotations, the serializer (the browsable
        API, a write's answer) from the related rows."""
        chain = parent_chain(MAX_DEPTH - 1)
        return self.with_product_count().with_ancestors().select_related(chain)

    def with_product_count(self):
        """`product_count`: the products on sale (inactive ones are not counted) in the
        category and every category below it, counted level by level: those whose category
        is the category itself, those whose category's parent is, and so on down to
        MAX_DEPTH. Each level is a walk down the parent index from the category to the
        product index, so a page of categories costs the same however large the tree."""
        on_sale = Product.objects.filter(is_active=True).order_by()
        counts = [
            Subquery(
                on_sale.filter(
                    **{"__".join(["category", *["parent"] * level]): OuterRef("pk")}
                ).values(total=models.Func(models.Value(1), function="COUNT")),
                output_field=models.IntegerField(),
            )
            for level in range(MAX_DEPTH)
        ]
        return self.annotate(product_count=functools.reduce(operator.add, counts))

    def with_ancestors(self):
        """`ancestor_<level>_id`, `_name`, `_slug` of every category above, through a fixed
        chain of joins: the tree is at most MAX_DEPTH levels deep, so the cost is the same
        whatever the depth. (Annotations, not `.values()` joins, so that the list cache's
        topics take in the ancestors' names and slugs.)"""
        return self.annotate(
            **{
                name: models.F(f"{parent_chain(level)}__{key}")
                for level in range(1, MAX_DEPTH)
                for key, name in ancestor_names(level).items()
            }
        )

    def tree(self) -> list[dict]:
        """Every category as `{id, name, slug, product_count, children}`, the roots and each
        one's children by name: two queries whatever the size and depth (the rows, and the
        products on sale per category, added up the tree here)."""
        rows = list(self.order_by("name", "id").values("id", "name", "slug", "parent_id"))
        on_sale = Product.objects.filter(is_active=True, category__isnull=False).order_by()
        counts = dict(on_sale.values_list("category_id").annotate(models.Count("id")))
        children: dict[int | None, list[dict]] = {}
        for row in rows:
            children.setdefault(row.pop("parent_id"), []).append(row)
        return [_nested(root, children, counts) for root in children.get(None, [])]

    def with_name(self, name: str):
        """After NFKC normalisation, case-insensitive, through the `Lower(name)` unique index."""
        name = unicodedata.normalize("NFKC", name)
        return self.alias(name_lower=Lower("name")).filter(name_lower=Lower(models.Value(name)))


class InSubtrees(models.Expression):
    """A condition: `column` (a category id) is one of the categories whose `key` is in
    `roots`, or below one of them. `WITH RECURSIVE` walks down from the roots, level by level
    (UNION: a category found once is not walked again), inside the statement that uses it.

    Django's ORM cannot say "recursive"; the alternative, one joined query per level of the tree
    put together with UNION ALL, cost the benchmark's BROWSE half its throughput in building,
    compiling and planning eight joined queries twice a request. On PostgreSQL the ids are
    gathered into an array first (`= ANY(ARRAY(...))`, evaluated once): the planner then reads
    products through the category index, where an `IN` over the walk, whose size it cannot
    know, made it scan the table. The list cache cannot see into SQL written here
    (products.versions), so the condition names what it reads in `topics`.

    Where the walk's ids were read beforehand, in the same statement as the catalog's versions
    that stamp what the query finds (products.cache, `subtrees_known`), the condition names them
    (`category_id IN (3, 7, 12)`): PostgreSQL then plans with what it knows of each id. Planned
    blind, the array was taken for a large share of the table, and the first page of a small
    category walked the whole `created_at` index (docs/performance.md)."""

    conditional = True
    output_field = models.BooleanField()

    def __init__(self, column: str, roots: list, key: str):
        super().__init__()
        self.column = models.F(column)
        self.roots = list(roots)
        self.key = key
        table = Category._meta.db_table
        field = Category._meta.pk if key == "pk" else Category._meta.get_field(key)
        marks = ", ".join(["%s"] * len(self.roots))
        self.walk = (
            f"WITH RECURSIVE subtree(id) AS (SELECT id FROM {table} WHERE {field.column} IN"
            f" ({marks}) UNION SELECT child.id FROM {table} child"
            " JOIN subtree ON child.parent_id = subtree.id) SELECT id FROM subtree"
        )
        self.topics = (table, f"{table}.id", f"{table}.parent_id", f"{table}.{field.column}")

    @property
    def subtree(self) -> tuple:
        """What names the walk: the ids it finds are known under this (`subtrees_known`)."""
        return self.key, tuple(self.roots)

    def get_source_expressions(self):
        return [self.column]

    def set_source_expressions(self, expressions):
        (self.column,) = expressions

    def known_ids(self) -> list[int] | None:
        """The walk's ids, where they were read beforehand (`subtrees_known`)."""
        return (_known_subtrees.get() or {}).get(self.subtree)

    def as_sql(self, compiler, connection):
        column, params = compiler.compile(self.column)
        ids = self.known_ids()
        if ids is not None:
            return _one_of(column, ids), [*params, *ids]
        return f"{column} IN ({self.walk})", [*params, *self.roots]

    def as_postgresql(self, compiler, connection):
        if self.known_ids() is not None:
            return self.as_sql(compiler, connection)
        column, params = compiler.compile(self.column)
        return f"{column} = ANY(ARRAY({self.walk}))", [*params, *self.roots]


def _one_of(column: str, ids: list[int]) -> str:
    return f"{column} IN ({', '.join(['%s'] * len(ids))})" if ids else "1 = 0"


_known_subtrees: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "known_subtrees", default=None
)


@contextmanager
def subtrees_known(ids: dict[tuple, list[int]]):
    """Within, an `InSubtrees` whose walk is in `ids` (by its `subtree`) names those ids."""
    token = _known_subtrees.set(ids)
    try:
        yield
    finally:
        _known_subtrees.reset(token)


def subtrees_in(node) -> list[InSubtrees]:
    """The `InSubtrees` conditions of a query's WHERE (Django wraps each in an `exact` lookup)."""
    if isinstance(node, InSubtrees):
        return [node]
    parts = [*getattr(node, "children", ()), getattr(node, "lhs", None)]
    return [found for part in parts if part is not None for found in subtrees_in(part)]


def _nested(row: dict, children: dict, counts: dict) -> dict:
    below = [_nested(child, children, counts) for child in children.get(row["id"], [])]
    total = counts.get(row["id"], 0) + sum(child["product_count"] for child in below)
    return row | {"product_count": total, "children": below}


TREE_LOCK = 0x74726565  # "tree": a PostgreSQL advisory lock key of this app's own


def lock_the_tree() -> None:
    """Until the transaction ends, checks of the tree wait for each other. Two moves checked
    at once against the same tree could together make a cycle (A under B, B under A) or a
    tree too deep that neither makes alone. PostgreSQL only: SQLite's writers take the
    database's lock when their transaction starts, so they are one at a time already."""
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TREE_LOCK])


def tree_problems(parents: dict, moved) -> dict:
    """What is wrong, for each of `moved`, with the tree `parents` (category -> its parent or
    None) describes: a cycle through it, or a category at or below it more than MAX_DEPTH
    levels deep. Walks up from every category at most MAX_DEPTH steps (a few thousand rows)."""
    moved, problems = set(moved), {}
    for start in parents:
        chain, at = [start], parents[start]
        while at is not None and at not in chain and len(chain) <= MAX_DEPTH:
            chain.append(at)
            at = parents.get(at)
        if at is not None and at in chain:
            cycle = chain[chain.index(at) :]
            problems |= dict.fromkeys(moved.intersection(cycle), PARENT_CYCLE)
        elif len(chain) > MAX_DEPTH:
            problems |= dict.fromkeys(moved.intersection(chain), PARENT_TOO_DEEP)
    return {key: problems[key] for key in moved if key in problems}


class Category(models.Model):
    name = NormalizedCharField(max_length=100)
    slug = models.SlugField(
        max_length=120, unique=True, error_messages={"unique": CATEGORY_SLUG_TAKEN}
    )
    description = models.TextField(blank=True, max_length=DESCRIPTION_MAX_LENGTH)
    # RESTRICT, not PROTECT: a category with children cannot be deleted alone, but a whole
    # subtree may go in one operation (the admin's "delete selected", `QuerySet.delete()`).
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="children",
        db_index=False,  # the (parent, name, id) index below serves it
    )

    objects = CategoryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "categories"
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                name="category_name_ci_unique",
                violation_error_message=CATEGORY_NAME_TAKEN,
            ),
        ]
        indexes = [
            models.Index(fields=["name", "id"], name="category_name_idx"),
            # A category's children by name (the list's `parent` filter), and the tree's joins.
            models.Index(fields=["parent", "name", "id"], name="category_parent_idx"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        """The admin's check (the API's and the import's run the same `tree_problems`)."""
        problem = self.parent_problem(self.parent_id)
        if problem:
            raise ValidationError({"parent": problem})

    def parent_problem(self, parent_id: int | None) -> str | None:
        """What would be wrong with the tree if this category moved under `parent_id`."""
        if parent_id is None:
            return None
        lock_the_tree()
        parents = dict(Category.objects.values_list("id", "parent_id"))
        parents[self.pk] = parent_id  # a new category (pk None) is a leaf under it
        return tree_problems(parents, [self.pk]).get(self.pk)

    @property
    def path(self) -> str:
        """Where the category sits in the tree: the names from the root down to its own."""
        return PATH_SEPARATOR.join(category.name for category in [*self.ancestor_chain(), self])

    def ancestor_chain(self) -> list["Category"]:
        """The categories above, from the root (free on rows read with `select_related`)."""
        chain, at = [], self.parent
        while at is not None and len(chain) < MAX_DEPTH:
            chain.insert(0, at)
            at = at.parent
        return chain


class SearchDocument(models.Func):
    """`UPPER(name || ' ' || description || ' ' || sku)`: what search matches against.

    On PostgreSQL a trigram GIN index holds this very expression (migration 0002), so a
    case-insensitive substring search is an index scan, not a read of every row."""

    template = "UPPER(%(expressions)s)"
    arg_joiner = " || ' ' || "
    output_field = models.TextField()

    def __init__(self):
        super().__init__(models.F("name"), models.F("description"), models.F("sku"))


def search_index() -> GinIndex:
    """The trigram index behind search (PostgreSQL only): created by migration 0002, and
    rebuilt by a bulk import."""
    return GinIndex(OpClass(SearchDocument(), name="gin_trgm_ops"), name="product_search_trgm")


class ProductQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Staff manage the whole catalog; everyone else sees what is on sale."""
        return self if user.is_staff else self.filter(is_active=True)

    def for_api(self):
        return self.select_related("category")

    def with_sku(self, sku: str):
        """Case-insensitive, through the `Lower(sku)` unique index."""
        return self.alias(sku_lower=Lower("sku")).filter(sku_lower=Lower(models.Value(sku)))

    def matching(self, words: list[str]):
        """Products whose name, description or SKU contains every word, in any letter case."""
        queryset = self.alias(search_document=SearchDocument())
        for word in words:
            queryset = queryset.filter(search_document__contains=word.upper())
        return queryset

    def set_active(self, is_active: bool) -> int:
        """Put on sale or take off sale in one statement; `updated_at` moves with the change."""
        changed = self.exclude(is_active=is_active)
        return changed.update(is_active=is_active, updated_at=timezone.now())


class Product(models.Model):
    name = models.CharField(max_length=200)
    sku = models.CharField(
        "SKU",
        max_length=64,
        validators=[SkuValidator()],
        help_text="Letters, digits, '-', '_' and '.'; unique whatever the letter case.",
    )
    description = models.TextField(blank=True, max_length=DESCRIPTION_MAX_LENGTH)
    price = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        validators=[validators.MinValueValidator(0), validators.MaxValueValidator(MAX_PRICE)],
    )
    stock = models.IntegerField(
        default=0,
        validators=[validators.MinValueValidator(0), validators.MaxValueValidator(MAX_STOCK)],
    )
    is_active = models.BooleanField("active", default=True)
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="products"
    )
    # A default, not auto_now_add: an import keeps the creation time it is given.
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                Lower("sku"), name="product_sku_ci_unique", violation_error_message=SKU_TAKEN
            ),
            models.CheckConstraint(
                condition=Q(price__gte=0) & Q(price__lte=MAX_PRICE), name="product_price_in_range"
            ),
            models.CheckConstraint(condition=Q(stock__gte=0), name="product_stock_not_negative"),
        ]
        indexes = [
            # The default order, and the same for what customers see (active products only).
            models.Index(fields=["created_at", "id"], name="product_created_idx"),
            # What anonymous lists read (and count) most: active products, newest first.
            models.Index(
                fields=["-created_at", "-id"],
                condition=Q(is_active=True),
                name="product_on_sale_created_idx",
            ),
            # Customers' counts and pages by category and price, read from the index alone
            # (stock rides along for `in_stock`): no visit to the table per matching row.
            models.Index(
                fields=["category", "price", "id", "stock"],
                condition=Q(is_active=True),
                name="product_on_sale_category_idx",
            ),
            models.Index(
                fields=["price", "id", "stock"],
                condition=Q(is_active=True),
                name="product_on_sale_price_idx",
            ),
            models.Index(fields=["price", "id"], name="product_price_idx"),
            models.Index(fields=["name", "id"], name="product_name_idx"),
            models.Index(fields=["stock", "id"], name="product_stock_idx"),
            # `ordering=stock` is stock up, ties by id down: a scan of (stock, id) would sort each
            # run of equal stock (a tenth of a catalog is out of stock) before its first row.
            # Other keys have short runs of ties, which the database sorts as it reads them.
            models.Index(fields=["stock", "-id"], name="product_stock_up_idx"),
            models.Index(fields=["updated_at"], name="product_updated_idx"),
        ]

    def __str__(self):
        return f"{self.name} ({self.sku})"

    @property
    def in_stock(self) -> bool:
        return self.stock > 0


class ProductImage(models.Model):
    """A picture of a product: the file as stored (re-encoded, without metadata) and its WebP
    renditions. Made only by `products.images.add_image`, which validates and encodes them;
    the files go with the row (django-cleanup deletes them once the deletion is committed)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    file = models.FileField(upload_to="products", max_length=255)
    thumb = models.FileField(upload_to="products", max_length=255)
    medium = models.FileField(upload_to="products", max_length=255)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    alt = models.CharField(max_length=255, blank=True, help_text="Text shown in its place.")
    position = models.PositiveIntegerField(
        default=0, validators=[validators.MaxValueValidator(MAX_POSITION)]
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["position", "id"]
        indexes = [
            models.Index(fields=["product", "position", "id"], name="product_image_order_idx")
        ]

    def __str__(self):
        return self.alt or self.file.name


class CatalogVersion(models.Model):
    """How often each part of the catalog has changed: `<table>` for rows added or removed,
    `<table>.<column>` for values changed. Moved only by database triggers (migration 0004),
    read by the caches (`products.versions`)."""

    topic = models.CharField(max_length=200, primary_key=True)
    version = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.topic} @ {self.version}"


class CatalogRowVersion(models.Model):
    """How often each row has changed (`<table>#<id>`, PostgreSQL only), kept apart from the
    few dozen topics above so that reading those stays one small query."""

    topic = models.CharField(max_length=200, primary_key=True)
    version = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.topic} @ {self.version}"


class CatalogChange(models.Model):
    """One write of one catalog row: which fields went from what to what (`changes`, by column),
    when, by whom and through which door. Written only by database triggers
    (`products.history`), so every write path is recorded; read by the history endpoints."""

    table_name = models.CharField(max_length=63)
    object_id = models.BigIntegerField()
    at = models.DateTimeField()
    # No constraint: a user's deletion leaves the record as it was (the actor then shows null).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    via = models.CharField(max_length=10, choices=[(via, via) for via in VIAS])
    request_id = models.CharField(max_length=128, null=True)  # noqa: DJ001 (null: no request)
    changes = models.JSONField()

    class Meta:
        indexes = [
            models.Index(fields=["table_name", "object_id", "id"], name="catalog_change_idx")
        ]

    def __str__(self):
        return f"{self.table_name}#{self.object_id} {self.via} @ {self.at}"


class JobFiles(FileSystemStorage):
    """Where catalog jobs keep their CSV files (settings.CATALOG_JOBS_ROOT): outside MEDIA_ROOT,
    so no web server publishes them; staff download them through the admin."""

    @property
    def base_location(self):
        return settings.CATALOG_JOBS_ROOT

    @property
    def location(self):
        return os.path.abspath(self.base_location)


def job_files() -> JobFiles:
    return JobFiles()


def job_directory(job: "CatalogJob", filename: str) -> str:
    return f"jobs/{job.pk}/{filename}"


class CatalogJob(models.Model):
    """A CSV import or export started in the admin and run by a Celery worker
    (`products.bulk.jobs`)."""

    class Kind(models.TextChoices):
        IMPORT = "import"
        EXPORT = "export"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of the worker running it."
    )
    # An import's uploads, or an export's results.
    categories_file = models.FileField(storage=job_files, upload_to=job_directory, blank=True)
    products_file = models.FileField(storage=job_files, upload_to=job_directory, blank=True)
    rows_checked = models.PositiveBigIntegerField(default=0)
    rows_written = models.PositiveBigIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="FILE:LINE: field: message")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "heartbeat_at"], name="catalogjob_status_beat"),
            models.Index(fields=["-created_at", "-id"], name="catalogjob_newest"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)
