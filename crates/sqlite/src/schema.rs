//! The tables, created on open, and the schema version check.
//!
//! Table names carry a `session_plus_` prefix so the store can share a database
//! file with the application's own tables.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};
use session_plus_core::{Error, Result};

use crate::db;

/// The schema version this crate writes and reads. Version 1 (no `moved`
/// column) is upgraded in place when opened.
pub(crate) const VERSION: i64 = 2;

/// `STRICT` tables make SQLite enforce column types, so meta can never be read
/// back as the wrong type; only field values (JSON text) can be corrupt.
/// Fields live in their own table, one row per field, so an update writes only
/// the fields it changes. `records` is `WITHOUT ROWID` (small rows looked up by
/// key); `fields` keeps a rowid because values can be large.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS session_plus_schema (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS session_plus_records (
    key       TEXT    PRIMARY KEY NOT NULL,
    permanent INTEGER NOT NULL CHECK (permanent IN (0, 1)),
    created   INTEGER NOT NULL,
    accessed  INTEGER NOT NULL,
    expires   INTEGER NOT NULL,
    binding   TEXT    NOT NULL,
    moved     INTEGER NOT NULL DEFAULT 0 CHECK (moved IN (0, 1))
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS session_plus_records_expires ON session_plus_records (expires);
CREATE TABLE IF NOT EXISTS session_plus_fields (
    key        TEXT NOT NULL,
    name       TEXT NOT NULL,
    value_json TEXT NOT NULL,
    PRIMARY KEY (key, name)
) STRICT;
";

/// Version 1 to 2: tombstones (a session moved to a new id at login) get
/// their own column; every existing record is a live record.
const V1_TO_V2: &str = "
ALTER TABLE session_plus_records
    ADD COLUMN moved INTEGER NOT NULL DEFAULT 0 CHECK (moved IN (0, 1));
UPDATE session_plus_schema SET version = 2 WHERE id = 1;
";

/// Create the tables if needed, upgrade an older schema, and check the stored
/// schema version, in one write transaction (so two processes opening a file
/// at once agree).
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    tx.execute_batch(SCHEMA).map_err(db)?;
    let stored: Option<i64> = tx
        .query_row(
            "SELECT version FROM session_plus_schema WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?;
    match stored {
        None => {
            tx.execute(
                "INSERT INTO session_plus_schema (id, version) VALUES (1, ?1)",
                [VERSION],
            )
            .map_err(db)?;
        }
        Some(v) if v == VERSION => {}
        Some(1) => tx.execute_batch(V1_TO_V2).map_err(db)?,
        Some(v) => {
            return Err(Error::backend(
                crate::LABEL,
                format!(
                    "the database has session-plus-sqlite schema version {v}; this version of the crate reads version {VERSION} only"
                ),
            ));
        }
    }
    tx.commit().map_err(db)
}
