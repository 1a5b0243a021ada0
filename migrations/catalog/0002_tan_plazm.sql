CREATE TABLE "event_inbox" (
	"consumer" text NOT NULL,
	"event_id" uuid NOT NULL,
	"stream" text NOT NULL,
	"entity" text,
	"seq" bigint,
	"type" text NOT NULL,
	"payload" jsonb NOT NULL,
	"occurred_at" timestamp (3) with time zone NOT NULL,
	"stream_id" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"last_error" text,
	"parked_at" timestamp (3) with time zone,
	"received_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "event_inbox_consumer_event_id_pk" PRIMARY KEY("consumer","event_id")
);
--> statement-breakpoint
CREATE TABLE "event_positions" (
	"consumer" text NOT NULL,
	"stream" text NOT NULL,
	"entity" text NOT NULL,
	"seq" bigint NOT NULL,
	CONSTRAINT "event_positions_consumer_stream_entity_pk" PRIMARY KEY("consumer","stream","entity")
);
--> statement-breakpoint
CREATE TABLE "event_sequences" (
	"entity" text PRIMARY KEY NOT NULL,
	"seq" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "reservations" (
	"reservation_id" uuid PRIMARY KEY NOT NULL,
	"status" text NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"check_after" timestamp (3) with time zone NOT NULL,
	"confirmed_at" timestamp (3) with time zone,
	"released_at" timestamp (3) with time zone,
	CONSTRAINT "reservations_status_valid" CHECK ("reservations"."status" in ('HELD', 'CONFIRMED', 'RELEASED'))
);
--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "entity" text;--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "seq" bigint;--> statement-breakpoint
CREATE INDEX "event_inbox_entity_idx" ON "event_inbox" USING btree ("consumer","stream","entity","seq");--> statement-breakpoint
CREATE INDEX "event_inbox_due_idx" ON "event_inbox" USING btree ("consumer","next_attempt_at") WHERE "event_inbox"."parked_at" is null;--> statement-breakpoint
CREATE INDEX "reservations_held_due_idx" ON "reservations" USING btree ("check_after") WHERE "reservations"."status" = 'HELD';--> statement-breakpoint
CREATE INDEX "outbox_stream_id_idx" ON "outbox" USING btree ((split_part("stream_id", '-', 1)::bigint),(split_part("stream_id", '-', 2)::bigint)) WHERE "outbox"."stream_id" is not null;--> statement-breakpoint
-- Reservations made before this table existed: released ones stay released; the others are HELD and
-- due now, so the reaper asks orders about each (confirming live orders' and healing stranded ones).
INSERT INTO "reservations" ("reservation_id", "status", "created_at", "check_after", "released_at")
SELECT "reservation_id",
       CASE WHEN bool_and("released_at" IS NOT NULL) THEN 'RELEASED' ELSE 'HELD' END,
       min("created_at"), now(), max("released_at")
FROM "stock_reservations" GROUP BY "reservation_id";
