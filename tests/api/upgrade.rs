//! Upgrading a registry whose database predates payouts: the migration that
//! adds the `payout` document kind rebuilds SQLite's `documents` table, so
//! check on both backends that every row, every reference to it and the
//! append-only guard survive, and that the new kind is accepted.

use std::sync::Arc;

use consentry::store::{self, Store};

use crate::helpers::*;
use crate::raw_db::create_postgres_schema;

crate::both_backends_raw!(upgrade_to_payouts_keeps_history);

/// Rows of a small registry, in the schema of migrations 0001 and 0002: an
/// artist, their key, and a statement about two works.
const OLD_ROWS: &[&str] = &[
    "insert into documents (seq, id, kind, artist_id, payload_type, payload, signatures, received_at)
     values (0, 'a', 'artist', 'a', 't', X'61', '[]', 10)",
    "insert into documents (seq, id, kind, artist_id, payload_type, payload, signatures, received_at)
     values (1, 's', 'statement', 'a', 't', X'73', '[]', 20)",
    "insert into artists (artist_id, display_name, registered_at, registered_seq, artist_no)
     values ('a', 'Ana', 10, 0, 0)",
    "insert into artist_keys (key_id, artist_id, added_at, added_seq, key_no)
     values ('ed25519:00', 'a', 10, 0, 0)",
    "insert into statement_works (work_hash, seq, artist_no, key_no, issued_at, received_at)
     values (X'01', 1, 0, 0, 5, 20)",
    "insert into statement_works (work_hash, seq, artist_no, key_no, issued_at, received_at)
     values (X'02', 1, 0, 0, 5, 20)",
];

/// A folder holding the backend's migrations before payouts.
fn old_migrations(backend: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tmp");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    for name in ["0001_registry_core.sql", "0002_transparency_log.sql"] {
        std::fs::copy(src.join(name), dir.path().join(name)).expect("copy migration");
    }
    dir
}

/// `sql` as the backend at `location` spells it: bytea literals are
/// `'\x..'` on PostgreSQL.
fn spelled_for(location: &Location, sql: &str) -> String {
    match location {
        Location::Sqlite { .. } => sql.to_owned(),
        Location::Postgres { .. } => sql.replace("X'", "'\\x"),
    }
}

async fn upgrade_to_payouts_keeps_history(backend: Backend) {
    let location = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("tmp");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
            Location::Sqlite { _dir: dir, url }
        }
        Backend::Postgres => Location::Postgres {
            schema: create_postgres_schema().await,
        },
    };
    let old = old_migrations(match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    });
    let db = RawDb::open(&location).await;
    db.migrate(old.path()).await;
    for sql in OLD_ROWS {
        let sql = spelled_for(&location, sql);
        db.execute(&sql).await.expect(&sql);
    }
    db.close().await;
    let store: Arc<dyn Store> = match &location {
        Location::Sqlite { url, .. } => store::open(url).await.expect("upgrade"),
        Location::Postgres { schema } => Arc::new(
            store::postgres::PgStore::open_in_schema(&postgres_url(), schema)
                .await
                .expect("upgrade"),
        ),
    };
    let counts = store.counts().await.expect("counts");
    assert_eq!(
        (
            counts.documents,
            counts.artists,
            counts.keys,
            counts.statement_works
        ),
        (2, 1, 1, 2)
    );
    let docs = store.documents_from(0, 10).await.expect("documents");
    let ids: Vec<(&str, &str)> = docs
        .iter()
        .map(|d| (d.doc.id.as_str(), d.doc.kind.as_str()))
        .collect();
    assert_eq!(ids, [("a", "artist"), ("s", "statement")]);
    assert_eq!(docs[1].doc.payload, b"s");

    let mut checks: Vec<(&str, bool)> = vec![
        // History stays append-only.
        ("delete from documents where seq = 1", false),
        ("update documents set artist_id = 'b' where seq = 0", false),
        // References to documents still hold.
        (
            "insert into statement_works (work_hash, seq, artist_no, key_no, issued_at, received_at)
             values (X'03', 99, 0, 0, 5, 20)",
            false,
        ),
        // The new kind is accepted, unknown kinds are not.
        (
            "insert into documents (seq, id, kind, artist_id, payload_type, payload, signatures, received_at)
             values (2, 'p', 'payout', 'b_00', 't', X'70', '[]', 30)",
            true,
        ),
        (
            "insert into documents (seq, id, kind, artist_id, payload_type, payload, signatures, received_at)
             values (3, 'x', 'other', 'a', 't', X'78', '[]', 40)",
            false,
        ),
    ];
    if backend == Backend::Sqlite {
        checks.push(("pragma foreign_key_check", true));
    }
    let db = RawDb::open(&location).await;
    for (sql, succeeds) in checks {
        let r = db.execute(&spelled_for(&location, sql)).await;
        assert_eq!(r.is_ok(), succeeds, "{sql}: {r:?}");
    }
    if backend == Backend::Sqlite {
        let dangling = db
            .text_column("select \"table\" from pragma_foreign_key_check")
            .await
            .expect("foreign key check");
        assert!(dangling.is_empty(), "dangling references: {dangling:?}");
    }
    db.close().await;
}
