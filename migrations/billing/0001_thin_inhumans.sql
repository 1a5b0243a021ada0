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
ALTER TABLE "payments" DROP CONSTRAINT "payments_status_valid";--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "entity" text;--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "seq" bigint;--> statement-breakpoint
ALTER TABLE "payments" ADD COLUMN "provider_key" text;--> statement-breakpoint
CREATE INDEX "event_inbox_entity_idx" ON "event_inbox" USING btree ("consumer","stream","entity","seq");--> statement-breakpoint
CREATE INDEX "event_inbox_due_idx" ON "event_inbox" USING btree ("consumer","next_attempt_at") WHERE "event_inbox"."parked_at" is null;--> statement-breakpoint
CREATE INDEX "outbox_stream_id_idx" ON "outbox" USING btree ((split_part("stream_id", '-', 1)::bigint),(split_part("stream_id", '-', 2)::bigint)) WHERE "outbox"."stream_id" is not null;--> statement-breakpoint
CREATE INDEX "payments_pending_idx" ON "payments" USING btree ("created_at") WHERE "payments"."status" = 'PENDING';--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_provider_key_unique" UNIQUE("provider_key");--> statement-breakpoint
ALTER TABLE "payments" ADD CONSTRAINT "payments_status_valid" CHECK ("payments"."status" in ('PENDING', 'SUCCEEDED', 'FAILED', 'REFUNDED'));