//! SQL text shared by both backends (`$N` placeholders work on SQLite and
//! PostgreSQL). Backend-specific statements stay in their modules.

/// A key joins an artist; `key_no` is the next compact number.
pub(crate) const INSERT_KEY: &str =
    "insert into artist_keys (key_id, artist_id, added_at, added_seq, key_no)
     values ($1, $2, $3, $4, (select coalesce(max(key_no) + 1, 0) from artist_keys))";

/// A new artist; `artist_no` is the next compact number.
pub(crate) const INSERT_ARTIST: &str =
    "insert into artists (artist_id, display_name, registered_at, registered_seq, artist_no)
     values ($1, $2, $3, $4, (select coalesce(max(artist_no) + 1, 0) from artists))";

/// A new builder.
pub(crate) const INSERT_BUILDER: &str =
    "insert into builders (builder_id, name, key_id, created_at)
     values ($1, $2, $3, $4)";

/// One artist.
pub(crate) const SELECT_ARTIST: &str =
    "select artist_id, display_name, registered_at from artists where artist_id = $1";

/// An artist's compact number.
pub(crate) const SELECT_ARTIST_NO: &str = "select artist_no from artists where artist_id = $1";

/// The builder holding a key.
pub(crate) const SELECT_BUILDER_BY_KEY: &str =
    "select builder_id, name, key_id, created_at from builders where key_id = $1";

/// The next acceptance-order number.
pub(crate) const NEXT_SEQ: &str = "select coalesce(max(seq) + 1, 0) from documents";

/// The last document's seq and receipt time: what the next append must
/// follow (read inside the write lock).
pub(crate) const LAST_DOCUMENT: &str =
    "select seq, received_at from documents order by seq desc limit 1";

/// A page of an artist's works, by hash.
pub(crate) const SELECT_ARTIST_WORKS: &str = "select distinct work_hash from statement_works
     where artist_no = (select artist_no from artists where artist_id = $1)
       and work_hash > $2
     order by work_hash limit $3";

/// An artist's keys, oldest first.
pub(crate) const SELECT_ARTIST_KEYS: &str = "select key_id, artist_id, added_at, revoked_at
     from artist_keys
     where artist_id = $1
     order by added_seq";

/// One key.
pub(crate) const SELECT_KEY: &str = "select key_id, artist_id, added_at, revoked_at
     from artist_keys
     where key_id = $1";

/// A key's compact number.
pub(crate) const SELECT_KEY_NO: &str = "select key_no from artist_keys where key_id = $1";

/// The last receipt time.
pub(crate) const LAST_RECEIVED_AT: &str = "select max(received_at) from documents";

/// An artist's registration and key events; the predicate is the partial index's.
pub(crate) const SELECT_KEY_HISTORY: &str =
    "select seq, id, kind, artist_id, payload_type, payload, signatures, received_at
     from documents
     where artist_id = $1 and kind <> 'statement'
     order by seq";

/// Sets or brings forward a revocation.
pub(crate) const REVOKE_KEY: &str = "update artist_keys set revoked_at = $1, revoked_seq = $2
     where key_id = $3 and artist_id = $4 and (revoked_at is null or revoked_at > $1)";

/// The latest checkpoint.
pub(crate) const LATEST_CHECKPOINT: &str =
    "select size, root, note, signed_at from checkpoints order by size desc limit 1";

/// The checkpoint of one size.
pub(crate) const CHECKPOINT_OF_SIZE: &str =
    "select size, root, note, signed_at from checkpoints where size = $1";

/// The log's size: the latest checkpoint's.
pub(crate) const LOG_SIZE: &str = "select coalesce(max(size), 0) from checkpoints";

/// A signed checkpoint.
pub(crate) const INSERT_CHECKPOINT: &str =
    "insert into checkpoints (size, root, note, signed_at) values ($1, $2, $3, $4)";

/// Documents from a seq on.
pub(crate) const SELECT_DOCUMENTS_FROM: &str =
    "select seq, id, kind, artist_id, payload_type, payload, signatures, received_at
     from documents where seq >= $1 order by seq limit $2";

/// The log index of a leaf hash.
pub(crate) const SELECT_LEAF_CANDIDATES: &str =
    "select idx, hashes from log_leaves where prefix = $1";

/// A payout statement.
pub(crate) const INSERT_PAYOUT: &str = "insert into payout_statements
     (statement_id, record_seq, builder_id, run_id, purpose, checked_at, currency, pool_minor,
      works, excluded, issued_at, payload, signatures)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/// One artist's line of a payout statement.
pub(crate) const INSERT_PAYOUT_LINE: &str = "insert into payout_lines
     (artist_id, statement_id, record_seq, works, held_works, revenue_share, shortfall, flat_fees)
     values ($1, $2, $3, $4, $5, $6, $7, $8)";

/// The summary columns of `payout_statements`, prefixed `p.`.
macro_rules! payout_columns {
    () => {
        "p.statement_id, p.record_seq, p.builder_id, p.run_id, p.purpose, p.checked_at, p.currency,
         p.pool_minor, p.works, p.excluded, p.issued_at"
    };
}

/// One payout statement, with its payload.
pub(crate) const SELECT_PAYOUT: &str = concat!(
    "select ",
    payout_columns!(),
    ", p.payload, p.signatures from payout_statements p where p.statement_id = $1"
);

/// The statement of a builder's run.
pub(crate) const SELECT_PAYOUT_OF_RUN: &str =
    "select statement_id from payout_statements where builder_id = $1 and run_id = $2";

/// A page of a builder's statements.
pub(crate) const SELECT_BUILDER_PAYOUTS: &str = concat!(
    "select ",
    payout_columns!(),
    " from payout_statements p where p.builder_id = $1 and p.record_seq > $2
     order by p.record_seq limit $3"
);

/// A page of an artist's lines, with their statements.
pub(crate) const SELECT_ARTIST_PAYOUTS: &str = concat!(
    "select ",
    payout_columns!(),
    ", l.artist_id, l.works as line_works, l.held_works, l.revenue_share, l.shortfall, l.flat_fees
     from payout_lines l join payout_statements p on p.statement_id = l.statement_id
     where l.artist_id = $1 and l.record_seq > $2
     order by l.record_seq limit $3"
);
