//! The shared queue's connection to PostgreSQL. The store is synchronous and is called from
//! inside the async runtime, where a blocking client may not start its own; so one thread per
//! store handle owns the client and runs each query sent to it.
//!
//! A database that goes away (restarted, failed over, the network down) is waited for: a
//! query is sent again once it answers, and an open write transaction is replayed from its
//! journal. When a replayed read answers differently from the first time, the transaction is
//! refused instead (somebody else changed what it had read), so a replay never writes on a
//! stale reading.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use postgres::types::{FromSql, IsNull, ToSql, Type};
use postgres::{Client, Config, Statement};

use super::db::{pg_placeholders, DbError, Value};
use super::pg_tls::{self, Connector, TlsError};

/// The advisory lock every writer of the shared queue takes at `BEGIN`: PostgreSQL's
/// counterpart of SQLite's single writer, so a transaction's reads hold until it commits.
const WRITE_LOCK: i64 = 0x4c61_7965_7273; // "Layers"

/// How long a query waits for a database that went away, unless `LAYERS_UPLOADER_STORE_WAIT_S`
/// says otherwise: long enough for a restart or a failover, short enough to be told.
const DEFAULT_PATIENCE: Duration = Duration::from_secs(600);

type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// A handle on the thread that owns the PostgreSQL client.
pub struct PgConn {
    jobs: mpsc::Sender<Job>,
    target: String,
}

/// Where a store URL points, without its password: what messages and `queue list` name.
pub fn redacted_target(config: &Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(h) => h.clone(),
            #[cfg(unix)]
            postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let db = config.get_dbname().unwrap_or("");
    format!("postgres://{user}{host}:{port}/{db}")
}

impl PgConn {
    /// Connects (waiting for a database that does not answer yet) and starts the thread.
    pub fn connect(url: &str) -> Result<PgConn, DbError> {
        let (url, tls) = pg_tls::split_url(url).map_err(|message| DbError::Tls {
            target: "the store URL".into(),
            message,
        })?;
        let mut config: Config = url.parse()?;
        let target = redacted_target(&config);
        let connector = tls.connector().map_err(|message| DbError::Tls {
            target: target.clone(),
            message,
        })?;
        config
            .ssl_mode(tls.ssl_mode())
            .application_name("layers-upload")
            .connect_timeout(Duration::from_secs(10))
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30));
        let patience = std::env::var("LAYERS_UPLOADER_STORE_WAIT_S")
            .ok()
            .and_then(|s| s.parse().ok())
            .map_or(DEFAULT_PATIENCE, Duration::from_secs);
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel();
        let name = target.clone();
        std::thread::Builder::new()
            .name("queue-postgres".into())
            .spawn(move || {
                let mut worker = Worker {
                    config,
                    tls: connector,
                    client: None,
                    stmts: HashMap::new(),
                    journal: None,
                    in_tx: false,
                    target: name,
                    patience,
                };
                let _ = ready_tx.send(worker.connected().map(|_| ()));
                while let Ok(job) = rx.recv() {
                    job(&mut worker);
                }
            })
            .map_err(|e| DbError::Unreachable {
                target: target.clone(),
                waited_s: 0,
                last: format!("cannot start the database thread: {e}"),
            })?;
        let gone = || DbError::Unreachable {
            target: target.clone(),
            waited_s: 0,
            last: "the database thread ended".into(),
        };
        ready_rx.recv().map_err(|_| gone())??;
        Ok(PgConn { jobs, target })
    }

    /// `postgres://user@host:port/db`, never the password.
    pub fn target(&self) -> &str {
        &self.target
    }

    fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Worker) -> Result<R, DbError> + Send + 'static,
    ) -> Result<R, DbError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |w| {
            let _ = tx.send(f(w));
        });
        let gone = || DbError::Unreachable {
            target: self.target.clone(),
            waited_s: 0,
            last: "the database thread ended".into(),
        };
        self.jobs.send(job).map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?
    }

    pub(super) fn execute(&self, sql: &str, params: Vec<Value>) -> Result<usize, DbError> {
        let sql = sql.to_owned();
        self.call(move |w| match w.run(&sql, &params, false)? {
            Answer::Count(n) => Ok(n as usize),
            Answer::Rows(_) => Ok(0),
        })
    }

    pub(super) fn query(
        &self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<Vec<postgres::Row>, DbError> {
        let sql = sql.to_owned();
        self.call(move |w| match w.run(&sql, &params, true)? {
            Answer::Rows(rows) => Ok(rows),
            Answer::Count(_) => Ok(Vec::new()),
        })
    }

    pub(super) fn batch(&self, sql: &str) -> Result<(), DbError> {
        let sql = sql.to_owned();
        self.call(move |w| w.batch(&sql))
    }

    pub(super) fn begin(&self) -> Result<(), DbError> {
        self.call(|w| w.begin())
    }

    pub(super) fn commit(&self) -> Result<(), DbError> {
        self.call(|w| w.commit())
    }

    pub(super) fn rollback(&self) -> Result<(), DbError> {
        self.call(|w| w.rollback())
    }
}

enum Answer {
    Count(u64),
    Rows(Vec<postgres::Row>),
}

/// One statement of an open transaction and a digest of its answer, to replay it.
struct Entry {
    sql: String,
    params: Vec<Value>,
    rows: bool,
    digest: u64,
}

struct Worker {
    config: Config,
    tls: Connector,
    client: Option<Client>,
    stmts: HashMap<String, Statement>,
    /// `Some` while a write transaction is open.
    journal: Option<Vec<Entry>>,
    /// Whether the connection has a transaction open (so `ROLLBACK` is sent only then).
    in_tx: bool,
    target: String,
    patience: Duration,
}

impl Worker {
    /// The client, connecting first (and waiting for the database) when there is none.
    fn connected(&mut self) -> Result<&mut Client, DbError> {
        if self.client.as_ref().is_some_and(|c| c.is_closed()) {
            self.forget();
        }
        if self.client.is_none() {
            let started = Instant::now();
            let mut delay = Duration::from_millis(100);
            let mut told = false;
            loop {
                match self.config.connect(self.tls.clone()) {
                    Ok(c) => {
                        if told {
                            tracing::warn!(target_db = %self.target, "the shared queue database answers again");
                        }
                        self.client = Some(c);
                        break;
                    }
                    Err(e) if is_connection_lost(&e) && started.elapsed() < self.patience => {
                        if !told {
                            tracing::warn!(target_db = %self.target, error = %describe(&e),
                                "waiting for the shared queue database");
                            told = true;
                        }
                        std::thread::sleep(delay);
                        delay = (delay * 2).min(Duration::from_secs(2));
                    }
                    Err(e) if is_connection_lost(&e) => {
                        return Err(DbError::Unreachable {
                            target: self.target.clone(),
                            waited_s: started.elapsed().as_secs(),
                            last: describe(&e),
                        })
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        self.client.as_mut().ok_or(DbError::NoRows)
    }

    fn forget(&mut self) {
        self.client = None;
        self.stmts.clear();
        self.in_tx = false;
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, DbError> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let text = pg_placeholders(sql);
        let stmt = self.connected()?.prepare(&text)?;
        self.stmts.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    fn once(&mut self, sql: &str, params: &[Value], rows: bool) -> Result<Answer, DbError> {
        // Connect first: a new connection drops the statements prepared on the old one.
        self.connected()?;
        let stmt = self.statement(sql)?;
        let refs: Vec<&(dyn ToSql + Sync)> =
            params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let client = self.connected()?;
        Ok(if rows {
            Answer::Rows(client.query(&stmt, &refs)?)
        } else {
            Answer::Count(client.execute(&stmt, &refs)?)
        })
    }

    fn run(&mut self, sql: &str, params: &[Value], rows: bool) -> Result<Answer, DbError> {
        loop {
            match self.once(sql, params, rows) {
                Ok(answer) => {
                    if let Some(journal) = self.journal.as_mut() {
                        journal.push(Entry {
                            sql: sql.to_owned(),
                            params: params.to_vec(),
                            rows,
                            digest: digest(&answer),
                        });
                    }
                    return Ok(answer);
                }
                Err(DbError::Pg(e)) if is_connection_lost(&e) => {
                    tracing::warn!(target_db = %self.target, error = %describe(&e),
                        "the shared queue database went away; waiting to send the query again");
                    self.forget();
                    if self.journal.is_some() {
                        self.replay()?;
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Opens the transaction again on a new connection and replays what it did so far.
    fn replay(&mut self) -> Result<(), DbError> {
        let journal = self.journal.take().unwrap_or_default();
        loop {
            self.open_tx()?;
            let mut lost = false;
            for entry in &journal {
                match self.once(&entry.sql, &entry.params, entry.rows) {
                    Ok(answer) if digest(&answer) == entry.digest => {}
                    Ok(_) => {
                        self.rollback()?;
                        return Err(DbError::Interrupted {
                            target: self.target.clone(),
                        });
                    }
                    Err(DbError::Pg(e)) if is_connection_lost(&e) => {
                        self.forget();
                        lost = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if !lost {
                self.journal = Some(journal);
                return Ok(());
            }
        }
    }

    fn open_tx(&mut self) -> Result<(), DbError> {
        loop {
            let client = self.connected()?;
            let opened = client
                .batch_execute("BEGIN")
                .and_then(|_| client.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK]));
            match opened {
                Ok(_) => {
                    self.in_tx = true;
                    return Ok(());
                }
                Err(e) if is_connection_lost(&e) => self.forget(),
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn begin(&mut self) -> Result<(), DbError> {
        self.open_tx()?;
        self.journal = Some(Vec::new());
        Ok(())
    }

    fn commit(&mut self) -> Result<(), DbError> {
        self.journal = None;
        self.in_tx = false;
        let client = self.connected()?;
        client.batch_execute("COMMIT")?;
        Ok(())
    }

    fn rollback(&mut self) -> Result<(), DbError> {
        self.journal = None;
        if !std::mem::take(&mut self.in_tx) {
            return Ok(());
        }
        if let Some(client) = self.client.as_mut() {
            if let Err(e) = client.batch_execute("ROLLBACK") {
                if is_connection_lost(&e) {
                    self.forget();
                } else {
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        loop {
            let result = self.connected()?.batch_execute(sql);
            match result {
                Ok(()) => return Ok(()),
                Err(e) if is_connection_lost(&e) && self.journal.is_none() => self.forget(),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn digest(answer: &Answer) -> u64 {
    let mut h = DefaultHasher::new();
    match answer {
        Answer::Count(n) => n.hash(&mut h),
        Answer::Rows(rows) => {
            for row in rows {
                for i in 0..row.len() {
                    let v: Value = row.try_get(i).unwrap_or(Value::Null);
                    format!("{v:?}").hash(&mut h);
                }
            }
        }
    }
    h.finish()
}

/// Whether the connection (not the query) failed: the server shut down or restarted, the
/// socket broke, the server is not accepting connections yet.
pub fn is_connection_lost(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        let c = code.code();
        return c.starts_with("08") || c.starts_with("57P");
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        // A refused certificate is not a database that went away: waiting would not help.
        if let Some(tls) = s.downcast_ref::<TlsError>() {
            return tls.is_transient();
        }
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    // Connection-stage failures carry no source but say so.
    e.as_db_error().is_none() && e.to_string().contains("connect")
}

/// A PostgreSQL error as a person reads it: the server's message (and its detail), or the
/// client's; never the connection string.
pub fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(d) => format!("{} ({}; {d})", db.message(), db.code().code()),
            None => format!("{} ({})", db.message(), db.code().code()),
        },
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        }
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                _ => i.to_string().as_str().to_sql(ty, out),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                _ => f.to_sql(ty, out),
            },
            Value::Text(s) => match *ty {
                Type::BYTEA => s.as_bytes().to_sql(ty, out),
                Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
                _ => s.as_str().to_sql(ty, out),
            },
            Value::Blob(b) => match *ty {
                Type::BYTEA => b.as_slice().to_sql(ty, out),
                _ => std::str::from_utf8(b)?.to_sql(ty, out),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

impl<'a> FromSql<'a> for Value {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT2 => Value::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::BOOL => Value::Int(i64::from(bool::from_sql(ty, raw)?)),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::BYTEA => Value::Blob(raw.to_vec()),
            _ => Value::Text(std::str::from_utf8(raw)?.to_owned()),
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Value::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}
