// The store interface: everything the engine, the scheduler and the API persist.
// Every write goes through `commit`, one transaction that applies a whole change set
// (conditional updates, job changes and audit events together) or nothing. There is no
// in-memory state a second process would need: due work is claimed with a lease in a
// single conditional update, so a PostgreSQL store with several replicas fits the same shape.

import type { HashedFields } from '../audit/chain.ts';
import type { KnownIdentity, ProviderAuthentication } from '../domain/sign-in.ts';
import type { OutboxInput } from '../domain/notifications.ts';
import type { InventoryEntry } from '../domain/inventory.ts';
import type { Entitlement, Favorite, GrantRecord, GrantStatus, JobKind, JobRecord, RequestRecord, RequestStatus, RequestWithGrants } from '../domain/request.ts';
import type { LapseEvent } from '../engine/events.ts';

export interface AuditInput {
  at: number;
  actor: string;
  action: string;
  requestId: string | null;
  data: Record<string, unknown>;
}

/** How an audit event's hash is computed from the previous one (see audit/chain.ts). */
export type AuditHasher = (prevHash: string, e: HashedFields) => string;

/** What a store is opened with besides its location. */
export interface StoreOptions {
  /** The audit chain's key (audit/chain.ts deriveAuditKey); without it the store cannot append audit events. */
  auditKey?: Buffer;
}

export interface AuditEvent extends AuditInput {
  seq: number;
  prevHash: string;
  hash: string;
}

export interface RequestUpdate {
  id: string;
  /** The update applies only if the stored version is still this one. */
  expectVersion: number;
  set: Partial<Omit<RequestRecord, 'id' | 'version'>>;
  /**
   * The record as the caller last read it, at `expectVersion`: the store then checks the
   * version alone instead of reading the whole record back.
   */
  base?: RequestRecord;
}

export interface GrantUpdate {
  requestId: string;
  integration: string;
  /** The update applies only if the stored grant is in one of these statuses. */
  expectStatus?: GrantStatus[];
  set: Partial<Omit<GrantRecord, 'requestId' | 'integration'>>;
}

export interface ChangeSet {
  insertRequests?: RequestRecord[];
  updateRequests?: RequestUpdate[];
  insertGrants?: GrantRecord[];
  updateGrants?: GrantUpdate[];
  insertJobs?: JobRecord[];
  /** Deletes a job; with `owner`, only while that owner holds its lease. */
  deleteJobs?: { id: string; owner?: string }[];
  deleteJobsOfRequest?: { requestId: string; kinds: JobKind[] }[];
  audit?: AuditInput[];
  /** Notifications the change causes, written with it (a key already written is left as it is). */
  outbox?: OutboxInput[];
}

/** A person's choice of personal channels: a channel not named keeps what was chosen before. */
export interface NotificationChoice {
  email?: boolean;
  /** Direct messages in chat. */
  chat?: boolean;
}

/** The people who turned each personal channel off. */
export interface NotificationOptOuts {
  email: string[];
  chat: string[];
}

/** A notification in the outbox: what it says, to whom on which channel, and how its delivery goes. */
export interface OutboxRecord extends OutboxInput {
  status: 'pending' | 'delivered' | 'failed';
  /** When it is next tried (pending). */
  dueAt: number;
  /** Deliveries begun (counted when claimed). */
  attempts: number;
  lastError: string | null;
  leaseOwner: string | null;
  leaseUntil: number | null;
  deliveredAt: number | null;
}

/** How a claimed delivery ended: delivered, or not (again at retryAt; null: given up, failed). */
export type OutboxOutcome = { delivered: true; at: number } | { delivered: false; at: number; error: string; retryAt: number | null };

export interface OutboxFilter {
  status?: OutboxRecord['status'];
  limit: number;
}

/** A conditional update found the row changed by someone else: nothing was written. */
export class ConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

export interface RequestFilter {
  requester?: string;
  statuses?: RequestStatus[];
  flowId?: string;
  /** Requests whose id starts with this prefix. */
  idPrefix?: string;
  /** Requests created before this instant (paging by time). */
  createdBefore?: number;
  /** Requests after this one in the list's order (created_at, then id, both descending): a page after the last one read. */
  after?: { createdAt: number; id: string };
  /** Requests with an entitlement on this integration. */
  integration?: string;
  /** Requests with an entitlement on this resource (its path inside its integration). */
  resource?: string;
  /** Requests carrying this label. */
  label?: string;
  /** Requests this user approved (the request or one of its extensions). */
  approvedBy?: string;
  limit?: number;
}

export interface AuditFilter {
  requestId?: string;
  actor?: string;
  action?: string;
  /** Events this user did, or about a request of theirs. */
  user?: string;
  /** Events about a request of this flow. */
  flowId?: string;
  /** Events about a request with an entitlement on this integration, or naming it (`data.integration`). */
  integration?: string;
  /** Events about a request that carries this label. */
  label?: string;
  since?: number;
  until?: number;
  afterSeq?: number;
  beforeSeq?: number;
  /** By seq: oldest first (default) or newest first. */
  order?: 'asc' | 'desc';
  limit?: number;
}

/** A grant that still holds (granting, active or revoking) on a holding request. */
export interface HeldGrant {
  requestId: string;
  requester: string;
  integration: string;
  entitlements: Entitlement[];
}

export interface TokenRecord {
  id: string;
  userId: string;
  name: string;
  createdAt: number;
  revokedAt: number | null;
  lastUsedAt: number | null;
  /** When the token stops working (null: never — tokens made before expiries existed, and service tokens an admin made without one). */
  expiresAt: number | null;
  /** personal: a person's own token; service: made by an admin for automation. */
  kind: 'personal' | 'service';
  /** How the identity provider authenticated the person when single sign-on made this token (null: made otherwise). */
  authentication?: ProviderAuthentication | null;
}

/** A signed-in session (single sign-on). The cookie holds a secret; the store keeps its SHA-256 (`id`). */
export interface SessionRecord {
  id: string;
  userId: string;
  createdAt: number;
  lastSeenAt: number;
  /** The absolute end: the session never outlives it, however active. */
  expiresAt: number;
  /** The session ends this long after its last use. */
  idleTimeoutMs: number;
  /** SHA-256 of the session's CSRF token. */
  csrfHash: string;
  /** The ID token the provider gave at sign-in (for RP-initiated logout's id_token_hint). */
  idToken: string | null;
  revokedAt: number | null;
  /** Why it was revoked: 'sign-out', 'user removed', 'refused at renewal', … */
  revokedReason: string | null;
  /** How the identity provider authenticated the person at this session's sign-in. */
  authentication?: ProviderAuthentication | null;
}

/** An authorization request on its way to the provider and back: single use, short-lived. */
export interface SignInAttempt {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** Where to send the person after sign-in (a path of the portal). */
  returnTo: string;
  createdAt: number;
  expiresAt: number;
  /** A step-up: the max_age asked of the provider, which its answer must meet (absent or null: none). */
  maxAgeSeconds?: number | null;
}

/** What renews a provisioned user at the identity provider. */
export interface Renewal {
  refreshToken: string | null;
  renewAt: number | null;
  error: string | null;
}

export interface DueRenewal {
  userId: string;
  refreshToken: string;
}

/**
 * A person's own TOTP factor (self-enrolment): the secret as the store keeps it (sealed, see
 * auth/secret-sealer.ts), pending until a code from it confirms that their authenticator holds it.
 */
export interface MfaEnrolment {
  userId: string;
  /** The sealed base32 secret: never the secret as it is. */
  secret: string;
  state: 'pending' | 'confirmed';
  createdAt: number;
  confirmedAt: number | null;
}

/** A person created from the identity provider's claims (settings.oidc.provisionUsers). */
export interface ProvisionedUser extends KnownIdentity {
  createdAt: number;
  updatedAt: number;
  lastSignInAt: number;
}

/** An event of the events stream as the store keeps it for replay: `seq` is its place in the order of replay. */
export interface KeptEvent {
  seq: number;
  event: LapseEvent;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Liveness of the underlying database. */
  ping(): Promise<void>;

  /** Applies the change set atomically; throws ConflictError if a precondition fails. */
  commit(changes: ChangeSet): Promise<void>;

  getRequest(id: string): Promise<RequestRecord | null>;
  /** The requests among these ids that exist, with their grants, by id (one read for many). */
  getRequestsWithGrants(ids: string[]): Promise<Map<string, RequestWithGrants>>;
  getGrants(requestId: string): Promise<GrantRecord[]>;
  getGrantsOf(requestIds: string[]): Promise<Map<string, GrantRecord[]>>;
  listRequests(filter: RequestFilter): Promise<RequestRecord[]>;
  /** Requests (pending, or active with a pending extension) that this user may decide. */
  listAwaitingDecisionBy(userId: string): Promise<RequestRecord[]>;
  countByStatus(): Promise<Record<string, number>>;
  /**
   * Which of `keys` (entitlement keys) another holding (granting or active) request of the
   * same requester covers.
   */
  coveredByOthers(requester: string, excludeRequestId: string, keys: string[]): Promise<Set<string>>;
  /**
   * Holding grants in (request id, integration) order, after `after`, at most `limit`: a page
   * at a time, so that reading every holding grant (reconciliation) never blocks for long.
   */
  holdingGrantsPage(after: { requestId: string; integration: string } | null, limit: number): Promise<HeldGrant[]>;

  /**
   * Claims up to `limit` due jobs whose lease is free or lapsed, stamping owner, lease and
   * one more attempt in the same statement. Oldest due first.
   */
  claimDueJobs(now: number, owner: string, leaseUntil: number, limit: number): Promise<JobRecord[]>;
  /**
   * Extends the leases `owner` still holds on these jobs (the ones it is running), so that
   * work slower than a lease is not taken over while its holder is alive. Returns how many.
   */
  renewLeases(ids: string[], owner: string, leaseUntil: number): Promise<number>;
  /** Gives a claimed job back for a later attempt (only while `owner` holds it). */
  rescheduleJob(id: string, owner: string, dueAt: number, lastError: string | null): Promise<boolean>;
  nextDueAt(): Promise<number | null>;
  /**
   * For the metrics: jobs due at `now` (claimed or not), those due for longer than
   * `overdueAfterMs`, and the due time of the oldest job no one has claimed (null: none).
   */
  jobBacklog(now: number, overdueAfterMs: number): Promise<{ due: number; overdue: number; oldestDueAt: number | null }>;
  /** Revokes that failed at least once and are being retried: access that may outlive its grant. */
  countFailingRevokes(): Promise<number>;
  /**
   * Frees leases (of jobs and of notifications being delivered; returns how many jobs').
   * Without `owner`, every lease: only for a store used by a single process
   * (embedded SQLite), where at start leases held by a crashed predecessor would otherwise
   * delay its work. With `owner`, only that owner's (a replica stopping cleanly on a shared
   * PostgreSQL store, which refuses the unscoped form).
   */
  releaseAllLeases(owner?: string): Promise<number>;
  /** Makes revokes that wait out a backoff due now (at start: the access should be gone already). */
  retryBackedOffRevokesNow(now: number): Promise<number>;
  jobsOfRequest(requestId: string): Promise<JobRecord[]>;
  /** Makes this request's revoke jobs that nobody holds due now (an admin's "retry now"); how many. */
  retryRevokesOfRequestNow(requestId: string, now: number): Promise<number>;
  /**
   * Runs `fn` while no other holder of `key` runs, in every process that shares this store
   * (SQLite: this process, the only one; PostgreSQL: every replica, through a lock row with
   * a lease of `leaseMs`, renewed while `fn` runs and lapsing if its holder dies). First
   * come, first served within a process.
   */
  withLock<T>(key: string, leaseMs: number, fn: () => Promise<T>): Promise<T>;

  /**
   * Appends to the audit chain, each event hashed with the chain's key (the store's
   * `auditKey` option; a store opened without it refuses to append).
   */
  appendAudit(events: AuditInput[]): Promise<void>;
  /**
   * Hashes the whole audit chain again with `hashOf`, in one transaction, after checking each
   * event (and the head) against `checkOld`; refuses, writing nothing, at the first that does
   * not verify. Returns how many events it rehashed.
   */
  rehashAudit(checkOld: AuditHasher, hashOf: AuditHasher): Promise<number>;
  listAudit(filter: AuditFilter): Promise<AuditEvent[]>;
  /** All events in order, in pages, for verification and export. */
  iterateAudit(pageSize?: number): AsyncIterable<AuditEvent[]>;
  auditHead(): Promise<{ seq: number; hash: string } | null>;

  insertFavorite(favorite: Favorite): Promise<void>;
  updateFavorite(favorite: Favorite): Promise<boolean>;
  deleteFavorite(owner: string, id: string): Promise<boolean>;
  listFavorites(owner: string): Promise<Favorite[]>;
  getFavorite(owner: string, id: string): Promise<Favorite | null>;

  insertToken(token: TokenRecord, secretHash: string): Promise<void>;
  findTokenByHash(secretHash: string): Promise<TokenRecord | null>;
  listTokens(userId?: string): Promise<TokenRecord[]>;
  revokeToken(id: string, at: number): Promise<boolean>;
  touchToken(id: string, at: number): Promise<void>;

  insertSession(session: SessionRecord): Promise<void>;
  /** The session by id, revoked or not (null: unknown). */
  findSession(id: string): Promise<SessionRecord | null>;
  /** Notes a use: lastSeenAt = at (only moves forward). */
  touchSession(id: string, at: number): Promise<void>;
  /** Revokes one session; false when it was unknown or already revoked. */
  revokeSession(id: string, at: number, reason: string): Promise<boolean>;
  /** Revokes every live session of a user; how many. */
  revokeSessionsOf(userId: string, at: number, reason: string): Promise<number>;
  /** The live sessions of a user (not revoked, not past expiresAt at `now`). */
  listSessionsOf(userId: string, now: number): Promise<SessionRecord[]>;
  /** Deletes sessions that ended before `before` (revoked or expired); how many. */
  pruneSessions(before: number): Promise<number>;
  saveSignInAttempt(attempt: SignInAttempt): Promise<void>;
  /**
   * Takes an attempt by its state, once: it is deleted in the same statement, so a replayed
   * callback (or two replicas given the same callback) finds it at most once. Null when
   * unknown, already taken or expired at `now` (an expired one is deleted too).
   */
  takeSignInAttempt(state: string, now: number): Promise<SignInAttempt | null>;
  /** Inserts or replaces (by id) a provisioned user. */
  saveProvisionedUser(user: ProvisionedUser): Promise<void>;
  findProvisionedUser(id: string): Promise<ProvisionedUser | null>;
  /** By issuer and subject (the provider's stable id of the person). */
  findProvisionedUserBySubject(issuer: string, subject: string): Promise<ProvisionedUser | null>;
  listProvisionedUsers(): Promise<ProvisionedUser[]>;
  /**
   * Keeps what renews a provisioned user at the provider: its refresh token (null: none, so no
   * renewal) and when the next renewal is due, with the last renewal's error (null: none).
   */
  saveRenewal(userId: string, renewal: Renewal): Promise<void>;
  /**
   * Takes up to `limit` pending notifications that are due and not leased, leasing them to
   * `owner` until now + leaseMs and counting an attempt each (of several replicas, one takes
   * each; a delivery that dies is taken again after the lease). Rows of `exceptChannels` are
   * left (the deliverer has enough of theirs in hand).
   */
  claimOutbox(owner: string, now: number, leaseMs: number, limit: number, exceptChannels?: readonly string[]): Promise<OutboxRecord[]>;
  /** Records how a claimed delivery ended; false when `owner` no longer held it. */
  finishOutbox(key: string, owner: string, outcome: OutboxOutcome): Promise<boolean>;
  /** A failed notification is pending again, due now, its attempts counted afresh; false when it was not failed. */
  retryOutbox(key: string, now: number): Promise<boolean>;
  /** The newest notifications first. */
  listOutbox(filter: OutboxFilter): Promise<OutboxRecord[]>;
  outboxCounts(): Promise<Record<OutboxRecord['status'], number>>;
  /** Deletes the notifications delivered before `before` (the failed ones stay, for an admin); how many. */
  pruneOutbox(before: number): Promise<number>;
  /** Records whether a person is told by email, by direct message, or both (their choice in the Account view; a channel not named keeps its choice). */
  setNotificationPreference(userId: string, choice: NotificationChoice, at: number): Promise<void>;
  /** The people who turned email, or direct messages, off. */
  listNotificationOptOuts(): Promise<NotificationOptOuts>;
  /** What renews a user at the provider (null: not a provisioned user). */
  findRenewal(userId: string): Promise<Renewal | null>;
  /**
   * Takes up to `limit` users whose renewal is due at `now` (a refresh token, not disabled),
   * moving each one's next renewal to now + leaseMs in the same statement: of several
   * replicas, one renews each user, and a renewal that dies is taken again after the lease.
   */
  claimDueRenewals(now: number, leaseMs: number, limit: number): Promise<DueRenewal[]>;

  /**
   * Records `step` as the last one-time-code step `userId` used, unless one as late is
   * recorded already: true when it was (one caller wins, across replicas).
   */
  useMfaStep(userId: string, step: number): Promise<boolean>;
  /**
   * Adds `delta` (1: an attempt begins; -1: it proved right) to the user's count of MFA
   * attempts in the current window, atomically, and returns the count and when the window
   * began. A window older than `windowMs` starts anew.
   */
  countMfaAttempts(userId: string, delta: 1 | -1, now: number, windowMs: number): Promise<{ count: number; since: number }>;
  /** The user's enrolment, pending or confirmed (null: none). */
  getMfaEnrolment(userId: string): Promise<MfaEnrolment | null>;
  /**
   * Saves a pending enrolment, replacing the user's pending one, in one statement: false (and
   * nothing written) when the user has a confirmed one, which only a reset removes.
   */
  startMfaEnrolment(userId: string, secret: string, at: number): Promise<boolean>;
  /**
   * Confirms the user's pending enrolment, if it is still the one with this sealed `secret`
   * (not replaced by a newer start meanwhile): true when it was.
   */
  confirmMfaEnrolment(userId: string, secret: string, at: number): Promise<boolean>;
  /** Removes the user's enrolment (only if it is in `state`, when given); the one removed, or null. */
  deleteMfaEnrolment(userId: string, state?: MfaEnrolment['state']): Promise<MfaEnrolment | null>;

  /**
   * Keeps events of the events stream for replay, in the order given, each with its place in
   * the order of replay; an id already kept is left as it is (replicas relay each other's
   * events, and each keeps what its stream carries).
   */
  appendEvents(events: LapseEvent[]): Promise<void>;
  /** A kept event by id (null: never kept, or pruned). */
  findEvent(id: string): Promise<KeptEvent | null>;
  /** Kept events after place `seq`, in order, at most `limit`. */
  eventsAfter(seq: number, limit: number): Promise<KeptEvent[]>;
  /** Deletes the events that happened before `before`; how many. */
  pruneEvents(before: number): Promise<number>;

  getMeta(key: string): Promise<string | null>;
  /** Sets the value only if the key is absent; returns whether it was set. */
  setMetaIfAbsent(key: string, value: string): Promise<boolean>;
  setMeta(key: string, value: string): Promise<void>;

  // The audit stream's cursors (audit/stream.ts), one row per subscriber (migration 12).
  /**
   * Takes (or renews) the lease on `subscriber`'s cursor for `owner` until `leaseUntil`, when it
   * is free, lapsed at `now` or already `owner`'s; a cursor seen for the first time starts
   * before the first event. The cursor, or null when another holder has it.
   */
  claimAuditStream(subscriber: string, owner: string, now: number, leaseUntil: number): Promise<AuditStreamCursor | null>;
  /** Moves the cursor forward to `seq` (delivered at `at`) and clears the failures, while `owner` holds it; false when it does not. */
  advanceAuditStream(subscriber: string, owner: string, seq: number, at: number): Promise<boolean>;
  /** Counts one more failure in a row, with its error, and when to try next, while `owner` holds the cursor. */
  failAuditStream(subscriber: string, owner: string, error: string, at: number, retryAt: number): Promise<boolean>;
  /** Gives the lease up (a replica stopping cleanly). */
  releaseAuditStream(subscriber: string, owner: string): Promise<void>;
  listAuditStreams(): Promise<AuditStreamCursor[]>;

  // The inventory (services/discovery.ts), migration 14.
  /**
   * Takes the lease on `integration`'s discovery for `owner` until `leaseUntil`, when it is free
   * or lapsed at `now` and the sync is due (or `force`: asked for now), and sets the next one
   * due at `nextAt`, in one statement: of several replicas, one syncs each integration at a time.
   */
  claimDiscovery(integration: string, owner: string, now: number, leaseUntil: number, nextAt: number, force: boolean): Promise<boolean>;
  /**
   * Writes a batch of what a sync found, seen at `seenAt` (first seen kept for those already
   * known), extending the lease to `leaseUntil`; false, writing nothing, when `owner` no longer holds it.
   */
  writeInventory(integration: string, owner: string, rows: NewInventoryRow[], seenAt: number, leaseUntil: number): Promise<boolean>;
  /**
   * Ends a sync and gives the lease up: a success deletes what was not seen at `seenAt` and
   * records the count (the generation moves when `changed`); a failure keeps the inventory and
   * records the error. False when `owner` no longer held the lease (nothing written).
   */
  finishDiscovery(integration: string, owner: string, outcome: DiscoveryOutcome): Promise<boolean>;
  /** Every resource of an integration's inventory, by type and path. */
  inventoryOf(integration: string): Promise<InventoryRow[]>;
  /** The discovery state of every integration that was ever synced. */
  discoveryStates(): Promise<DiscoveryState[]>;
}

/** A resource as a sync writes it to the inventory. */
export type NewInventoryRow = InventoryEntry;

export interface InventoryRow extends NewInventoryRow {
  integration: string;
  firstSeen: number;
  lastSeen: number;
}

export type DiscoveryOutcome =
  | { at: number; error: string }
  | { at: number; error: null; seenAt: number; count: number; changed: boolean };

/** Where an integration's discovery is: its schedule, lease, last runs and what it found. */
export interface DiscoveryState {
  integration: string;
  nextAt: number;
  leaseOwner: string | null;
  leaseUntil: number | null;
  startedAt: number | null;
  endedAt: number | null;
  succeededAt: number | null;
  lastError: string | null;
  resourceCount: number;
  /** Syncs that ended, failed or not. */
  syncs: number;
  /** Moves when a sync changed the inventory. */
  generation: number;
}

/** Where one audit stream subscriber is: the last event delivered to it, and its failures. */
export interface AuditStreamCursor {
  subscriber: string;
  /** The seq of the last event delivered (0: none yet). */
  deliveredSeq: number;
  deliveredAt: number | null;
  /** Failures in a row since the last delivery (0: none). */
  attempts: number;
  /** When the next try is due after a failure (null: not failing). */
  retryAt: number | null;
  /** The last failure's error and when it happened (kept after the next delivery). */
  lastError: string | null;
  lastErrorAt: number | null;
  owner: string | null;
  leaseUntil: number | null;
}

export type { Entitlement };
