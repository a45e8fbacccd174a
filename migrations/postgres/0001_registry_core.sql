-- registry core: signed documents (append-only), artists, keys, statements' works, builders.
-- times are unix nanoseconds (utc); hashes are raw 32-byte bytea; keys are `ed25519:<hex>` text.
-- constraint names match migrations/sqlite so errors map the same way.

-- every accepted signed document, in acceptance order. append-only.
create table documents (
    seq           bigint not null constraint documents_pkey primary key,
    id            text   not null constraint documents_id_key unique,
    kind          text   not null constraint documents_kind_check check (kind in ('artist', 'key-event', 'statement')),
    artist_id     text   not null,
    payload_type  text   not null,
    payload       bytea  not null,
    signatures    text   not null,
    received_at   bigint not null
);
-- artists' registrations and key events; statements are found through statement_works.
create index documents_artist_idx on documents (artist_id, kind, seq) where kind <> 'statement';

create function consentry_append_only() returns trigger language plpgsql as $$
begin
    raise exception '% is append-only', tg_table_name;
end;
$$;

create trigger documents_append_only before update or delete on documents
    for each row execute function consentry_append_only();

-- artists: derived from their registration document (artist_id = that document's id).
create table artists (
    artist_id      text   not null constraint artists_pkey primary key,
    display_name   text   not null,
    registered_at  bigint not null,
    registered_seq bigint not null constraint artists_registered_seq_fkey references documents (seq),
    -- a compact number for references from statement_works
    artist_no      bigint not null constraint artists_no_key unique
);

-- keys and their status: derived from artist and key-event documents.
-- revoked_at is the only column ever updated (set once, by a revoke or rotate).
create table artist_keys (
    key_id      text   not null constraint artist_keys_pkey primary key,
    artist_id   text   not null constraint artist_keys_artist_fkey references artists (artist_id),
    added_at    bigint not null,
    added_seq   bigint not null constraint artist_keys_added_seq_fkey references documents (seq),
    revoked_at  bigint,
    revoked_seq bigint constraint artist_keys_revoked_seq_fkey references documents (seq),
    -- a compact number for references from statement_works
    key_no      bigint not null constraint artist_keys_no_key unique
);
create index artist_keys_artist_idx on artist_keys (artist_id);

-- one row per (statement, work). append-only.
create table statement_works (
    work_hash  bytea  not null,
    seq        bigint not null constraint statement_works_seq_fkey references documents (seq),
    -- artists.artist_no and artist_keys.key_no, resolved by the store from existing rows in
    -- the same transaction (no foreign keys here: per-row checks would double the insert cost)
    artist_no  bigint not null,
    key_no     bigint not null,
    issued_at  bigint not null,
    received_at bigint not null, -- the statement's receipt time (copied from documents)
    constraint statement_works_pkey primary key (work_hash, seq)
);
create index statement_works_artist_idx on statement_works (artist_no, work_hash);

create trigger statement_works_append_only before update or delete on statement_works
    for each row execute function consentry_append_only();

-- dataset builders, registered by an admin.
create table builders (
    builder_id  text   not null constraint builders_pkey primary key,
    name        text   not null,
    key_id      text   not null constraint builders_key_key unique,
    created_at  bigint not null
);
