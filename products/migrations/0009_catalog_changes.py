# The change history's table, and the triggers that fill it (products.history).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from products.history import install_triggers, remove_triggers


def create_triggers(apps, schema_editor):
    install_triggers(schema_editor.connection)


def drop_triggers(apps, schema_editor):
    remove_triggers(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('products', '0008_product_stock_up_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='CatalogChange',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('table_name', models.CharField(max_length=63)),
                ('object_id', models.BigIntegerField()),
                ('at', models.DateTimeField()),
                ('via', models.CharField(choices=[('api', 'api'), ('admin', 'admin'), ('import', 'import'), ('system', 'system')], max_length=10)),
                ('request_id', models.CharField(max_length=128, null=True)),
                ('changes', models.JSONField()),
                ('actor', models.ForeignKey(db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'indexes': [models.Index(fields=['table_name', 'object_id', 'id'], name='catalog_change_idx')],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
