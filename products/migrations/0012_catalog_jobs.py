"""Catalog jobs: CSV imports and exports started in the admin (products.bulk.jobs). Not a catalog
table: no version triggers, no change history."""

import django.db.models.deletion
import django.utils.timezone
import products.models
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('products', '0011_product_images'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='CatalogJob',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('import', 'Import'), ('export', 'Export')], max_length=10)),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed')], default='queued', max_length=10)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('heartbeat_at', models.DateTimeField(blank=True, help_text='Last sign of life of the worker running it.', null=True)),
                ('categories_file', models.FileField(blank=True, storage=products.models.job_files, upload_to=products.models.job_directory)),
                ('products_file', models.FileField(blank=True, storage=products.models.job_files, upload_to=products.models.job_directory)),
                ('rows_checked', models.PositiveBigIntegerField(default=0)),
                ('rows_written', models.PositiveBigIntegerField(default=0)),
                ('errors', models.JSONField(blank=True, default=list, help_text='FILE:LINE: field: message')),
                ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['status', 'heartbeat_at'], name='catalogjob_status_beat'), models.Index(fields=['-created_at', '-id'], name='catalogjob_newest')],
            },
        ),
    ]
