export { main, defaultRoot, type AppsIo } from './cli/index.ts';
export { AppsError } from './errors.ts';
