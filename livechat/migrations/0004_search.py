"""Full-text search of messages: on PostgreSQL a stored tsvector (subject weighted
above body, English stems) with a GIN index; on SQLite an FTS5 index kept by
triggers. Neither is a model field: livechat/search.py queries them."""

from django.db import migrations

PG_FORWARD = [
    "ALTER TABLE livechat_message ADD COLUMN search tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('english'::regconfig, coalesce(subject, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, body), 'B')) STORED",
    "CREATE INDEX message_search ON livechat_message USING GIN (search)",
]
PG_BACKWARD = ["DROP INDEX IF EXISTS message_search", "ALTER TABLE livechat_message DROP COLUMN IF EXISTS search"]

SQLITE_FORWARD = [
    "CREATE VIRTUAL TABLE livechat_message_fts USING fts5(subject, body, content='livechat_message', "
    "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER livechat_message_fts_ai AFTER INSERT ON livechat_message BEGIN "
    "INSERT INTO livechat_message_fts(rowid, subject, body) VALUES (new.id, new.subject, new.body); END",
    "CREATE TRIGGER livechat_message_fts_ad AFTER DELETE ON livechat_message BEGIN "
    "INSERT INTO livechat_message_fts(livechat_message_fts, rowid, subject, body) "
    "VALUES ('delete', old.id, old.subject, old.body); END",
    "CREATE TRIGGER livechat_message_fts_au AFTER UPDATE OF subject, body ON livechat_message BEGIN "
    "INSERT INTO livechat_message_fts(livechat_message_fts, rowid, subject, body) "
    "VALUES ('delete', old.id, old.subject, old.body); "
    "INSERT INTO livechat_message_fts(rowid, subject, body) VALUES (new.id, new.subject, new.body); END",
    "INSERT INTO livechat_message_fts(livechat_message_fts) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS livechat_message_fts_ai",
    "DROP TRIGGER IF EXISTS livechat_message_fts_ad",
    "DROP TRIGGER IF EXISTS livechat_message_fts_au",
    "DROP TABLE IF EXISTS livechat_message_fts",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("livechat", "0003_rooms")]
    operations = [
        migrations.RunPython(
            _run({"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        )
    ]
