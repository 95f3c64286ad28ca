// Renders docker-compose.template to docker-compose.yml (`npm run compose`), with no tool but
// Node: ${VAR}, $VAR, ${VAR:-default} (unset or empty), ${VAR-default} (unset),
// ${VAR:?message} / ${VAR?message} (required). Values come from the environment, then from the
// .env file (the environment wins, as in docker compose). `$$` is left as it is: compose turns
// it into a literal `$` later. Full-line comments are copied untouched.
// Every missing variable is named on stderr, nothing is written, and the exit code is 1.
//
// Usage: node scripts/render-compose.mjs [--template FILE] [--dotenv FILE] [--out FILE]
// (not --env-file: Node 24 reads that flag itself, even after the script name)
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = resolve(import.meta.dirname, '..');
const { values: options } = parseArgs({
  options: {
    template: { type: 'string', default: resolve(root, 'docker-compose.template') },
    dotenv: { type: 'string', default: resolve(root, '.env') },
    out: { type: 'string', default: resolve(root, 'docker-compose.yml') },
  },
});

/** KEY=VALUE lines; `export ` prefix, comments and blank lines allowed; quotes stripped. */
function parseEnvFile(text, file) {
  const vars = {};
  text.split(/\r?\n/).forEach((line, index) => {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const match = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(trimmed);
    if (!match) {
      throw new Error(`${file}:${index + 1}: expected KEY=VALUE, got ${JSON.stringify(line)}`);
    }
    let value = match[2];
    const quoted = /^(['"])(.*)\1$/.exec(value);
    if (quoted) value = quoted[2];
    else value = value.replace(/\s+#.*$/, '');
    vars[match[1]] = value;
  });
  return vars;
}

const pattern =
  /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/** Returns { text, missing: [{ name, line, message }] }. */
function render(template, vars) {
  const missing = [];
  const lines = template.split('\n').map((line, index) => {
    if (line.trimStart().startsWith('#')) return line;
    return line.replace(pattern, (whole, braced, operator, argument, bare) => {
      if (whole === '$$') return whole;
      const name = braced ?? bare;
      const value = vars[name];
      const isSet = value !== undefined;
      const isEmpty = !isSet || value === '';
      switch (operator) {
        case ':-':
          return isEmpty ? argument : value;
        case '-':
          return isSet ? value : argument;
        case ':?':
        case '?':
          if (operator === ':?' ? isEmpty : !isSet) {
            missing.push({ name, line: index + 1, message: argument || 'required' });
            return whole;
          }
          return value;
        default:
          if (!isSet) {
            missing.push({ name, line: index + 1, message: 'no default in the template' });
            return whole;
          }
          return value;
      }
    });
  });
  return { text: lines.join('\n'), missing };
}

function main() {
  let fileVars = {};
  if (existsSync(options.dotenv)) {
    fileVars = parseEnvFile(readFileSync(options.dotenv, 'utf8'), options.dotenv);
  } else {
    console.error(
      `compose: no ${options.dotenv}; using the environment only (the app's env_file needs it: cp .env.example .env)`,
    );
  }
  const vars = { ...fileVars, ...process.env };
  const { text, missing } = render(readFileSync(options.template, 'utf8'), vars);
  if (missing.length > 0) {
    for (const { name, line, message } of missing) {
      console.error(`compose: ${name} is not set (${options.template}:${line}: ${message})`);
    }
    console.error('compose: nothing written; set the variables in the environment or .env');
    process.exitCode = 1;
    return;
  }
  const header = `# Generated from docker-compose.template by npm run compose; edit the template, not this file.\n`;
  writeFileSync(`${options.out}.tmp`, header + text);
  renameSync(`${options.out}.tmp`, options.out);
  console.error(`compose: wrote ${options.out}`);
}

try {
  main();
} catch (error) {
  console.error(`compose: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
