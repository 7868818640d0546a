// readme.mjs: the README's code blocks that a test runs or compares as printed. A block is
// marked by an HTML comment `<!-- test: NAME -->` on the line before its fence.
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './stack.mjs';

/** The text inside the fenced block marked NAME (its last newline kept); throws when there is none. */
export function readmeBlock(name) {
    const text = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const m = new RegExp(`^<!-- test: ${name} -->\\n\`\`\`\\w*\\n([\\s\\S]*?)^\`\`\`$`, 'm').exec(text);
    if (!m) throw new Error(`README.md has no block marked <!-- test: ${name} -->`);
    return m[1];
}
