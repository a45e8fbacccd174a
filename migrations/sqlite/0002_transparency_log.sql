-- transparency log (spec/log.md): the merkle tree over every document, in seq order.
-- log index = documents.seq; entries are rebuilt from documents rows, so only hashes are stored.

-- one row per log entry: the stored hashes its append produced, in the dense layout of
-- go's sumdb/tlog (the leaf hash, then the root of each complete subtree the leaf completes:
-- 32 bytes each, about two per entry), and the leaf hash's first 8 bytes (big-endian, signed)
-- to find an entry by its hash. append-only.
create table log_leaves (
    idx     integer not null constraint log_leaves_pkey primary key,
    prefix  integer not null,
    hashes  blob    not null
);
create index log_leaves_prefix_idx on log_leaves (prefix);

-- every checkpoint the registry signed, written in the transaction that grew the tree to its size.
create table checkpoints (
    size       integer not null constraint checkpoints_pkey primary key,
    root       blob    not null,
    note       text    not null,
    signed_at  integer not null
);

create trigger log_leaves_no_update before update on log_leaves
begin select raise(abort, 'log_leaves is append-only'); end;
create trigger log_leaves_no_delete before delete on log_leaves
begin select raise(abort, 'log_leaves is append-only'); end;
create trigger checkpoints_no_update before update on checkpoints
begin select raise(abort, 'checkpoints is append-only'); end;
create trigger checkpoints_no_delete before delete on checkpoints
begin select raise(abort, 'checkpoints is append-only'); end;
