import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { RegistryError } from '../../errors.ts';
import { isOciTag, isSha256Digest } from './grammar.ts';
import { emptyStats, type RegistrySource, type RegistryStats } from './types.ts';

export const EMBEDDED_CATALOG = fileURLToPath(new URL('../../../catalog/known-images.yaml', import.meta.url));

interface CatalogFile {
  description?: string;
  repositories: Record<string, Array<{ tag: string; digest: string; created?: string }>>;
}

/**
 * An offline registry source: a YAML file of known tags, digests and created times. It lets `pnpm bot plan` show a
 * real plan on a fresh clone with no network and no credentials. Its output is always labelled as a catalog read.
 */
export class CatalogRegistry implements RegistrySource {
  readonly stats: RegistryStats = emptyStats();
  readonly describe: string;
  private readonly catalog: CatalogFile;

  constructor(readonly file: string = EMBEDDED_CATALOG) {
    this.catalog = parse(readFileSync(file, 'utf8')) as CatalogFile;
    this.describe = `offline catalog ${file}${this.catalog.description ? ` (${this.catalog.description})` : ''}, NOT a live registry read`;
  }

  private entries(repository: string) {
    const entries = this.catalog.repositories?.[repository];
    if (!entries)
      throw new RegistryError(`${repository} is not in the offline catalog ${this.file}`, 404, repository, 'add it to the catalog, or run with --source live');
    return entries;
  }

  async listTags(repository: string): Promise<string[]> {
    this.stats.tagListCalls++;
    return this.entries(repository)
      .map((entry) => entry.tag)
      .filter(isOciTag);
  }

  async resolveDigest(repository: string, tag: string): Promise<string> {
    this.stats.manifestHeadCalls++;
    this.stats.manifestCalls++;
    const entry = this.entries(repository).find((candidate) => candidate.tag === tag);
    if (!entry)
      throw new RegistryError(`${repository}:${tag} is not in the offline catalog`, 404, repository, 'add it to the catalog, or run with --source live');
    if (!isSha256Digest(entry.digest))
      throw new RegistryError(
        `${repository}:${tag} has a digest in the offline catalog that is not sha256:<64 lowercase hex>`,
        undefined,
        repository,
        `fix the entry in ${this.file}`,
      );
    return entry.digest;
  }

  async createdAt(repository: string, digest: string): Promise<Date | null> {
    this.stats.blobCalls++;
    const entry = this.entries(repository).find((candidate) => candidate.digest === digest);
    return entry?.created ? new Date(entry.created) : null;
  }
}
