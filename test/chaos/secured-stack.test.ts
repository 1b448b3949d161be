import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../platform/config.ts';
import { KafkaAdapter, kafkaConnection, type KafkaConnection } from '../../platform/kafka/adapter.ts';
import { createLogger } from '../../platform/logger.ts';
import { Redis, redisTlsOptions, type RedisOptions } from '../../platform/redis/client.ts';
import { securityEnv, stackEnv } from '../support/stack.ts';

/**
 * The cluster stack runs as production should: Kafka clients on SASL_SSL (SCRAM-SHA-512) and
 * Redis on TLS with a password. The pipeline's own connections work there (every other test of
 * this run uses them); these show that the doors are shut to anyone without the credentials.
 */
describe('the secured cluster stack', () => {
  const env = stackEnv();
  const security = securityEnv();
  const config = loadConfig({ ...env, ...security });
  const good = kafkaConnection(config);

  /** asks the cluster for its brokers over `conn`: the count, or the error that stopped it */
  const describeCluster = async (conn: KafkaConnection): Promise<number | string> => {
    const kafka = new KafkaAdapter({
      ...conn,
      clientId: 'secured-stack-test',
      logger: createLogger({ level: 'silent' }),
      retries: 0,
    });
    try {
      return await kafka.brokerCount();
    } catch (err) {
      return String((err as Error).message ?? err);
    } finally {
      await kafka.close();
    }
  };

  it('runs Kafka on SASL_SSL and Redis on TLS', () => {
    expect(security.KAFKA_SECURITY_PROTOCOL).toBe('SASL_SSL');
    expect(env.REDIS_URL.startsWith('rediss://')).toBe(true);
  });

  it('lets the pipeline’s user in, and no one without TLS, SASL or the right password', async () => {
    expect(await describeCluster(good)).toBe(3);
    const refused = await Promise.all([
      describeCluster({ brokers: good.brokers }), // plain text to a TLS port
      describeCluster({ brokers: good.brokers, tls: good.tls! }), // TLS, no SASL
      describeCluster({ ...good, sasl: { ...good.sasl!, password: 'wrong' } }),
      describeCluster({ ...good, tls: {} }), // a certificate from a CA it does not trust
    ]);
    expect(refused[0]).toMatch(/Closed connection|Connection error/);
    expect(refused[1]).toMatch(/Closed connection|Connection error/); // the broker wants a SASL handshake first
    expect(refused[2]).toMatch(/authentication failed/i);
    expect(refused[3]).toMatch(/certificate/);
  });

  it('lets Redis answer only over TLS and with the password', async () => {
    const url = new URL(env.REDIS_URL);
    const tls = redisTlsOptions(security.REDIS_TLS_CA_FILE);
    const ping = async (u: string, options: RedisOptions) => {
      const r = new Redis(u, { ...options, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      r.on('error', () => undefined);
      try {
        await r.connect();
        return await r.ping();
      } catch (err) {
        return `refused: ${(err as Error).message}`;
      } finally {
        r.disconnect();
      }
    };
    expect(await ping(env.REDIS_URL, tls)).toBe('PONG');
    const noPassword = `rediss://${url.host}`;
    expect(await ping(noPassword, tls)).toMatch(/NOAUTH|refused/);
    expect(await ping(`rediss://:wrong@${url.host}`, tls)).toMatch(/WRONGPASS|refused/);
    expect(await ping(`redis://:${url.password}@${url.host}`, {})).toMatch(/refused/); // plain text
    expect(await ping(env.REDIS_URL, {})).toMatch(/refused/); // a CA it does not trust
  });
});
