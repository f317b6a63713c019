"""The default room was inserted with an explicit id (1): on PostgreSQL the id
sequence must move past it before rooms are created the ordinary way."""

from django.db import migrations

from livechat.stream import ROOM_SEQUENCE_SQL


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ROOM_SEQUENCE_SQL)


class Migration(migrations.Migration):
    dependencies = [("livechat", "0004_search")]
    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
