from django.urls import path
from rest_framework.routers import SimpleRouter

from products import views

router = SimpleRouter(use_regex_path=False)
router.register("categories", views.CategoryViewSet, basename="category")
router.register("products", views.ProductViewSet, basename="product")

# A product's images, under it; read as part of the product (its `images`).
images = [
    path(
        "products/<int:product_pk>/images/",
        views.ProductImageUploadViewSet.as_view({"post": "create"}),
        name="product-image-list",
    ),
    path(
        "products/<int:product_pk>/images/<int:pk>/",
        views.ProductImageDetailViewSet.as_view({"patch": "partial_update", "delete": "destroy"}),
        name="product-image-detail",
    ),
]

urlpatterns = router.urls + images
