// The configuration module: defaults, coercion, API_KEYS parsing, and failing fast with a message
// that names each invalid variable.
import { expect } from 'chai';
import { ConfigError, digestOf, loadConfig, lookalikeVariables, parseApiKeys } from '../../../api/config.js';

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
};

describe('api config', () => {
  it('has documented defaults', () => {
    const config = loadConfig({});
    expect(config).to.include({
      port: 8080,
      host: '0.0.0.0',
      dataDir: './data',
      logLevel: 'info',
      rateLimitPerMinute: 6000,
      defaultTtlSeconds: 900,
      maxTtlSeconds: 3600,
      requestTimeoutMs: 10_000,
      maxSseClients: 1000,
      lowStockThreshold: 5,
      bodyLimitBytes: 262_144,
    });
    expect(config.apiKeys).to.deep.equal([]);
    expect(config.corsOrigins).to.deep.equal([]);
  });

  it('coerces numbers and trims values', () => {
    const config = loadConfig({
      PORT: ' 9090 ',
      MAX_SSE_CLIENTS: '7',
      CORS_ORIGINS: 'https://a.example.com, http://localhost:3000',
    });
    expect(config.port).to.equal(9090);
    expect(config.maxSseClients).to.equal(7);
    expect(config.corsOrigins).to.deep.equal(['https://a.example.com', 'http://localhost:3000']);
  });

  it('names every invalid variable at once', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      LOG_LEVEL: 'loud',
      RATE_LIMIT_PER_MINUTE: '-1',
      REQUEST_TIMEOUT_MS: '1.5',
    });
    expect(problems.join('\n')).to.include('PORT').and.include('"eighty"');
    expect(problems.some((problem) => problem.startsWith('LOG_LEVEL'))).to.equal(true);
    expect(problems.some((problem) => problem.startsWith('RATE_LIMIT_PER_MINUTE'))).to.equal(true);
    expect(problems.some((problem) => problem.startsWith('REQUEST_TIMEOUT_MS'))).to.equal(true);
  });

  it('refuses a default TTL above the maximum and a CORS entry that is not an origin', () => {
    expect(problemsOf({ DEFAULT_TTL_SECONDS: '600', MAX_TTL_SECONDS: '60' })[0]).to.match(
      /DEFAULT_TTL_SECONDS/,
    );
    expect(problemsOf({ CORS_ORIGINS: 'https://shop.example.com/path' })[0]).to.match(/CORS_ORIGINS/);
    expect(problemsOf({ CORS_ORIGINS: '*' })[0]).to.match(/CORS_ORIGINS/);
  });

  describe('API_KEYS', () => {
    it('parses plain and hashed keys with roles and store locations; keeps only digests', () => {
      const hashed = digestOf('a-hashed-key-0123456789').toString('hex');
      const { keys, problems } = parseApiKeys(
        `admin-key-0123456789:admin, sha256:${hashed}:store:S1 ,shop-key-0123456789:storefront,,dash-key-0123456789:reader`,
      );
      expect(problems).to.deep.equal([]);
      expect(keys.map((key) => [key.role, key.locationId])).to.deep.equal([
        ['admin', undefined],
        ['store', 'S1'],
        ['storefront', undefined],
        ['reader', undefined],
      ]);
      expect(keys[0]?.digest.equals(digestOf('admin-key-0123456789'))).to.equal(true);
      expect(keys[1]?.digest.toString('hex')).to.equal(hashed);
      expect(keys[0]?.id).to.match(/^[0-9a-f]{16}$/);
      expect(JSON.stringify(keys)).to.not.include('admin-key-0123456789');
    });

    it('refuses short keys, unknown roles, stores without location, bound non-stores, bad hashes and duplicates', () => {
      const cases: [string, RegExp][] = [
        ['short:admin', /at least 16/],
        ['long-enough-key-123:owner', /role must be one of/],
        ['long-enough-key-123:store', /needs a locationId/],
        ['long-enough-key-123:reader:S1', /only the store role/],
        ['long-enough-key-123:store:bad/id', /not a valid id/],
        ['sha256:abc:admin', /64 hex/],
        ['long-enough-key-123:admin,long-enough-key-123:reader', /configured twice/],
        ['long-enough-key-123:store:S1:extra', /key:role\[:locationId\]/],
      ];
      for (const [value, message] of cases) {
        const { problems } = parseApiKeys(value);
        expect(problems, value).to.have.length(1);
        expect(problems[0], value).to.match(message);
      }
    });

    it('a bad entry fails loadConfig without echoing the key', () => {
      const problems = problemsOf({ API_KEYS: 'tiny-secret:admin,another-secret-key-1:wizard' });
      expect(problems).to.have.length(2);
      expect(problems.join('\n')).to.not.include('another-secret-key-1').and.not.include('tiny-secret');
      expect(problems.join('\n')).to.include('API_KEYS entry 2');
    });
  });

  it('warns about variables that look like misspelt configuration variables, not about unrelated ones', () => {
    const warnings = lookalikeVariables({
      API_KEY: 'x',
      MAX_TTL_SECOND: '5',
      HOME: '/root',
      NODE_ENV: 'test',
      SSH_AUTH_SOCK: '/tmp/s',
      PORT: '1',
      npm_config_cache: '/x',
    });
    expect(warnings).to.deep.equal([
      'API_KEY is not a configuration variable; did you mean API_KEYS?',
      'MAX_TTL_SECOND is not a configuration variable; did you mean MAX_TTL_SECONDS?',
    ]);
  });
});
