-- payouts (spec/payouts.md): a fourth document kind, `payout`, the registry-signed log record
-- of a payout statement; the statements themselves; one line per artist and statement.
-- constraint names match migrations/sqlite so errors map the same way.

alter table documents drop constraint documents_kind_check;
alter table documents add constraint documents_kind_check
    check (kind in ('artist', 'key-event', 'statement', 'payout'));
comment on column documents.artist_id is 'the artist; for a payout record, the builder whose run it is';

-- every payout statement, as signed (a DSSE envelope: payload and signatures), with what it is
-- found by. record_seq is the log index of its payout record. append-only.
create table payout_statements (
    statement_id  text   not null constraint payout_statements_pkey primary key,
    record_seq    bigint not null constraint payout_statements_record_fkey references documents (seq),
    builder_id    text   not null constraint payout_statements_builder_fkey references builders (builder_id),
    run_id        text   not null,
    purpose       text   not null,
    checked_at    bigint not null,
    currency      text   not null,
    pool_minor    bigint not null,
    works         bigint not null,
    excluded      bigint not null,
    issued_at     bigint not null,
    payload       bytea  not null,
    signatures    text   not null,
    constraint payout_statements_run_key unique (builder_id, run_id)
);
create index payout_statements_builder_idx on payout_statements (builder_id, record_seq);

-- what each artist is owed by each statement (counted works) or has held (disputed works).
-- flat_fees is a json object, currency -> minor units. append-only.
create table payout_lines (
    artist_id     text   not null constraint payout_lines_artist_fkey references artists (artist_id),
    statement_id  text   not null constraint payout_lines_statement_fkey references payout_statements (statement_id),
    record_seq    bigint not null,
    works         bigint not null,
    held_works    bigint not null,
    revenue_share bigint not null,
    shortfall     bigint not null,
    flat_fees     text   not null,
    constraint payout_lines_pkey primary key (artist_id, statement_id)
);
create index payout_lines_artist_idx on payout_lines (artist_id, record_seq);

create trigger payout_statements_append_only before update or delete on payout_statements
    for each row execute function consentry_append_only();
create trigger payout_lines_append_only before update or delete on payout_lines
    for each row execute function consentry_append_only();
