// The hooks every workload test file shares, kept apart from support.ts because the benchmarks
// import support.ts outside vitest.
import { afterAll, afterEach, beforeAll } from 'vitest';
import { killAllWorkloads, type RedisHandle, startRedis } from './support.ts';

/**
 * One real redis-server for the whole file (each test counts under its own key), and every
 * workload SIGKILLed after each test so none outlives it. The handle returned delegates to the
 * server started in beforeAll, so tests use it like the handle itself.
 */
export function useFileRedis(options?: Parameters<typeof startRedis>[0]): RedisHandle {
  let redis: RedisHandle | undefined;
  beforeAll(async () => {
    redis = await startRedis(options);
  });
  afterEach(killAllWorkloads);
  afterAll(async () => {
    await redis?.stop();
  });
  const started = (): RedisHandle => {
    if (redis === undefined) throw new Error('the file Redis is used before beforeAll started it');
    return redis;
  };
  return {
    get port() {
      return started().port;
    },
    get url() {
      return started().url;
    },
    get client() {
      return started().client;
    },
    kill: () => started().kill(),
    start: () => started().start(),
    stop: () => started().stop(),
  };
}
