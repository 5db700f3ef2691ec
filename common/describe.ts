// Short names of access for menus and notifications: "app · read", "app/users · write",
// "Demo bundle", "Write app tables · 3 entitlements".

export interface DescribableRequest {
  flowName?: string;
  flowId: string;
  bundleName?: string | null;
  entitlements: { integration: string; resource: string; permission: string }[];
}

export function describeAccess(r: DescribableRequest): string {
  if (r.bundleName) return r.bundleName;
  const flow = r.flowName ?? r.flowId;
  if (r.entitlements.length === 1) {
    const e = r.entitlements[0]!;
    return `${e.resource} · ${e.permission}`;
  }
  const resources = new Set(r.entitlements.map((e) => e.resource));
  const permissions = new Set(r.entitlements.map((e) => e.permission));
  if (resources.size === 1 && r.entitlements.length) return `${[...resources][0]} · ${[...permissions].join(', ')}`;
  return `${flow} · ${r.entitlements.length} entitlements`;
}
