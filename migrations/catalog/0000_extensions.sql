-- Trigram search (products_search_trgm_idx) needs pg_trgm before the tables are created.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
