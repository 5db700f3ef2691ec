// Route schemas compiled when a route is first used, not when the server starts: the same
// compilers Fastify uses (ajv for input, fast-json-stringify for answers), behind a wrapper
// that builds each route's function on its first call. Start-up then compiles nothing, and
// a route never called costs nothing. Every route is called by the API tests, so a schema
// that does not compile fails there.

import type { FastifyServerOptions } from 'fastify';
import AjvCompiler from '@fastify/ajv-compiler';
import SerializerSelector from '@fastify/fast-json-stringify-compiler';

type Compile<F> = (route: { schema: unknown; method: string; url: string; httpPart?: string; httpStatus?: string }) => F;
type Factory<F> = (externalSchemas: unknown, options: unknown) => Compile<F>;

function lazily<F extends (...args: never[]) => unknown>(build: Factory<F>, forward?: (from: F, to: F) => void): Factory<F> {
  return (externalSchemas, options) => {
    let compile: Compile<F> | undefined;
    return (route) => {
      let fn: F | undefined;
      const wrapper = ((...args: Parameters<F>) => {
        fn ??= (compile ??= build(externalSchemas, options))(route);
        const result = fn(...args);
        forward?.(fn, wrapper);
        return result;
      }) as F;
      return wrapper;
    };
  };
}

type Validate = ((data: unknown) => boolean | Promise<unknown>) & { errors?: unknown };
type Serialize = (data: unknown) => string;

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;

/** Fastify's `schemaController.compilersFactory`, compiling each route's schemas on first use. */
export const lazySchemaCompilers: CompilersFactory = {
  // Fastify reads a failed validation's errors from the function it called.
  buildValidator: lazily<Validate>(AjvCompiler() as unknown as Factory<Validate>, (from, to) => { to.errors = from.errors; }) as unknown as CompilersFactory['buildValidator'],
  buildSerializer: lazily<Serialize>(SerializerSelector() as unknown as Factory<Serialize>) as unknown as CompilersFactory['buildSerializer'],
};
