// The layers eslint.config.js enforces (DESIGN §2): a feature is imported only through its public
// index.ts, shared code imports no feature, and no module imports one that imports it back.
// Each snippet is linted as if it were the file at `filePath`, with the project's own config.
import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const frontend = path.resolve(import.meta.dirname, '..');
const eslint = new ESLint({ cwd: frontend });

async function lintAs(filePath: string, code: string) {
  const [result] = await eslint.lintText(code, { filePath: path.join(frontend, filePath) });
  return result.messages.map(({ ruleId, message }) => ({ ruleId, message }));
}

describe('the feature boundaries fail the lint', () => {
  it("rejects a feature importing another feature's internals", async () => {
    const problems = await lintAs(
      'src/features/story/components/Probe.tsx',
      "import { useModels } from '../../settings/api/llmBackend';\nexport const models = useModels;\n",
    );
    expect(problems).toEqual([
      {
        ruleId: 'import-x/no-restricted-paths',
        message: expect.stringContaining('Import another feature only through its public index.ts') as string,
      },
    ]);
  });

  it("accepts a feature importing another through its index.ts", async () => {
    const problems = await lintAs('src/features/story/components/Probe.tsx', "import { useModels } from '../../settings';\nexport const models = useModels;\n");
    expect(problems).toEqual([]);
  });

  it('rejects shared code importing a feature, even through its index.ts', async () => {
    const problems = await lintAs('src/components/Probe.tsx', "import { UserMenu } from '../features/auth';\nexport const menu = UserMenu;\n");
    expect(problems).toEqual([
      { ruleId: 'import-x/no-restricted-paths', message: expect.stringContaining('Shared code') as string },
    ]);
  });

  it("rejects the app importing a feature's internals, and accepts its index.ts", async () => {
    const inside = await lintAs('src/app/Probe.tsx', "import { StoryPage } from '../features/story/components/StoryPage';\nexport const page = StoryPage;\n");
    const face = await lintAs('src/app/Probe.tsx', "import { StoryPage } from '../features/story';\nexport const page = StoryPage;\n");
    expect(inside.map(({ ruleId }) => ruleId)).toEqual(['import-x/no-restricted-paths']);
    expect(face).toEqual([]);
  });

  it('rejects an import cycle: llmBackend.ts importing settings.ts, which imports it', async () => {
    const problems = await lintAs(
      'src/features/settings/api/llmBackend.ts',
      "import { useLLMSettings } from './settings';\nexport const settings = useLLMSettings;\n",
    );
    expect(problems).toEqual([{ ruleId: 'import-x/no-cycle', message: 'Dependency cycle detected' }]);
  });
});
