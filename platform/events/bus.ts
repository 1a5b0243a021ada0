import type { RedisStatus } from '../redis-guard.js';
import type { EventType, StreamEvent, StreamName } from './types.js';

export interface OutgoingEvent {
  eventId: string;
  type: EventType;
  payload: unknown;
  occurredAt: string;
  entity?: string;
  seq?: number;
}

/** What a consumer's handler gets; throwing leaves the event pending for redelivery. */
export type EventHandler = (event: StreamEvent) => Promise<void>;

export interface ConsumeOptions {
  stream: StreamName;
  /** One group per consuming service: each event is handled once per group. */
  group: string;
  /** This instance's name within the group. */
  consumer: string;
  handler: EventHandler;
}

/**
 * The event backbone: durable streams with consumer groups, plus a live fan-out channel per event
 * type for subscribers. Redis Streams + pub/sub in production; an in-process bus with the same
 * behaviour for the embedded `npm start`.
 */
export interface EventBus {
  /** What it was built with: consumers read their retry policy here, the relay the retention window. */
  readonly settings: BusSettings;
  /** Appends to a stream (trimming it to the retention window) and announces each event live. */
  append(stream: StreamName, events: OutgoingEvent[]): Promise<string[]>;
  /** Runs a consumer until stopped: reclaims what crashed consumers left pending, then reads new events. */
  consume(options: ConsumeOptions): { stop(): Promise<void> };
  /** Events after `afterId`, oldest first, at most `limit`. */
  readAfter(stream: StreamName, afterId: string, limit: number): Promise<StreamEvent[]>;
  /** Whether events after `afterId` may have been trimmed away (resume is then impossible). */
  isBeyondRetention(stream: StreamName, afterId: string): Promise<boolean>;
  /**
   * The highest id the stream ever generated ("0-0" when the stream does not exist). Trimming does
   * not lower it; only a loss of Redis data does (FLUSHALL, restart without AOF, stale failover).
   */
  lastGeneratedId(stream: StreamName): Promise<string>;
  /** Which of these ids the stream does not hold (lost with Redis data, or trimmed). */
  missingIds(stream: StreamName, ids: string[]): Promise<string[]>;
  /** Calls `listener` each time the bus's connection is (re)established; returns the unsubscribe. */
  onReconnect(listener: () => void): () => void;
  /** The newest id in a stream ("0-0" when empty). */
  lastId(stream: StreamName): Promise<string>;
  /** Per consumer group of a stream: events not yet delivered (lag) and delivered but unacknowledged (pending). */
  groupStats(stream: StreamName): Promise<{ group: string; lag: number; pending: number }[]>;
  /** Live announcements whose first publish failed (counted), and those still waiting for a retry (Redis bus only). */
  liveStats?(): { failed: number; waiting: number };
  /** The state of each Redis connection, for readiness details and metrics (Redis bus only). */
  redisStatus?(): RedisStatus[];
  close(): Promise<void>;
}

export interface BusSettings {
  /** Prefix of every key and channel, so several deployments (or test runs) can share one Redis. */
  namespace: string;
  retentionMs: number;
  /** How long a delivered but unacknowledged event waits before another consumer may claim it. */
  claimIdleMs: number;
  /** Longest wait of one blocking read (bounds shutdown time). */
  blockMs: number;
  /** A failing event is tried this many times (with backoff) before it is parked as a dead letter. */
  maxAttempts: number;
  /** Backoff between tries: base * 2^(try-1), capped, with jitter. */
  retryBaseMs: number;
  retryMaxMs: number;
}
