-- transparency log (spec/log.md): the merkle tree over every document, in seq order.
-- log index = documents.seq; entries are rebuilt from documents rows, so only hashes are stored.

-- the tree's stored hashes in the dense layout of go's sumdb/tlog (about two per entry). append-only.
create table log_hashes (
    idx   integer not null constraint log_hashes_pkey primary key,
    hash  blob    not null
);

-- leaf hash -> log index, for inclusion proofs asked by entry hash. append-only.
-- keyed by the hash's first 8 bytes (big-endian, signed): a compact key is cheaper to
-- maintain than the 32-byte hash; the store confirms a match against log_hashes.
create table log_leaves (
    prefix  integer not null,
    idx     integer not null,
    constraint log_leaves_pkey primary key (prefix, idx)
) without rowid;

-- every checkpoint the registry signed, written in the transaction that grew the tree to its size.
create table checkpoints (
    size       integer not null constraint checkpoints_pkey primary key,
    root       blob    not null,
    note       text    not null,
    signed_at  integer not null
);

create trigger log_hashes_no_update before update on log_hashes
begin select raise(abort, 'log_hashes is append-only'); end;
create trigger log_hashes_no_delete before delete on log_hashes
begin select raise(abort, 'log_hashes is append-only'); end;
create trigger log_leaves_no_update before update on log_leaves
begin select raise(abort, 'log_leaves is append-only'); end;
create trigger log_leaves_no_delete before delete on log_leaves
begin select raise(abort, 'log_leaves is append-only'); end;
create trigger checkpoints_no_update before update on checkpoints
begin select raise(abort, 'checkpoints is append-only'); end;
create trigger checkpoints_no_delete before delete on checkpoints
begin select raise(abort, 'checkpoints is append-only'); end;
