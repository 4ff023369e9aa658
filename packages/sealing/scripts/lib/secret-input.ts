/**
 * Reading secret values without leaving them anywhere: never from argv (shell history, `ps`), from a hidden prompt
 * on a terminal (raw mode, nothing echoed) or from stdin when it is not a terminal (a pipe or a file: one value per
 * line for several values, or the whole input for one).
 */
import { openSync, writeSync, closeSync } from 'node:fs';
import { CancelledError, UsageError } from '../../src/errors.ts';

export class SecretInput {
  private lines: string[] | null = null;
  private whole: string | null = null;

  constructor(private readonly stdin: NodeJS.ReadStream = process.stdin) {}

  get interactive(): boolean {
    return this.stdin.isTTY === true;
  }

  private async readStdin(): Promise<string> {
    if (this.whole === null) {
      const chunks: Buffer[] = [];
      for await (const chunk of this.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
      this.whole = Buffer.concat(chunks).toString('utf8');
    }
    return this.whole;
  }

  /** One value. On a terminal: a hidden prompt. Otherwise the next stdin line (`multiLine`: all of stdin). */
  async ask(label: string, options: { multiLine?: boolean } = {}): Promise<string> {
    let value: string;
    if (this.interactive) {
      value = await this.readHidden(`${label}: `);
    } else if (options.multiLine) {
      // A file's contents, e.g. a PEM: keep inner line breaks, drop the one a shell or editor adds at the end.
      value = (await this.readStdin()).replace(/\r?\n$/, '');
    } else {
      if (this.lines === null) this.lines = (await this.readStdin()).split(/\r?\n/);
      const line = this.lines.shift();
      if (line === undefined || (line === '' && this.lines.length === 0)) {
        throw new UsageError(`stdin ended before the value for ${label}`, 'give one value per line, in the order the script asks (see --help)');
      }
      value = line;
    }
    if (value === '')
      throw new UsageError(`the value for ${label} is empty; nothing was written`, 'give the value on the prompt or on stdin; an empty value is never sealed');
    return value;
  }

  private readHidden(prompt: string): Promise<string> {
    const stdin = this.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    return new Promise((resolve, reject) => {
      let value = '';
      const finish = (): void => {
        stdin.off('data', onData);
        stdin.setRawMode(false);
        stdin.pause();
        process.stderr.write('\n');
      };
      const onData = (chunk: Buffer | string): void => {
        for (const char of chunk.toString()) {
          if (char === '\r' || char === '\n') {
            finish();
            resolve(value);
            return;
          }
          if (char === '\u0003' || (char === '\u0004' && value === '')) {
            finish();
            reject(new CancelledError());
            return;
          }
          if (char === '\u007f' || char === '\b') value = [...value].slice(0, -1).join('');
          else value += char;
        }
      };
      stdin.on('data', onData);
    });
  }
}

/**
 * The controlling terminal, for what must be shown once and never stored (generated passwords, role SQL): not stdout,
 * which may be a file or a CI log. Null when the process has no terminal.
 */
export class Terminal {
  private constructor(private readonly fd: number) {}

  static open(): Terminal | null {
    try {
      return new Terminal(openSync('/dev/tty', 'w'));
    } catch {
      return null;
    }
  }

  write(text: string): void {
    writeSync(this.fd, text);
  }

  close(): void {
    closeSync(this.fd);
  }
}
