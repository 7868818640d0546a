// The SQL archive's databases for the integration tests (archive.test.mjs, the write side;
// archive_read.test.mjs, the read side): how to start, stop and query each backend's private
// server (tests/stack.sh starts it in the run folder) and wait for the writer.
import { execFile } from 'node:child_process';
import { WAIT_MS, freePort, until } from './stack.mjs';

/** Runs cmd; resolves {code, stdout, stderr}. */
export function exec(cmd, args, env = process.env) {
    return new Promise((resolve) => {
        execFile(cmd, args, { env, timeout: 60000, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
            resolve({ code: err ? (err.code ?? -1) : 0, stdout, stderr }));
    });
}

/** How to start, stop and query one backend's database for a stack in dir. */
export function backend(name) {
    const db = { name, port: 0, dir: '' };
    db.url = () => ({
        sqlite: `sqlite:${db.dir}/archive.db`,
        mariadb: `mysql://comet:comet@127.0.0.1:${db.port}/comet`,
        postgresql: `postgresql://comet:comet@127.0.0.1:${db.port}/comet`,
    })[name];
    db.component = { sqlite: null, mariadb: 'mariadb', postgresql: 'postgres' }[name];
    // PostgreSQL's SIGTERM waits for its clients to leave; SIGINT ends their sessions.
    db.stop = (s) => s.stopComponent(db.component, { signal: name === 'postgresql' ? 'SIGINT' : 'SIGTERM' });
    db.start = async (s) => {
        if (!db.component) return;
        db.port ||= await freePort();
        await s.sh([db.component, db.dir, String(db.port)]);
    };
    /** Rows of sql as arrays of strings (tab-separated output of the database's own client). */
    db.query = async (sql) => {
        const r = {
            sqlite: () => exec('sqlite3', ['-separator', '\t', `${db.dir}/archive.db`, sql]),
            mariadb: () => exec('mariadb', ['--no-defaults', `--socket=${db.dir}/mariadb.sock`, '-ucomet', '-pcomet',
                '-N', '-B', '-r', 'comet', '-e', sql]),
            postgresql: () => exec('psql', ['-h', '127.0.0.1', '-p', String(db.port), '-U', 'comet', '-d', 'comet',
                '-At', '-F', '\t', '-c', sql]),
        }[name];
        const out = await r();
        if (out.code !== 0) throw new Error(`${name}: ${sql}: ${out.stderr}`);
        return out.stdout.split('\n').filter(Boolean).map((l) => l.split('\t'));
    };
    /** The archived events as {id, channel, envelope}, by id. */
    db.events = async () => new Map((await db.query('SELECT channel, ms, seq, envelope FROM comet_events'))
        .map(([channel, ms, seq, envelope]) => [`${ms}-${seq}`, { channel, envelope }]));
    return db;
}

/** Waits until every id of ids is archived; resolves the archive's events. */
export async function untilArchived(db, ids, ms = WAIT_MS * 2) {
    let rows = new Map();
    await until(async () => {
        rows = await db.events();
        return ids.every((id) => rows.has(id));
    }, ms, () => `${ids.filter((id) => !rows.has(id)).length} of ${ids.length} events archived yet`, 200);
    return rows;
}

