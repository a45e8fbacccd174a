//! Raw SQL on a test database, behind the store's back, on either backend:
//! tampering with the log, checking that the database itself refuses what
//! the store would never send, building a database in an old schema. Every
//! test that runs SQL of its own goes through [`RawDb`]; so do the schemas
//! each PostgreSQL test gets ([`create_postgres_schema`],
//! [`drop_postgres_schema`]).

use std::path::Path;
use std::str::FromStr;

use sqlx::postgres::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

use crate::helpers::{postgres_schema_url, postgres_url, random_hex, Location};

/// A test database opened on a pool of its own, outside the store.
pub enum RawDb {
    /// The SQLite file, with foreign keys enforced as the store has them.
    Sqlite(SqlitePool),
    /// The test's schema on the PostgreSQL server (its `search_path`).
    Postgres(PgPool),
}

impl RawDb {
    /// Opens the database at `location`.
    ///
    /// # Panics
    /// If the database cannot be reached: a test that tampers with a
    /// database must not pass because it never got there.
    pub async fn open(location: &Location) -> RawDb {
        match location {
            Location::Sqlite { url, .. } => {
                let options = SqliteConnectOptions::from_str(url)
                    .expect("sqlite url")
                    .foreign_keys(true);
                RawDb::Sqlite(SqlitePool::connect_with(options).await.expect("sqlite"))
            }
            Location::Postgres { schema } => RawDb::Postgres(
                PgPool::connect(&postgres_schema_url(schema))
                    .await
                    .expect("postgres"),
            ),
        }
    }

    /// Runs one statement; returns the rows it affected, or the database's
    /// refusal.
    pub async fn execute(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match self {
            RawDb::Sqlite(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
            RawDb::Postgres(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
        }
    }

    /// Locks `table` against every other session (PostgreSQL's `access
    /// exclusive` mode) until the returned transaction ends.
    ///
    /// # Panics
    /// On SQLite, which has no table locks, or if the lock is refused.
    pub async fn lock_table(&self, table: &str) -> sqlx::Transaction<'static, sqlx::Postgres> {
        let RawDb::Postgres(pool) = self else {
            panic!("SQLite has no table locks");
        };
        let mut tx = pool.begin().await.expect("begin");
        sqlx::query(&format!("lock table {table} in access exclusive mode"))
            .execute(&mut *tx)
            .await
            .expect("lock");
        tx
    }

    /// Runs a query whose first column is text; returns that column.
    pub async fn text_column(&self, sql: &str) -> Result<Vec<String>, sqlx::Error> {
        let rows: Vec<(String,)> = match self {
            RawDb::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await?,
            RawDb::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await?,
        };
        Ok(rows.into_iter().map(|(text,)| text).collect())
    }

    /// Applies the migrations in `dir` (an older schema than the store's).
    ///
    /// # Panics
    /// If they cannot be read or applied.
    pub async fn migrate(&self, dir: &Path) {
        let migrator = sqlx::migrate::Migrator::new(dir).await.expect("migrator");
        match self {
            RawDb::Sqlite(pool) => migrator.run(pool).await,
            RawDb::Postgres(pool) => migrator.run(pool).await,
        }
        .expect("migrations");
    }

    /// Closes the pool, so nothing of the test's holds the database.
    pub async fn close(self) {
        match self {
            RawDb::Sqlite(pool) => pool.close().await,
            RawDb::Postgres(pool) => pool.close().await,
        }
    }
}

/// A fresh, empty schema on the test PostgreSQL server; returns its name.
///
/// # Panics
/// If the server cannot be reached: the suite requires it.
pub async fn create_postgres_schema() -> String {
    let schema = format!("t_{}", random_hex(8));
    let server = PgPool::connect(&postgres_url())
        .await
        .expect("PostgreSQL is required for the test suite");
    sqlx::query(&format!("create schema \"{schema}\""))
        .execute(&server)
        .await
        .expect("create schema");
    server.close().await;
    schema
}

/// Drops a test schema and everything in it. Best effort (it runs while a
/// test is being torn down): errors are ignored.
pub async fn drop_postgres_schema(schema: &str) {
    let Ok(server) = PgPool::connect(&postgres_url()).await else {
        return;
    };
    let _ = sqlx::query(&format!("drop schema if exists \"{schema}\" cascade"))
        .execute(&server)
        .await;
    server.close().await;
}
