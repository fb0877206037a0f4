import { readdirSync } from 'node:fs';
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// The frontend's layers, in the manner of bulletproof-react: src/app composes the features;
// a feature is a folder under src/features whose public face is its index.ts; shared code
// (src/components, src/lib, src/types) knows no feature. A new feature folder is covered as it is.
const FEATURES = readdirSync(new URL('./src/features', import.meta.url), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name);
const PUBLIC_FACES = FEATURES.map((name) => `./${name}/index.ts`);
const THROUGH_INDEX = 'Import another feature only through its public index.ts (src/features/<name>/index.ts).';

const LAYERS = [
  ...FEATURES.map((name) => ({
    target: `./src/features/${name}`,
    from: './src/features',
    except: [`./${name}`, ...PUBLIC_FACES],
    message: THROUGH_INDEX,
  })),
  { target: ['./src/app', './src/main.tsx', './src/test'], from: './src/features', except: PUBLIC_FACES, message: THROUGH_INDEX },
  { target: './src/features', from: './src/app', message: 'A feature does not import the app: the app composes the features.' },
  {
    target: ['./src/components', './src/lib', './src/types'],
    from: ['./src/features', './src/app'],
    message: 'Shared code (src/components, src/lib, src/types) imports no feature and not the app.',
  },
];

export default defineConfig([
  globalIgnores(['dist']),
  {
    files: ['**/*.{ts,tsx,js}'],
    extends: [js.configs.recommended, tseslint.configs.recommended, reactHooks.configs.flat.recommended],
    languageOptions: { ecmaVersion: 2022, globals: globals.browser },
  },
  {
    files: ['src/**/*.{ts,tsx}'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.tsx', '.js', '.json'] })],
      // Read TypeScript modules too when following imports (no-cycle).
      'import-x/extensions': ['.ts', '.tsx', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
    },
    rules: {
      'import-x/no-restricted-paths': ['error', { basePath: import.meta.dirname, zones: LAYERS }],
      'import-x/no-cycle': 'error',
    },
  },
]);
