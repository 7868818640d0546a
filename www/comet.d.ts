// Type declarations for comet.js (global `Comet`) and comet.mjs (ES module).

declare namespace Comet {
    type Transport = 'websocket' | 'sse' | 'stream' | 'longpoll' | 'jsonp' | 'iframe';
    type State = 'connecting' | 'open' | 'reconnecting' | 'closed';

    /** An event as subscribers get it. */
    interface Envelope<T = unknown> {
        /** "MS-N": also a cursor for every channel. */
        id: string;
        channel: string;
        /** Default "message". */
        event: string;
        data: T;
    }

    interface ClientOptions {
        /** Tried in this order, falling back on stalls and failures. Default: all six, as here. */
        transports?: Transport[];
        /** Send cookies to a server on another origin (it must list this page's origin in COMET_CORS_ORIGINS). */
        withCredentials?: boolean;
        /** Seconds one long-poll waits at the server (default 25). */
        timeout?: number;
        /** ms a stream may take to say it is open before it counts as buffered and the next transport is tried (8000; 0: never). */
        stallTimeout?: number;
        /** ms without a byte (heartbeats included) after which a live stream or iframe is reconnected (45000). */
        idleTimeout?: number;
        /** Same for SSE and WebSocket, whose heartbeats (SSE comments, WebSocket pings) scripts cannot see (300000). */
        sseIdleTimeout?: number;
        /** Reconnect delays: min doubling up to max, in ms, with jitter ({min: 500, max: 30000}). */
        backoff?: { min?: number; max?: number };
        /** Errors before a transport that never opened is given up for the next (2). */
        failuresBeforeFallback?: number;
        /** @deprecated Ignored: every event type arrives on every transport (SSE asks for untyped frames). */
        events?: string[];
        /** Start after this cursor (an id or cursor saved earlier): missed events are replayed. */
        cursor?: string | null;
        /** Share one connection with the other tabs of this origin (default true). */
        shared?: boolean;
        /**
         * A JWT for private channels, sent as the `token` query parameter (EventSource cannot
         * set headers) and as the Bearer of publish(). A function is called before the first
         * connection and again whenever the server ends a stream because the token expired or
         * refuses it (401/403); it may return a Promise. Leave it out to rely on the
         * comet_token cookie.
         */
        token?: string | (() => string | Promise<string>);
        /** A signed subscribe URL's parameters (for exactly the subscribed channels), or a function giving them. */
        signed?: SignedParams | (() => SignedParams | Promise<SignedParams>);
    }

    interface SignedParams {
        /** Unix seconds. */
        expires: number | string;
        /** Lowercase hex HMAC-SHA256(COMET_URL_SECRET, sorted channels joined by "," + "\n" + expires). */
        sig: string;
    }

    interface PublishOptions {
        /** Event type (default "message"). */
        event?: string;
        /** Wait until the events are stored; resolves {ids}. */
        wait?: boolean;
        /** A publish key (for trusted code only: never put a key in a public page). Default: the client's token. */
        key?: string;
    }

    interface HistoryOptions {
        /** Events in the page, 1 to 1000 (default 50). */
        limit?: number;
        /** The newest events before this cursor (a page's cursor pages back). */
        before?: string;
        /** The oldest events after this cursor ("0": from the first); not with before. */
        after?: string;
    }

    /** A page of past events (GET /history). */
    interface HistoryPage<T = unknown> {
        /** Oldest first. */
        events: Envelope<T>[];
        /** More events beyond this page, in the direction read. */
        more: boolean;
        /** Pass as before (or, for a page read with after, as after) for the next page. */
        cursor: string;
        /** On a page that reaches the newest event: resume a subscription from here to get every later one. */
        live?: string;
    }

    /** Someone on a presence channel: the token's sub, and its comet.info when it has one. */
    interface Member<I = unknown> {
        id: string;
        info?: I;
    }

    /** Who is on a presence channel (GET /presence). */
    interface Presence<I = unknown> {
        channel: string;
        /** Everyone there, anonymous clients too. */
        count: number;
        /** Those with an identity (at most the limit asked, default 100). */
        members: Member<I>[];
        /** More members than listed. */
        more: boolean;
    }

    /** What comes with a join or a leave. */
    interface PresenceChange {
        channel: string;
        /** Everyone there after it. */
        count: number;
        envelope: Envelope;
    }

    interface SubscribeOptions {
        /** Deliver the channel's last N events first (1 to 1000), then the live ones, with no gap and no duplicate. */
        history?: number;
    }

    interface CometError extends Error {
        /** unsupported | refused | auth | stall | opaque | bad | network | server | idle | handler | history */
        kind: string;
        transport?: Transport;
        status?: number;
        /** ms until the next attempt. */
        retryIn?: number;
        /** The transport used next, when this error made the client fall back. */
        fallback?: Transport;
    }

    interface PublishError extends Error {
        status: number;
        /** ms, from Retry-After. */
        retryAfter: number | null;
        body: unknown;
    }

    class Subscription {
        readonly channel: string;
        readonly active: boolean;
        unsubscribe(): void;
    }

    class Client {
        constructor(url: string, options?: ClientOptions);
        readonly url: string;
        readonly state: State;
        readonly transport: Transport | null;
        /** The last cursor seen: store it to resume later with {cursor}. */
        readonly cursor: string | null;
        /** solo: its own connection; leader: its connection serves other tabs; follower: uses a leader's. */
        readonly role: 'solo' | 'leader' | 'follower';
        subscribe<T = unknown>(channel: string, fn: (data: T, envelope: Envelope<T>) => void,
            options?: SubscribeOptions): Subscription;
        /** A page of the channels' past events, from Redis and the server's SQL archive; rejects with a CometError (status 503 when the archive is down). */
        history<T = unknown>(channel: string | string[], options?: HistoryOptions): Promise<HistoryPage<T>>;
        /** Who is on a presence channel now (COMET_PRESENCE_CHANNELS), with the credentials of subscribing to it. */
        presence<I = unknown>(channel: string, options?: { limit?: number }): Promise<Presence<I>>;
        publish(channel: string | string[], data: unknown, options?: PublishOptions): Promise<{ accepted: number } | { ids: string[] } | { accepted: number; confirmed: false }>;
        on(name: 'state', fn: (state: State, previous: State) => void): () => void;
        on(name: 'transport', fn: (transport: Transport | null, previous: Transport | null) => void): () => void;
        on(name: 'open', fn: (transport: Transport | null) => void): () => void;
        on(name: 'missed', fn: (info: { cursor: string | null }) => void): () => void;
        on(name: 'error', fn: (error: CometError) => void): () => void;
        on(name: 'event', fn: (envelope: Envelope) => void): () => void;
        /** An identity joined, or left, a presence channel this client subscribes to. */
        on(name: 'join' | 'leave', fn: (member: Member, change: PresenceChange) => void): () => void;
        off(name: string, fn: (...args: any[]) => void): void;
        /** Reconnects now, from the cursor. */
        reconnect(): void;
        close(): void;
    }

    /** <0, 0, >0 as id a is before, equal to, after id b (numerically). */
    function compareIds(a: string, b: string): number;
    const version: string;
    const transports: Transport[];
}

declare module '*comet.mjs' {
    export default Comet;
    export const Client: typeof Comet.Client;
    export const compareIds: typeof Comet.compareIds;
}
