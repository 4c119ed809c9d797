"""Product images: their table. Its version triggers (`products.versions`) are put on after
the migration, as every catalog table's are (`products.apps`: after each `migrate`)."""

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("products", "0010_category_parent")]

    operations = [
        migrations.CreateModel(
            name="ProductImage",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("file", models.FileField(max_length=255, upload_to="products")),
                ("thumb", models.FileField(max_length=255, upload_to="products")),
                ("medium", models.FileField(max_length=255, upload_to="products")),
                ("width", models.PositiveIntegerField()),
                ("height", models.PositiveIntegerField()),
                ("alt", models.CharField(blank=True, help_text="Text shown in its place.", max_length=255)),
                ("position", models.PositiveIntegerField(default=0, validators=[django.core.validators.MaxValueValidator(2147483647)])),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ("product", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="images", to="products.product")),
            ],
            options={"ordering": ["position", "id"]},
        ),
        migrations.AddIndex(
            model_name="productimage",
            index=models.Index(fields=["product", "position", "id"], name="product_image_order_idx"),
        ),
    ]
