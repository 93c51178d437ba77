// `npm run lint` (and `npm test`): ESLint with typescript-eslint's type-aware rules. Correctness
// only: a rule is on when what it finds is a bug in a gateway that runs unattended (a promise
// nobody awaits, an async callback whose rejection nobody sees, an `any` that switches the type
// checker off, a switch that forgets a case). Layout and spelling are left alone. The rule set is
// documented in README.md ("Lint"); change both together.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

// dev dependencies: the installed package does not have them, so runtime code must not import them
const devOnly = ['tsx', 'fast-check', 'playwright-core', 'typescript', 'eslint', '@eslint/js', 'typescript-eslint'];

export default defineConfig(
  { ignores: ['dist/', 'build/', 'data/', 'scratch/', 'test-output/', 'node_modules/'] },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // the bugs this linter is here for
      '@typescript-eslint/no-floating-promises': ['error', {
        // node:test's test()/describe() return promises the runner itself awaits
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] }],
      }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // `return promise` inside try/catch skips the catch: the one case where `return await` matters
      '@typescript-eslint/return-await': ['error', 'error-handling-correctness-only'],
      // a union switch without a default must name every member (a new record kind, a new type)
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true, requireDefaultForNonUnion: false }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // type-only imports are erased: `import type` says so (verbatimModuleSyntax relies on it)
      '@typescript-eslint/consistent-type-imports': ['error', { disallowTypeAnnotations: false, fixStyle: 'inline-type-imports' }],

      // off, and why (each found only intended code here, or is style):
      // rejecting with `signal.reason` (an AbortSignal's own error) is the platform's idiom
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
      // an async method without await keeps the Promise contract of an interface (Stage.start)
      '@typescript-eslint/require-await': 'off',
      // ctx.resolvePath and rig.stop are arrow-function properties declared with method syntax
      '@typescript-eslint/unbound-method': 'off',
      // numbers and unknowns in test messages are fine
      '@typescript-eslint/restrict-template-expressions': 'off',
      // style, or intended: `x!` that tsc can prove, `T extends {} | null` (anything but undefined),
      // node-opcua enums compared with the numbers on the wire
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      '@typescript-eslint/no-empty-object-type': 'off',
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      'prefer-const': 'off',
    },
  },
  {
    // runtime code (what `npm pack` ships): no test support, no dev dependency
    files: ['src/**/*.ts', 'drivers/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { regex: `^(${devOnly.join('|')})(/|$)`, message: 'a dev dependency: the installed package does not have it' },
          { regex: '(^|/)test/', message: 'test support is not shipped: runtime code must not import it' },
        ],
      }],
    },
  },
  {
    // sparkplug-payload's typings use Long.Long from its own long@4, which has no types: its
    // metric value type is an error type, so every use of it reads as unsafe. Not our code's fault.
    files: ['src/sinks/mqtt/sparkplug*.ts', 'src/sinks/mqtt/mqtt.test.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // plain JavaScript: bin/, scripts/*.mjs, this file; the dashboard's script runs in a browser
    files: ['**/*.js', '**/*.mjs'],
    extends: [js.configs.recommended],
    languageOptions: {
      globals: Object.fromEntries(['process', 'console', 'performance', 'URL', 'Buffer', 'fetch', 'setTimeout', 'clearTimeout',
        'setInterval', 'clearInterval', 'AbortController', 'AbortSignal'].map((g) => [g, 'readonly'])),
    },
  },
  {
    files: ['src/health/dashboard/**/*.js'],
    languageOptions: { globals: { document: 'readonly', window: 'readonly' } },
  },
);
