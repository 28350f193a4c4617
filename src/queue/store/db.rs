//! One SQL surface over the two engines the queue can live in: the embedded SQLite file (one
//! machine, the default) and a shared PostgreSQL (several machines). The store's queries are
//! written once, in the dialect both engines share, with `?N` placeholders; this module binds
//! them, reads rows back through one value type, and gives both engines the same write
//! transaction: one writer at a time, the lock taken at `BEGIN`.

use std::cell::Cell;

use super::pg::PgConn;

/// A value bound to or read from a query, whatever the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// Why a query failed, in either engine.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}", crate::queue::store::pg::describe(.0))]
    Pg(#[from] postgres::Error),
    /// The shared database could not be reached for longer than the store waits.
    #[error("the shared queue database at {target} did not answer for {waited_s} s: {last}")]
    Unreachable {
        target: String,
        waited_s: u64,
        last: String,
    },
    /// The database restarted in the middle of a transaction, and replaying it read something
    /// else: the change was not made (the caller's step runs again from what is committed).
    #[error("the shared queue database at {target} restarted in the middle of a change; the change was not made")]
    Interrupted { target: String },
    /// TLS to the shared database cannot be set up or was refused (see `pg_tls`).
    #[error("TLS to {target}: {message}")]
    Tls { target: String, message: String },
    #[error("query returned no rows")]
    NoRows,
    #[error("column {index}: expected {want}, found {found}")]
    Type {
        index: usize,
        want: &'static str,
        found: &'static str,
    },
}

/// Turns a Rust value into a [`Value`] to bind.
pub trait ToValue {
    /// The bound value.
    fn to_value(&self) -> Value;
}

/// Reads a Rust value out of a column.
pub trait FromValue: Sized {
    /// The value, or why the column does not hold one.
    fn from_value(v: Value, index: usize) -> Result<Self, DbError>;
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "integer",
            Value::Real(_) => "real",
            Value::Text(_) => "text",
            Value::Blob(_) => "blob",
        }
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}
impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Int(*self)
    }
}
impl ToValue for i32 {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for u32 {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for std::borrow::Cow<'_, str> {
    fn to_value(&self) -> Value {
        Value::Text(self.to_string())
    }
}
impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

impl FromValue for Value {
    fn from_value(v: Value, _: usize) -> Result<Self, DbError> {
        Ok(v)
    }
}
impl FromValue for i64 {
    fn from_value(v: Value, index: usize) -> Result<Self, DbError> {
        match v {
            Value::Int(i) => Ok(i),
            other => Err(DbError::Type {
                index,
                want: "integer",
                found: other.kind(),
            }),
        }
    }
}
impl FromValue for bool {
    fn from_value(v: Value, index: usize) -> Result<Self, DbError> {
        i64::from_value(v, index).map(|i| i != 0)
    }
}
impl FromValue for f64 {
    fn from_value(v: Value, index: usize) -> Result<Self, DbError> {
        match v {
            Value::Real(f) => Ok(f),
            Value::Int(i) => Ok(i as f64),
            other => Err(DbError::Type {
                index,
                want: "real",
                found: other.kind(),
            }),
        }
    }
}
impl FromValue for String {
    fn from_value(v: Value, index: usize) -> Result<Self, DbError> {
        match v {
            Value::Text(s) => Ok(s),
            Value::Blob(b) => String::from_utf8(b).map_err(|_| DbError::Type {
                index,
                want: "text",
                found: "non-UTF-8 blob",
            }),
            other => Err(DbError::Type {
                index,
                want: "text",
                found: other.kind(),
            }),
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value, index: usize) -> Result<Self, DbError> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v, index).map(Some),
        }
    }
}

/// The parameters of one query, as `params![a, b]` builds them.
pub type Params<'a> = &'a [&'a dyn ToValue];

/// `params![a, b, c]`: the parameters of a query, bound to `?1`, `?2`, `?3`.
macro_rules! params {
    () => {
        &[] as &[&dyn $crate::queue::store::db::ToValue]
    };
    ($($p:expr),+ $(,)?) => {
        &[$(&$p as &dyn $crate::queue::store::db::ToValue),+] as &[&dyn $crate::queue::store::db::ToValue]
    };
}
pub(crate) use params;

/// One row of a result, whichever engine read it.
pub enum Row<'r> {
    Lite(&'r rusqlite::Row<'r>),
    Pg(&'r postgres::Row),
}

impl Row<'_> {
    /// Column `index` as a `T`.
    pub fn get<T: FromValue>(&self, index: usize) -> Result<T, DbError> {
        let v = match self {
            Row::Lite(r) => lite_value(r.get_ref(index)?),
            Row::Pg(r) => r.try_get::<_, Value>(index)?,
        };
        T::from_value(v, index)
    }
}

fn lite_value(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => Value::Text(s.to_owned()),
            Err(_) => Value::Blob(t.to_vec()),
        },
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

fn bind_lite(stmt: &mut rusqlite::Statement<'_>, params: Params<'_>) -> rusqlite::Result<()> {
    for (i, p) in params.iter().enumerate() {
        let v = match p.to_value() {
            Value::Null => rusqlite::types::Value::Null,
            Value::Int(i) => rusqlite::types::Value::Integer(i),
            Value::Real(f) => rusqlite::types::Value::Real(f),
            Value::Text(s) => rusqlite::types::Value::Text(s),
            Value::Blob(b) => rusqlite::types::Value::Blob(b),
        };
        stmt.raw_bind_parameter(i + 1, v)?;
    }
    Ok(())
}

fn owned(params: Params<'_>) -> Vec<Value> {
    params.iter().map(|p| p.to_value()).collect()
}

/// A connection to the queue's database.
pub enum Db {
    Lite(rusqlite::Connection),
    Pg(PgConn),
}

impl Db {
    /// Runs one statement; returns how many rows it changed.
    pub fn execute(&self, sql: &str, params: Params<'_>) -> Result<usize, DbError> {
        match self {
            Db::Lite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                bind_lite(&mut stmt, params)?;
                Ok(stmt.raw_execute()?)
            }
            Db::Pg(c) => c.execute(sql, owned(params)),
        }
    }

    /// Runs several statements without parameters (a migration).
    pub fn execute_batch(&self, sql: &str) -> Result<(), DbError> {
        match self {
            Db::Lite(c) => Ok(c.execute_batch(sql)?),
            Db::Pg(c) => c.batch(sql),
        }
    }

    /// The first row of a query, mapped by `f`; [`DbError::NoRows`] when there is none.
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        f: impl FnOnce(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut f = Some(f);
        let mut out = None;
        self.each(sql, params, &mut |row| {
            if let Some(f) = f.take() {
                out = Some(f(row)?);
            }
            Ok(())
        })?;
        out.ok_or(DbError::NoRows)
    }

    /// Every row of a query, mapped by `f`.
    pub fn query_map<T>(
        &self,
        sql: &str,
        params: Params<'_>,
        mut f: impl FnMut(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<Vec<T>, DbError> {
        let mut out = Vec::new();
        self.each(sql, params, &mut |row| {
            out.push(f(row)?);
            Ok(())
        })?;
        Ok(out)
    }

    fn each(
        &self,
        sql: &str,
        params: Params<'_>,
        f: &mut dyn FnMut(&Row<'_>) -> Result<(), DbError>,
    ) -> Result<(), DbError> {
        match self {
            Db::Lite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                bind_lite(&mut stmt, params)?;
                let mut rows = stmt.raw_query();
                while let Some(r) = rows.next()? {
                    f(&Row::Lite(r))?;
                }
                Ok(())
            }
            Db::Pg(c) => {
                for r in c.query(sql, owned(params))? {
                    f(&Row::Pg(&r))?;
                }
                Ok(())
            }
        }
    }

    /// A prepared form of a query, for code written against a statement (`stmt.query_map`).
    pub fn prepare<'c>(&'c self, sql: &str) -> Result<Stmt<'c>, DbError> {
        Ok(Stmt {
            db: self,
            sql: sql.to_owned(),
        })
    }

    /// The id the last `INSERT` into a table with a generated key got on this connection.
    pub fn last_insert_rowid(&self) -> Result<i64, DbError> {
        match self {
            Db::Lite(c) => Ok(c.last_insert_rowid()),
            Db::Pg(_) => self.query_row("SELECT lastval()", params![], |r| r.get(0)),
        }
    }

    /// Starts the write transaction: the engine's one write lock, taken now, so whatever the
    /// transaction reads stays true until it commits (SQLite `BEGIN IMMEDIATE`; PostgreSQL a
    /// transaction-scoped advisory lock every writer of the queue takes first).
    pub fn write_tx(&self) -> Result<Tx<'_>, DbError> {
        match self {
            Db::Lite(c) => c.execute_batch("BEGIN IMMEDIATE")?,
            Db::Pg(c) => c.begin()?,
        }
        Ok(Tx {
            db: self,
            open: Cell::new(true),
        })
    }

    /// Whether this is the shared (PostgreSQL) engine.
    pub fn is_shared(&self) -> bool {
        matches!(self, Db::Pg(_))
    }
}

/// A query kept for repeated use (the engines cache the prepared statement by its text).
pub struct Stmt<'c> {
    db: &'c Db,
    sql: String,
}

impl Stmt<'_> {
    /// Every row, mapped by `f`.
    pub fn query_map<T>(
        &mut self,
        params: Params<'_>,
        f: impl FnMut(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<std::vec::IntoIter<Result<T, DbError>>, DbError> {
        let rows = self.db.query_map(&self.sql, params, f)?;
        Ok(rows.into_iter().map(Ok).collect::<Vec<_>>().into_iter())
    }

    /// Runs it once.
    pub fn execute(&mut self, params: Params<'_>) -> Result<usize, DbError> {
        self.db.execute(&self.sql, params)
    }
}

/// An open write transaction; rolled back when dropped without [`Tx::commit`].
pub struct Tx<'c> {
    db: &'c Db,
    open: Cell<bool>,
}

impl Tx<'_> {
    /// Makes everything the transaction wrote durable, at once.
    pub fn commit(self) -> Result<(), DbError> {
        self.open.set(false);
        match self.db {
            Db::Lite(c) => Ok(c.execute_batch("COMMIT")?),
            Db::Pg(c) => c.commit(),
        }
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        self.db
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open.get() {
            let rolled = match self.db {
                Db::Lite(c) => c.execute_batch("ROLLBACK").map_err(DbError::from),
                Db::Pg(c) => c.rollback(),
            };
            if let Err(e) = rolled {
                tracing::warn!(error = %e, "rolling back a queue transaction failed");
            }
        }
    }
}

/// `.optional()` on a single-row result: no row is `None`, not an error.
pub trait OptionalExtension<T> {
    /// The row, or `None` when the query found none.
    fn optional(self) -> Result<Option<T>, DbError>;
}

impl<T> OptionalExtension<T> for Result<T, DbError> {
    fn optional(self) -> Result<Option<T>, DbError> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(DbError::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The store's `?N` placeholders as PostgreSQL's `$N` (a bare `?` takes the next number);
/// quoted text and identifiers are left alone.
pub fn pg_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    let mut next = 1;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            out.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => {
                quote = Some(c);
                out.push(c);
            }
            '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                out.push('$');
                if digits.is_empty() {
                    out.push_str(&next.to_string());
                    next += 1;
                } else {
                    out.push_str(&digits);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollar_numbers_outside_quotes() {
        assert_eq!(
            pg_placeholders("SELECT '?1', x FROM t WHERE a = ?1 AND b = ?12 OR c = ?"),
            "SELECT '?1', x FROM t WHERE a = $1 AND b = $12 OR c = $1"
        );
    }

    #[test]
    fn sqlite_rows_read_back_through_values() {
        let db = Db::Lite(rusqlite::Connection::open_in_memory().unwrap());
        db.execute_batch("CREATE TABLE t (a INTEGER, b TEXT, c BLOB)")
            .unwrap();
        let tx = db.write_tx().unwrap();
        tx.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3)",
            params![7_i64, "x", Value::Blob(vec![0xff])],
        )
        .unwrap();
        tx.commit().unwrap();
        let (a, b, c): (i64, Option<String>, Value) = db
            .query_row("SELECT a, b, c FROM t", params![], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(
            (a, b.as_deref(), c),
            (7, Some("x"), Value::Blob(vec![0xff]))
        );
        {
            let _tx = db.write_tx().unwrap();
            db.execute("DELETE FROM t", params![]).unwrap();
        }
        let n: i64 = db
            .query_row("SELECT COUNT(*) FROM t", params![], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1, "a dropped transaction rolls back");
        assert!(matches!(
            db.query_row("SELECT a FROM t WHERE a = 0", params![], |r| r
                .get::<i64>(0))
                .optional(),
            Ok(None)
        ));
    }
}
