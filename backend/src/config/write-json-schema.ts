// Writes backend/config.schema.json from configJsonSchema:
//   node --import tsx backend/src/config/write-json-schema.ts
// json-schema.test.ts fails when the committed file and the generated schema differ.

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configJsonSchema } from './json-schema.ts';

export const CONFIG_SCHEMA_PATH = fileURLToPath(new URL('../../config.schema.json', import.meta.url));

/** The file's exact text: two-space JSON and a final newline. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema, null, 2)}\n`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(CONFIG_SCHEMA_PATH, configJsonSchemaText());
  console.log(`wrote ${CONFIG_SCHEMA_PATH}`);
}
