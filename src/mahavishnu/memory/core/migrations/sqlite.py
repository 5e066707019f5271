"""The embedded store's schema, as append-only migrations (see ``migrations/__init__.py``).

Times are fixed-width UTC text (``2025-01-31T12:00:00.000000Z``) written by Python, so they sort,
compare and round-trip exactly. JSON columns are TEXT with ``json_valid`` CHECKs. Vectors are
little-endian float32 BLOBs; their length is checked against ``embedding_dim``.
"""

from __future__ import annotations

import sqlite3

from mahavishnu.memory.core.migrations import Migrations

MIGRATIONS: Migrations[sqlite3.Connection] = Migrations("sqlite")
#: The FTS5 tokenizer of ``memories_fts`` (query helpers must tokenise the same way).
FTS_TOKENIZER = "porter unicode61 remove_diacritics 2"


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run statements one by one: ``executescript`` would COMMIT the migration's transaction."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement: {statement[:80]}")


_JSON_OBJECT = "CHECK (json_valid({0}) AND json_type({0}) = 'object')"
_JSON_ARRAY = "CHECK (json_valid({0}) AND json_type({0}) = 'array')"


@MIGRATIONS
def m001_meta(conn: sqlite3.Connection) -> None:
    """Key/value facts about the store: embedder identity, dimension, reembed progress."""
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID")


@MIGRATIONS
def m002_memories(conn: sqlite3.Connection) -> None:
    """Memories; the unique scope index is the dedup rule (NULL scopes compare equal via ifnull)."""
    run_script(
        conn,
        f"""
        CREATE TABLE memories (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            content TEXT NOT NULL CHECK (length(trim(content)) > 0),
            memory_type TEXT NOT NULL
                CHECK (memory_type IN ('agent', 'rag', 'workflow', 'insight', 'decision', 'note')),
            source_system TEXT,
            agent_id TEXT,
            workflow_id TEXT,
            repo_id TEXT,
            session_id TEXT,
            project TEXT,
            tags TEXT NOT NULL DEFAULT '[]' {_JSON_ARRAY.format("tags")},
            metadata TEXT NOT NULL DEFAULT '{{}}' {_JSON_OBJECT.format("metadata")},
            content_hash TEXT NOT NULL CHECK (length(content_hash) = 64),
            embedding BLOB NOT NULL CHECK (length(embedding) = 4 * embedding_dim),
            embedding_model TEXT NOT NULL,
            embedding_dim INTEGER NOT NULL CHECK (embedding_dim > 0),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX memories_dedup
            ON memories (content_hash, memory_type, ifnull(project, ''), ifnull(repo_id, ''));
        CREATE INDEX memories_type_created ON memories (memory_type, created_at);
        CREATE INDEX memories_created ON memories (created_at);
        CREATE INDEX memories_project ON memories (project) WHERE project IS NOT NULL;
        CREATE INDEX memories_repo ON memories (repo_id) WHERE repo_id IS NOT NULL;
        CREATE INDEX memories_agent ON memories (agent_id) WHERE agent_id IS NOT NULL;
        CREATE INDEX memories_session ON memories (session_id) WHERE session_id IS NOT NULL;
        CREATE INDEX memories_workflow ON memories (workflow_id) WHERE workflow_id IS NOT NULL;
        """,
    )


@MIGRATIONS
def m003_memory_tags(conn: sqlite3.Connection) -> None:
    """Tags mirrored into an indexed table by triggers, so a tag filter is an index lookup."""
    run_script(
        conn,
        """
        CREATE TABLE memory_tags (
            tag TEXT NOT NULL,
            memory_id INTEGER NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
            PRIMARY KEY (tag, memory_id)
        ) WITHOUT ROWID;
        CREATE INDEX memory_tags_memory ON memory_tags (memory_id);
        CREATE TRIGGER memory_tags_ai AFTER INSERT ON memories BEGIN
            INSERT OR IGNORE INTO memory_tags (tag, memory_id) SELECT value, new.id FROM json_each(new.tags);
        END;
        CREATE TRIGGER memory_tags_au AFTER UPDATE OF tags ON memories BEGIN
            DELETE FROM memory_tags WHERE memory_id = old.id;
            INSERT OR IGNORE INTO memory_tags (tag, memory_id) SELECT value, new.id FROM json_each(new.tags);
        END;
        CREATE TRIGGER memory_tags_ad AFTER DELETE ON memories BEGIN
            DELETE FROM memory_tags WHERE memory_id = old.id;
        END;
        """,
    )


@MIGRATIONS
def m004_memories_fts(conn: sqlite3.Connection) -> None:
    """FTS5 over content (external content: no second copy of the text), kept in sync by triggers."""
    run_script(
        conn,
        """
        CREATE VIRTUAL TABLE memories_fts USING fts5 (
            content, content = 'memories', content_rowid = 'id',
            tokenize = 'porter unicode61 remove_diacritics 2'
        );
        CREATE TRIGGER memories_fts_ai AFTER INSERT ON memories BEGIN
            INSERT INTO memories_fts (rowid, content) VALUES (new.id, new.content);
        END;
        CREATE TRIGGER memories_fts_ad AFTER DELETE ON memories BEGIN
            INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', old.id, old.content);
        END;
        CREATE TRIGGER memories_fts_au AFTER UPDATE OF content ON memories BEGIN
            INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', old.id, old.content);
            INSERT INTO memories_fts (rowid, content) VALUES (new.id, new.content);
        END;
        """,
    )


@MIGRATIONS
def m005_vector_changes(conn: sqlite3.Connection) -> None:
    """A log of rows whose vector appeared, changed or vanished.

    The in-RAM vector index (and its on-disk ANN sidecar) catch up from it instead of reloading
    every vector, also when another process wrote. Reembed staging holds new vectors until the
    whole store is done, so a half-finished reembed never mixes two vector spaces.
    """
    run_script(
        conn,
        """
        CREATE TABLE vector_changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            memory_id INTEGER NOT NULL
        );
        CREATE TRIGGER vector_changes_ai AFTER INSERT ON memories BEGIN
            INSERT INTO vector_changes (memory_id) VALUES (new.id);
        END;
        CREATE TRIGGER vector_changes_au AFTER UPDATE OF embedding ON memories BEGIN
            INSERT INTO vector_changes (memory_id) VALUES (new.id);
        END;
        CREATE TRIGGER vector_changes_ad AFTER DELETE ON memories BEGIN
            INSERT INTO vector_changes (memory_id) VALUES (old.id);
        END;
        CREATE TABLE embedding_staging (
            memory_id INTEGER PRIMARY KEY REFERENCES memories (id) ON DELETE CASCADE,
            embedding BLOB NOT NULL
        );
        CREATE TRIGGER embedding_staging_au AFTER UPDATE OF content ON memories BEGIN
            DELETE FROM embedding_staging WHERE memory_id = new.id;
        END;
        CREATE TRIGGER embedding_staging_ad AFTER DELETE ON memories BEGIN
            DELETE FROM embedding_staging WHERE memory_id = old.id;
        END;
        """,
    )


@MIGRATIONS
def m006_activity_tables(conn: sqlite3.Connection) -> None:
    """Conversations, ingestion runs, workflow runs and metrics: created now, filled by later features."""
    run_script(
        conn,
        f"""
        CREATE TABLE agent_conversations (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            agent_id TEXT NOT NULL CHECK (length(agent_id) > 0),
            session_id TEXT NOT NULL CHECK (length(session_id) > 0),
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            content TEXT NOT NULL CHECK (length(content) > 0),
            metadata TEXT NOT NULL DEFAULT '{{}}' {_JSON_OBJECT.format("metadata")},
            memory_id INTEGER REFERENCES memories (id) ON DELETE SET NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX agent_conversations_session ON agent_conversations (agent_id, session_id, created_at);
        CREATE TABLE rag_ingestions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            repo_id TEXT NOT NULL CHECK (length(repo_id) > 0),
            repo_path TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'in_progress', 'completed', 'failed')),
            files_seen INTEGER NOT NULL DEFAULT 0 CHECK (files_seen >= 0),
            files_indexed INTEGER NOT NULL DEFAULT 0 CHECK (files_indexed >= 0),
            files_skipped INTEGER NOT NULL DEFAULT 0 CHECK (files_skipped >= 0),
            files_removed INTEGER NOT NULL DEFAULT 0 CHECK (files_removed >= 0),
            chunks_created INTEGER NOT NULL DEFAULT 0 CHECK (chunks_created >= 0),
            chunks_removed INTEGER NOT NULL DEFAULT 0 CHECK (chunks_removed >= 0),
            error TEXT,
            metadata TEXT NOT NULL DEFAULT '{{}}' {_JSON_OBJECT.format("metadata")},
            started_at TEXT NOT NULL,
            finished_at TEXT,
            duration_seconds REAL CHECK (duration_seconds IS NULL OR duration_seconds >= 0)
        );
        CREATE INDEX rag_ingestions_repo ON rag_ingestions (repo_id, started_at);
        CREATE TABLE workflow_executions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            workflow_id TEXT NOT NULL CHECK (length(workflow_id) > 0),
            adapter TEXT NOT NULL CHECK (length(adapter) > 0),
            repos TEXT NOT NULL DEFAULT '[]' {_JSON_ARRAY.format("repos")},
            status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
            result TEXT CHECK (result IS NULL OR json_valid(result)),
            duration_seconds REAL CHECK (duration_seconds IS NULL OR duration_seconds >= 0),
            error TEXT,
            memory_id INTEGER REFERENCES memories (id) ON DELETE SET NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX workflow_executions_workflow ON workflow_executions (workflow_id, created_at);
        CREATE INDEX workflow_executions_status ON workflow_executions (status, created_at);
        CREATE TABLE performance_metrics (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            component TEXT NOT NULL CHECK (length(component) > 0),
            metric_type TEXT NOT NULL CHECK (length(metric_type) > 0),
            metrics TEXT NOT NULL {_JSON_OBJECT.format("metrics")},
            recorded_at TEXT NOT NULL
        );
        CREATE INDEX performance_metrics_component
            ON performance_metrics (component, metric_type, recorded_at);
        """,
    )


@MIGRATIONS
def m007_groups_and_shares(conn: sqlite3.Connection) -> None:
    """Project groups, insights shared with projects, and a unique id for imported conversation turns
    (a transcript imported twice adds nothing)."""
    run_script(
        conn,
        """
        ALTER TABLE agent_conversations ADD COLUMN external_id TEXT;
        CREATE UNIQUE INDEX agent_conversations_external
            ON agent_conversations (external_id) WHERE external_id IS NOT NULL;
        CREATE INDEX agent_conversations_created ON agent_conversations (created_at);
        CREATE INDEX workflow_executions_created ON workflow_executions (created_at);
        -- deleting memories looks up the rows that point at them: without these, a full scan each
        CREATE INDEX agent_conversations_memory
            ON agent_conversations (memory_id) WHERE memory_id IS NOT NULL;
        CREATE INDEX workflow_executions_memory
            ON workflow_executions (memory_id) WHERE memory_id IS NOT NULL;
        CREATE TABLE project_groups (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
            description TEXT,
            created_at TEXT NOT NULL
        );
        CREATE TABLE project_group_members (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            group_name TEXT NOT NULL REFERENCES project_groups (name) ON DELETE CASCADE,
            project TEXT NOT NULL CHECK (length(trim(project)) > 0),
            added_at TEXT NOT NULL,
            UNIQUE (group_name, project)
        );
        CREATE INDEX project_group_members_project ON project_group_members (project);
        CREATE TABLE insight_shares (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            memory_id INTEGER NOT NULL REFERENCES memories (id) ON DELETE CASCADE,
            project TEXT NOT NULL CHECK (length(trim(project)) > 0),
            via TEXT NOT NULL,
            shared_at TEXT NOT NULL,
            UNIQUE (memory_id, project)
        );
        CREATE INDEX insight_shares_project ON insight_shares (project, memory_id);
        """,
    )


@MIGRATIONS
def m008_global_memories(conn: sqlite3.Connection) -> None:
    """The memories of no project (they hold everywhere: a project's recall takes them in); the
    project index leaves NULLs out, and without this a recall's filter scanned every row."""
    conn.execute("CREATE INDEX memories_global ON memories (id) WHERE project IS NULL")
