import postgres from 'postgres';
import { z } from 'zod';

/**
 * `npm run events:dead-letters -- <list | replay <eventId> | discard <eventId>>`, with DATABASE_URL
 * set to the consuming service's database (billing, orders or catalog).
 *
 * An event that failed EVENT_MAX_ATTEMPTS times is parked in event_inbox (parked_at set); its
 * entity's later events wait behind it, other entities go on. The operator fixes the cause, then:
 * - replay: the consumer tries it again at once (the tries start over), then what waited behind it;
 * - discard: it is marked applied without its effects, so the events behind it go on.
 * Both are idempotent; neither touches an event that is not parked.
 */
const env = z.object({ DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }) }).safeParse(process.env);
if (!env.success) {
  console.error("DATABASE_URL (the consuming service's database) is required");
  process.exit(2);
}
const [command, eventId] = process.argv.slice(2);
const uuid = z.uuid();
if (!['list', 'replay', 'discard'].includes(command ?? '') || (command !== 'list' && !uuid.safeParse(eventId).success)) {
  console.error('usage: dead-letters list | replay <eventId> | discard <eventId>');
  process.exit(2);
}

const sql = postgres(env.data.DATABASE_URL, { max: 1, onnotice: () => {} });
try {
  if (command === 'list') {
    const rows = await sql`select consumer, stream, event_id, type, entity, seq, attempts, last_error, parked_at
      from event_inbox where parked_at is not null order by parked_at`;
    console.log(JSON.stringify(rows, null, 2));
  } else if (command === 'replay') {
    const rows = await sql`update event_inbox set parked_at = null, attempts = 0, next_attempt_at = now(), last_error = null
      where event_id = ${eventId!} and parked_at is not null returning consumer, type`;
    console.log(rows.length ? `replaying ${rows.map((r) => `${r.type} for ${r.consumer}`).join(', ')}` : 'no parked event with that id');
  } else {
    const done = await sql.begin(async (tx) => {
      const [row] = await tx<
        { consumer: string; stream: string; entity: string | null; seq: string | null; type: string }[]
      >`delete from event_inbox where event_id = ${eventId!} and parked_at is not null
        returning consumer, stream, entity, seq, type`;
      if (!row) return null;
      await tx`insert into processed_events (consumer, event_id) values (${row.consumer}, ${eventId!}) on conflict do nothing`;
      // Step its entity's position over it (only if it was next), so the events behind it go on.
      if (row.entity != null && row.seq != null) {
        await tx`insert into event_positions (consumer, stream, entity, seq) values (${row.consumer}, ${row.stream}, ${row.entity}, ${row.seq})
          on conflict (consumer, stream, entity) do update set seq = excluded.seq where event_positions.seq = excluded.seq - 1`;
      }
      return row;
    });
    console.log(done ? `discarded ${done.type} for ${done.consumer}` : 'no parked event with that id');
  }
} finally {
  await sql.end();
}
