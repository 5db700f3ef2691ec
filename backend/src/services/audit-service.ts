// The audit log as admins check it: the hash chain verified against the server's key and
// the checkpoint of its head.

import type { Store } from '../store/store.ts';
import { readCheckpoint } from '../audit/checkpoint.ts';
import { verifyAuditChain, type AuditVerifyResult } from '../audit/verify.ts';

export class AuditService {
  constructor(
    private readonly store: Store,
    private readonly key: Buffer,
    /** Where the chain's head is checkpointed (null: nowhere). */
    private readonly checkpointPath: string | null,
  ) {}

  verify(): Promise<AuditVerifyResult> {
    const checkpoint = this.checkpointPath ? readCheckpoint(this.checkpointPath, this.key) : undefined;
    return verifyAuditChain(this.store, this.key, checkpoint);
  }
}
