import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import type { CopySink } from '../db/copyOut.js';

/**
 * A copy session's file, hashed (SHA-256) as it is written: each piece of COPY data is hashed
 * and written at once, synchronously, through the page cache (as psql's `\copy … to` writes),
 * so the piece is never copied and may be a socket's reused read buffer (copyOut.ts).
 */
export class FileWriter implements CopySink {
  private fd = -1;
  private hash: Hash | null = null;

  /** Start a file (a file still open is let go). */
  open(path: string): void {
    this.letGo();
    this.fd = openSync(path, 'w');
    this.hash = createHash('sha256');
  }

  put(data: Buffer): void {
    this.hash!.update(data);
    for (let at = 0; at < data.length; ) at += writeSync(this.fd, data, at);
  }

  /** Close the file: its SHA-256 (`keep`), or '' (a failed chunk's file let go). */
  close(keep: boolean): string {
    if (!keep) {
      this.letGo();
      return '';
    }
    const fd = this.fd;
    this.fd = -1;
    closeSync(fd);
    return this.hash!.digest('hex');
  }

  private letGo(): void {
    try {
      if (this.fd >= 0) closeSync(this.fd);
    } catch {
      // closing a file already failed: its error is the one reported
    }
    this.fd = -1;
  }
}
