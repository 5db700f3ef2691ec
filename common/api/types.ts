// The API's wire types, derived from the schemas the server validates and serializes with:
// what the renderer, the tray and the CLI receive and send is what the server checks.

import type { FromSchema } from 'json-schema-to-ts';
import type * as R from './responses.ts';
import type * as B from './schemas.ts';

export type { RequestStatus, GrantStatus } from '../request-status.ts';

export type Entitlement = FromSchema<typeof R.entitlement>;
export type Me = FromSchema<typeof R.me>;
export type Catalog = FromSchema<typeof R.catalog>;
export type CatalogFlow = FromSchema<typeof R.catalogFlow>;
export type CatalogBundle = CatalogFlow['bundles'][number];
export type GrantView = FromSchema<typeof R.grantView>;
export type Decision = FromSchema<typeof R.decision>;
/** A request as the server shows it to the caller (times are ISO 8601 strings). */
export type AccessRequest = FromSchema<typeof R.requestView>;
export type Favorite = FromSchema<typeof R.favorite>;
export type Suggestion = FromSchema<typeof R.suggestion>;
export type Favorites = FromSchema<typeof R.favorites>;
export type IntegrationList = FromSchema<typeof R.integrationList>;
export type ResourceList = FromSchema<typeof R.resourceList>;
export type ResourceSyncResult = FromSchema<typeof R.resourceSyncResult>;
export type ReconcileReportView = FromSchema<typeof R.reconcileReport>;
export type RevokeAllResult = FromSchema<typeof R.revokeAllResult>;
export type RevokeAllPreview = FromSchema<typeof R.revokeAllPreview>;
export type StuckRevocationList = FromSchema<typeof R.stuckRevocationList>;
export type StuckRevocation = StuckRevocationList['revocations'][number];
export type BulkRetryResult = FromSchema<typeof R.bulkRetryResult>;
export type BulkMarkRevokeCanceledResult = FromSchema<typeof R.bulkMarkRevokeCanceledResult>;
export type AuditEventView = FromSchema<typeof R.auditEvent>;
export type AuditPage = FromSchema<typeof R.auditList>;
export type TimelineEntry = FromSchema<typeof R.timelineEntry>;
export type RequestTimeline = FromSchema<typeof R.requestTimeline>;
export type ConfigStatus = FromSchema<typeof R.configStatus>;
export type AuditVerifyView = FromSchema<typeof R.auditVerifyResult>;
export type AccessDetails = FromSchema<typeof R.accessDetails>;
/** A failure, as application/problem+json describes it. */
export type Problem = FromSchema<typeof R.problem>;

export type NewRequest = FromSchema<typeof B.createRequestBody>;
export type NewFavorite = FromSchema<typeof B.favoriteBody>;
export type FavoriteRequestOptions = FromSchema<typeof B.favoriteRequestBody>;
export type RevokeAllFilter = FromSchema<typeof B.revokeAllBody>;
export type AuditQuery = FromSchema<typeof B.auditQuery>;
export type LapseEvent = FromSchema<typeof R.streamEvent>;
export type TokenView = FromSchema<typeof R.tokenView>;
export type CreatedToken = FromSchema<typeof R.createdToken>;
export type NewToken = FromSchema<typeof B.createTokenBody>;
export type MfaStatusView = FromSchema<typeof R.mfaStatus>;
export type MfaEnrolmentStarted = FromSchema<typeof R.mfaEnrolmentStarted>;
export type NotificationView = FromSchema<typeof R.notificationView>;
export type NotificationPreferencesView = FromSchema<typeof R.notificationPreferences>;
export type NotificationChoice = FromSchema<typeof B.notificationPreferencesBody>;
