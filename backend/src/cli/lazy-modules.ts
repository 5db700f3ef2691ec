// The modules only some verbs need, loaded by those verbs on first use: `lapse --help` and
// the client verbs start without the server, its store drivers or the configuration loader.

export const serviceModule = () => import('../service.ts');
export const loggerModule = () => import('../logger.ts');
export const configModule = () => import('../config/load.ts');
export const auditModules = async () => ({ ...(await import('../audit/checkpoint.ts')), ...(await import('../audit/verify.ts')) });
