"""Notifications store an event and its parameters instead of a sentence in one language.

Rows written before keep their sentence as the parameter of the ``legacy.message`` event,
which reads as that sentence; new rows are read in the reader's language.
"""

from django.db import migrations, models


def sentences_to_events(apps, schema_editor):
    Notification = apps.get_model("accounts", "Notification")
    for note in Notification.objects.only("pk", "message").iterator():
        Notification.objects.filter(pk=note.pk).update(
            event="legacy.message", params={"message": note.message}
        )


def events_to_sentences(apps, schema_editor):
    Notification = apps.get_model("accounts", "Notification")
    for note in Notification.objects.only("pk", "event", "params").iterator():
        message = note.params.get("message") or note.event
        Notification.objects.filter(pk=note.pk).update(message=str(message)[:300])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_client_keys")]

    operations = [
        migrations.AddField(
            model_name="notification",
            name="event",
            field=models.CharField(default="", max_length=60, verbose_name="event"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="notification",
            name="params",
            field=models.JSONField(blank=True, default=dict, verbose_name="parameters"),
        ),
        migrations.AlterField(
            model_name="notification",
            name="message",
            field=models.CharField(blank=True, max_length=300, verbose_name="message"),
        ),
        migrations.RunPython(sentences_to_events, events_to_sentences),
        migrations.RemoveField(model_name="notification", name="message"),
    ]
