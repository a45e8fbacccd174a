-- transparency log (spec/log.md): the merkle tree over every document, in seq order.
-- log index = documents.seq; entries are rebuilt from documents rows, so only hashes are stored.

-- the tree's stored hashes in the dense layout of go's sumdb/tlog (about two per entry). append-only.
create table log_hashes (
    idx   bigint not null constraint log_hashes_pkey primary key,
    hash  bytea  not null
);

-- leaf hash -> log index, for inclusion proofs asked by entry hash. append-only.
-- keyed by the hash's first 8 bytes (big-endian, signed): a compact key is cheaper to
-- maintain than the 32-byte hash; the store confirms a match against log_hashes.
create table log_leaves (
    prefix  bigint not null,
    idx     bigint not null,
    constraint log_leaves_pkey primary key (prefix, idx)
);

-- every checkpoint the registry signed, written in the transaction that grew the tree to its size.
create table checkpoints (
    size       bigint not null constraint checkpoints_pkey primary key,
    root       bytea  not null,
    note       text   not null,
    signed_at  bigint not null
);

create trigger log_hashes_append_only before update or delete on log_hashes
    for each row execute function consentry_append_only();
create trigger log_leaves_append_only before update or delete on log_leaves
    for each row execute function consentry_append_only();
create trigger checkpoints_append_only before update or delete on checkpoints
    for each row execute function consentry_append_only();
