//! `type = "sqlite"` (and `default` with no table): an embedded SQLite
//! database file in WAL mode, one table of keys and values.
//!
//! SQLite calls block, so each runs on tokio's blocking pool. Reads take a
//! connection from a small pool of open ones (WAL: readers never wait for
//! the writer). Writes go through one writer connection, in turn: a
//! database has one writer at a time anyway, and queueing here is a lock
//! hand-over where SQLite's own busy handler would sleep and retry (its
//! back-off put a 37 ms p99 on 32 concurrent increments). Each write is one
//! `BEGIN IMMEDIATE` transaction, so an `increment` is a read and a write no
//! other writer can come between, from this process or another one sharing
//! the file (`busy_timeout` makes that one wait its turn).
//!
//! Keys list in the order they were first written: the cursor is the row id
//! of the last key returned (keyset pagination), stable while keys come and
//! go.

use super::counter::add;
use super::LIST_PAGE;
use anyhow::Context as _;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connections kept open between calls.
const IDLE_CONNECTIONS: usize = 4;
/// How long a writer waits for another's transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS kv (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    value BLOB NOT NULL
)";

pub struct Sqlite {
    path: PathBuf,
    /// Open reader connections.
    idle: Mutex<Vec<Connection>>,
    /// The one connection writes go through.
    writer: Mutex<Connection>,
}

impl Sqlite {
    /// Create the file (and its folder) if need be, with the schema.
    pub fn open(path: &Path) -> anyhow::Result<Sqlite> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the folder {}", dir.display()))?;
        }
        let writer = connect(path)?;
        writer
            .execute(SCHEMA, [])
            .context("cannot create the table")?;
        Ok(Sqlite {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            writer: Mutex::new(writer),
        })
    }

    /// Run `work` on the writer connection, in turn, off the async threads.
    async fn write<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let this = self.clone();
        blocking(move || {
            // A panic in `work` leaves no transaction open: rusqlite rolls
            // back a dropped one.
            let mut writer = this.writer.lock().unwrap_or_else(|p| p.into_inner());
            work(&mut writer).map_err(|e| e.to_string())
        })
        .await
    }

    /// Run `work` with a reader connection, off the async threads.
    async fn with<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, String> {
        let this = self.clone();
        blocking(move || {
            let idle = this.idle.lock().map(|mut idle| idle.pop()).ok().flatten();
            let mut connection = match idle {
                Some(connection) => connection,
                None => connect(&this.path).map_err(|e| format!("{e:#}"))?,
            };
            let result = work(&mut connection).map_err(|e| e.to_string());
            if let Ok(mut idle) = this.idle.lock() {
                if idle.len() < IDLE_CONNECTIONS {
                    idle.push(connection);
                }
            }
            result
        })
        .await
    }

    pub async fn get(self: &Arc<Self>, key: String) -> Result<Option<Vec<u8>>, String> {
        self.with(move |db| {
            db.prepare_cached("SELECT value FROM kv WHERE key = ?1")?
                .query_row([key], |row| row.get(0))
                .optional()
        })
        .await
    }

    pub async fn exists(self: &Arc<Self>, key: String) -> Result<bool, String> {
        self.with(move |db| {
            db.prepare_cached("SELECT 1 FROM kv WHERE key = ?1")?
                .exists([key])
        })
        .await
    }

    pub async fn get_many(
        self: &Arc<Self>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<Vec<u8>>>, String> {
        self.with(move |db| {
            let tx = db.transaction()?;
            let values = {
                let mut select = tx.prepare_cached("SELECT value FROM kv WHERE key = ?1")?;
                keys.iter()
                    .map(|key| select.query_row([key], |row| row.get(0)).optional())
                    .collect::<rusqlite::Result<Vec<_>>>()?
            };
            tx.commit()?;
            Ok(values)
        })
        .await
    }

    /// Write every pair in one transaction (a `set` is a batch of one).
    pub async fn set_many(self: &Arc<Self>, pairs: Vec<(String, Vec<u8>)>) -> Result<(), String> {
        self.write(move |db| {
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO kv (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )?;
                for (key, value) in &pairs {
                    upsert.execute(params![key, value])?;
                }
            }
            tx.commit()
        })
        .await
    }

    pub async fn delete_many(self: &Arc<Self>, keys: Vec<String>) -> Result<(), String> {
        self.write(move |db| {
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut delete = tx.prepare_cached("DELETE FROM kv WHERE key = ?1")?;
                for key in &keys {
                    delete.execute([key])?;
                }
            }
            tx.commit()
        })
        .await
    }

    pub async fn list(
        self: &Arc<Self>,
        cursor: Option<u64>,
    ) -> Result<(Vec<String>, Option<u64>), String> {
        self.with(move |db| {
            let after = cursor.map_or(0, |c| c.min(i64::MAX as u64) as i64);
            let mut select =
                db.prepare_cached("SELECT id, key FROM kv WHERE id > ?1 ORDER BY id LIMIT ?2")?;
            let mut rows: Vec<(i64, String)> = select
                .query_map(params![after, LIST_PAGE as i64 + 1], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            let more = rows.len() > LIST_PAGE;
            rows.truncate(LIST_PAGE);
            let next = more
                .then(|| rows.last().map(|(id, _)| *id as u64))
                .flatten();
            Ok((rows.into_iter().map(|(_, key)| key).collect(), next))
        })
        .await
    }

    /// Read, add and write in one write transaction.
    pub async fn increment(self: &Arc<Self>, key: String, delta: i64) -> Result<u64, String> {
        let outcome = self
            .write(move |db| {
                let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let old: Option<Vec<u8>> = tx
                    .prepare_cached("SELECT value FROM kv WHERE key = ?1")?
                    .query_row([&key], |row| row.get(0))
                    .optional()?;
                let new = match add(&key, old.as_deref(), delta) {
                    Ok(new) => new,
                    Err(message) => return Ok(Err(message)),
                };
                tx.prepare_cached(
                    "INSERT INTO kv (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![key, new.to_string().into_bytes()])?;
                tx.commit()?;
                Ok(Ok(new))
            })
            .await?;
        outcome
    }
}

/// `work` on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| format!("the database call failed: {e}"))?
}

fn connect(path: &Path) -> anyhow::Result<Connection> {
    let db = Connection::open(path).context("cannot open the database")?;
    db.busy_timeout(BUSY_TIMEOUT)
        .context("cannot set the busy timeout")?;
    // WAL: readers never wait for the writer; NORMAL sync is durable across
    // a process crash (an OS crash may lose the last transactions).
    let mode: String = db
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .context("cannot switch the database to WAL")?;
    if !mode.eq_ignore_ascii_case("wal") {
        anyhow::bail!("the database stays in journal mode {mode}, not WAL");
    }
    db.execute_batch("PRAGMA synchronous = NORMAL")
        .context("cannot set synchronous = NORMAL")?;
    Ok(db)
}
