// Stands in for an integration type this build cannot drive yet: the configuration stays
// valid and the catalog shows why a grant would fail, but nothing is pretended.

import type { DiscoveredResource, GrantedEntry, GrantResult, HealthReport, Integration } from './integration.ts';

export class UnavailableIntegration implements Integration {
  constructor(
    readonly id: string,
    readonly type: string,
  ) {}

  private get reason(): string {
    return `integration type "${this.type}" is not available in this version of Lapse`;
  }

  async grant(): Promise<GrantResult> {
    throw new Error(this.reason);
  }

  async revoke(): Promise<void> {
    throw new Error(this.reason);
  }

  async listGranted(): Promise<GrantedEntry[]> {
    return [];
  }

  async listResources(): Promise<DiscoveredResource[]> {
    return [];
  }

  async health(): Promise<HealthReport> {
    return { ok: false, checkedAt: Date.now(), error: this.reason };
  }

  async close(): Promise<void> {}
}
