// Versioned schema migrations for the SQLite store. Append only: never edit a released one.

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const SQLITE_MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
      CREATE TABLE requests (
        id TEXT PRIMARY KEY,
        requester TEXT NOT NULL,
        flow_id TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        version INTEGER NOT NULL,
        doc TEXT NOT NULL
      );
      CREATE INDEX requests_requester ON requests (requester, created_at);
      -- No index on status alone: every transition would pay for it, and the queries that
      -- filter on status alone (metrics, revoke-all) are rare.
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
        due_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        lease_owner TEXT,
        lease_until INTEGER
      );
      CREATE INDEX jobs_due ON jobs (due_at);
      CREATE INDEX jobs_request ON jobs (request_id);

      CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        request_id TEXT,
        data TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE INDEX audit_request ON audit (request_id);
      CREATE INDEX audit_at ON audit (at);
      CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);

      CREATE TABLE favorites (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        doc TEXT NOT NULL
      );
      CREATE INDEX favorites_owner ON favorites (owner);

      CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        name TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        revoked_at INTEGER,
        last_used_at INTEGER
      );

      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `,
  },
  {
    version: 2,
    name: 'jobs, holdings and approvers as clustered tables; job ids begin with the request id',
    // Each of these tables is a narrow row found by its key: stored in the key's own b-tree
    // (WITHOUT ROWID) a write touches one b-tree less. A request's jobs sort together under
    // their id (see jobId), which replaces the index on request_id; a request's holdings are
    // removed by their whole key (the request's entitlements), which replaces that index too.
    sql: `
      CREATE TABLE jobs_v2 (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        request_id TEXT NOT NULL,
        target TEXT NOT NULL,
        due_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        lease_owner TEXT,
        lease_until INTEGER
      ) WITHOUT ROWID;
      INSERT INTO jobs_v2 SELECT request_id || ':' || kind || ':' || target, kind, request_id, target, due_at, attempts, last_error, lease_owner, lease_until FROM jobs;
      DROP TABLE jobs;
      ALTER TABLE jobs_v2 RENAME TO jobs;
      CREATE INDEX jobs_due ON jobs (due_at);

      CREATE TABLE holdings_v2 (
        requester TEXT NOT NULL,
        ent_key TEXT NOT NULL,
        request_id TEXT NOT NULL REFERENCES requests (id),
        PRIMARY KEY (requester, ent_key, request_id)
      ) WITHOUT ROWID;
      INSERT INTO holdings_v2 SELECT requester, ent_key, request_id FROM holdings;
      DROP TABLE holdings;
      ALTER TABLE holdings_v2 RENAME TO holdings;

      CREATE TABLE request_approvers_v2 (
        user_id TEXT NOT NULL,
        request_id TEXT NOT NULL REFERENCES requests (id),
        PRIMARY KEY (user_id, request_id)
      ) WITHOUT ROWID;
      INSERT INTO request_approvers_v2 SELECT user_id, request_id FROM request_approvers;
      DROP TABLE request_approvers;
      ALTER TABLE request_approvers_v2 RENAME TO request_approvers;
      CREATE INDEX request_approvers_request ON request_approvers (request_id);
    `,
  },
  {
    version: 3,
    name: 'grants inside their request\'s row',
    // A request's grants are read and written with the request itself (a transition changes
    // both): kept in its row, as a JSON array in integration order, a transition reads one
    // row and writes one instead of two of each.
    sql: `
      ALTER TABLE requests ADD COLUMN grants TEXT NOT NULL DEFAULT '[]';
      UPDATE requests SET grants = (
        SELECT json_group_array(json(doc)) FROM (SELECT doc FROM grants WHERE grants.request_id = requests.id ORDER BY integration)
      ) WHERE id IN (SELECT request_id FROM grants);
      DROP TABLE grants;
    `,
  },
  {
    version: 4,
    name: 'expiry warnings carried by the expiry job',
    // A request's warnings were a job of their own (kind warn, target the offsets); its expire
    // job now carries them (the same target) and falls due at the next of them first.
    sql: `
      UPDATE jobs SET target = w.target, due_at = min(jobs.due_at, w.due_at)
        FROM (SELECT request_id, target, due_at FROM jobs WHERE kind = 'warn') AS w
        WHERE jobs.id = w.request_id || ':expire:';
      DELETE FROM jobs WHERE kind = 'warn';
    `,
  },
  {
    version: 5,
    name: 'a job\'s integration and warning offsets in columns of their own',
    // The target column held a grant or revoke job's integration, or an expire job's warning
    // offsets comma-separated: each now has a column of its own (the offsets as a JSON array),
    // null for the other kinds. Ids are unchanged: the integration stays where the target was.
    sql: `
      ALTER TABLE jobs ADD COLUMN integration TEXT;
      ALTER TABLE jobs ADD COLUMN warning_offsets_ms TEXT;
      UPDATE jobs SET integration = target WHERE kind IN ('grant', 'revoke');
      UPDATE jobs SET warning_offsets_ms = '[' || target || ']' WHERE kind = 'expire';
      ALTER TABLE jobs DROP COLUMN target;
    `,
  },
  {
    version: 6,
    name: 'sessions, sign-in attempts and provisioned users (single sign-on)',
    // A session is found by its id (the SHA-256 of its cookie's secret) and listed by user.
    // A sign-in attempt is taken by its state, once; expired ones are removed by their end.
    // A provisioned user is found by id, or by the provider's issuer and subject, which are
    // unique together; its groups and attributes are JSON (an array, an object).
    sql: `
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        idle_timeout_ms INTEGER NOT NULL,
        csrf_hash TEXT NOT NULL,
        id_token TEXT,
        revoked_at INTEGER,
        revoked_reason TEXT
      );
      CREATE INDEX sessions_user ON sessions (user_id);

      CREATE TABLE sign_in_attempts (
        state TEXT PRIMARY KEY,
        nonce TEXT NOT NULL,
        code_verifier TEXT NOT NULL,
        return_to TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
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
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        last_sign_in_at INTEGER NOT NULL,
        disabled_at INTEGER,
        UNIQUE (issuer, subject)
      );
    `,
  },
  {
    version: 7,
    name: 'a token\'s expiry and kind',
    // A token may stop working at a time of its own (expires_at, null: never) and is either a
    // person's own or a service token an admin made for automation. Tokens made before keep
    // working as they did: no expiry, personal.
    sql: `
      ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
      ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'personal';
    `,
  },
  {
    version: 8,
    name: 'renewal at the identity provider, and how a credential was authenticated',
    // A provisioned user keeps the provider's refresh token (to renew their groups and to learn
    // that the provider no longer lets them in), when the next renewal is due, and the last
    // renewal's error. A session and a token keep when the provider last authenticated the
    // person behind them, and how (acr, and amr as a JSON array): a step-up for a flow that
    // requires MFA is checked against these. A sign-in attempt that is a step-up keeps the
    // max_age it asked for, which the provider's answer must meet.
    sql: `
      ALTER TABLE provisioned_users ADD COLUMN refresh_token TEXT;
      ALTER TABLE provisioned_users ADD COLUMN renew_at INTEGER;
      ALTER TABLE provisioned_users ADD COLUMN renewal_error TEXT;
      ALTER TABLE sessions ADD COLUMN authenticated_at INTEGER;
      ALTER TABLE sessions ADD COLUMN acr TEXT;
      ALTER TABLE sessions ADD COLUMN amr TEXT;
      ALTER TABLE tokens ADD COLUMN authenticated_at INTEGER;
      ALTER TABLE tokens ADD COLUMN acr TEXT;
      ALTER TABLE tokens ADD COLUMN amr TEXT;
      ALTER TABLE sign_in_attempts ADD COLUMN max_age_seconds INTEGER;
    `,
  },
  {
    version: 9,
    name: 'TOTP self-enrolment',
    // One enrolment per user: the TOTP secret (sealed with the server's key, never as it is),
    // pending until the person proves with a code that their authenticator holds it, then
    // confirmed. Only a confirmed one answers for a flow that requires MFA.
    sql: `
      CREATE TABLE mfa_enrolments (
        user_id TEXT PRIMARY KEY,
        secret TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'confirmed')),
        created_at INTEGER NOT NULL,
        confirmed_at INTEGER
      );
    `,
  },
  {
    version: 10,
    name: 'the notification outbox',
    // One row per notification: an event told to one recipient on one channel, keyed by the
    // SHA-256 of the three (written in the same transaction as the transition that causes it,
    // once). Pending rows are claimed when due (a lease, like jobs'), delivered or retried
    // later with the last error kept, and end delivered or failed.
    sql: `
      CREATE TABLE outbox (
        key TEXT PRIMARY KEY,
        event_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        recipient TEXT,
        address TEXT,
        request_id TEXT,
        message TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        due_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        lease_owner TEXT,
        lease_until INTEGER,
        delivered_at INTEGER
      );
      CREATE INDEX outbox_due ON outbox (due_at) WHERE status = 'pending';
      CREATE INDEX outbox_status ON outbox (status, created_at);
    `,
  },
  {
    version: 11,
    name: 'the events stream\'s recent past',
    // Every event of the events stream, kept for a while (settings.eventRetention) so that a
    // client that reconnects is sent what it missed: each once by its id (replicas relay
    // each other's events), in the order (seq) the store gave it, the event as JSON (doc).
    sql: `
      CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        at INTEGER NOT NULL,
        doc TEXT NOT NULL
      );
      CREATE INDEX events_at ON events (at);
    `,
  },
  {
    version: 12,
    name: 'the audit stream\'s cursors',
    // One row per audit stream subscriber (auditStream in the configuration): the seq of the
    // last event delivered to it, its failures in a row with the last error and when to try
    // next, and the lease of the process delivering to it.
    sql: `
      CREATE TABLE audit_stream (
        subscriber TEXT PRIMARY KEY,
        delivered_seq INTEGER NOT NULL,
        delivered_at INTEGER,
        attempts INTEGER NOT NULL,
        retry_at INTEGER,
        last_error TEXT,
        last_error_at INTEGER,
        owner TEXT,
        lease_until INTEGER
      );
    `,
  },
  {
    version: 13,
    name: 'each person\'s choice of notification channels',
    // Whether a person is told by email (1) or not (0), as they chose in the Account view;
    // no row: the default, told by email.
    sql: `
      CREATE TABLE notification_preferences (
        user_id TEXT PRIMARY KEY,
        email INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
    `,
  },
  {
    version: 14,
    name: 'the inventory of resources, and each integration\'s discovery',
    // Every resource a discovery found (or that was declared when it ran), by integration,
    // type and path: its name and parent, its tags (JSON), whether it was declared or
    // discovered, and when discovery first and last saw it. And per integration: when its next
    // sync is due, the lease of the process running one, when the last began, ended and last
    // succeeded, its error, how many resources it found, how many syncs ran, and a generation
    // that moves when the inventory changes (replicas reload it then).
    sql: `
      CREATE TABLE inventory (
        integration TEXT NOT NULL,
        type TEXT NOT NULL,
        path TEXT NOT NULL,
        name TEXT NOT NULL,
        parent TEXT,
        tags TEXT NOT NULL,
        origin TEXT NOT NULL CHECK (origin IN ('declared', 'discovered')),
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        PRIMARY KEY (integration, type, path)
      );
      CREATE TABLE discovery (
        integration TEXT PRIMARY KEY,
        next_at INTEGER NOT NULL,
        lease_owner TEXT,
        lease_until INTEGER,
        started_at INTEGER,
        ended_at INTEGER,
        succeeded_at INTEGER,
        last_error TEXT,
        resource_count INTEGER NOT NULL DEFAULT 0,
        syncs INTEGER NOT NULL DEFAULT 0,
        generation INTEGER NOT NULL DEFAULT 0
      );
    `,
  },
  {
    version: 15,
    name: 'requests listed by status, newest first',
    // The portal's lists (active access, stuck revocations) and revoke-all read requests in a
    // few statuses, newest first, a page at a time: this index finds them without reading
    // the ended ones, which are most of the table.
    sql: `
      CREATE INDEX requests_status_created ON requests (status, created_at, id);
    `,
  },
  {
    version: 16,
    name: 'indexes for the activity filters',
    // The Activity view's filters by actor and by action, newest first: each reads an index
    // in seq order.
    sql: `
      CREATE INDEX audit_actor ON audit (actor, seq);
      CREATE INDEX audit_action ON audit (action, seq);
    `,
  },
  {
    version: 17,
    name: 'each person\'s choice of direct messages in chat',
    // Whether a person is told by direct message in chat (1, the default) or not (0).
    sql: `
      ALTER TABLE notification_preferences ADD COLUMN chat INTEGER NOT NULL DEFAULT 1;
    `,
  },
];
