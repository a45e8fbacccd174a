-- payouts (spec/payouts.md): a fourth document kind, `payout`, the registry-signed log record
-- of a payout statement; the statements themselves; one line per artist and statement.
--
-- sqlite cannot alter a check constraint, so `documents` is rebuilt inside the migration's
-- transaction. foreign keys stay on (sqlite ignores `pragma foreign_keys` in a transaction) and
-- are deferred to the commit: dropping the table counts one violation per referencing row, and
-- putting every row back under the same name cancels each one, so the commit checks that every
-- reference still holds. the append-only triggers go with the old table and are recreated.
pragma defer_foreign_keys = on;

create temporary table documents_copy as select * from documents;
drop table documents;
create table documents (
    seq           integer not null constraint documents_pkey primary key,
    id            text    not null constraint documents_id_key unique,
    kind          text    not null constraint documents_kind_check check (kind in ('artist', 'key-event', 'statement', 'payout')),
    -- the artist; for a payout record, the builder whose run it is
    artist_id     text    not null,
    payload_type  text    not null,
    payload       blob    not null,
    signatures    text    not null,
    received_at   integer not null
);
insert into documents (seq, id, kind, artist_id, payload_type, payload, signatures, received_at)
    select seq, id, kind, artist_id, payload_type, payload, signatures, received_at
    from documents_copy order by seq;
drop table documents_copy;
create index documents_artist_idx on documents (artist_id, kind, seq) where kind <> 'statement';
create trigger documents_no_update before update on documents
begin select raise(abort, 'documents are append-only'); end;
create trigger documents_no_delete before delete on documents
begin select raise(abort, 'documents are append-only'); end;

-- every payout statement, as signed (a DSSE envelope: payload and signatures), with what it is
-- found by. record_seq is the log index of its payout record. append-only.
create table payout_statements (
    statement_id  text    not null constraint payout_statements_pkey primary key,
    record_seq    integer not null constraint payout_statements_record_fkey references documents (seq),
    builder_id    text    not null constraint payout_statements_builder_fkey references builders (builder_id),
    run_id        text    not null,
    purpose       text    not null,
    checked_at    integer not null,
    currency      text    not null,
    pool_minor    integer not null,
    works         integer not null,
    excluded      integer not null,
    issued_at     integer not null,
    payload       blob    not null,
    signatures    text    not null,
    constraint payout_statements_run_key unique (builder_id, run_id)
);
create index payout_statements_builder_idx on payout_statements (builder_id, record_seq);

-- what each artist is owed by each statement (counted works) or has held (disputed works).
-- flat_fees is a json object, currency -> minor units. append-only.
create table payout_lines (
    artist_id     text    not null constraint payout_lines_artist_fkey references artists (artist_id),
    statement_id  text    not null constraint payout_lines_statement_fkey references payout_statements (statement_id),
    record_seq    integer not null,
    works         integer not null,
    held_works    integer not null,
    revenue_share integer not null,
    shortfall     integer not null,
    flat_fees     text    not null,
    constraint payout_lines_pkey primary key (artist_id, statement_id)
);
create index payout_lines_artist_idx on payout_lines (artist_id, record_seq);

create trigger payout_statements_no_update before update on payout_statements
begin select raise(abort, 'payout_statements is append-only'); end;
create trigger payout_statements_no_delete before delete on payout_statements
begin select raise(abort, 'payout_statements is append-only'); end;
create trigger payout_lines_no_update before update on payout_lines
begin select raise(abort, 'payout_lines is append-only'); end;
create trigger payout_lines_no_delete before delete on payout_lines
begin select raise(abort, 'payout_lines is append-only'); end;

