//! The storage conformance story: the same steps on every backend, checking
//! the trait's contracts (ordering, atomicity, append-only history).

use consentry::crypto::SecretKey;
use consentry::domain::{ContentHash, Timestamp};
use consentry::store::{Append, Document, DocumentKind, Effect, StoreError};

use crate::helpers::*;

crate::both_backends_raw!(storage_story);

fn doc(id: &str, kind: DocumentKind, artist: &str, at: i64) -> Document {
    Document {
        id: id.to_owned(),
        kind,
        artist_id: artist.to_owned(),
        payload_type: "test".to_owned(),
        payload: id.as_bytes().to_vec(),
        signatures: Vec::new(),
        received_at: Timestamp::from_unix_nanos(at),
    }
}

async fn storage_story(backend: Backend) {
    let (store, location) = open_store(backend).await;
    assert_eq!(
        store.backend(),
        match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    );
    let k1 = SecretKey::from_seed(&[1; 32]).public_key();
    let k2 = SecretKey::from_seed(&[2; 32]).public_key();
    let (w1, w2) = (ContentHash::of(b"w1"), ContentHash::of(b"w2"));

    // 1. An artist, then statements: seqs are 0.. and consecutive.
    let seqs = store
        .append(&[Append {
            doc: doc("artist-a", DocumentKind::Artist, "artist-a", 10),
            effects: vec![Effect::ArtistCreated {
                display_name: "Ana".into(),
                key: k1,
            }],
        }])
        .await
        .expect("append artist");
    assert_eq!(seqs, vec![0]);
    let statement = |id: &str, at: i64, issued: i64, works: Vec<ContentHash>| Append {
        doc: doc(id, DocumentKind::Statement, "artist-a", at),
        effects: vec![Effect::Statement {
            key: k1,
            issued_at: Timestamp::from_unix_nanos(issued),
            works,
        }],
    };
    let seqs = store
        .append(&[
            statement("s1", 20, 100, vec![w1, w2]),
            statement("s2", 30, 200, vec![w1]),
        ])
        .await
        .expect("append statements");
    assert_eq!(seqs, vec![1, 2]);

    // 2. Reads.
    let docs = store
        .documents_by_id(&["s2".into(), "s1".into(), "nope".into()])
        .await
        .expect("by id");
    assert_eq!(docs.iter().map(|d| d.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(docs[0].doc.payload, b"s1".to_vec());
    let mut claims = store
        .artist_claims("artist-a", &[w1, w2])
        .await
        .expect("claims");
    claims.sort_by_key(|c| (c.work, c.issued_at));
    let mut expected = vec![(w1, 100, 20), (w1, 200, 30), (w2, 100, 20)];
    expected.sort();
    assert_eq!(
        claims
            .iter()
            .map(|c| (c.work, c.issued_at.unix_nanos(), c.received_at.unix_nanos()))
            .collect::<Vec<_>>(),
        expected
    );
    assert!(claims.iter().all(|c| c.key == k1.to_string()));
    assert!(store
        .artist_claims("artist-b", &[w1])
        .await
        .expect("claims")
        .is_empty());
    let history = store.work_history(&w1).await.expect("history");
    assert_eq!(
        history
            .iter()
            .map(|h| h.doc.id.as_str())
            .collect::<Vec<_>>(),
        ["s1", "s2"]
    );
    assert_eq!(history[0].display_name, "Ana");
    let mut works = vec![w1, w2];
    works.sort();
    assert_eq!(
        store
            .artist_works("artist-a", None, 10)
            .await
            .expect("works"),
        works
    );
    assert_eq!(
        store
            .artist_works("artist-a", Some(works[0]), 10)
            .await
            .expect("works"),
        vec![works[1]]
    );
    assert_eq!(
        store.last_received_at().await.expect("last"),
        Some(Timestamp::from_unix_nanos(30))
    );
    let key = store.key(&k1).await.expect("key").expect("present");
    assert_eq!((key.artist_id.as_str(), key.revoked_at), ("artist-a", None));

    // 3. All or nothing: a batch whose second item conflicts leaves no trace.
    let before = store.counts().await.expect("counts");
    let err = store
        .append(&[
            statement("s3", 40, 300, vec![w2]),
            statement("s1", 41, 301, vec![w2]),
        ])
        .await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
    assert_eq!(store.counts().await.expect("counts"), before);
    assert!(store
        .documents_by_id(&["s3".into()])
        .await
        .expect("by id")
        .is_empty());
    // A key cannot belong to two artists, and a key is revoked once.
    let err = store
        .append(&[Append {
            doc: doc("artist-b", DocumentKind::Artist, "artist-b", 50),
            effects: vec![Effect::ArtistCreated {
                display_name: "Bo".into(),
                key: k1,
            }],
        }])
        .await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
    let revoke = |id: &str| Append {
        doc: doc(id, DocumentKind::KeyEvent, "artist-a", 60),
        effects: vec![
            Effect::KeyAdded { key: k2 },
            Effect::KeyRevoked {
                key: k1,
                effective_at: Timestamp::from_unix_nanos(60),
            },
        ],
    };
    assert_eq!(
        store.append(&[revoke("rot-1")]).await.expect("rotate"),
        vec![3]
    );
    let err = store
        .append(&[Append {
            doc: doc("rot-2", DocumentKind::KeyEvent, "artist-a", 61),
            effects: vec![Effect::KeyRevoked {
                key: k1,
                effective_at: Timestamp::from_unix_nanos(61),
            }],
        }])
        .await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
    assert_eq!(
        store
            .key(&k1)
            .await
            .expect("key")
            .expect("present")
            .revoked_at,
        Some(Timestamp::from_unix_nanos(60))
    );
    let artist = store
        .artist("artist-a")
        .await
        .expect("artist")
        .expect("present");
    assert_eq!(artist.keys.len(), 2);
    let history = store.artist_key_history("artist-a").await.expect("docs");
    assert_eq!(
        history
            .iter()
            .filter(|d| d.doc.kind == DocumentKind::KeyEvent)
            .count(),
        1
    );

    // 4. History is append-only, whatever SQL is sent.
    let db = RawDb::open(&location).await;
    for sql in [
        "update documents set payload = x'00' where seq = 1",
        "delete from documents where seq = 2",
        "update statement_works set issued_at = 0",
        "delete from statement_works",
    ] {
        let sql = if backend == Backend::Postgres {
            sql.replace("x'00'", "'\\x00'::bytea")
        } else {
            sql.to_owned()
        };
        assert!(db.execute(&sql).await.is_err(), "{sql} must fail");
    }
    db.close().await;
    let after = store.counts().await.expect("counts");
    assert_eq!((after.documents, after.statement_works), (4, 3));

    // 5. Builders: one per key.
    let b = consentry::store::BuilderRecord {
        builder_id: "b_1".into(),
        name: "Lab".into(),
        key: k2,
        created_at: Timestamp::from_unix_nanos(1),
    };
    let b_other = consentry::store::BuilderRecord {
        builder_id: "b_2".into(),
        ..b.clone()
    };
    store.create_builder(&b).await.expect("builder");
    assert!(matches!(
        store.create_builder(&b_other).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.builder_by_key(&k2).await.expect("builder"), Some(b));
}
