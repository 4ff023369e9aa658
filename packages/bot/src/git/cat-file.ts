import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

/** One object as `git cat-file --batch` prints it; null when git reports it missing. */
export interface CatFileObject {
  type: string;
  content: Buffer;
}

interface Pending {
  name: string;
  resolve: (object: CatFileObject | null) => void;
  reject: (error: Error) => void;
}

/**
 * One long-lived `git cat-file --batch` process that answers object reads in order. A plan reads hundreds of small
 * files; one git process per read (spawn + repository setup, ~25 ms each) was most of the plan time at 100
 * environments, and this process answers the same reads in microseconds each. Started on the first read; `close`
 * ends it (the workspace closes it on dispose, so an error or an interrupt leaves no process behind).
 */
export class CatFileBatch {
  private child: ChildProcessByStdio<Writable, Readable, Readable> | null = null;
  private readonly queue: Pending[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private unwritten: string[] = [];
  private stderr = '';
  private failure: Error | null = null;

  constructor(
    private readonly dir: string,
    private readonly env: Record<string, string>,
  ) {}

  /** The object `name` names (`<sha>`, `<rev>:<path>`), or null when git has no such object. */
  read(name: string): Promise<CatFileObject | null> {
    // The batch protocol is line based: a name with a line break cannot be asked for.
    if (/[\n\r\0]/.test(name)) return Promise.reject(new Error(`object name ${JSON.stringify(name)} holds a line break`));
    if (this.failure) return Promise.reject(this.failure);
    const child = this.start();
    return new Promise((resolve, reject) => {
      this.queue.push({ name, resolve, reject });
      // Names asked for in the same tick go to git in one write (a write per name was a syscall each).
      if (this.unwritten.length === 0) queueMicrotask(() => this.flush(child));
      this.unwritten.push(name);
    });
  }

  private flush(child: ChildProcessByStdio<Writable, Readable, Readable>): void {
    const names = this.unwritten.splice(0);
    if (names.length > 0 && this.child === child) child.stdin.write(`${names.join('\n')}\n`);
  }

  close(): void {
    const child = this.child;
    this.child = null;
    if (!child) return;
    child.stdin.end();
    if (child.exitCode === null) child.kill();
  }

  private start(): ChildProcessByStdio<Writable, Readable, Readable> {
    if (this.child) return this.child;
    const child = spawn('git', ['cat-file', '--batch'], { cwd: this.dir, env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
      this.drain();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-2000);
    });
    // A write to a process that died is reported by 'exit'/'error' below; this only keeps it from being unhandled.
    child.stdin.on('error', () => {});
    const fail = (reason: string) => {
      this.failure = new Error(`git cat-file --batch ${reason}${this.stderr.trim() ? `: ${this.stderr.trim()}` : ''}`);
      if (this.child === child) this.child = null;
      for (const pending of this.queue.splice(0)) pending.reject(this.failure);
    };
    child.on('error', (error) => fail(`could not run (${error.message})`));
    child.on('exit', (code, signal) => {
      if (this.queue.length > 0 || this.child === child) fail(`stopped (${signal ?? `exit code ${code}`})`);
    });
    return child;
  }

  /** Answers the queued reads whose complete reply is in the buffer. */
  private drain(): void {
    while (this.queue.length > 0) {
      const newline = this.buffer.indexOf(0x0a);
      if (newline < 0) return;
      const header = this.buffer.subarray(0, newline).toString('utf8');
      const pending = this.queue[0]!;
      if (header.endsWith(' missing') || header.endsWith(' ambiguous')) {
        this.buffer = this.buffer.subarray(newline + 1);
        this.queue.shift();
        if (header.endsWith(' ambiguous')) pending.reject(new Error(`object name ${pending.name} is ambiguous`));
        else pending.resolve(null);
        continue;
      }
      const match = /^[0-9a-f]+ ([a-z]+) (\d+)$/.exec(header);
      if (!match) {
        this.failure = new Error(`git cat-file --batch answered ${JSON.stringify(header.slice(0, 200))} for ${pending.name}`);
        for (const waiting of this.queue.splice(0)) waiting.reject(this.failure);
        this.close();
        return;
      }
      const size = Number(match[2]);
      // Header, content, and the line feed git prints after it.
      if (this.buffer.length < newline + 1 + size + 1) return;
      const content = Buffer.from(this.buffer.subarray(newline + 1, newline + 1 + size));
      this.buffer = this.buffer.subarray(newline + 1 + size + 1);
      this.queue.shift();
      pending.resolve({ type: match[1]!, content });
    }
  }
}
