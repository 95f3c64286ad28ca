import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.tooling/', 'eslint.config.js', 'scripts/'] },
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/no-unnecessary-condition': 'off',
      '@typescript-eslint/no-confusing-void-expression': 'off',
      '@typescript-eslint/no-invalid-void-type': 'off',
    },
  },
  {
    // An ESM import of these built-ins reads every export, lazy ones included: node:http's
    // loads undici (~40 ms and ~5 MiB a process), node:crypto's webcrypto (~12 ms a thread).
    // process.getBuiltinModule() returns the module without that (docs/performance.md).
    files: ['src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: ['http', 'https', 'crypto'].flatMap((name) =>
            [name, `node:${name}`].map((id) => ({
              name: id,
              allowTypeImports: true,
              message: `import type only; take the module with process.getBuiltinModule('node:${name}'), which skips the cost of its ESM import`,
            })),
          ),
        },
      ],
    },
  },
  {
    files: ['src/lib/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/app/**', '../app/*'], message: 'src/lib never imports src/app' }] }],
    },
  },
  {
    files: ['src/app/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/lib/**', '!**/lib/index.js', '!**/lib/worker.js', '!**/lib/entry.js'],
              message:
                'src/app imports the core only through its public doors: lib/index.js (main thread), lib/worker.js (worker threads), lib/entry.js (the entry module)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }] }],
    },
  },
);
