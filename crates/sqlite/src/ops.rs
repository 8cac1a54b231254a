//! The blocking operations, one transaction each. Called on a pool connection
//! inside `spawn_blocking`.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};
use session_plus_core::store::{Changes, Fields, MetaUpdate, Record, RecordMeta};
use session_plus_core::{Error, Result};

use crate::db;

/// What is stored under a key, as far as callers may see.
pub(crate) enum Stored {
    /// No row, or its expiry has passed.
    Absent,
    /// A live row that cannot be decoded (see the crate docs on corruption).
    Corrupt,
    /// A live, readable record (a tombstone included: see `meta.moved`).
    Live(Record),
}

fn immediate(conn: &mut Connection) -> Result<Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)
}

/// The columns `meta_from_row` reads, in order.
const META_COLUMNS: &str = "permanent, created, accessed, expires, binding, moved";

fn meta_from_row(r: &Row<'_>) -> rusqlite::Result<RecordMeta> {
    Ok(
        RecordMeta::new(r.get(2)?, r.get(3)?, r.get::<_, String>(4)?)
            .with_created(r.get(1)?)
            .with_permanent(r.get(0)?)
            .with_moved(r.get(5)?),
    )
}

/// A stored value that does not decode is a property of the data, not a
/// failure of the database.
fn is_decode_error(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
            | rusqlite::Error::Utf8Error(..)
    )
}

/// Read the record under `key` as of `now`, inside `tx`.
pub(crate) fn read(tx: &Transaction<'_>, key: &str, now: i64) -> Result<Stored> {
    let meta = tx
        .prepare_cached(&format!(
            "SELECT {META_COLUMNS} FROM session_plus_records WHERE key = ?1 AND expires > ?2"
        ))
        .map_err(db)?
        .query_row(params![key, now], meta_from_row)
        .optional();
    let meta = match meta {
        Ok(Some(m)) => m,
        Ok(None) => return Ok(Stored::Absent),
        Err(e) if is_decode_error(&e) => return Ok(Stored::Corrupt),
        Err(e) => return Err(db(e)),
    };
    let mut stmt = tx
        .prepare_cached("SELECT name, value_json FROM session_plus_fields WHERE key = ?1")
        .map_err(db)?;
    let mut rows = stmt.query([key]).map_err(db)?;
    let mut fields = Fields::new();
    while let Some(row) = rows.next().map_err(db)? {
        let decoded = (|| {
            let name = row.get_ref(0).ok()?.as_str().ok()?;
            let value = row.get_ref(1).ok()?.as_str().ok()?;
            Some((name.to_owned(), serde_json::from_str(value).ok()?))
        })();
        match decoded {
            Some((name, value)) => {
                fields.insert(name, value);
            }
            None => return Ok(Stored::Corrupt),
        }
    }
    Ok(Stored::Live(Record::new(fields, meta)))
}

/// `load`: a deferred transaction, so meta and fields come from one snapshot.
pub(crate) fn load(conn: &mut Connection, key: &str, now: i64) -> Result<Stored> {
    let tx = conn.transaction().map_err(db)?;
    read(&tx, key, now)
}

fn write_meta(tx: &Transaction<'_>, key: &str, meta: &RecordMeta) -> Result<()> {
    tx.prepare_cached(
        "UPDATE session_plus_records
         SET permanent = ?2, created = ?3, accessed = ?4, expires = ?5, binding = ?6, moved = ?7
         WHERE key = ?1",
    )
    .map_err(db)?
    .execute(params![
        key,
        meta.permanent,
        meta.created,
        meta.accessed,
        meta.expires,
        meta.binding,
        meta.moved
    ])
    .map_err(db)?;
    Ok(())
}

fn upsert_fields<'a>(
    tx: &Transaction<'_>,
    key: &str,
    fields: impl IntoIterator<Item = (&'a String, &'a serde_json::Value)>,
) -> Result<()> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO session_plus_fields (key, name, value_json) VALUES (?1, ?2, ?3)
             ON CONFLICT (key, name) DO UPDATE SET value_json = excluded.value_json",
        )
        .map_err(db)?;
    for (name, value) in fields {
        let json = serde_json::to_string(value).map_err(|e| Error::serialization(name, e))?;
        stmt.execute(params![key, name, json]).map_err(db)?;
    }
    Ok(())
}

fn delete_all(tx: &Transaction<'_>, key: &str) -> Result<usize> {
    tx.prepare_cached("DELETE FROM session_plus_fields WHERE key = ?1")
        .map_err(db)?
        .execute([key])
        .map_err(db)?;
    tx.prepare_cached("DELETE FROM session_plus_records WHERE key = ?1")
        .map_err(db)?
        .execute([key])
        .map_err(db)
}

/// Whether any live row (a tombstone or an unreadable record included) holds `key`.
fn live_row(tx: &Transaction<'_>, key: &str, now: i64) -> Result<bool> {
    let live: Option<i64> = tx
        .prepare_cached("SELECT 1 FROM session_plus_records WHERE key = ?1 AND expires > ?2")
        .map_err(db)?
        .query_row(params![key, now], |r| r.get(0))
        .optional()
        .map_err(db)?;
    Ok(live.is_some())
}

/// Insert `record` under `key`, replacing whatever expired row held it.
fn insert(tx: &Transaction<'_>, key: &str, record: &Record) -> Result<()> {
    delete_all(tx, key)?;
    let m = &record.meta;
    tx.prepare_cached(
        "INSERT INTO session_plus_records (key, permanent, created, accessed, expires, binding, moved)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .map_err(db)?
    .execute(params![
        key,
        m.permanent,
        m.created,
        m.accessed,
        m.expires,
        m.binding,
        m.moved
    ])
    .map_err(db)?;
    upsert_fields(tx, key, &record.fields)
}

/// `create`: refuse if any live row is there (readable or not, a tombstone
/// included), else replace whatever expired row holds the key.
pub(crate) fn create(conn: &mut Connection, key: &str, record: &Record, now: i64) -> Result<bool> {
    let tx = immediate(conn)?;
    if live_row(&tx, key, now)? {
        return Ok(false);
    }
    insert(&tx, key, record)?;
    tx.commit().map_err(db)?;
    Ok(true)
}

/// Read `key` for a write: only a live, readable record that is not a
/// tombstone may be changed.
fn writable(tx: &Transaction<'_>, key: &str, now: i64) -> Result<Stored> {
    Ok(match read(tx, key, now)? {
        Stored::Live(r) if r.meta.moved => Stored::Absent,
        other => other,
    })
}

/// `update` (and `touch`, with no field changes): check that a live, readable
/// record is there, then write only the changed fields and the merged meta.
pub(crate) fn update(
    conn: &mut Connection,
    key: &str,
    changes: &Changes,
    now: i64,
) -> Result<Stored> {
    let tx = immediate(conn)?;
    let stored = writable(&tx, key, now)?;
    let Stored::Live(record) = &stored else {
        return Ok(stored);
    };
    {
        let mut remove = tx
            .prepare_cached("DELETE FROM session_plus_fields WHERE key = ?1 AND name = ?2")
            .map_err(db)?;
        for name in &changes.remove {
            remove.execute(params![key, name]).map_err(db)?;
        }
    }
    upsert_fields(&tx, key, &changes.set)?;
    write_merged_meta(&tx, key, &record.meta, &changes.meta)?;
    tx.commit().map_err(db)?;
    Ok(stored)
}

fn write_merged_meta(
    tx: &Transaction<'_>,
    key: &str,
    stored: &RecordMeta,
    update: &MetaUpdate,
) -> Result<()> {
    let mut meta = stored.clone();
    update.apply_to(&mut meta);
    if meta != *stored {
        write_meta(tx, key, &meta)?;
    }
    Ok(())
}

/// Replace the writable record under `key` by its tombstone, inside `tx`;
/// the record as it was, or `Absent`/`Corrupt`.
fn supersede_in(tx: &Transaction<'_>, key: &str, until: i64, now: i64) -> Result<Stored> {
    let stored = writable(tx, key, now)?;
    if let Stored::Live(record) = &stored {
        tx.prepare_cached("DELETE FROM session_plus_fields WHERE key = ?1")
            .map_err(db)?
            .execute([key])
            .map_err(db)?;
        write_meta(tx, key, &record.tombstone(until).meta)?;
    }
    Ok(stored)
}

/// `supersede`: one immediate transaction, so no write lands between the
/// snapshot and the tombstone.
pub(crate) fn supersede(conn: &mut Connection, key: &str, until: i64, now: i64) -> Result<Stored> {
    let tx = immediate(conn)?;
    let stored = supersede_in(&tx, key, until, now)?;
    tx.commit().map_err(db)?;
    Ok(stored)
}

/// What [`move_to`] found at the old key.
pub(crate) enum Moved {
    /// Moved.
    Done,
    /// No writable record at the old key: nothing written.
    Absent,
    /// The old record is unreadable: nothing written.
    Corrupt,
    /// The new key is taken: nothing written.
    Taken,
}

/// `move_to`: supersede `from` and create `to` in one immediate transaction;
/// either both happen or neither.
pub(crate) fn move_to(
    conn: &mut Connection,
    from: &str,
    to: &str,
    changes: &Changes,
    binding: &str,
    until: i64,
    now: i64,
) -> Result<Moved> {
    let tx = immediate(conn)?;
    let current = match supersede_in(&tx, from, until, now)? {
        Stored::Live(record) => record,
        Stored::Absent => return Ok(Moved::Absent),
        Stored::Corrupt => return Ok(Moved::Corrupt),
    };
    if live_row(&tx, to, now)? {
        return Ok(Moved::Taken); // dropped: rolls back
    }
    insert(&tx, to, &changes.moved_record(&current, binding))?;
    tx.commit().map_err(db)?;
    Ok(Moved::Done)
}

/// `delete`: both tables, in one transaction.
pub(crate) fn delete(conn: &mut Connection, key: &str) -> Result<()> {
    let tx = immediate(conn)?;
    delete_all(&tx, key)?;
    tx.commit().map_err(db)
}

/// Delete up to `limit` expired records; returns how many went.
pub(crate) fn delete_expired_batch(conn: &mut Connection, now: i64, limit: usize) -> Result<usize> {
    let tx = immediate(conn)?;
    let keys: Vec<String> = tx
        .prepare_cached("SELECT key FROM session_plus_records WHERE expires <= ?1 LIMIT ?2")
        .map_err(db)?
        .query_map(
            params![now, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| r.get(0),
        )
        .map_err(db)?
        .collect::<rusqlite::Result<_>>()
        .map_err(db)?;
    let mut removed = 0;
    for key in &keys {
        removed += delete_all(&tx, key)?;
    }
    tx.commit().map_err(db)?;
    Ok(removed)
}

/// Delete every record under `prefix` whose field `name` holds `value_json`
/// (the same JSON text the store writes); returns how many records went.
pub(crate) fn delete_by_field(
    conn: &mut Connection,
    prefix: &str,
    name: &str,
    value_json: &str,
) -> Result<u64> {
    let tx = immediate(conn)?;
    let keys: Vec<String> = tx
        .prepare_cached(
            "SELECT key FROM session_plus_fields
             WHERE name = ?1 AND value_json = ?2 AND substr(key, 1, length(?3)) = ?3",
        )
        .map_err(db)?
        .query_map([name, value_json, prefix], |row| row.get(0))
        .map_err(db)?
        .collect::<std::result::Result<_, _>>()
        .map_err(db)?;
    for key in &keys {
        delete_all(&tx, key)?;
    }
    tx.commit().map_err(db)?;
    Ok(keys.len() as u64)
}
