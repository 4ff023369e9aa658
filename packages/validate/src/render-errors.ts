/**
 * Turns kustomize's nested render error into its root cause. kustomize reports a missing file three levels down
 * as a chain of `accumulating resources from '…': '…' must resolve to a file': recursed accumulation of path '…'`
 * wrappers around one sentence, and every entry point that includes the broken directory repeats the whole chain;
 * the person who broke it needs the sentence and the file that holds the bad reference, once.
 */
import path from 'node:path';

export interface RenderErrorCause {
  /** Repo-relative kustomization that holds the bad reference (the innermost directory kustomize was reading). */
  file: string;
  /** Repo-relative directories kustomize recursed into, outermost first, ending with the one that failed. */
  chain: string[];
  /** kustomize's innermost sentence, with repository paths made relative and symlink noise reduced. */
  cause: string;
}

const RECURSED = /recursed accumulation of path '([^']+)'/g;
const MISSING = /evalsymlink failure on '([^']+)' : lstat [^:]+: no such file or directory/g;

export function explainRenderError(message: string, root: string, renderId: string): RenderErrorCause {
  const relative = (absolute: string) => {
    const rel = path.relative(root, absolute).split(path.sep).join('/');
    return rel.startsWith('..') || path.isAbsolute(rel) ? absolute : rel || '.';
  };
  const chain = [renderId, ...[...message.matchAll(RECURSED)].map((match) => relative(match[1]!))];
  const afterLastRecursion = message.split(/recursed accumulation of path '[^']+': /).pop() ?? message;
  let cause = afterLastRecursion.replace(/^accumulating resources: /, '');
  // The missing-reference case: `accumulation err='accumulating resources from 'X': <why>': must build at directory: <why again>`.
  const reference = /^(?:accumulation err=')?accumulating resources from '([^']+)': ([\s\S]*?)(?:': must build at directory: [\s\S]*)?$/.exec(cause);
  if (reference) {
    const [, ref, why] = reference;
    cause = new RegExp(MISSING.source).test(why!) ? `resource '${ref}' does not exist` : `resource '${ref}': ${why}`;
  }
  cause = cause.replace(MISSING, (_all, file: string) => `${relative(file)} does not exist`);
  cause = cause.split(`${root}${path.sep}`).join('');
  return { file: `${chain[chain.length - 1]}/kustomization.yaml`, chain, cause: cause.trim() };
}
