from django.db import migrations


def create_default_room(apps, schema_editor):
    Room = apps.get_model("livechat", "Room")
    Room.objects.get_or_create(pk=1, defaults={"name": "general"})


class Migration(migrations.Migration):
    dependencies = [("livechat", "0001_initial")]
    operations = [migrations.RunPython(create_default_room, migrations.RunPython.noop)]
