"""Idempotency records are kept answers only: a claim is now a lock held by the request's
transaction (apiproject.api.idempotency), so there is no unfinished row (status_code null)
and no lease (claimed_at) any more.

Claims left by the old code are dropped first (those of requests that died hold their keys
until their lease ends otherwise). The old code cannot write without `claimed_at`: stop it
before migrating. Backwards, `claimed_at` comes back filled from each answer's expiry, as the
old code wrote it.
"""

from datetime import timedelta

from django.db import migrations, models

TTL = timedelta(days=1)  # API_IDEMPOTENCY_TTL_SECONDS when the old code ran


def drop_unfinished_claims(apps, schema_editor):
    IdempotencyRecord = apps.get_model("api", "IdempotencyRecord")
    IdempotencyRecord.objects.filter(status_code__isnull=True).delete()


def fill_claimed_at(apps, schema_editor):
    IdempotencyRecord = apps.get_model("api", "IdempotencyRecord")
    IdempotencyRecord.objects.update(claimed_at=models.F("expires_at") - TTL)


class Migration(migrations.Migration):

    dependencies = [
        ("api", "0001_idempotency_records"),
    ]

    operations = [
        migrations.RunPython(drop_unfinished_claims, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="status_code",
            field=models.PositiveSmallIntegerField(),
        ),
        # Nullable before it goes, so that backwards it comes back nullable, is filled, and
        # only then is required again.
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="claimed_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.RunPython(migrations.RunPython.noop, fill_claimed_at),
        migrations.RemoveField(
            model_name="idempotencyrecord",
            name="claimed_at",
        ),
    ]
