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
    },
  },
  { files: ['platform/kafka/adapter.ts'], rules: { 'no-restricted-imports': 'off' } },
);
