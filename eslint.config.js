import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', '.local/**', 'platform/schemas/generated/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Only the Kafka adapter may import the Kafka client.
      'no-restricted-imports': ['error', { paths: [{ name: 'kafkajs', message: 'use platform/kafka/adapter.ts' }] }],
      // A focused or skipped test hides every other check: never committed.
      'no-restricted-properties': [
        'error',
        ...['describe', 'it', 'test'].flatMap((object) =>
          ['only', 'skip', 'todo'].map((property) => ({
            object,
            property,
            message: `${object}.${property} hides the other tests; remove it before committing`,
          })),
        ),
      ],
    },
  },
  { files: ['platform/kafka/adapter.ts'], rules: { 'no-restricted-imports': 'off' } },
);
