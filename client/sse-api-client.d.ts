// Type declarations of sse-api-client.js, the browser client for sse-api streams.

/** One event of a stream. */
export interface StreamEvent<T = unknown> {
  /**
   * The topic the event belongs to: a one-topic stream's topic, or the position that moved
   * in a multi-topic cursor. Undefined when it cannot be told (a bare id on a stream whose
   * topics the library was not given, such as /v1/me/events alone).
   */
  topic?: string;
  /** The event id: a Redis Stream id, or on a multi-topic stream the cursor "a=<id>,b=<id>". */
  id: string;
  /** The event name ("message" when the publisher gave none). */
  type: string;
  /** The data, parsed as JSON; the text itself when it is not JSON. */
  data: T;
  /** The data as it arrived. */
  text: string;
}

/** A reset: events of topic after lastEventId are gone (trimmed, expired or unknown). */
export interface ResetEvent {
  topic: string;
  /** "history_trimmed", "history_expired" or "unknown_position". */
  reason: string;
  /** The position the stream had in that topic. */
  lastEventId: string;
  /** The stream's cursor after the reset. */
  id: string;
}

/** Why a stream was refused or failed: the service's {"code","message"} and the status. */
export interface StreamError {
  /** e.g. "rate_limited", "unavailable", "unauthorized", "forbidden", "network". */
  code: string;
  message: string;
  /** The HTTP status; 0 when no answer came (network error, getTicket failed without one). */
  status: number;
}

export type StreamState = 'connecting' | 'open' | 'retrying' | 'closed';

/**
 * Why the state changed.
 * connecting: "start" (first open), "reopen" (a new EventSource from the cursor), "ticket"
 *   (a new EventSource with a new ticket).
 * open: "opened" (a new EventSource), "reconnected" (the browser's own reconnect).
 * retrying: "network" (the connection dropped or the stream ended; the browser reconnects by
 *   itself), "refused" (the service said no for now; the browser tries again after the
 *   service's retry), "failed" (the stream could not open; the library reopens after
 *   detail.delay), "expired" (the ticket is spent and its resume cookie gone; a new ticket
 *   after detail.delay), "reconnect" (reconnect() was called).
 * closed: "closed" (close() was called), "refused" (retrying cannot help: 400, 403, 401
 *   without getTicket...), "ended" (the service answered 204: nothing more to stream).
 */
export type StateReason =
  | 'start' | 'reopen' | 'ticket'
  | 'opened' | 'reconnected'
  | 'network' | 'refused' | 'failed' | 'expired' | 'reconnect'
  | 'closed' | 'ended';

export interface StateDetail {
  /** ms until the library tries again (retrying: failed, expired, reconnect). */
  delay?: number;
  /** What went wrong (retrying: refused, failed, expired; closed: refused). */
  error?: StreamError;
}

export interface SubscribeOptions<T = unknown> {
  /** Every event of the names listened for. Also resets, when there is no onReset. */
  onEvent?: (event: StreamEvent<T>) => void;
  onReset?: (reset: ResetEvent) => void;
  onState?: (state: StreamState, reason: StateReason, detail: StateDetail) => void;
  /** Refusals (the service's error event), failed opens, failed getTicket calls. */
  onError?: (error: StreamError) => void;
  /**
   * A ticket for topics, from POST /v1/tickets with the page's token. Called before the
   * first open, and again whenever the ticket is spent and its resume cookie is gone. An
   * error with a 4xx status (but 408, 429) stops the subscription; others are retried.
   * Without it the stream goes by cookie (access_token) or needs no credential (public
   * topics).
   */
  getTicket?: (topics: readonly string[]) => Promise<string>;
  /** The service's URL, with a trailing "/". Default "": relative to the page. */
  base?: string;
  /** The stream route under base. Default "v1/events"; also "v1/me/events". */
  route?: string;
  /** Event names to hear besides "message" (EventSource hears only those it listens for). */
  events?: readonly string[];
  /** Where to start; default: the cursor stored for this topic set, else the live end. */
  lastEventId?: string;
  /** sessionStorage key of the cursor; null to keep it in memory only. Default: per route and topic set. */
  storageKey?: string | null;
  /** Send cookies cross-origin. Default: true when the stream URL is on another origin. */
  withCredentials?: boolean;
  /** First backoff in ms (default 1000); it doubles up to maxDelay (default 30000). */
  minDelay?: number;
  maxDelay?: number;
}

export declare class Subscription {
  private constructor();
  /** The topics given to subscribe. */
  readonly topics: readonly string[];
  /** The cursor: where a new stream would resume. */
  readonly lastEventId: string;
  readonly state: StreamState;
  /** Hear events of name too. */
  listen(name: string): void;
  /** Drop the stream and open a new one from the cursor after delay ms (default 0). */
  reconnect(delay?: number): void;
  /** End the stream for good. */
  close(): void;
}

/** Open a stream on topics; it is looked after until close(). */
export declare function subscribe<T = unknown>(topics: readonly string[], options?: SubscribeOptions<T>): Subscription;

/**
 * The topic of the event whose id is id, given the cursor before it: the position that
 * moved (the newest one when before is empty); a one-topic stream's topic for a bare id.
 */
export declare function topicOf(before: string, id: string, topics?: readonly string[]): string | undefined;
