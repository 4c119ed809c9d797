from rest_framework.routers import SimpleRouter

from products import views

router = SimpleRouter(use_regex_path=False)
router.register("categories", views.CategoryViewSet, basename="category")
router.register("products", views.ProductViewSet, basename="product")

urlpatterns = router.urls
