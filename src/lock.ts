/**
 * The run lock: one digest run at a time, within this process and across
 * processes (the daemon and a `paperboy run` by hand share DATA_DIR).
 *
 * - proper-lockfile makes DATA_DIR/run.lock (mkdir is atomic) and refreshes
 *   its mtime every stale/2 while held; a holder that stops refreshing for
 *   LOCK_STALE_SECONDS (crashed, frozen) loses it to the next process.
 * - DATA_DIR/run.lock.json names the holder (pid, host, command, since) for
 *   the "another run holds the lock" message, and lets a process on the same
 *   host take over at once when that pid is gone (kill -9 then restart),
 *   instead of waiting for the mtime to go stale. The takeover is done under
 *   a second short lock so two newcomers cannot both remove it.
 * - If the lock is lost while held (its directory removed or taken over
 *   after a long freeze), `signal` aborts so the run stops after the message
 *   in flight.
 */
import { hostname } from 'node:os';
import { readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rmdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { PaperboyError } from './errors.js';
import { writeFileAtomic } from './yamlfile.js';

export interface LockOwner {
  pid: number;
  host: string;
  command: string;
  since: string;
  /**
   * Inode of the lock directory this record belongs to (a leftover record must not describe a newer
   * lock). Not proof on its own: ext4 gives a directory made right after another was removed the same
   * inode. The directory's birth time would tell them apart, but where a file system has none Node
   * reports its ctime, which every heartbeat changes, so the pid and `since` of the record decide.
   */
  ino: number;
}

export interface HeldLock {
  /** Aborts if the lock is lost while held. */
  readonly signal: AbortSignal;
  /**
   * Looks on disk that the lock is still this holder's, and throws LOCKED (aborting `signal`) if
   * not. `signal` only notices a loss at the next refresh; a process that was frozen (SIGSTOP, a
   * suspended VM) long enough to be taken over must find out before it writes or sends again, so
   * the ledger calls this before every append (Ledger.guard). Synchronous: the ledger's appends are.
   */
  verify(): void;
  release(): Promise<void>;
}

export interface LockOptions {
  /** What holds it, for the message the next process prints. */
  command: string;
  staleMs?: number;
  /** Keep trying this long before giving up (0 = fail at once). */
  waitMs?: number;
  pollMs?: number;
}

const heldHere = new Set<string>();

export class RunLock {
  readonly dir: string;
  readonly ownerFile: string;
  private readonly target: string;
  private readonly guardTarget: string;

  constructor(dataDir: string) {
    this.target = path.join(dataDir, 'run');
    this.guardTarget = path.join(dataDir, 'run-takeover');
    this.dir = `${this.target}.lock`;
    this.ownerFile = `${this.dir}.json`;
  }

  async acquire(opts: LockOptions): Promise<HeldLock> {
    const deadline = Date.now() + (opts.waitMs ?? 0);
    await mkdir(path.dirname(this.dir), { recursive: true });
    for (;;) {
      try {
        return await this.tryAcquire(opts);
      } catch (e) {
        if (!(e instanceof PaperboyError && e.code === 'LOCKED') || Date.now() >= deadline) throw e;
        await new Promise((r) => setTimeout(r, Math.min(opts.pollMs ?? 500, Math.max(1, deadline - Date.now()))));
      }
    }
  }

  private async tryAcquire(opts: LockOptions): Promise<HeldLock> {
    if (heldHere.has(this.dir)) throw new PaperboyError('LOCKED', `another run in this process holds the lock ${this.dir}`);
    const staleMs = opts.staleMs ?? 60_000;
    const controller = new AbortController();
    const options = {
      realpath: false,
      lockfilePath: this.dir,
      stale: staleMs,
      update: Math.max(1000, Math.floor(staleMs / 2)),
      onCompromised: (err: Error) => controller.abort(`lost the run lock: ${err.message}`),
    };
    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(this.target, options);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') throw e;
      if (!(await this.takeOverFromDeadOwner())) throw new PaperboyError('LOCKED', await this.describeHolder(staleMs));
      try {
        release = await lockfile.lock(this.target, options);
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code !== 'ELOCKED') throw e2;
        throw new PaperboyError('LOCKED', await this.describeHolder(staleMs));
      }
    }
    heldHere.add(this.dir);
    const owner: LockOwner = {
      pid: process.pid,
      host: hostname(),
      command: opts.command,
      since: new Date().toISOString(),
      ino: (await stat(this.dir)).ino,
    };
    await writeFileAtomic(this.ownerFile, JSON.stringify(owner) + '\n');
    let released = false;
    let lostTo: string | undefined;
    const lost = (reason: string) => {
      lostTo = reason;
      controller.abort(reason);
      return new PaperboyError('LOCKED', reason);
    };
    return {
      signal: controller.signal,
      verify: () => {
        if (controller.signal.aborted) throw new PaperboyError('LOCKED', String(controller.signal.reason));
        let dir;
        let now: LockOwner | undefined;
        try {
          dir = statSync(this.dir);
          now = JSON.parse(readFileSync(this.ownerFile, 'utf8')) as LockOwner;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') throw lost(`lost the run lock: ${dir ? this.ownerFile : this.dir} was removed`);
          if (code !== undefined) return; // cannot tell (EIO, EMFILE…): the lock's own refresh still watches
        }
        // Another holder's record, or a lock directory that is not the one this record was written for.
        if (dir!.ino !== owner.ino || now?.pid !== owner.pid || now.host !== owner.host || now.since !== owner.since) {
          const who = now && (now.pid !== owner.pid || now.host !== owner.host) ? ` by pid ${now.pid} on ${now.host} (${now.command})` : '';
          throw lost(`lost the run lock: taken over${who} while this process was not running`);
        }
      },
      release: async () => {
        if (released) return;
        released = true;
        heldHere.delete(this.dir);
        // A lock found lost belongs to its successor now: removing it would let a third run in beside it.
        if (lostTo) return;
        // Only remove the owner record if it is still ours.
        if ((await this.readOwner())?.pid === process.pid) await unlink(this.ownerFile).catch(() => {});
        await release().catch(() => {}); // already lost (compromised): nothing to release
      },
    };
  }

  async readOwner(): Promise<LockOwner | undefined> {
    try {
      return JSON.parse(await readFile(this.ownerFile, 'utf8')) as LockOwner;
    } catch {
      return undefined;
    }
  }

  /** The holder is a process on this host that no longer exists: remove its lock. True if removed. */
  private async takeOverFromDeadOwner(): Promise<boolean> {
    if (!(await this.ownerIsDead())) return false;
    let releaseGuard: () => Promise<void>;
    try {
      releaseGuard = await lockfile.lock(this.guardTarget, {
        realpath: false,
        stale: 10_000,
        retries: { retries: 20, minTimeout: 20, maxTimeout: 200 },
      });
    } catch {
      return false;
    }
    try {
      // Look again under the guard: someone may have taken it over meanwhile.
      if (!(await this.ownerIsDead())) return false;
      await rmdir(this.dir).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
      return true;
    } finally {
      await releaseGuard();
    }
  }

  private async ownerIsDead(): Promise<boolean> {
    const owner = await this.readOwner();
    if (!owner || owner.host !== hostname()) return false;
    const dir = await stat(this.dir).catch(() => undefined);
    if (!dir || dir.ino !== owner.ino) return false;
    return !processAlive(owner.pid);
  }

  private async describeHolder(staleMs: number): Promise<string> {
    const owner = await this.readOwner();
    const who = owner ? `pid ${owner.pid} on ${owner.host} (${owner.command}) since ${owner.since}` : 'another process';
    return (
      `another run holds the lock: ${who}. Only one digest run at a time; try again when it ends ` +
      `(a crashed holder's lock is taken over after ${Math.round(staleMs / 1000)} s, at once if it ran on this host). Lock: ${this.dir}`
    );
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Run `job` holding the run lock, failing at once (LOCKED, naming the holder) while a digest run holds
 * it: for changes a run must not see half-done, such as renaming a topic in the catalog and in the
 * subscriber files.
 */
export async function withRunLock<T>(dataDir: string, command: string, staleMs: number, job: () => Promise<T>): Promise<T> {
  const held = await new RunLock(dataDir).acquire({ command, staleMs });
  try {
    return await job();
  } finally {
    await held.release();
  }
}
