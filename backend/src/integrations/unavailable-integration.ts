// Stands in for an integration that cannot be driven: a type this build cannot drive yet, or
// one whose credentials could not be read. The configuration stays valid and the catalog
// shows why a grant would fail, but nothing is pretended.

import type { DiscoveredResource, GrantedEntry, GrantResult, HealthReport, Integration } from './integration.ts';

export class UnavailableIntegration implements Integration {
  constructor(
    readonly id: string,
    readonly type: string,
    /** Why it cannot be used (default: the type is not available in this build). */
    private readonly why?: string,
  ) {}

  private get reason(): string {
    return this.why ?? `integration type "${this.type}" is not available in this version of Lapse`;
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
