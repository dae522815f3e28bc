"""The per-owner project total (OwnerProjectTotal), its triggers, and its first values.

Statement-level triggers on PostgreSQL (one grouped update per statement, however many rows a
bulk insert or a cascading delete touches); row-level ones on SQLite, which has no other kind.
"""

from django.conf import settings
from django.db import migrations, models

TABLE = "projects_ownerprojecttotal"

POSTGRESQL_FORWARD = f"""
CREATE FUNCTION projects_total_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO {TABLE} (owner_id, total)
      SELECT owner_id, count(*) FROM new_rows GROUP BY owner_id
      ON CONFLICT (owner_id) DO UPDATE SET total = {TABLE}.total + EXCLUDED.total;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE {TABLE} AS t SET total = t.total - d.n
      FROM (SELECT owner_id, count(*) AS n FROM old_rows GROUP BY owner_id) AS d
      WHERE t.owner_id = d.owner_id;
  ELSE
    INSERT INTO {TABLE} (owner_id, total)
      SELECT owner_id, sum(n) FROM (
        SELECT owner_id, 1 AS n FROM new_rows
        UNION ALL
        SELECT owner_id, -1 AS n FROM old_rows
      ) AS moved GROUP BY owner_id HAVING sum(n) <> 0
      ON CONFLICT (owner_id) DO UPDATE SET total = {TABLE}.total + EXCLUDED.total;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER projects_total_insert AFTER INSERT ON projects_project
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION projects_total_apply();
CREATE TRIGGER projects_total_delete AFTER DELETE ON projects_project
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION projects_total_apply();
CREATE TRIGGER projects_total_update AFTER UPDATE ON projects_project
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION projects_total_apply();
"""

POSTGRESQL_BACKWARD = """
DROP TRIGGER IF EXISTS projects_total_insert ON projects_project;
DROP TRIGGER IF EXISTS projects_total_delete ON projects_project;
DROP TRIGGER IF EXISTS projects_total_update ON projects_project;
DROP FUNCTION IF EXISTS projects_total_apply();
"""

SQLITE_FORWARD = [
    f"""
CREATE TRIGGER projects_total_insert AFTER INSERT ON projects_project BEGIN
  INSERT INTO {TABLE} (owner_id, total) VALUES (NEW.owner_id, 1)
    ON CONFLICT (owner_id) DO UPDATE SET total = total + 1;
END
""",
    f"""
CREATE TRIGGER projects_total_delete AFTER DELETE ON projects_project BEGIN
  UPDATE {TABLE} SET total = total - 1 WHERE owner_id = OLD.owner_id;
END
""",
    f"""
CREATE TRIGGER projects_total_update AFTER UPDATE OF owner_id ON projects_project
WHEN OLD.owner_id <> NEW.owner_id BEGIN
  UPDATE {TABLE} SET total = total - 1 WHERE owner_id = OLD.owner_id;
  INSERT INTO {TABLE} (owner_id, total) VALUES (NEW.owner_id, 1)
    ON CONFLICT (owner_id) DO UPDATE SET total = total + 1;
END
""",
]

SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS projects_total_insert",
    "DROP TRIGGER IF EXISTS projects_total_delete",
    "DROP TRIGGER IF EXISTS projects_total_update",
]

INITIAL_TOTALS = f"""
INSERT INTO {TABLE} (owner_id, total)
SELECT owner_id, count(*) FROM projects_project GROUP BY owner_id
"""


def create_triggers(apps, schema_editor):
    statements = {
        "postgresql": [POSTGRESQL_FORWARD],
        "sqlite": SQLITE_FORWARD,
    }[schema_editor.connection.vendor]
    for statement in statements:
        schema_editor.execute(statement)
    # In the same transaction as the triggers: no project can be made or lost in between.
    schema_editor.execute(INITIAL_TOTALS)


def drop_triggers(apps, schema_editor):
    statements = {
        "postgresql": [POSTGRESQL_BACKWARD],
        "sqlite": SQLITE_BACKWARD,
    }[schema_editor.connection.vendor]
    for statement in statements:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0003_owner_name_unique_and_text_rules"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="OwnerProjectTotal",
            fields=[
                (
                    "owner",
                    models.OneToOneField(
                        on_delete=models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("total", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
