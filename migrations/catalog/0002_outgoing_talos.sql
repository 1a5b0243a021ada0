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
CREATE INDEX "reservations_held_due_idx" ON "reservations" USING btree ("check_after") WHERE "reservations"."status" = 'HELD';--> statement-breakpoint
-- Reservations made before this table existed: released ones stay released; the others are HELD and
-- due now, so the reaper asks orders about each (confirming live orders' and healing stranded ones).
INSERT INTO "reservations" ("reservation_id", "status", "created_at", "check_after", "released_at")
SELECT "reservation_id",
       CASE WHEN bool_and("released_at" IS NOT NULL) THEN 'RELEASED' ELSE 'HELD' END,
       min("created_at"), now(), max("released_at")
FROM "stock_reservations" GROUP BY "reservation_id";
