/**
 * A job's log file (`jobs/<id>/run.log`): setup and run output of every node, line by line.
 *
 * - Multi-node jobs: each line starts with its node, `(head, rank=0) ` or `(worker1, rank=1) `
 *   (the name is the node's place in the cluster, the rank its place in the job); single-node
 *   jobs' lines are written as they are.
 * - The exact values of the job's secrets are replaced with `<redacted>` before a line is written
 *   (a multi-line secret: each of its lines of 4 characters or more). A line is held until its newline arrives, or until
 *   it has waited PARTIAL_FLUSH_MS (progress bars), so a secret printed in pieces across such a
 *   pause is the one case not caught.
 * - stdout and stderr are buffered separately, so their lines never mix mid-line.
 * - A write that fails (the disk is full: ENOSPC, or any other error) never throws into the job's
 *   output handlers: the log stops there, `onWriteError` is told once (the daemon frees its space
 *   reserve), and one last line saying the output was cut is appended where it fits. `truncated`
 *   then holds the reason; the job itself keeps running.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

const PARTIAL_FLUSH_MS = 300;
const MAX_LINE = 64 * 1024;
export const REDACTED = '<redacted>';
/** What `truncated` says, and the log's last line says, when a write failed because the disk is full. */
export const DISK_FULL_NOTE = 'its output was cut short: the disk of the head node is full (ENOSPC)';

/** Shortest line of a multi-line secret that is redacted on its own. */
const MIN_PIECE = 4;

export interface LogStream {
  write(chunk: string): void;
  /** Write any unfinished line. */
  end(): void;
}

export class JobLog {
  private fd: number | null;
  private readonly needles: string[];
  private readonly streams = new Set<LineStream>();
  /** Why the log stopped early (null while it is complete). */
  truncated: string | null = null;
  /** Whether the last byte written ended a line. */
  private atLineStart = true;

  constructor(
    path: string,
    secrets: readonly string[],
    private readonly onWriteError: (e: NodeJS.ErrnoException) => void = () => {},
  ) {
    this.fd = openSync(path, 'a', 0o600);
    const pieces = new Set<string>();
    for (const s of secrets) {
      if (!s) continue;
      pieces.add(s);
      // Lines of a multi-line secret (a key file): each line long enough to be unmistakable.
      if (s.includes('\n'))
        for (const line of s.split(/\r?\n/)) if (line.trim().length >= MIN_PIECE) pieces.add(line);
    }
    this.needles = [...pieces].sort((a, b) => b.length - a.length);
  }

  redact(line: string): string {
    let out = line;
    for (const n of this.needles) if (out.includes(n)) out = out.split(n).join(REDACTED);
    return out;
  }

  /** A stream whose lines start with `prefix` ('' for none). */
  stream(prefix: string): LogStream {
    const s = new LineStream(this, prefix);
    this.streams.add(s);
    return s;
  }

  /** @internal */
  emit(text: string): void {
    if (this.fd === null || !text || this.truncated) return;
    const buf = Buffer.from(text);
    let off = 0;
    try {
      while (off < buf.length) off += writeSync(this.fd, buf, off);
      this.atLineStart = buf[buf.length - 1] === 10;
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      this.truncated =
        err.code === 'ENOSPC' || err.code === 'EDQUOT'
          ? DISK_FULL_NOTE
          : `its output was cut short: the log could not be written (${err.code ?? err.message})`;
      this.onWriteError(err);
      // One last line where it fits (the daemon has just freed its reserve); best effort.
      try {
        writeSync(
          this.fd,
          `${(off > 0 ? buf[off - 1] === 10 : this.atLineStart) ? '' : '\n'}[skyhop] ${this.truncated}; the rest of it is not kept\n`,
        );
      } catch {
        // nothing more can be written
      }
    }
  }

  /** Flushes every stream's unfinished line and closes the file. */
  close(): void {
    for (const s of this.streams) s.end();
    this.streams.clear();
    if (this.fd !== null) {
      try {
        closeSync(this.fd);
      } catch {
        // a close error (delayed write error on some filesystems) is already reflected in `truncated` or moot
      }
    }
    this.fd = null;
  }
}

class LineStream implements LogStream {
  private buf = '';
  private midLine = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: JobLog,
    private readonly prefix: string,
  ) {}

  write(chunk: string): void {
    this.buf += chunk;
    let nl = this.buf.indexOf('\n');
    if (nl !== -1) {
      let out = '';
      let start = 0;
      while (nl !== -1) {
        out += `${this.midLine ? '' : this.prefix}${this.log.redact(this.buf.slice(start, nl))}\n`;
        this.midLine = false;
        start = nl + 1;
        nl = this.buf.indexOf('\n', start);
      }
      this.buf = this.buf.slice(start);
      this.log.emit(out);
    }
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.buf.length >= MAX_LINE) this.flushPartial();
    else if (this.buf) this.timer = setTimeout(() => this.flushPartial(), PARTIAL_FLUSH_MS);
  }

  private flushPartial(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.buf) return;
    this.log.emit(`${this.midLine ? '' : this.prefix}${this.log.redact(this.buf)}`);
    this.midLine = true;
    this.buf = '';
  }

  end(): void {
    this.flushPartial();
    if (this.midLine) this.log.emit('\n');
    this.midLine = false;
  }
}
