// Versioned schema migrations for the PostgreSQL store. Append only: never edit a released
// one. They run under a session advisory lock (see PostgresStore.migrate), so replicas that
// start at the same time apply each version exactly once.

import { GENESIS_HASH } from '../audit/chain.ts';
import type { Migration } from './sqlite-migrations.ts';

/** The advisory lock key of the migrations (any constant 64-bit number, the same in every replica). */
export const MIGRATION_LOCK_KEY = 7_420_001;

export const POSTGRES_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE requests (
        id TEXT PRIMARY KEY,
        requester TEXT NOT NULL,
        flow_id TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
      );
      CREATE INDEX requests_requester ON requests (requester, created_at);
      CREATE INDEX requests_created ON requests (created_at);

      CREATE TABLE request_approvers (
        user_id TEXT NOT NULL,
        request_id TEXT NOT NULL REFERENCES requests (id),
        PRIMARY KEY (user_id, request_id)
      );
      CREATE INDEX request_approvers_request ON request_approvers (request_id);

      -- What each holding (granting or active) request covers, for the overlap check.
      CREATE TABLE holdings (
        requester TEXT NOT NULL,
        ent_key TEXT NOT NULL,
        request_id TEXT NOT NULL REFERENCES requests (id),
        PRIMARY KEY (requester, ent_key, request_id)
      );
      CREATE INDEX holdings_request ON holdings (request_id);

      CREATE TABLE grants (
        request_id TEXT NOT NULL REFERENCES requests (id),
        integration TEXT NOT NULL,
        status TEXT NOT NULL,
        doc TEXT NOT NULL,
        PRIMARY KEY (request_id, integration)
      );

      CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        request_id TEXT NOT NULL,
        target TEXT NOT NULL,
        due_at BIGINT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        lease_owner TEXT,
        lease_until BIGINT
      );
      CREATE INDEX jobs_due ON jobs (due_at);
      CREATE INDEX jobs_request ON jobs (request_id);
      CREATE INDEX jobs_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;

      CREATE TABLE audit (
        seq BIGINT PRIMARY KEY,
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        request_id TEXT,
        data TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE INDEX audit_request ON audit (request_id);
      CREATE INDEX audit_at ON audit (at);
      -- The head row always exists (seq 0 = empty chain): appends lock it FOR UPDATE, which
      -- serialises writers of every replica into one chain.
      CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL);
      INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '${GENESIS_HASH}');

      CREATE TABLE favorites (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        doc TEXT NOT NULL
      );
      CREATE INDEX favorites_owner ON favorites (owner);

      CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        name TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT,
        last_used_at BIGINT
      );

      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `,
  },
  {
    version: 2,
    name: 'job ids begin with the request id',
    // The id format of domain/request.ts jobId, the same in both stores.
    sql: `UPDATE jobs SET id = request_id || ':' || kind || ':' || target;`,
  },
  {
    version: 3,
    name: 'expiry warnings carried by the expiry job',
    // As SQLite migration 4: the warn job's offsets move to the request's expire job, which
    // falls due at the next warning first.
    sql: `
      UPDATE jobs SET target = w.target, due_at = LEAST(jobs.due_at, w.due_at)
        FROM jobs w WHERE w.kind = 'warn' AND jobs.id = w.request_id || ':expire:';
      DELETE FROM jobs WHERE kind = 'warn';
    `,
  },
  {
    version: 4,
    name: 'locks shared by replicas',
    // One row per lock held (see PostgresStore.withLock): who holds it and until when its
    // lease runs, so that a holder that died stops blocking the others.
    sql: `CREATE TABLE locks (key TEXT PRIMARY KEY, owner TEXT NOT NULL, lease_until BIGINT NOT NULL);`,
  },
  {
    version: 5,
    name: 'a job\'s integration and warning offsets in columns of their own',
    // As SQLite migration 5: the target column splits into the integration (grant and revoke
    // jobs) and the warning offsets (expire jobs, a JSON array), each null for the other kinds.
    sql: `
      ALTER TABLE jobs ADD COLUMN integration TEXT, ADD COLUMN warning_offsets_ms TEXT;
      UPDATE jobs SET integration = target WHERE kind IN ('grant', 'revoke');
      UPDATE jobs SET warning_offsets_ms = '[' || target || ']' WHERE kind = 'expire';
      ALTER TABLE jobs DROP COLUMN target;
    `,
  },
  {
    version: 6,
    name: 'sessions, sign-in attempts and provisioned users (single sign-on)',
    // As SQLite migration 6.
    sql: `
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_seen_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        idle_timeout_ms BIGINT NOT NULL,
        csrf_hash TEXT NOT NULL,
        id_token TEXT,
        revoked_at BIGINT,
        revoked_reason TEXT
      );
      CREATE INDEX sessions_user ON sessions (user_id);

      CREATE TABLE sign_in_attempts (
        state TEXT PRIMARY KEY,
        nonce TEXT NOT NULL,
        code_verifier TEXT NOT NULL,
        return_to TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX sign_in_attempts_expires ON sign_in_attempts (expires_at);

      CREATE TABLE provisioned_users (
        id TEXT PRIMARY KEY,
        issuer TEXT NOT NULL,
        subject TEXT NOT NULL,
        email TEXT NOT NULL,
        name TEXT,
        groups TEXT NOT NULL,
        manager TEXT,
        attributes TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        last_sign_in_at BIGINT NOT NULL,
        disabled_at BIGINT,
        UNIQUE (issuer, subject)
      );
    `,
  },
  {
    version: 7,
    name: 'a token\'s expiry and kind',
    // As SQLite migration 7: existing tokens get no expiry and the kind personal.
    sql: `ALTER TABLE tokens ADD COLUMN expires_at BIGINT, ADD COLUMN kind TEXT NOT NULL DEFAULT 'personal';`,
  },
  {
    version: 8,
    name: 'renewal at the identity provider, and how a credential was authenticated',
    // As SQLite migration 8.
    sql: `
      ALTER TABLE provisioned_users ADD COLUMN refresh_token TEXT, ADD COLUMN renew_at BIGINT, ADD COLUMN renewal_error TEXT;
      ALTER TABLE sessions ADD COLUMN authenticated_at BIGINT, ADD COLUMN acr TEXT, ADD COLUMN amr TEXT;
      ALTER TABLE tokens ADD COLUMN authenticated_at BIGINT, ADD COLUMN acr TEXT, ADD COLUMN amr TEXT;
      ALTER TABLE sign_in_attempts ADD COLUMN max_age_seconds INTEGER;
    `,
  },
  {
    version: 9,
    name: 'TOTP self-enrolment',
    // As SQLite migration 9.
    sql: `
      CREATE TABLE mfa_enrolments (
        user_id TEXT PRIMARY KEY,
        secret TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'confirmed')),
        created_at BIGINT NOT NULL,
        confirmed_at BIGINT
      );
    `,
  },
  {
    version: 10,
    name: 'the notification outbox',
    // As SQLite migration 10.
    sql: `
      CREATE TABLE outbox (
        key TEXT PRIMARY KEY,
        event_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        recipient TEXT,
        address TEXT,
        request_id TEXT,
        message TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        due_at BIGINT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        lease_owner TEXT,
        lease_until BIGINT,
        delivered_at BIGINT
      );
      CREATE INDEX outbox_due ON outbox (due_at) WHERE status = 'pending';
      CREATE INDEX outbox_status ON outbox (status, created_at);
    `,
  },
  {
    version: 11,
    name: 'the events stream\'s recent past',
    // As SQLite migration 11.
    sql: `
      CREATE TABLE events (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        at BIGINT NOT NULL,
        doc TEXT NOT NULL
      );
      CREATE INDEX events_at ON events (at);
    `,
  },
  {
    version: 12,
    name: 'the audit stream\'s cursors',
    // As SQLite migration 12: of several replicas, the one holding a subscriber's lease delivers to it.
    sql: `
      CREATE TABLE audit_stream (
        subscriber TEXT PRIMARY KEY,
        delivered_seq BIGINT NOT NULL,
        delivered_at BIGINT,
        attempts INTEGER NOT NULL,
        retry_at BIGINT,
        last_error TEXT,
        last_error_at BIGINT,
        owner TEXT,
        lease_until BIGINT
      );
    `,
  },
  {
    version: 13,
    name: 'each person\'s choice of notification channels',
    // As SQLite migration 13.
    sql: `
      CREATE TABLE notification_preferences (
        user_id TEXT PRIMARY KEY,
        email INTEGER NOT NULL,
        updated_at BIGINT NOT NULL
      );
    `,
  },
  {
    version: 14,
    name: 'the inventory of resources, and each integration\'s discovery',
    // As SQLite migration 14: of several replicas, the one holding an integration's lease syncs it.
    sql: `
      CREATE TABLE inventory (
        integration TEXT NOT NULL,
        type TEXT NOT NULL,
        path TEXT NOT NULL,
        name TEXT NOT NULL,
        parent TEXT,
        tags TEXT NOT NULL,
        origin TEXT NOT NULL CHECK (origin IN ('declared', 'discovered')),
        first_seen BIGINT NOT NULL,
        last_seen BIGINT NOT NULL,
        PRIMARY KEY (integration, type, path)
      );
      CREATE TABLE discovery (
        integration TEXT PRIMARY KEY,
        next_at BIGINT NOT NULL,
        lease_owner TEXT,
        lease_until BIGINT,
        started_at BIGINT,
        ended_at BIGINT,
        succeeded_at BIGINT,
        last_error TEXT,
        resource_count INTEGER NOT NULL DEFAULT 0,
        syncs INTEGER NOT NULL DEFAULT 0,
        generation BIGINT NOT NULL DEFAULT 0
      );
    `,
  },
  {
    version: 15,
    name: 'requests listed by status, newest first',
    // As SQLite migration 15 (ids compared byte by byte, as the lists order them).
    sql: `
      CREATE INDEX requests_status_created ON requests (status, created_at, id COLLATE "C");
    `,
  },
  {
    version: 16,
    name: 'indexes for the activity filters',
    // As SQLite migration 16.
    sql: `
      CREATE INDEX audit_actor ON audit (actor, seq);
      CREATE INDEX audit_action ON audit (action, seq);
    `,
  },
  {
    version: 17,
    name: 'each person\'s choice of direct messages in chat',
    // As SQLite migration 17.
    sql: `
      ALTER TABLE notification_preferences ADD COLUMN chat INTEGER NOT NULL DEFAULT 1;
    `,
  },
];
