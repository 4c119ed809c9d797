"""The catalog admin: what staff use every day, so it is quick on a large catalog (no per-row
queries, no full-table count on filtered lists)."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from backend.admin_columns import ReadOnlyAdmin, with_compact_timestamps
from products import history, images
from products.bulk import jobs
from products.filters import ROOTS
from products.models import (
    MAX_DEPTH,
    CatalogJob,
    Category,
    Product,
    ProductImage,
    parent_chain,
)
from products.resources import CATEGORY, PRODUCT, Resource

HISTORY_SHOWN = 100


class ChangeHistoryAdmin(admin.ModelAdmin):
    """The change page's History button shows the change history (`products.history`: every
    write, whichever way it came) instead of the admin's own log, which knows only what was done
    in the admin. As over the API, only to those who may change the model."""

    resource: Resource
    object_history_template = "admin/products/change_history.html"

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        context = getattr(response, "context_data", None)
        if context is None or not self.has_change_permission(request, context.get("object")):
            return response
        changes = history.changes_of(self.resource, context["object"].pk)
        context["catalog_changes"] = [
            history.present(self.resource, row) for row in changes[:HISTORY_SHOWN]
        ]
        context["catalog_changes_count"] = changes.count()
        return response


class ParentListFilter(admin.SimpleListFilter):
    """The roots, or the children of one category (those that have any, by path)."""

    title = "parent"
    parameter_name = "parent"

    def lookups(self, request, model_admin):
        parents = Category.objects.filter(pk__in=Category.objects.values("parent_id"))
        parents = parents.select_related(parent_chain(MAX_DEPTH - 1))
        by_path = sorted((category.path, str(category.pk)) for category in parents)
        return [(ROOTS, "None (the roots)"), *((pk, path) for path, pk in by_path)]

    def queryset(self, request, queryset):
        value = self.value()
        if value == ROOTS:
            return queryset.filter(parent__isnull=True)
        if value and value.isascii() and value.isdigit():
            return queryset.filter(parent_id=value)
        return queryset


@admin.register(Category)
class CategoryAdmin(ChangeHistoryAdmin):
    """Each category shows where it sits in the tree (`Category.path`), read with the rows
    through a fixed chain of joins: no query per row."""

    resource = CATEGORY
    list_display = (
        "path",
        *(column for column in CATEGORY.admin_list if column != "name"),
        "active_products",
        "own_products",
    )
    list_filter = (ParentListFilter,)
    list_select_related = (parent_chain(MAX_DEPTH - 1),)
    search_fields = ("name", "slug", "description")
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ("parent",)
    ordering = ("name",)

    def get_queryset(self, request):
        return super().get_queryset(request).with_product_count().annotate(Count("products"))

    @admin.display(description="name", ordering="name")
    def path(self, category):
        return category.path

    @admin.display(description="on sale (with subcategories)", ordering="product_count")
    def active_products(self, category):
        return category.product_count

    @admin.display(description="own products (all)", ordering="products__count")
    def own_products(self, category):
        return category.products__count


class ProductImageForm(forms.ModelForm):
    """An image row: a new one needs a file, which passes the API's checks and is stored as the
    API stores it (`products.images`); a file chosen for an existing row replaces its files."""

    upload = forms.FileField(
        label="image", required=False, help_text="JPEG, PNG or WebP; 10 MiB, 40 megapixels."
    )

    class Meta:
        model = ProductImage
        fields = ("alt", "position")

    def clean_upload(self):
        upload = self.cleaned_data.get("upload")
        if upload is None:
            if self.instance.pk is None and self.has_changed():
                raise ValidationError("Choose an image file.", code="required")
            return None
        return images.prepare(upload)

    def save(self, commit=True):
        prepared = self.cleaned_data.get("upload")
        if prepared is not None:
            images.store(self.instance, prepared)
        if self.instance.pk is None and "position" not in self.changed_data:
            self.instance.position = images.next_position(self.instance.product)
        return super().save(commit)


class ProductImageInline(admin.TabularInline):
    model = ProductImage
    form = ProductImageForm
    fields = ("preview", "upload", "alt", "position", "size")
    readonly_fields = ("preview", "size")
    extra = 1

    @admin.display(description="thumbnail")
    def preview(self, image):
        if not image.thumb:
            return "-"
        return format_html('<img src="{}" alt="" style="max-height: 96px">', image.thumb.url)

    @admin.display(description="pixels")
    def size(self, image):
        return f"{image.width} x {image.height}" if image.pk else "-"


@admin.register(Product)
class ProductAdmin(ChangeHistoryAdmin):
    resource = PRODUCT
    list_display = with_compact_timestamps(Product, PRODUCT.admin_list)
    list_display_links = ("name", "sku")
    list_editable = PRODUCT.admin_list_editable
    list_filter = ("is_active", "category", "created_at", "updated_at")
    list_select_related = ("category",)
    list_per_page = 50
    search_fields = ("name", "description", "sku")
    search_help_text = "Words in the name, description or SKU."
    readonly_fields = ("created_at", "updated_at")
    autocomplete_fields = ("category",)
    show_full_result_count = False
    ordering = ("-created_at", "-id")
    fieldsets = (
        (None, {"fields": ("name", "sku", "description", "category")}),
        ("Price and stock", {"fields": ("price", "stock", "is_active")}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )
    actions = ["activate", "deactivate"]
    inlines = [ProductImageInline]

    class Media:
        css = {"all": ["backend/changelist.css", "products/admin.css"]}

    @admin.action(description="Activate selected products (put them on sale)")
    def activate(self, request, queryset):
        self._set_active(request, queryset, is_active=True)

    @admin.action(description="Deactivate selected products (hide them from customers)")
    def deactivate(self, request, queryset):
        self._set_active(request, queryset, is_active=False)

    def _set_active(self, request, queryset, *, is_active: bool):
        count = Product.objects.filter(pk__in=queryset.values("pk")).set_active(is_active)
        state = "activated" if is_active else "deactivated"
        self.message_user(request, f"{count} product(s) {state}.", messages.SUCCESS)


IMPORT_PERMISSIONS = [
    f"products.{action}_{model}"
    for model in ("category", "product")
    for action in ("add", "change")
]
EXPORT_PERMISSIONS = ["products.view_category", "products.view_product"]


class ImportForm(forms.Form):
    categories = forms.FileField(required=False, help_text="CSV, as `export_catalog` writes it.")
    products = forms.FileField(required=False, help_text="CSV, as `export_catalog` writes it.")

    def clean(self):
        if not self.cleaned_data.get("categories") and not self.cleaned_data.get("products"):
            raise ValidationError("Choose a categories file, a products file, or both.")
        return self.cleaned_data


@admin.register(CatalogJob)
class CatalogJobAdmin(ReadOnlyAdmin):
    """CSV imports and exports (`products.bulk.jobs`): started here, run by a worker, followed
    on the job's page, which reloads itself until the job ends. Importing takes the rights to
    add and change categories and products; exporting, to view them. Jobs are read-only."""

    list_display = ("__str__", "status", "created_by", "created_at", "rows_checked", "rows_written")
    list_filter = ("kind", "status")
    list_select_related = ("created_by",)
    fields = (
        "kind",
        "status",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "rows_checked",
        "rows_written",
        "files",
        "problems",
    )
    readonly_fields = fields
    change_list_template = "admin/products/catalogjob/change_list.html"
    change_form_template = "admin/products/catalogjob/change_form.html"

    def has_view_permission(self, request, obj=None):
        return self.may_import(request) or self.may_export(request)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    @staticmethod
    def may_import(request) -> bool:
        return request.user.is_active and request.user.has_perms(IMPORT_PERMISSIONS)

    @staticmethod
    def may_export(request) -> bool:
        return request.user.is_active and request.user.has_perms(EXPORT_PERMISSIONS)

    def get_urls(self):
        own = [
            path("import/", self.admin_site.admin_view(self.import_view), name="catalogjob_import"),
            path("export/", self.admin_site.admin_view(self.export_view), name="catalogjob_export"),
            path(
                "<int:pk>/download/<str:which>/",
                self.admin_site.admin_view(self.download_view),
                name="catalogjob_download",
            ),
        ]
        return own + super().get_urls()

    def changelist_view(self, request, extra_context=None):
        extra = {"may_import": self.may_import(request), "may_export": self.may_export(request)}
        return super().changelist_view(request, (extra_context or {}) | extra)

    def import_view(self, request):
        if not self.may_import(request):
            raise PermissionDenied
        posted = request.method == "POST"
        form = ImportForm(request.POST, request.FILES) if posted else ImportForm()
        if posted and form.is_valid():
            job = jobs.start_import(request.user, **form.cleaned_data)
            return self._started(request, job)
        return self._start_page(request, "Import categories and products from CSV", form)

    def export_view(self, request):
        if not self.may_export(request):
            raise PermissionDenied
        if request.method == "POST":
            return self._started(request, jobs.start_export(request.user))
        return self._start_page(request, "Export the catalog to CSV", forms.Form())

    def _started(self, request, job):
        self.message_user(request, f"{job} queued.", messages.SUCCESS)
        return redirect("admin:products_catalogjob_change", job.pk)

    def _start_page(self, request, title, form):
        context = self.admin_site.each_context(request) | {
            "title": title,
            "form": form,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/products/catalogjob/start.html", context)

    def download_view(self, request, pk, which):
        job = get_object_or_404(CatalogJob, pk=pk, kind=CatalogJob.Kind.EXPORT)
        if not self.may_export(request):
            raise PermissionDenied
        file = {"categories": job.categories_file, "products": job.products_file}.get(which)
        if job.status != CatalogJob.Status.SUCCEEDED or not file:
            raise Http404("No such file.")
        name = f"catalog-{job.pk}-{which}.csv"
        return FileResponse(file.open("rb"), as_attachment=True, filename=name)

    @admin.display(description="files")
    def files(self, job):
        if job.kind != CatalogJob.Kind.EXPORT or job.status != CatalogJob.Status.SUCCEEDED:
            return "-"
        links = [
            (reverse("admin:catalogjob_download", args=[job.pk, which]), f"{which}.csv")
            for which in ("categories", "products")
        ]
        return format_html_join(" ", '<a href="{}" download>{}</a>', links)

    @admin.display(description="errors (file:line: field: message)")
    def problems(self, job):
        if not job.errors:
            return "-"
        return format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((e,) for e in job.errors))
        )
