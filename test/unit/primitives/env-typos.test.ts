import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  misspelledVariables,
  unreadPrefixedVariables,
} from '../../../src/lib/primitives/env-typos.js';
import { coreEnv } from '../../../src/lib/runtime/core-config.js';
import { amqpEnv } from '../../../src/lib/amqp/amqp-config.js';

const known = [...Object.keys(coreEnv), ...Object.keys(amqpEnv)];

test('a variable within two edits of a known one, upper-cased, or without its unit is suspect', () => {
  const cases: Array<[string, string]> = [
    ['AMQP_PREFECTH', 'AMQP_PREFETCH'], // two neighbours swapped
    ['AMQP_PREFTCH', 'AMQP_PREFETCH'], // a character dropped
    ['AMQP_PREFFETCH', 'AMQP_PREFETCH'], // one added
    ['AMQP_PREFETSH', 'AMQP_PREFETCH'], // one replaced
    ['SHUTDWN_DEADLIN_MS', 'SHUTDOWN_DEADLINE_MS'], // two edits
    ['amqp_url', 'AMQP_URL'], // lower case, short as it is
    ['Fault', 'FAULT'],
    ['AMQP_ULR_FILE', 'AMQP_URL_FILE'], // a NAME_FILE by its NAME
    ['SHUTDOWN_DEADLINE', 'SHUTDOWN_DEADLINE_MS'], // the unit left out
    ['AMQP_HEARTBEAT', 'AMQP_HEARTBEAT_S'],
    ['MAX_SEMI_SPACE_FILE', 'MAX_SEMI_SPACE_MB_FILE'],
    ['SENTRY_DNS', 'SENTRY_DSN'], // one edit from a name under 12 characters
    ['INFLUX_ORGS', 'INFLUX_ORG'],
    // A known NAME, its _FILE misspelled: no warning, and the secret mount did nothing.
    ['AMQP_URL_FIEL', 'AMQP_URL_FILE'],
    ['SENTRY_DSN_FLIE', 'SENTRY_DSN_FILE'],
    ['INFLUX_TOKEN_FIL', 'INFLUX_TOKEN_FILE'],
    ['AMQP_URL_FILES', 'AMQP_URL_FILE'],
  ];
  for (const [variable, meant] of cases) {
    assert.deepEqual(misspelledVariables([variable], known), [{ variable, meant }], variable);
  }
});

test('known names, their NAME_FILE forms and the neighbours a container has are not suspect', () => {
  const fine = [
    ...known,
    'AMQP_URL_FILE',
    'SENTRY_DSN_FILE',
    // The container kit's, Node's, the shell's, the OpenTelemetry and Sentry SDKs' own.
    'APP_DIR',
    'APP_USER',
    'NODE_BIN',
    'NODE_OPTIONS',
    'NODE_ENV',
    'SUPERVISOR_RUN_DIR',
    'SUPERVISOR_CONF',
    'CRON_D_DIR',
    'CRON_AUTOSTART',
    'HEALTHCHECKS_URL',
    'OTEL_EXPORTER_OTLP_HEADERS',
    'OTEL_RESOURCE_ATTRIBUTES',
    'OTEL_METRICS_EXPORTER',
    'OTEL_LOGS_EXPORTER',
    'SENTRY_RELEASE',
    'SENTRY_ENVIRONMENT',
    'SENTRY_DIST', // two edits from SENTRY_DSN
    'INFLUX_PORT', // Kubernetes' service link for a Service named influx; two from INFLUX_ORG
    'APP_HOME', // two from APP_NAME
    'PATH',
    'HOME',
    'HOSTNAME',
    'TERM',
    'CI',
    // Three edits away, and short names (at most two edits from many a word) are left alone.
    'AMQP_PRFTH',
    'APP_ENVS', // APP_ENV is under 8 characters
  ];
  assert.deepEqual(misspelledVariables(fine, known), []);
});

test('a variable under a prefix the core reads by pattern, and not in the env map, is unread', () => {
  const env = {
    FLAG_SAMPLE_NOTIFY: 'flags.sampleNotify',
    POLICY_HTTP_RETRIES: 'policies.http.retries',
  };
  assert.deepEqual(
    unreadPrefixedVariables(
      [
        'FLAG_SAMPLE_NOTIFY',
        'FLAG_SAMPLE_NOTIFY_FILE',
        'POLICY_HTTP_RETRIES',
        'FLAG_NEW_CHECKOUT',
        'POLICY_BILLING_TIMEOUT_MS_FILE',
        'FLAGS',
        // What Kubernetes sets for a Service named policy-engine, in every pod.
        'POLICY_ENGINE_SERVICE_HOST',
        'POLICY_ENGINE_SERVICE_PORT',
        'POLICY_ENGINE_SERVICE_PORT_HTTP',
        'POLICY_ENGINE_PORT',
        'POLICY_ENGINE_PORT_8080_TCP',
        'POLICY_ENGINE_PORT_8080_TCP_ADDR',
        'FLAG_SERVICE_PORT_53_UDP_PROTO',
        'MY_FLAG_X',
        'PATH',
      ],
      Object.keys(env),
      ['FLAG_', 'POLICY_'],
    ),
    ['FLAG_NEW_CHECKOUT', 'POLICY_BILLING_TIMEOUT_MS_FILE'],
  );
});
